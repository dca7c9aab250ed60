//! The order a response's bytes go out in: the one place of that rule.

use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;

use super::StreamError;
use crate::body::{Body, Outcome};
use crate::error::Error;
use crate::start_response::StartResponse;

/// A response body on its way out, with the legacy `write()` bytes of its
/// `start_response`. It yields bytes in the order they were produced:
///
/// 1. the first non-empty chunk (read before the head is sent);
/// 2. the `write()` bytes queued so far;
/// 3. the body item that was made while they were queued (it waits behind
///    them);
/// 4. the rest of the body, each item again behind any `write()` bytes
///    queued while it was made.
///
/// `write()` bytes made while the body waits go out at once, not when the
/// body next wakes. The server ([`ResponseBody`](super::ResponseBody)),
/// middleware capturing an application's answer and the macros all read
/// bodies through this type.
pub(crate) struct Outgoing {
    /// Bytes taken out but not yet yielded, ahead of everything else: the
    /// first chunk, read before the head, or an item put back.
    first: Option<Bytes>,
    /// A body item waiting behind queued `write()` bytes.
    held: Option<Bytes>,
    source: Source,
    /// Whether the sender waited for the body since it last took an item
    /// (see [`waited`](Self::waited)).
    waited: bool,
}

/// Where the remaining bytes come from.
enum Source {
    /// The body and the `write()` queue (absent when the body has no
    /// `start_response`, as a middleware's streamed answer).
    Open {
        body: Body,
        written: Option<StartResponse>,
    },
    /// Nothing more comes (`first` and `held` may still hold bytes).
    Ended,
}

impl Outgoing {
    /// `body` and the `write()` bytes of `start_response`, none read yet.
    pub(crate) fn new(body: Body, start_response: Option<StartResponse>) -> Self {
        Outgoing {
            first: None,
            held: None,
            waited: false,
            source: Source::Open {
                body,
                written: start_response,
            },
        }
    }

    /// Reads up to the first non-empty chunk (or the end) and keeps it to
    /// be yielded first: nothing is sent before it (PEP 3333), so until
    /// then an error can still become a clean error response. Each wait is
    /// bounded by `timeout`.
    pub(crate) async fn read_first(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<(), StreamError> {
        match self.read_first_now() {
            Some(read) => read,
            // Boxed: the timer and the wait would otherwise make every
            // request's future larger, and most bodies never wait here.
            None => Box::pin(self.wait_for_first(timeout)).await,
        }
    }

    /// [`read_first`](Self::read_first) for a body whose first item is
    /// there at once (bytes known in full, an iterable of ready items):
    /// `None` if it would have to wait. The body is polled with a waker
    /// that does nothing; waiting then polls it again with the task's own,
    /// which is the one it must wake.
    fn read_first_now(&mut self) -> Option<Result<(), StreamError>> {
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            match self.poll_next(&mut cx) {
                Poll::Ready(Some(Ok(bytes))) if bytes.is_empty() => continue,
                Poll::Ready(Some(Ok(bytes))) => {
                    self.first = Some(bytes);
                    return Some(Ok(()));
                }
                Poll::Ready(Some(Err(error))) => return Some(Err(error)),
                Poll::Ready(None) => return Some(Ok(())),
                Poll::Pending => return None,
            }
        }
    }

    async fn wait_for_first(&mut self, timeout: Option<Duration>) -> Result<(), StreamError> {
        loop {
            let next = poll_fn(|cx| self.poll_next(cx));
            let next = match timeout {
                None => next.await,
                Some(timeout) => tokio::time::timeout(timeout, next)
                    .await
                    .map_err(|_| StreamError::TimedOut { timeout })?,
            };
            match next {
                Some(Ok(bytes)) if bytes.is_empty() => continue,
                Some(Ok(bytes)) => {
                    self.first = Some(bytes);
                    return Ok(());
                }
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            }
        }
    }

