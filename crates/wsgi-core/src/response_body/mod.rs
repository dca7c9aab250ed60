//! The body of a response on the wire, and why one is aborted.
//!
//! [`ResponseBody`] is the [`http_body::Body`] hyper polls when the
//! connection can take more bytes (backpressure). It takes the
//! application's body and its `write()` bytes in the order they were
//! produced (one type owns that rule, `Outgoing`), enforces a declared
//! `Content-Length` both ways, turns a late error into an aborted stream
//! ([`StreamError`]), closes the body exactly once, writes the access line
//! and runs `post_request`. A body known in full goes out as one frame.

mod outgoing;

pub(crate) use outgoing::Outgoing;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::Method;
use http_body::{Frame, SizeHint};

use crate::access_log::AccessRecord;
use crate::body::Outcome;
use crate::connection::InFlight;
use crate::environ::Environ;
use crate::error::{BoxError, Error};

/// Why a response body was aborted after its head was sent.
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamError {
    /// The application's body failed.
    Body(Error),
    /// The body yielded more bytes than its `Content-Length`.
    TooLong {
        /// The declared length.
        declared: u64,
    },
    /// The body ended before its `Content-Length`.
    TooShort {
        /// The declared length.
        declared: u64,
        /// The bytes actually produced.
        sent: u64,
    },
    /// The body panicked.
    Panicked(Error),
    /// The application, or one item of its body, took longer than
    /// `response_timeout`.
    TimedOut {
        /// The configured `response_timeout`.
        timeout: Duration,
    },
}

impl StreamError {
    /// As the framework's error: the body's own error as it is, a timeout
    /// as `504 Gateway Timeout`, anything else a `500`.
    pub(crate) fn into_error(self) -> Error {
        match self {
            StreamError::Body(error) => error,
            error @ StreamError::TimedOut { .. } => {
                Error::with_status(http::StatusCode::GATEWAY_TIMEOUT, error)
            }
            other => Error::new(other),
        }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Body(e) => write!(f, "response body failed: {e}"),
            StreamError::TooLong { declared } => write!(
                f,
                "response body is longer than its Content-Length of {declared} bytes; fix the header or the body"
            ),
            StreamError::TooShort { declared, sent } => write!(
                f,
                "response body ended after {sent} of its declared {declared} bytes; fix the Content-Length or the body"
            ),
            StreamError::Panicked(e) => write!(f, "response body panicked: {e}"),
            StreamError::TimedOut { timeout } => write!(
                f,
                "the application did not produce its response or next body item within the response_timeout of {timeout:?}; raise --response-timeout or make it faster"
            ),
        }
    }
}

impl std::error::Error for StreamError {}

/// The request an error is logged with.
#[derive(Debug)]
pub(crate) struct RequestContext {
    pub(crate) method: Method,
    pub(crate) uri: http::Uri,
    pub(crate) peer: Option<std::net::SocketAddr>,
}

impl RequestContext {
    #[inline]
    pub(crate) fn capture(environ: &Environ) -> Self {
        RequestContext {
            method: environ.method().clone(),
            // A reference-count bump: hyper's `Uri` parts are `Bytes`.
            uri: environ.uri().clone(),
            peer: environ.connection().and_then(|c| c.client_addr()),
        }
    }
}

/// Called once when a response body ends, with the bytes sent and how it
/// ended (the `post_request` hook).
pub(crate) type OnEnd = Box<dyn FnOnce(u64, Outcome) + Send + 'static>;

/// Where a response body is.
enum Phase {
    /// Known in full and not sent yet: one frame.
    Full(Bytes),
    /// Streaming the application's body and `write()` bytes, in order.
    /// Boxed: a response is moved several times on its way to hyper, and
    /// most are `Full`.
    Streaming(Box<Outgoing>),
    /// Failed while small items were being joined: the bytes before the
    /// error go out first, then the stream is aborted.
    Failing(StreamError),
    /// Aborted: the error waits for hyper to flush what was produced
    /// before it, so the client sees the partial body, never a completed
    /// message.
    Aborting(StreamError),
    /// Nothing more to send.
    Ended(Outcome),
}

