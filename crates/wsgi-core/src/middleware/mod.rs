//! Request middleware and response middleware, the building blocks of a
//! [`WsgiHandler`](crate::WsgiHandler).
//!
//! - A [`RequestMiddleware`] looks at the request and either answers it with a
//!   [`WsgiResponse`] or passes (`None`) to the next one. Any
//!   [`Application`] becomes one that always answers ([`AppMiddleware`]),
//!   and so does any tower `Service` ([`ServiceMiddleware`]).
//! - A [`ResponseMiddleware`] is `(environ, response) -> response`, applied
//!   in order to the winning response before it starts.
//!
//! Both are implemented with a plain `async fn call` (native `async fn` in
//! traits, no attribute). A `WsgiHandler` and a `Router` keep middleware of
//! different types through [`BoxMiddleware`] and [`BoxResponseMiddleware`],
//! which store each call's future inside their own instead of boxing it
//! (when it fits; see [`BoxMiddleware`]).
//!
//! Plain functions become either with [`middleware_fn`] (synchronous),
//! [`async_middleware_fn`] (returning a future, to `.await` inside) and
//! [`response_middleware_fn`], or with the attributes
//! [`#[wsgi_handler]`](crate::wsgi_handler) (returning `Option` to pass)
//! and [`#[response_middleware]`](crate::response_middleware).
//!
//! Shipped, as pulsar ships them (one file each):
//!
//! | pulsar | here | kind |
//! |---|---|---|
//! | `clean_path_middleware` | [`CleanPath`] | middleware: redirects `//a///b` to `/a/b` |
//! | `authorization_middleware` | [`Authorization`] | middleware: `Authorization` header → [`Auth`] in the extensions |
//! | `wait_for_body_middleware` | [`WaitForBody`] | middleware: reads the whole body into memory |
//! | `in_executor` | [`in_executor`] | middleware: runs a blocking function on the blocking pool |
//! | `GZipMiddleware` | [`GZip`] | response middleware: gzip for clients that accept it |
//! | `AccessControl` | [`AccessControl`] | both: CORS headers and preflight answers |
//! | (Kubernetes-style probes) | [`HealthCheck`] | middleware: `/healthz` and `/readyz`, 503 while draining |
//!
//! ```
//! use wsgi_core::middleware::{middleware_fn, response_middleware_fn};
//! use wsgi_core::{Environ, Error, WsgiHandler, WsgiResponse};
//!
//! let ping = middleware_fn(|environ: &mut Environ| {
//!     Ok::<_, Error>((environ.path_info() == "/ping").then(|| WsgiResponse::text("pong")))
//! });
//! let stamp = response_middleware_fn(|_: &mut Environ, mut response: WsgiResponse| {
//!     response.headers_mut().insert("x-served-by", "wsgi-rs".parse().unwrap());
//!     Ok::<_, Error>(response)
//! });
//! let handler = WsgiHandler::default().middleware(ping).response_middleware(stamp);
//! # let _ = handler;
//! ```

mod access_control;
mod authorization;
mod boxed;
mod clean_path;
#[cfg(feature = "gzip")]
mod gzip;
mod health;
mod in_executor;
mod wait_for_body;

pub use access_control::{AccessControl, AllowOrigin};
pub use authorization::{Auth, Authorization, DigestAuth};
pub use boxed::{BoxMiddleware, BoxResponseMiddleware};
pub use clean_path::CleanPath;
#[cfg(feature = "gzip")]
pub use gzip::GZip;
pub use health::HealthCheck;
pub use in_executor::{in_executor, InExecutor};
pub use wait_for_body::WaitForBody;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{self, HeaderMap, HeaderValue};

use crate::application::Application;
use crate::body::Body;
use crate::environ::Environ;
use crate::error::{BoxError, Error};
use crate::extract::{CheckError, Provided};
use crate::input::Input;
use crate::response::{Content, WsgiResponse};
use crate::start_response::StartResponse;

