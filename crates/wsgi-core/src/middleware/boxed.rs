//! [`BoxMiddleware`] and [`BoxResponseMiddleware`]: middleware of any type
//! behind one type, as a `WsgiHandler`'s chain and a `Router`'s handlers
//! keep them, without a box per call for the futures that fit in the room
//! kept for them.
//!
//! # Why the room, and why it is sound
//!
//! A middleware's `call` returns a future of its own type, which a list of
//! middleware of different types cannot name. The usual erasure boxes it
//! (`Pin<Box<dyn Future>>`, what `#[async_trait]` did): one allocation per
//! middleware per request. Here the future is written into a fixed number
//! of bytes inside the caller's own future instead ([`StackFuture`]), and
//! boxed only when it is larger than that (or more aligned than 8 bytes).
//!
//! The tempting alternative, to poll the future once on the stack of the
//! generic function that made it and box it only if it is still pending,
//! is unsound: a future that returned `Pending` may point into itself (a
//! borrow of one of its own locals held across the `.await`), and `Pin`'s
//! contract forbids moving it from where it was first polled until it is
//! dropped, which a move into a box would do. Re-creating it in a box
//! instead would run its side effects (reading the body) twice. So the
//! future's final place must be chosen before its first poll: this room.
//!
//! The room is sound because the future is written into it before it is
//! ever polled (moving an unpolled future is allowed), and the room is a
//! field of the caller's future, which is itself pinned by whoever polls
//! it: [`StackFuture`] only polls the inner future through a `Pin` of
//! itself and drops it in place. Whether the future is ready on its first
//! poll or pending many times, no allocation is made for it; what the room
//! costs is its size, copied whenever the caller's future is moved before
//! its first poll.

use std::fmt;
use std::sync::Arc;

use stackfuture::StackFuture;

use super::{RequestMiddleware, ResponseMiddleware};
use crate::environ::Environ;
use crate::error::Error;
use crate::extract::{CheckError, Provided};
use crate::response::WsgiResponse;

/// Bytes kept for one middleware's future in a `WsgiHandler`'s chain: room
/// for a `Router` (whose own future keeps [`ROUTE_SLOT`] for its handler)
/// and the shipped middleware.
const CHAIN_SLOT: usize = 512;

/// Bytes kept for a router handler's future: a `#[wsgi_handler]` taking a
/// few extractors (the typed-json benchmark's, `Path` and `Json`, takes
/// 216). Every byte here is copied with each request's future.
const ROUTE_SLOT: usize = 256;

/// Bytes kept for a response middleware's future: room for one that does
/// not await (the shipped ones, `response_middleware_fn`, a synchronous
/// `#[response_middleware]`). One that awaits holds the response across
/// the `.await` besides its argument (about 490 bytes) and is boxed: a
/// room that large would be copied with every request's future, response
/// middleware or not (about 400 instructions per request).
const RESPONSE_SLOT: usize = 256;

type Answer = Result<Option<WsgiResponse>, Error>;

/// A middleware's call in a `WsgiHandler`'s chain.
type ChainCall<'a> = StackFuture<'a, Answer, CHAIN_SLOT>;

/// A response middleware's call.
type ResponseCall<'a> = StackFuture<'a, Result<WsgiResponse, Error>, RESPONSE_SLOT>;

/// A router handler's call, as `Router` awaits it.
pub(crate) type RouteCall<'a> = StackFuture<'a, Answer, ROUTE_SLOT>;

/// [`RequestMiddleware`] as an object-safe trait: what [`BoxMiddleware`]
/// stores. One method per room size, so that a `Router` (whose future
/// holds its handler's) still fits in the chain's room.
trait DynRequestMiddleware: Send + Sync + 'static {
    fn call_in_chain<'a>(&'a self, environ: &'a mut Environ) -> ChainCall<'a>;

    fn call_in_route<'a>(&'a self, environ: &'a mut Environ) -> RouteCall<'a>;

    fn check_dyn(&self, provided: &Provided<'_>) -> Result<(), CheckError>;
}

