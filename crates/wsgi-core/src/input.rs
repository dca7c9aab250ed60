//! `Input` (documented there): `wsgi.input`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::Stream;
use http_body::Body as HttpBody;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use sync_wrapper::SyncWrapper;
use tokio::time::{Instant, Sleep};

use crate::error::BoxError;

/// Why reading `wsgi.input` failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum InputError {
    /// The body is larger than the server accepts (`max_request_body`).
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The body could not be read: the client went away, stopped sending or
    /// broke the framing.
    Read(BoxError),
    /// No body bytes arrived for the idle timeout while the application
    /// waited for them.
    TimedOut {
        /// The idle timeout.
        after: Duration,
    },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::TooLarge { limit } => write!(
                f,
                "request body is larger than the {limit}-byte limit (raise `max_request_body` to accept it)"
            ),
            InputError::Read(e) => write!(f, "reading the request body failed: {e}"),
            InputError::TimedOut { after } => write!(
                f,
                "the client sent no request body bytes for {after:?}; send the body without pausing (or raise `header_read_timeout`)"
            ),
        }
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InputError::Read(e) => Some(&**e),
            InputError::TooLarge { .. } | InputError::TimedOut { .. } => None,
        }
    }
}

/// `wsgi.input`: the request body as an asynchronous reader.
///
/// The application may start before the body has arrived; [`Input`] reads it
/// as it comes: [`read_all`](Input::read_all), [`read`](Input::read) up to
/// `n` bytes, [`read_line`](Input::read_line), or chunk by chunk
/// ([`chunk`](Input::chunk), or as a `futures::Stream`). Reading more than
/// the configured limit (`max_request_body`) fails with
/// [`InputError::TooLarge`]. For HTTP/1.1 `Expect: 100-continue` requests,
/// the `100 Continue` goes out when the application first reads (and never
/// if it answers without reading). A client that goes silent mid-body fails
/// the read with [`InputError::TimedOut`] once
/// [`with_idle_timeout`](Input::with_idle_timeout) passes with no bytes
/// (the server uses its `header_read_timeout`), so a stalled upload cannot
/// hold a request forever; a client that closes mid-body fails it with
/// [`InputError::Read`].
///
/// The request body (`environ["wsgi.input"]`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), wsgi_core::InputError> {
/// use wsgi_core::Input;
///
/// let mut input = Input::from_bytes("first line\nrest");
/// assert_eq!(input.read_line().await?, "first line\n");
/// assert_eq!(input.read(2).await?, "re");
/// assert_eq!(input.read_all().await?, "st");
/// assert!(input.read_all().await?.is_empty());
/// # Ok(())
/// # }
/// ```
pub struct Input {
    // `SyncWrapper` makes `Input` (and so `Environ`) `Sync` over a body that
    // is only `Send`: every access goes through `&mut self`.
    body: SyncWrapper<UnsyncBoxBody<Bytes, BoxError>>,
    buffered: Bytes,
    received: u64,
    limit: u64,
    done: bool,
    idle_timeout: Option<Duration>,
    // Armed only while the application waits on a pending body, and boxed
    // (once per request that waits) so `Input` stays `Unpin`.
    idle_timer: Option<Pin<Box<Sleep>>>,
    // Whether the timer is measuring the current wait: it restarts when a
    // new wait begins, so time the application spends between reads is
    // never counted against the client.
    waiting: bool,
}

