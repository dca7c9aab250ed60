//! [`ResponseFuture`]: what serving one request returns, to hyper and to
//! tower callers alike.
//!
//! A named type rather than a boxed `async` block: hyper keeps the future
//! of a connection's request in a slot it allocated once, so a request
//! answered in full allocates one future only, the application's call
//! (which owns the environ; see `dispatch/call.rs`). A streamed body, a
//! call that `write()`s before it returns, the request hooks and a request
//! refused before the application runs add one boxed continuation;
//! `response_timeout` adds its timer.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Response, StatusCode, Version};

use crate::connection::InFlight;
use crate::dispatch::{Continuation, Dispatch, Dispatched};
use crate::response_body::ResponseBody;

/// The future of a response from [`WsgiService`](crate::WsgiService) (and
/// from a [`WsgiHandler`](crate::WsgiHandler) or a `#[wsgi_handler]` type
/// served as a tower `Service`). It never fails: an application's error
/// is answered with an error response.
///
/// ```
/// use tower::Service;
/// use wsgi_core::{app_fn, Environ, Error, ResponseFuture, StartResponse, WsgiService};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = app_fn(|_: &mut Environ, start_response: StartResponse| {
///     start_response.start("200 OK", [("Content-Type", "text/plain")])?;
///     Ok::<_, Error>("hello")
/// });
/// let request = http::Request::new(http_body_util::Empty::<bytes::Bytes>::new());
/// let mut service = WsgiService::new(app);
/// let future: ResponseFuture = service.call(request);
/// let response = future.await.unwrap();
/// assert_eq!(response.status(), 200);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture {
    state: State,
    /// The request counts as in flight on its connection until its
    /// response body is done (`server/timeouts.rs`).
    in_flight: Option<InFlight>,
    version: Version,
}

// The common state is the large one: boxing it would be the allocation
// this type exists to avoid.
#[allow(clippy::large_enum_variant)]
enum State {
    /// The application's call is running.
    Calling(Dispatch),
    /// Waiting on the body, or on the request hooks.
    Continuing(Continuation),
    /// The response was returned.
    Done,
}

impl ResponseFuture {
    /// A response made without the application (a refused request, a
    /// path outside the mount). Boxed, as a rare case, so that the common
    /// one stays small.
    pub(crate) fn answered(
        response: Response<ResponseBody>,
        in_flight: Option<InFlight>,
        version: Version,
    ) -> Self {
        ResponseFuture {
            state: State::Continuing(Box::pin(std::future::ready(response))),
            in_flight,
            version,
        }
    }

    /// The response of a running dispatch.
    pub(crate) fn dispatching(
        dispatch: Dispatch,
        in_flight: Option<InFlight>,
        version: Version,
    ) -> Self {
        ResponseFuture {
            state: State::Calling(dispatch),
            in_flight,
            version,
        }
    }

    /// The response of `future`, as it is (the request hooks wrap a
    /// response future in one).
    pub(crate) fn from_future(
        future: impl Future<Output = Response<ResponseBody>> + Send + 'static,
    ) -> Self {
        ResponseFuture {
            state: State::Continuing(Box::pin(future)),
            in_flight: None,
            version: Version::HTTP_11,
        }
    }

    /// The response as it leaves, changed in place (every move of a
    /// response is a copy): while the server is shutting down, an HTTP/1
    /// response ends its connection, so the client sends nothing more on
    /// it (HTTP/2 has GOAWAY instead; see `server/timeouts.rs`). A `101`
    /// keeps its `Connection: upgrade`: the socket it becomes closes itself
    /// (a WebSocket sends close 1001).
    fn finish(&mut self, response: &mut Response<ResponseBody>) {
        if let Some(in_flight) = self.in_flight.take() {
            if in_flight.connection_closing()
                && self.version < Version::HTTP_2
                && response.status() != StatusCode::SWITCHING_PROTOCOLS
            {
                response.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            response.body_mut().track(in_flight);
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<ResponseBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut response = loop {
            match &mut this.state {
                State::Calling(dispatch) => {
                    let Poll::Ready(step) = dispatch.poll_call(cx) else {
                        return Poll::Pending;
                    };
                    match dispatch.after(step) {
                        Dispatched::Done(response) => break response,
                        // Polled at once, on the next turn.
                        Dispatched::Continue(rest) => this.state = State::Continuing(rest),
                    }
                }
                State::Continuing(rest) => {
                    let Poll::Ready(response) = rest.as_mut().poll(cx) else {
                        return Poll::Pending;
                    };
                    break response;
                }
                State::Done => panic!("a ResponseFuture was polled after it returned its response"),
            }
        };
        this.state = State::Done;
        this.finish(&mut response);
        Poll::Ready(Ok(response))
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Calling(_) => "calling",
            State::Continuing(_) => "continuing",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::ResponseFuture;

    #[test]
    fn a_response_future_is_send_and_unpin() {
        fn is_send_unpin<T: Send + Unpin + 'static>() {}
        is_send_unpin::<ResponseFuture>();
    }
}