/// A step of a [`WsgiHandler`](crate::WsgiHandler): answers (`Some`) or
/// passes (`None`).
///
/// Implement `call` as a plain `async fn` (its future must be `Send`: hold
/// nothing that is not `Send` across an `.await`). Its future is a concrete
/// type: where middleware of different types are kept together (a
/// `WsgiHandler`'s chain, a `Router`'s handlers, [`BoxMiddleware`]) it is
/// stored inside the caller's own future, not boxed, unless it is larger
/// than the room kept for it (see [`BoxMiddleware`]).
///
/// ```
/// use wsgi_core::middleware::RequestMiddleware;
/// use wsgi_core::{Environ, Error, WsgiHandler, WsgiResponse};
///
/// struct Ping;
///
/// impl RequestMiddleware for Ping {
///     async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
///         Ok((environ.path_info() == "/ping").then(|| WsgiResponse::text("pong")))
///     }
/// }
///
/// let handler = WsgiHandler::default().middleware(Ping);
/// # let _ = handler;
/// ```
pub trait RequestMiddleware: Send + Sync + 'static {
    /// Looks at the request; may change the environ for later middleware.
    fn call(
        &self,
        environ: &mut Environ,
    ) -> impl Future<Output = Result<Option<WsgiResponse>, Error>> + Send;

    /// Checks before serving that what this middleware's handlers extract
    /// is provided; see [`Application::check`].
    fn check(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        let _ = provided;
        Ok(())
    }
}

/// `(environ, response) -> response`, applied to the winning response.
///
/// Implement `call` as a plain `async fn`, as for [`RequestMiddleware`]
/// (the future must be `Send`).
///
/// ```
/// use wsgi_core::middleware::ResponseMiddleware;
/// use wsgi_core::{Environ, Error, WsgiHandler, WsgiResponse};
///
/// struct Stamp;
///
/// impl ResponseMiddleware for Stamp {
///     async fn call(&self, _: &mut Environ, mut response: WsgiResponse) -> Result<WsgiResponse, Error> {
///         response.headers_mut().insert("x-served-by", "wsgi-rs".parse().unwrap());
///         Ok(response)
///     }
/// }
///
/// let handler = WsgiHandler::default().response_middleware(Stamp);
/// # let _ = handler;
/// ```
pub trait ResponseMiddleware: Send + Sync + 'static {
    /// Transforms the response.
    fn call(
        &self,
        environ: &mut Environ,
        response: WsgiResponse,
    ) -> impl Future<Output = Result<WsgiResponse, Error>> + Send;
}

impl<M: RequestMiddleware + ?Sized> RequestMiddleware for Arc<M> {
    fn call(
        &self,
        environ: &mut Environ,
    ) -> impl Future<Output = Result<Option<WsgiResponse>, Error>> + Send {
        (**self).call(environ)
    }

    fn check(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        (**self).check(provided)
    }
}

impl<M: RequestMiddleware + ?Sized> RequestMiddleware for Box<M> {
    fn call(
        &self,
        environ: &mut Environ,
    ) -> impl Future<Output = Result<Option<WsgiResponse>, Error>> + Send {
        (**self).call(environ)
    }

    fn check(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        (**self).check(provided)
    }
}

impl<M: ResponseMiddleware + ?Sized> ResponseMiddleware for Arc<M> {
    fn call(
        &self,
        environ: &mut Environ,
        response: WsgiResponse,
    ) -> impl Future<Output = Result<WsgiResponse, Error>> + Send {
        (**self).call(environ, response)
    }
}

impl<M: ResponseMiddleware + ?Sized> ResponseMiddleware for Box<M> {
    fn call(
        &self,
        environ: &mut Environ,
        response: WsgiResponse,
    ) -> impl Future<Output = Result<WsgiResponse, Error>> + Send {
        (**self).call(environ, response)
    }
}

/// A synchronous function as a [`RequestMiddleware`]; made by [`middleware_fn`].
#[derive(Clone, Copy)]
pub struct MiddlewareFn<F> {
    f: F,
}

/// Wraps `Fn(&mut Environ) -> Result<Option<WsgiResponse>, E>`: a
/// synchronous middleware, run on the event loop (so it must not block;
/// see [`in_executor`] for blocking work). To `.await` inside, use
/// [`async_middleware_fn`].
///
/// ```
/// use wsgi_core::middleware::middleware_fn;
/// use wsgi_core::{Environ, Error, WsgiResponse};
///
/// let ping = middleware_fn(|environ: &mut Environ| {
///     Ok::<_, Error>((environ.path_info() == "/ping").then(|| WsgiResponse::text("pong")))
/// });
/// # let _ = ping;
/// ```
pub fn middleware_fn<F, E>(f: F) -> MiddlewareFn<F>
where
    F: Fn(&mut Environ) -> Result<Option<WsgiResponse>, E> + Send + Sync + 'static,
    E: Into<Error>,
{
    MiddlewareFn { f }
}