/// `response_timeout` while the body is awaited.
struct Timer {
    timeout: Duration,
    /// Boxed so the body stays `Unpin`; one allocation per response, only
    /// when the setting is on.
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// Whether it runs: from when the body is first found not ready until
    /// it yields, so time hyper spends on a slow client is not counted
    /// against the application.
    armed: bool,
}

impl Timer {
    /// Ready once the body has been waited for longer than the timeout.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<Duration> {
        if !self.armed {
            self.armed = true;
            let deadline = tokio::time::Instant::now() + self.timeout;
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx).map(|()| self.timeout)
    }
}

/// The body of a response produced by the server: the application's body
/// with the WSGI framing rules applied. It is an [`http_body::Body`], so it
/// works with hyper, axum and tower-http.
pub struct ResponseBody {
    phase: Phase,
    declared: Option<u64>,
    sent: u64,
    log: Option<Box<AccessRecord>>,
    /// Marks the request in flight on its connection until the body is done.
    in_flight: Option<InFlight>,
    /// Boxed, as the timer below: the body stays small enough for hyper
    /// to move it without a `memcpy` call (see the size test below).
    on_end: Option<Box<OnEnd>>,
    /// For the error log when the stream is aborted; boxed, as only
    /// streamed bodies carry it.
    context: Option<Box<RequestContext>>,
    timer: Option<Box<Timer>>,
}

/// Items shorter than this that are ready one after another go out joined
/// in one frame: each frame costs hyper more than copying a small item (a
/// chunk-size line and a place in its write queue), and hyper would write
/// them together anyway. Larger items go out as they are, uncopied.
const JOIN_BELOW: usize = 1024;

/// The most bytes joined into one frame.
const JOIN_LIMIT: usize = 16 * 1024;

impl ResponseBody {
    fn with_phase(phase: Phase, declared: Option<u64>, log: Option<Box<AccessRecord>>) -> Self {
        ResponseBody {
            phase,
            declared,
            sent: 0,
            log,
            in_flight: None,
            on_end: None,
            context: None,
            timer: None,
        }
    }

    /// A body of `bytes`, sent as one frame.
    pub(crate) fn full(bytes: Bytes, log: Option<Box<AccessRecord>>) -> Self {
        let declared = Some(bytes.len() as u64);
        let phase = if bytes.is_empty() {
            Phase::Ended(Outcome::Completed)
        } else {
            Phase::Full(bytes)
        };
        ResponseBody::with_phase(phase, declared, log)
    }

    /// The rest of `outgoing` (its first chunk read), holding it to
    /// `declared` bytes and each wait to `timeout`. Everything already read
    /// in one chunk goes out as one frame.
    pub(crate) fn streaming(
        mut outgoing: Box<Outgoing>,
        declared: Option<u64>,
        timeout: Option<Duration>,
        context: RequestContext,
        mut log: Option<Box<AccessRecord>>,
    ) -> Self {
        if let Some(bytes) = outgoing.take_whole() {
            if let Some(log) = &mut log {
                log.set_request(context.method, context.uri);
            }
            return ResponseBody::full(bytes, log);
        }
        if let Some(log) = &mut log {
            // The context is kept too, for the error log of an abort.
            log.set_request(context.method.clone(), context.uri.clone());
        }
        let mut body = ResponseBody::with_phase(Phase::Streaming(outgoing), declared, log);
        body.context = Some(Box::new(context));
        body.timer = timeout.map(|timeout| {
            Box::new(Timer {
                timeout,
                sleep: Box::pin(tokio::time::sleep(timeout)),
                armed: false,
            })
        });
        body
    }

    /// Keeps the request in flight on its connection until this body is
    /// dropped.
    pub(crate) fn track(&mut self, in_flight: InFlight) {
        self.in_flight = Some(in_flight);
    }