impl<M: RequestMiddleware> DynRequestMiddleware for M {
    fn call_in_chain<'a>(&'a self, environ: &'a mut Environ) -> ChainCall<'a> {
        StackFuture::from_or_box(self.call(environ))
    }

    fn call_in_route<'a>(&'a self, environ: &'a mut Environ) -> RouteCall<'a> {
        StackFuture::from_or_box(self.call(environ))
    }

    fn check_dyn(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        self.check(provided)
    }
}

/// Any [`RequestMiddleware`] behind one type, as
/// [`WsgiHandler::new`](crate::WsgiHandler::new) takes them. Cloning shares
/// the middleware.
///
/// A call allocates nothing for the middleware's future when it fits in
/// the room kept for it inside the caller's future (512 bytes; 256 for a
/// `Router`'s handlers): the shipped middleware, a `Router`, small `async
/// fn call`s and handlers made with
/// [`#[wsgi_handler]`](crate::wsgi_handler) taking a few extractors (a
/// `Path` and a `Json` take 216 bytes) do, whether they are ready at once
/// or wait. A larger future is boxed, one allocation per call, as is a
/// `WsgiHandler` used as a middleware inside another.
///
/// ```
/// use wsgi_core::middleware::{AccessControl, AllowOrigin, BoxMiddleware, CleanPath};
/// use wsgi_core::WsgiHandler;
///
/// let cors = AccessControl::new(AllowOrigin::Any, [http::Method::GET]);
/// let chain = vec![BoxMiddleware::new(CleanPath::default()), BoxMiddleware::new(cors)];
/// let handler = WsgiHandler::new(chain, Vec::new());
/// # let _ = handler;
/// ```
#[derive(Clone)]
pub struct BoxMiddleware {
    inner: Arc<dyn DynRequestMiddleware>,
}

impl BoxMiddleware {
    /// Erases `middleware`'s type (a `BoxMiddleware` given here is returned
    /// as it is, not wrapped again).
    pub fn new(middleware: impl RequestMiddleware) -> Self {
        let mut given = Some(middleware);
        if let Some(already) = (&mut given as &mut dyn std::any::Any)
            .downcast_mut::<Option<BoxMiddleware>>()
            .and_then(Option::take)
        {
            return already;
        }
        match given {
            Some(middleware) => BoxMiddleware {
                inner: Arc::new(middleware),
            },
            None => unreachable!("taken only when it was a `BoxMiddleware`"),
        }
    }

    /// The call as a `Router` makes it, with the router's room.
    pub(crate) fn call_in_route<'a>(&'a self, environ: &'a mut Environ) -> RouteCall<'a> {
        self.inner.call_in_route(environ)
    }
}

impl RequestMiddleware for BoxMiddleware {
    // An `async fn` (not returning the `StackFuture` itself): it names
    // both lifetimes of the call, which the `StackFuture` shortens to one.
    async fn call(&self, environ: &mut Environ) -> Answer {
        self.inner.call_in_chain(environ).await
    }

    fn check(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        self.inner.check_dyn(provided)
    }
}

impl fmt::Debug for BoxMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxMiddleware")
    }
}

/// [`ResponseMiddleware`] as an object-safe trait: what
/// [`BoxResponseMiddleware`] stores.
trait DynResponseMiddleware: Send + Sync + 'static {
    fn call_dyn<'a>(&'a self, environ: &'a mut Environ, response: WsgiResponse)
        -> ResponseCall<'a>;
}

impl<M: ResponseMiddleware> DynResponseMiddleware for M {
    fn call_dyn<'a>(
        &'a self,
        environ: &'a mut Environ,
        response: WsgiResponse,
    ) -> ResponseCall<'a> {
        StackFuture::from_or_box(self.call(environ, response))
    }
}