    /// The next bytes, in order. Empty items are passed on, so a caller
    /// sees the body make progress; skip them when sending.
    // Inlined into the sender's poll: this runs once per body item.
    #[inline]
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, StreamError>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        // The usual case, nothing queued beside the body: its item goes
        // out as it is, unless `write()` queued bytes while it was made.
        if let Source::Open { body, written } = &mut self.source {
            if self.held.is_none() && !written.as_ref().is_some_and(StartResponse::has_written) {
                match poll_body(body, cx) {
                    Poll::Ready(Some(Ok(bytes)))
                        if !written.as_ref().is_some_and(StartResponse::has_written) =>
                    {
                        return Poll::Ready(Some(Ok(bytes)));
                    }
                    polled => {
                        if let Some(answer) = self.settle(polled, cx) {
                            return answer;
                        }
                    }
                }
            }
        }
        self.poll_queued(cx)
    }

    /// What a body poll means when it did not simply yield bytes: `None`
    /// when `write()` bytes were queued meanwhile, so the queue goes next.
    fn settle(
        &mut self,
        polled: Poll<Option<Result<Bytes, StreamError>>>,
        cx: &mut Context<'_>,
    ) -> Option<Poll<Option<Result<Bytes, StreamError>>>> {
        let Source::Open { written, .. } = &mut self.source else {
            return Some(polled);
        };
        match polled {
            Poll::Pending => {
                if !written.as_ref().is_some_and(|w| w.poll_written(cx.waker())) {
                    return Some(Poll::Pending);
                }
            }
            Poll::Ready(Some(Ok(bytes))) if bytes.is_empty() => {
                return Some(Poll::Ready(Some(Ok(bytes))))
            }
            // Behind any `write()` bytes queued while it was made.
            Poll::Ready(Some(Ok(bytes))) => self.held = Some(bytes),
            Poll::Ready(Some(Err(error))) => {
                self.source = Source::Ended;
                return Some(Poll::Ready(Some(Err(error))));
            }
            // Ended: what `write()` queued until then still goes out.
            Poll::Ready(None) => {
                if !written.as_ref().is_some_and(StartResponse::has_written) {
                    self.source = Source::Ended;
                    return Some(Poll::Ready(None));
                }
            }
        }
        None
    }

    /// [`poll_next`](Self::poll_next) when bytes wait beside the body's:
    /// queued `write()` bytes, a held item, or a body that ended.
    #[cold]
    fn poll_queued(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, StreamError>>> {
        loop {
            let Source::Open { body, written } = &mut self.source else {
                return Poll::Ready(self.held.take().map(Ok));
            };
            if let Some(bytes) = written.as_ref().and_then(StartResponse::take_written) {
                return Poll::Ready(Some(Ok(bytes)));
            }
            if let Some(held) = self.held.take() {
                return Poll::Ready(Some(Ok(held)));
            }
            let polled = poll_body(body, cx);
            if let Some(answer) = self.settle(polled, cx) {
                return answer;
            }
        }
    }

    /// Puts `bytes`, just yielded, back to be yielded next: the sender
    /// took it without room to send it yet.
    pub(crate) fn put_back(&mut self, bytes: Bytes) {
        debug_assert!(self.first.is_none());
        self.first = Some(bytes);
    }

    /// Notes that the sender found nothing ready and waits.
    pub(crate) fn wait(&mut self) {
        self.waited = true;
    }

    /// Whether the sender waited since it last asked this: the item it
    /// now has came after a wait, so the next one probably will too.
    #[inline]
    pub(crate) fn waited(&mut self) -> bool {
        std::mem::take(&mut self.waited)
    }

    /// Whether everything is known to be read: nothing is left to yield
    /// but what was already taken out.
    pub(crate) fn is_read(&self) -> bool {
        match &self.source {
            Source::Ended => self.held.is_none(),
            Source::Open { body, written } => {
                self.held.is_none()
                    && body.is_end()
                    && !written.as_ref().is_some_and(StartResponse::has_written)
            }
        }
    }

    /// Whether nothing at all is left, not even bytes taken out.
    pub(crate) fn is_done(&self) -> bool {
        self.first.is_none() && self.held.is_none() && matches!(self.source, Source::Ended)
    }

    /// Whether bytes wait besides the body's own (queued `write()` bytes,
    /// a held item or one put back).
    pub(crate) fn has_queued(&self) -> bool {
        self.first.is_some()
            || self.held.is_some()
            || matches!(&self.source, Source::Open { written: Some(w), .. } if w.has_written())
    }

    /// The length of what was taken out before the head: the first chunk,
    /// and a held item.
    pub(crate) fn read_len(&self) -> u64 {
        [&self.first, &self.held]
            .iter()
            .map(|b| b.as_ref().map_or(0, |b| b.len() as u64))
            .sum()
    }

    /// The exact length of everything left, bytes taken out included,
    /// when known without polling.
    pub(crate) fn exact_length(&self) -> Option<u64> {
        match &self.source {
            Source::Ended => Some(self.read_len()),
            Source::Open { body, written } => {
                if written.as_ref().is_some_and(StartResponse::has_written) {
                    return None;
                }
                body.exact_length().map(|len| len + self.read_len())
            }
        }
    }

    /// When everything was read in one chunk (or none): that chunk, the
    /// body closed as completed. Otherwise `None`, and nothing changes.
    pub(crate) fn take_whole(&mut self) -> Option<Bytes> {
        if !self.is_read() || self.held.is_some() {
            return None;
        }
        self.close(Outcome::Completed);
        Some(self.first.take().unwrap_or_default())
    }

    /// Closes the body with `outcome` (its hooks run now) and forgets the
    /// `write()` queue; bytes already taken out stay.
    pub(crate) fn close(&mut self, outcome: Outcome) {
        if let Source::Open { mut body, .. } = std::mem::replace(&mut self.source, Source::Ended) {
            body.close(outcome);
        }
    }

    /// The rest as a [`Body`], in the same order.
    pub(crate) fn into_body(mut self) -> Body {
        Body::from_stream(futures_util::stream::poll_fn(move |cx| {
            self.poll_next(cx)
                .map(|item| item.map(|result| result.map_err(StreamError::into_error)))
        }))
    }
}

/// Polls a body, turning a panic into an error.
#[inline]
fn poll_body(body: &mut Body, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, StreamError>>> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| body.poll_next_unpin(cx))) {
        Ok(Poll::Ready(Some(Err(e)))) => Poll::Ready(Some(Err(StreamError::Body(e)))),
        Ok(Poll::Ready(Some(Ok(bytes)))) => Poll::Ready(Some(Ok(bytes))),
        Ok(Poll::Ready(None)) => Poll::Ready(None),
        Ok(Poll::Pending) => Poll::Pending,
        Err(panic) => {
            body.close(Outcome::Failed);
            Poll::Ready(Some(Err(StreamError::Panicked(Error::from_panic(panic)))))
        }
    }
}