    /// Runs `on_end` when this body is dropped.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn on_end(&mut self, on_end: OnEnd) {
        self.on_end = Some(Box::new(on_end));
    }

    /// Aborts the stream. The error is returned on the next poll: answering
    /// `Pending` first (with an immediate wake-up) lets hyper flush the bytes
    /// produced so far.
    fn fail(
        &mut self,
        cx: &mut Context<'_>,
        error: StreamError,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &self.context {
            Some(request) => tracing::error!(
                error = %error,
                method = %request.method,
                uri = %request.uri,
                peer = ?request.peer,
                "aborting the response stream"
            ),
            None => tracing::error!(error = %error, "aborting the response stream"),
        }
        if let Phase::Streaming(outgoing) = &mut self.phase {
            // A body that stopped short has run to its end; its length was
            // what was wrong.
            outgoing.close(match error {
                StreamError::TooShort { .. } => Outcome::Completed,
                _ => Outcome::Failed,
            });
        }
        self.phase = Phase::Aborting(error);
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Sends `bytes`, enforcing the declared length. Once the declared
    /// length is reached the body is complete: it is closed as such here,
    /// because hyper stops polling and would otherwise drop it unfinished.
    fn data(
        &mut self,
        cx: &mut Context<'_>,
        bytes: Bytes,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let len = bytes.len() as u64;
        if let Some(declared) = self.declared {
            if self.sent + len > declared {
                return self.fail(cx, StreamError::TooLong { declared });
            }
            if self.sent + len == declared {
                if let Phase::Streaming(outgoing) = &mut self.phase {
                    if !outgoing.has_queued() {
                        outgoing.close(Outcome::Completed);
                    }
                }
            }
        }
        self.sent += len;
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }

    /// The body is not ready: `Pending`, unless `response_timeout` has
    /// run out while waiting for it.
    fn pending(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(timer) = self.timer.as_mut() {
            if let Poll::Ready(timeout) = timer.poll_expired(cx) {
                return self.fail(cx, StreamError::TimedOut { timeout });
            }
        }
        Poll::Pending
    }

    /// `first` and the small items ready right after it, joined in order,
    /// up to [`JOIN_LIMIT`] bytes and never past the declared length (so
    /// a body that is too long still sends what fits before it aborts).
    /// Only items hyper would have taken at once are read ahead: joining
    /// stops at the first one not ready, and an error waits behind the
    /// joined bytes.
    fn join(&mut self, cx: &mut Context<'_>, first: Bytes) -> Bytes {
        let Phase::Streaming(outgoing) = &mut self.phase else {
            return first;
        };
        let room = match self.declared {
            Some(declared) => JOIN_LIMIT.min(declared.saturating_sub(self.sent) as usize),
            None => JOIN_LIMIT,
        };
        let mut joined = BytesMut::new();
        loop {
            let len = joined.len().max(first.len());
            if len >= room {
                break;
            }
            match outgoing.poll_next(cx) {
                Poll::Ready(Some(Ok(next))) if next.is_empty() => {}
                Poll::Ready(Some(Ok(next)))
                    if next.len() < JOIN_BELOW && len + next.len() <= room =>
                {
                    if joined.is_empty() {
                        joined.reserve(room);
                        joined.extend_from_slice(&first);
                    }
                    joined.extend_from_slice(&next);
                }
                Poll::Ready(Some(Ok(next))) => {
                    outgoing.put_back(next);
                    break;
                }
                // Ended: the next poll answers it (and checks the length).
                Poll::Ready(None) => break,
                Poll::Ready(Some(Err(error))) => {
                    self.phase = Phase::Failing(error);
                    break;
                }
                // Polled again when hyper asks for the next frame.
                Poll::Pending => {
                    outgoing.wait();
                    break;
                }
            }
        }
        if joined.is_empty() {
            first
        } else {
            joined.freeze()
        }
    }

    /// How the body ended, were it dropped now.
    fn outcome(&self) -> Outcome {
        match &self.phase {
            Phase::Full(_) => Outcome::Aborted,
            Phase::Streaming(outgoing) if outgoing.is_done() => Outcome::Completed,
            Phase::Streaming(_) => Outcome::Aborted,
            Phase::Failing(_) | Phase::Aborting(_) => Outcome::Failed,
            Phase::Ended(outcome) => *outcome,
        }
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            let outgoing = match &mut this.phase {
                Phase::Streaming(outgoing) => outgoing,
                Phase::Ended(_) => return Poll::Ready(None),
                Phase::Full(_) | Phase::Failing(_) | Phase::Aborting(_) => {
                    return match std::mem::replace(&mut this.phase, Phase::Ended(Outcome::Failed)) {
                        Phase::Full(bytes) => {
                            this.phase = Phase::Ended(Outcome::Completed);
                            this.data(cx, bytes)
                        }
                        Phase::Failing(error) => this.fail(cx, error),
                        Phase::Aborting(error) => Poll::Ready(Some(Err(Box::new(error)))),
                        _ => Poll::Ready(None),
                    };
                }
            };
            match outgoing.poll_next(cx) {
                Poll::Pending => {
                    outgoing.wait();
                    return this.pending(cx);
                }
                Poll::Ready(item) => {
                    if let Some(timer) = this.timer.as_mut() {
                        timer.armed = false;
                    }
                    // An item that came after a wait goes out alone, as it
                    // is: the next one is likely not ready either, and
                    // asking for it now would only poll it twice.
                    let waited = outgoing.waited();
                    match item {
                        Some(Ok(bytes)) if bytes.is_empty() => continue,
                        Some(Ok(bytes)) if bytes.len() < JOIN_BELOW && !waited => {
                            let bytes = this.join(cx, bytes);
                            return this.data(cx, bytes);
                        }
                        Some(Ok(bytes)) => return this.data(cx, bytes),
                        Some(Err(error)) => return this.fail(cx, error),
                        None => {
                            if let Some(declared) = this.declared {
                                if this.sent < declared {
                                    let sent = this.sent;
                                    return this.fail(cx, StreamError::TooShort { declared, sent });
                                }
                            }
                            return Poll::Ready(None);
                        }
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.phase {
            Phase::Full(_) | Phase::Failing(_) | Phase::Aborting(_) => false,
            Phase::Streaming(outgoing) => outgoing.is_done(),
            Phase::Ended(_) => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.declared {
            Some(declared) => SizeHint::with_exact(declared.saturating_sub(self.sent)),
            None => SizeHint::default(),
        }
    }
}

/// An empty body, for layers (like tower-http's timeout) that answer on
/// their own.
impl Default for ResponseBody {
    fn default() -> Self {
        ResponseBody::full(Bytes::new(), None)
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        let outcome = self.outcome();
        // Dropping the phase runs the body's close hooks (`Aborted`) if it
        // was not finished.
        if let Some(log) = self.log.take() {
            log.finish(self.sent, outcome);
        }
        if let Some(on_end) = self.on_end.take() {
            on_end(self.sent, outcome);
        }
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match &self.phase {
            Phase::Full(_) => "Full",
            Phase::Streaming(_) => "Streaming",
            Phase::Failing(_) => "Failing",
            Phase::Aborting(_) => "Aborting",
            Phase::Ended(_) => "Ended",
        };
        f.debug_struct("ResponseBody")
            .field("phase", &phase)
            .field("declared", &self.declared)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    /// hyper moves a response's body several times per request: at 128
    /// bytes or less a move is a few register copies, above that a `memcpy`
    /// call (about 35 instructions each on x86-64).
    #[test]
    fn a_response_body_moves_without_memcpy() {
        let size = std::mem::size_of::<super::ResponseBody>();
        assert!(
            size <= 128,
            "ResponseBody is {size} bytes; box what is rare"
        );
    }
}