impl<F, E> RequestMiddleware for MiddlewareFn<F>
where
    F: Fn(&mut Environ) -> Result<Option<WsgiResponse>, E> + Send + Sync + 'static,
    E: Into<Error>,
{
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        (self.f)(environ).map_err(Into::into)
    }
}

impl<F> fmt::Debug for MiddlewareFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::any::type_name::<F>())
    }
}

/// The future an [`async_middleware_fn`] closure returns: boxed, so that
/// it may borrow the environ it was given.
pub type MiddlewareFuture<'a, E> =
    Pin<Box<dyn Future<Output = Result<Option<WsgiResponse>, E>> + Send + 'a>>;

/// An asynchronous function as a [`RequestMiddleware`]; made by
/// [`async_middleware_fn`].
#[derive(Clone, Copy)]
pub struct AsyncMiddlewareFn<F> {
    f: F,
}

/// Wraps `Fn(&mut Environ) -> MiddlewareFuture`: a closure returning
/// `Box::pin(async move { ... })`, which may await (read the body, ask a
/// database) while borrowing the environ. The synchronous form is
/// [`middleware_fn`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), wsgi_core::Error> {
/// use wsgi_core::middleware::{async_middleware_fn, RequestMiddleware};
/// use wsgi_core::{Environ, Error, Input, WsgiResponse};
///
/// let echo = async_middleware_fn(|environ: &mut Environ| {
///     Box::pin(async move {
///         let body = environ.input().read_all().await?;
///         Ok::<_, Error>(Some(WsgiResponse::bytes(body)))
///     })
/// });
/// let mut environ = Environ::from_request(http::Request::post("/").body(()).unwrap());
/// environ.set_input(Input::from_bytes("hello"));
/// let response = echo.call(&mut environ).await?.expect("answers");
/// assert_eq!(response.length(), Some(5));
/// # Ok(())
/// # }
/// ```
pub fn async_middleware_fn<F, E>(f: F) -> AsyncMiddlewareFn<F>
where
    F: for<'a> Fn(&'a mut Environ) -> MiddlewareFuture<'a, E> + Send + Sync + 'static,
    E: Into<Error>,
{
    AsyncMiddlewareFn { f }
}

impl<F, E> RequestMiddleware for AsyncMiddlewareFn<F>
where
    F: for<'a> Fn(&'a mut Environ) -> MiddlewareFuture<'a, E> + Send + Sync + 'static,
    E: Into<Error>,
{
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        (self.f)(environ).await.map_err(Into::into)
    }
}

impl<F> fmt::Debug for AsyncMiddlewareFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::any::type_name::<F>())
    }
}

/// A synchronous function as a [`ResponseMiddleware`]; made by
/// [`response_middleware_fn`].
#[derive(Clone, Copy)]
pub struct ResponseMiddlewareFn<F> {
    f: F,
}

/// Wraps `Fn(&mut Environ, WsgiResponse) -> Result<WsgiResponse, E>`.
pub fn response_middleware_fn<F, E>(f: F) -> ResponseMiddlewareFn<F>
where
    F: Fn(&mut Environ, WsgiResponse) -> Result<WsgiResponse, E> + Send + Sync + 'static,
    E: Into<Error>,
{
    ResponseMiddlewareFn { f }
}

impl<F, E> ResponseMiddleware for ResponseMiddlewareFn<F>
where
    F: Fn(&mut Environ, WsgiResponse) -> Result<WsgiResponse, E> + Send + Sync + 'static,
    E: Into<Error>,
{
    async fn call(
        &self,
        environ: &mut Environ,
        response: WsgiResponse,
    ) -> Result<WsgiResponse, Error> {
        (self.f)(environ, response).map_err(Into::into)
    }
}

impl<F> fmt::Debug for ResponseMiddlewareFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::any::type_name::<F>())
    }
}