impl Input {
    /// Wraps any `http_body::Body` with the given size limit.
    pub fn new<B>(body: B, limit: u64) -> Self
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let done = body.is_end_stream();
        // A body known to be empty (most GETs) is dropped at once: the
        // empty stand-in has no size, so boxing it allocates nothing.
        let body = if done {
            http_body_util::Empty::new()
                .map_err(|never| match never {})
                .boxed_unsync()
        } else {
            body.map_err(Into::into).boxed_unsync()
        };
        Input {
            body: SyncWrapper::new(body),
            buffered: Bytes::new(),
            received: 0,
            limit,
            done,
            idle_timeout: None,
            idle_timer: None,
            waiting: false,
        }
    }

    /// Fails a read with [`InputError::TimedOut`] when the body stays
    /// silent for `timeout` while the application waits for it; the clock
    /// restarts with every chunk. Needs tokio's timer (any server runtime
    /// has it).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use wsgi_core::{Input, InputError};
    ///
    /// // A body whose client never sends anything.
    /// let silent = futures_util::stream::pending::<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>();
    /// let body = http_body_util::StreamBody::new(silent);
    /// let mut input = Input::new(body, 100).with_idle_timeout(Duration::from_millis(10));
    /// let error = input.read_all().await.unwrap_err();
    /// assert!(matches!(error, InputError::TimedOut { .. }), "{error}");
    /// # }
    /// ```
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// An input holding `bytes` (for tests and in-process calls).
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let limit = bytes.len() as u64;
        Input::new(http_body_util::Full::new(bytes), limit)
    }

    /// An input with no body.
    pub fn empty() -> Self {
        Input::new(http_body_util::Empty::<Bytes>::new(), 0)
    }

    /// Bytes received from the client so far.
    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    /// The size limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, InputError>>> {
        if !self.buffered.is_empty() {
            return Poll::Ready(Some(Ok(std::mem::take(&mut self.buffered))));
        }
        while !self.done {
            let body = Pin::new(self.body.get_mut());
            let polled = body.poll_frame(cx);
            if polled.is_ready() {
                self.waiting = false;
            }
            match polled {
                Poll::Pending => {
                    let Some(timeout) = self.idle_timeout else {
                        return Poll::Pending;
                    };
                    let timer = match &mut self.idle_timer {
                        Some(timer) => {
                            if !self.waiting {
                                timer.as_mut().reset(Instant::now() + timeout);
                            }
                            timer
                        }
                        None => self
                            .idle_timer
                            .insert(Box::pin(tokio::time::sleep(timeout))),
                    };
                    self.waiting = true;
                    if timer.as_mut().poll(cx).is_ready() {
                        self.done = true;
                        self.idle_timer = None;
                        return Poll::Ready(Some(Err(InputError::TimedOut { after: timeout })));
                    }
                    return Poll::Pending;
                }
                Poll::Ready(None) => self.done = true,
                Poll::Ready(Some(Err(e))) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(InputError::Read(e))));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers carry no body bytes
                    };
                    if data.is_empty() {
                        continue;
                    }
                    self.received += data.len() as u64;
                    if self.received > self.limit {
                        self.done = true;
                        return Poll::Ready(Some(Err(InputError::TooLarge { limit: self.limit })));
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
            }
        }
        Poll::Ready(None)
    }

    /// The next chunk as it arrived, or `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, InputError> {
        std::future::poll_fn(|cx| self.poll_chunk(cx))
            .await
            .transpose()
    }

    /// Up to `n` bytes; empty only at the end of the body.
    pub async fn read(&mut self, n: usize) -> Result<Bytes, InputError> {
        if n == 0 {
            return Ok(Bytes::new());
        }
        let Some(mut chunk) = self.chunk().await? else {
            return Ok(Bytes::new());
        };
        if chunk.len() > n {
            self.buffered = chunk.split_off(n);
        }
        Ok(chunk)
    }

    /// The rest of the body.
    pub async fn read_all(&mut self) -> Result<Bytes, InputError> {
        let Some(first) = self.chunk().await? else {
            return Ok(Bytes::new());
        };
        let Some(second) = self.chunk().await? else {
            return Ok(first); // one chunk: no copy
        };
        let mut all = BytesMut::with_capacity(first.len() + second.len());
        all.extend_from_slice(&first);
        all.extend_from_slice(&second);
        while let Some(chunk) = self.chunk().await? {
            all.extend_from_slice(&chunk);
        }
        Ok(all.freeze())
    }

    /// One line, up to and including `\n` (the last line may lack it);
    /// empty only at the end of the body.
    pub async fn read_line(&mut self) -> Result<Bytes, InputError> {
        let mut line = BytesMut::new();
        while let Some(mut chunk) = self.chunk().await? {
            if let Some(pos) = chunk.iter().position(|&b| b == b'\n') {
                self.buffered = chunk.split_off(pos + 1);
                if line.is_empty() {
                    return Ok(chunk);
                }
                line.extend_from_slice(&chunk);
                return Ok(line.freeze());
            }
            line.extend_from_slice(chunk.chunk());
            chunk.clear();
        }
        Ok(line.freeze())
    }
}

impl Stream for Input {
    type Item = Result<Bytes, InputError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_chunk(cx)
    }
}

/// `wsgi.input` is itself an `http_body::Body`, so a request can be rebuilt
/// from an environ for a tower service.
impl HttpBody for Input {
    type Data = Bytes;
    type Error = InputError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, InputError>>> {
        self.get_mut()
            .poll_chunk(cx)
            .map(|chunk| chunk.map(|result| result.map(http_body::Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.buffered.is_empty()
    }
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("received", &self.received)
            .field("limit", &self.limit)
            .field("done", &self.done)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;
    use http_body::Frame;
    use http_body_util::StreamBody;

    fn chunked(parts: &[&'static str], limit: u64) -> Input {
        let frames = parts
            .iter()
            .map(|p| Ok::<_, std::io::Error>(Frame::data(Bytes::from_static(p.as_bytes()))))
            .collect::<Vec<_>>();
        Input::new(StreamBody::new(stream::iter(frames)), limit)
    }

    #[tokio::test]
    async fn lines_span_chunks() {
        let mut input = chunked(&["ab", "c\nde", "f\n", "g"], 100);
        assert_eq!(input.read_line().await.unwrap(), "abc\n");
        assert_eq!(input.read_line().await.unwrap(), "def\n");
        assert_eq!(input.read_line().await.unwrap(), "g");
        assert_eq!(input.read_line().await.unwrap(), "");
    }

    /// A body whose chunks each arrive `delay` after they are asked for.
    fn trickle(parts: &'static [&'static str], delay: Duration) -> Input {
        let chunks = stream::unfold(0, move |i| async move {
            let part = parts.get(i)?;
            tokio::time::sleep(delay).await;
            Some((
                Ok::<_, std::io::Error>(Frame::data(Bytes::from_static(part.as_bytes()))),
                i + 1,
            ))
        });
        Input::new(StreamBody::new(chunks), 100)
    }

    #[tokio::test]
    async fn time_the_application_spends_between_reads_is_not_idle_time() {
        let mut input = trickle(&["ab", "cd"], Duration::from_millis(5))
            .with_idle_timeout(Duration::from_millis(100));
        assert_eq!(input.read(10).await.unwrap(), "ab");
        // The application works longer than the timeout; the client is on time.
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(input.read(10).await.unwrap(), "cd");
    }

    #[tokio::test]
    async fn a_client_slower_than_the_idle_timeout_fails_the_read() {
        let mut input = trickle(&["ab"], Duration::from_millis(300))
            .with_idle_timeout(Duration::from_millis(50));
        let error = input.read_all().await.unwrap_err();
        assert!(matches!(error, InputError::TimedOut { .. }), "{error}");
    }

    #[tokio::test]
    async fn limit_is_enforced() {
        let mut input = chunked(&["12345", "67890"], 8);
        let err = input.read_all().await.unwrap_err();
        assert!(matches!(err, InputError::TooLarge { limit: 8 }), "{err}");
    }
}