/// Any [`ResponseMiddleware`] behind one type, as
/// [`WsgiHandler::new`](crate::WsgiHandler::new) takes them. Cloning shares
/// the middleware. Like [`BoxMiddleware`], a call allocates nothing for a
/// future that fits in the room kept for it (256 bytes: a response
/// middleware that does not await, as the shipped ones), and boxes a
/// larger one (one that awaits, which holds the response twice).
///
/// ```
/// use wsgi_core::middleware::{response_middleware_fn, BoxResponseMiddleware};
/// use wsgi_core::{Environ, Error, WsgiResponse};
///
/// let stamp = BoxResponseMiddleware::new(response_middleware_fn(
///     |_: &mut Environ, mut response: WsgiResponse| {
///         response.headers_mut().insert("x-served-by", "wsgi-rs".parse().unwrap());
///         Ok::<_, Error>(response)
///     },
/// ));
/// # let _ = stamp;
/// ```
#[derive(Clone)]
pub struct BoxResponseMiddleware {
    inner: Arc<dyn DynResponseMiddleware>,
}

impl BoxResponseMiddleware {
    /// Erases `middleware`'s type (a `BoxResponseMiddleware` given here is
    /// returned as it is, not wrapped again).
    pub fn new(middleware: impl ResponseMiddleware) -> Self {
        let mut given = Some(middleware);
        if let Some(already) = (&mut given as &mut dyn std::any::Any)
            .downcast_mut::<Option<BoxResponseMiddleware>>()
            .and_then(Option::take)
        {
            return already;
        }
        match given {
            Some(middleware) => BoxResponseMiddleware {
                inner: Arc::new(middleware),
            },
            None => unreachable!("taken only when it was a `BoxResponseMiddleware`"),
        }
    }
}

impl ResponseMiddleware for BoxResponseMiddleware {
    async fn call(
        &self,
        environ: &mut Environ,
        response: WsgiResponse,
    ) -> Result<WsgiResponse, Error> {
        self.inner.call_dyn(environ, response).await
    }
}

impl fmt::Debug for BoxResponseMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxResponseMiddleware")
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of_val;

    use super::*;
    use crate::middleware::{
        in_executor, middleware_fn, AccessControl, AllowOrigin, Authorization, CleanPath,
        HealthCheck, WaitForBody,
    };
    use crate::router::Router;

    fn environ() -> Environ {
        Environ::from_request(http::Request::get("/a").body(()).expect("a valid request"))
    }

    /// The size of the future `middleware` returns (made, never polled).
    fn future_size(middleware: &impl RequestMiddleware) -> usize {
        size_of_val(&middleware.call(&mut environ()))
    }

    /// What the docs promise fits without a box, so that a change that
    /// grows one of these futures past its room is seen here rather than
    /// as an allocation per request.
    #[test]
    fn the_shipped_middleware_and_a_router_fit_in_the_room_kept_for_them() {
        let handler = middleware_fn(|_: &mut Environ| Ok::<_, Error>(None));
        assert!(future_size(&handler) <= ROUTE_SLOT);
        let router = Router::new().get("/a", handler);
        let size = future_size(&router);
        assert!(size <= CHAIN_SLOT, "a Router's future is {size} bytes");
        let cors = AccessControl::new(AllowOrigin::Any, [http::Method::GET]);
        for size in [
            future_size(&CleanPath),
            future_size(&Authorization),
            future_size(&WaitForBody),
            future_size(&HealthCheck::new()),
            future_size(&cors),
            future_size(&in_executor(|_: &mut Environ| Ok::<_, Error>(None))),
        ] {
            assert!(size <= CHAIN_SLOT, "{size} bytes");
        }
        let response = WsgiResponse::text("a");
        let size = size_of_val(&ResponseMiddleware::call(&cors, &mut environ(), response));
        assert!(size <= RESPONSE_SLOT, "{size} bytes");
        #[cfg(feature = "gzip")]
        {
            let gzip = crate::middleware::GZip::default();
            let response = WsgiResponse::text("a");
            let size = size_of_val(&gzip.call(&mut environ(), response));
            assert!(size <= RESPONSE_SLOT, "{size} bytes");
        }
    }
}