/// Runs a plain WSGI application and captures what it answers (the head
/// given to `start_response`, legacy `write` bytes and the body) as a
/// [`WsgiResponse`], so response middleware applies to it too.
///
/// The body is polled up to its first non-empty item, as the server would,
/// so an application that calls `start_response` from its body works. A
/// body that ends right there becomes non-streamed content (with its
/// declared `Content-Length` checked); otherwise the rest streams.
pub async fn capture<A: Application + ?Sized>(
    app: &A,
    environ: &mut Environ,
) -> Result<WsgiResponse, Error> {
    let start_response = StartResponse::new();
    let body = app.call(environ, start_response.clone()).await?;
    WsgiResponse::capture(start_response, body).await
}

/// An [`Application`] as a [`RequestMiddleware`] that always answers.
#[derive(Clone, Debug)]
pub struct AppMiddleware<A> {
    app: A,
}

impl<A: Application> AppMiddleware<A> {
    /// Wraps `app`.
    pub fn new(app: A) -> Self {
        AppMiddleware { app }
    }
}

impl<A: Application> RequestMiddleware for AppMiddleware<A> {
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        capture(&self.app, environ).await.map(Some)
    }

    fn check(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        self.app.check(provided)
    }
}

/// Any tower `Service` as a [`RequestMiddleware`] that always answers: the request
/// is rebuilt from the environ (method, URI, version, headers, extensions
/// and `wsgi.input` as the body) and the service's response becomes a
/// streamed [`WsgiResponse`].
///
/// ```
/// use wsgi_core::middleware::ServiceMiddleware;
/// use wsgi_core::{Input, WsgiHandler};
///
/// let svc = tower::service_fn(|_req: http::Request<Input>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("from tower")))
/// });
/// let handler = WsgiHandler::default().middleware(ServiceMiddleware::new(svc));
/// # let _ = handler;
/// ```
#[derive(Clone, Debug)]
pub struct ServiceMiddleware<S> {
    service: S,
}

impl<S> ServiceMiddleware<S> {
    /// Wraps `service`.
    pub fn new(service: S) -> Self {
        ServiceMiddleware { service }
    }
}

impl<S, B> RequestMiddleware for ServiceMiddleware<S>
where
    S: tower_service::Service<http::Request<Input>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError>,
{
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        let head = environ.head().clone();
        let request = http::Request::from_parts(head, environ.take_input());
        let mut service = self.service.clone();
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .map_err(|e| Error::new(e.into()))?;
        let response = service
            .call(request)
            .await
            .map_err(|e| Error::new(e.into()))?;
        let (parts, body) = response.into_parts();
        let mut out = WsgiResponse::new(parts.status);
        for (name, value) in &parts.headers {
            // The server redoes framing; a declared `Content-Length` stays
            // and is enforced on the stream (and kept for HEAD).
            if !crate::start_response::is_hop_by_hop(name) {
                out.headers_mut().append(name, value.clone());
            }
        }
        let declares_length = parts.headers.contains_key(header::CONTENT_LENGTH);
        if declares_length || !http_body::Body::is_end_stream(&body) {
            let stream = http_body_util::BodyDataStream::new(body)
                .map(|item| item.map(Into::into).map_err(|e| Error::new(e.into())));
            out.set_content(Content::Stream(Body::from_stream(stream)));
        }
        Ok(Some(out))
    }
}

/// Adds `token` to the response's `Vary` unless it is already listed (or
/// `Vary: *` covers it), so middleware that each add theirs never repeat.
pub(crate) fn add_vary(headers: &mut HeaderMap, token: &'static str) {
    let listed = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|listed| listed == "*" || listed.eq_ignore_ascii_case(token));
    if !listed {
        headers.append(header::VARY, HeaderValue::from_static(token));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_vary_never_repeats_a_token() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::VARY,
            HeaderValue::from_static("Cookie, accept-encoding"),
        );
        add_vary(&mut headers, "Accept-Encoding");
        add_vary(&mut headers, "Origin");
        add_vary(&mut headers, "Origin");
        let all: Vec<_> = headers.get_all(header::VARY).iter().collect();
        assert_eq!(all, ["Cookie, accept-encoding", "Origin"]);

        let mut star = HeaderMap::new();
        star.insert(header::VARY, HeaderValue::from_static("*"));
        add_vary(&mut star, "Origin");
        assert_eq!(star.get_all(header::VARY).iter().count(), 1);
    }
}
