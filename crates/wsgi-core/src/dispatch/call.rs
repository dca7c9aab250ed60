//! [`Dispatch`]: one request's application call, polled by the service's
//! future (`response_future.rs`) until the call returns, `write()`s or
//! times out; then [`Dispatch::after`] answers, or leaves a continuation
//! when the body must be waited on.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use http::{HeaderValue, Response};

use super::{Answer, Rest, Settings};
use crate::access_log::AccessRecord;
use crate::application::Application;
use crate::body::Body;
use crate::environ::Environ;
use crate::error::Error;
use crate::response_body::{RequestContext, ResponseBody, StreamError};
use crate::start_response::{keep_spare_map, StartResponse};

/// What is left of a request's answer once it must wait on its body:
/// boxed, as only streamed bodies (and those `write()`n from a running
/// call) need it.
pub(crate) type Continuation = Pin<Box<dyn Future<Output = Response<ResponseBody>> + Send>>;

/// What a call returns, or the panic it raised.
type Called = std::thread::Result<Result<Body, Error>>;

/// The application's call, boxed with the application handle and the
/// environ it owns: for a request answered in full, the one future
/// allocated. Nothing else goes in its box: an application's future is
/// often large already, and an allocation past an allocator's small
/// sizes (1,032 bytes for glibc's per-thread cache) costs twice as much.
type Call = Pin<Box<dyn Future<Output = Called> + Send>>;

/// One request being answered, following the rules in the
/// [module docs](super): its application call and what answering needs.
/// The state of a hand-written future rather than an `async fn`, so that
/// the service's future is a named type.
pub(crate) struct Dispatch {
    call: Call,
    /// Taken by the answer (which recycles it).
    start_response: Option<StartResponse>,
    answer: Answer,
    deadline: Deadline,
}

/// `response_timeout` on the call (until it returns or `write()`s).
enum Deadline {
    Off,
    /// Started at the call's first poll, as the call itself.
    Unstarted(Duration),
    Running(Pin<Box<tokio::time::Sleep>>, Duration),
}

/// How a call stopped being pending.
pub(crate) enum Step {
    /// It returned (or panicked).
    Called(Called),
    /// It `write()`s while still running: the rest of the call, then its
    /// body, is the body.
    Written,
    /// `response_timeout` passed first.
    TimedOut(Duration),
}

/// What a [`Step`] leads to.
pub(crate) enum Dispatched {
    Done(Response<ResponseBody>),
    Continue(Continuation),
}

impl Dispatch {
    /// Prepares the call of `app` for `environ` (it runs when polled).
    /// `accept` is the request's `Accept`, for the format of an error page.
    pub(crate) fn new<A: Application + ?Sized>(
        app: Arc<A>,
        mut environ: Box<Environ>,
        accept: Option<HeaderValue>,
        settings: Arc<Settings>,
    ) -> Self {
        let start_response = StartResponse::new();
        let deadline = match settings.response_timeout {
            Some(timeout) => Deadline::Unstarted(timeout),
            None => Deadline::Off,
        };
        let answer = Answer {
            debug: environ.config().debug,
            request: RequestContext::capture(&environ),
            accept,
            log: AccessRecord::capture(&environ, &settings.access_log),
            settings,
        };
        // The call owns the application handle and the environ, so that
        // when it `write()`s and then awaits, the head and those bytes can
        // go out while it goes on, as the body's first item. The request
        // head and any unread input go when it returns; the request's
        // header map is kept for this thread's next response head.
        let responder = start_response.clone();
        let call = AssertUnwindSafe(async move {
            let called = app.call(&mut environ, responder).await;
            keep_spare_map(std::mem::take(environ.headers_mut()));
            called
        })
        .catch_unwind();
        Dispatch {
            call: Box::pin(call),
            start_response: Some(start_response),
            answer,
            deadline,
        }
    }

    /// Polls the call until it returns, `write()`s or times out.
    pub(crate) fn poll_call(&mut self, cx: &mut Context<'_>) -> Poll<Step> {
        if let Deadline::Unstarted(timeout) = self.deadline {
            self.deadline = Deadline::Running(Box::pin(tokio::time::sleep(timeout)), timeout);
        }
        if let Poll::Ready(called) = self.call.as_mut().poll(cx) {
            return Poll::Ready(Step::Called(called));
        }
        let written = self.start_response.as_ref();
        if written.is_some_and(|start_response| start_response.poll_written(cx.waker())) {
            return Poll::Ready(Step::Written);
        }
        match &mut self.deadline {
            Deadline::Running(sleep, timeout) => match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Step::TimedOut(*timeout)),
                Poll::Pending => Poll::Pending,
            },
            _ => Poll::Pending,
        }
    }

    /// The response after `step`, or what is left to wait for. Answered
    /// where the dispatch lies (it is dropped next): a response known in
    /// full moves nothing of it.
    pub(crate) fn after(&mut self, step: Step) -> Dispatched {
        let Some(start_response) = self.start_response.take() else {
            // Answered already: a dispatch answers one step.
            let error = Error::msg("the request was answered twice");
            return Dispatched::Done(self.answer.error(error));
        };
        let body = match step {
            Step::Called(called) => {
                match called.unwrap_or_else(|panic| Err(Error::from_panic(panic))) {
                    Ok(body) => body,
                    Err(error) => return Dispatched::Done(self.answer.error(error)),
                }
            }
            Step::TimedOut(timeout) => {
                // The call, and the environ it owns, go first.
                drop(self.take_call());
                let error = StreamError::TimedOut { timeout }.into_error();
                return Dispatched::Done(self.answer.error(error));
            }
            // The call goes on inside the body.
            Step::Written => {
                let call = self.take_call();
                Body::from_stream(futures_util::stream::once(call).flat_map(|called| {
                    match called.unwrap_or_else(|panic| Err(Error::from_panic(panic))) {
                        Ok(body) => body.left_stream(),
                        Err(error) => futures_util::stream::iter([Err(error)]).right_stream(),
                    }
                }))
            }
        };
        let timeout = self.answer.settings.response_timeout;
        match Rest::whole(body, &start_response) {
            Ok(whole) => Dispatched::Done(self.answer.head(whole, start_response, timeout)),
            Err(body) => {
                let mut answer = self.answer.take();
                Dispatched::Continue(Box::pin(async move {
                    answer.stream(body, start_response, timeout).await
                }))
            }
        }
    }

    /// The call, out of the dispatch: what is left in its place is a
    /// future of no size, which allocates nothing.
    fn take_call(&mut self) -> Call {
        std::mem::replace(&mut self.call, Box::pin(std::future::pending()))
    }
}
