//! `Body` (documented there), its `Chunk`s and `Outcome`.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use futures_util::FutureExt;
use tokio::io::AsyncRead;

use crate::error::Error;

type ChunkFuture = Pin<Box<dyn Future<Output = Result<Bytes, Error>> + Send + 'static>>;

/// One item of an asynchronous iterable: bytes now, or a future of bytes.
pub enum Chunk {
    /// Bytes that are ready now.
    Ready(Bytes),
    /// A future that resolves to the bytes (or to an error, which fails the
    /// body).
    Future(ChunkFuture),
}

impl Chunk {
    /// A chunk produced by a future, *lazily*: the future starts when the
    /// server asks for this item, that is once the items before it are
    /// sent and the connection can take more. Futures in a body therefore
    /// run one after another. Use [`Chunk::spawn`] for work that should
    /// start at once.
    ///
    /// ```
    /// use wsgi_core::Chunk;
    /// let chunk = Chunk::future(async { Ok::<_, std::io::Error>("later") });
    /// # let _ = chunk;
    /// ```
    pub fn future<F, B, E>(future: F) -> Self
    where
        F: Future<Output = Result<B, E>> + Send + 'static,
        B: Into<Bytes>,
        E: Into<Error>,
    {
        Chunk::Future(Box::pin(
            future.map(|result| result.map(Into::into).map_err(Into::into)),
        ))
    }
}

impl Chunk {
    /// A chunk produced by a future, *eagerly*: the future is spawned on
    /// the current tokio runtime now, when the item is made, and runs while
    /// the items before it are produced and sent; the body still yields the
    /// results in order. This is pulsar's behaviour, where a yielded future
    /// is already running. Made inside the application (or a body's
    /// stream), it runs on the worker serving the request.
    ///
    /// When the body is dropped early (the client went away), the task is
    /// aborted. A panic in it fails the body like an error. Outside a tokio
    /// runtime there is nothing to spawn on, and the future runs lazily, as
    /// with [`Chunk::future`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use wsgi_core::{Body, Chunk};
    ///
    /// // Both lookups run at once; the body is still "first, second".
    /// let lookup = |name: &'static str, ms: u64| async move {
    ///     tokio::time::sleep(Duration::from_millis(ms)).await;
    ///     Ok::<_, std::io::Error>(name)
    /// };
    /// let body = Body::from_chunks([
    ///     Chunk::spawn(lookup("first, ", 20)),
    ///     Chunk::spawn(lookup("second", 10)),
    /// ]);
    /// # let _ = body;
    /// # }
    /// ```
    pub fn spawn<F, B, E>(future: F) -> Self
    where
        F: Future<Output = Result<B, E>> + Send + 'static,
        B: Into<Bytes>,
        E: Into<Error>,
    {
        let future = future.map(|result| result.map(Into::into).map_err(Into::into));
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return Chunk::Future(Box::pin(future));
        };
        let mut task = AbortOnDrop(handle.spawn(future));
        Chunk::Future(Box::pin(async move {
            match (&mut task.0).await {
                Ok(result) => result,
                Err(joined) if joined.is_panic() => Err(Error::from_panic(joined.into_panic())),
                Err(joined) => Err(Error::msg(format!(
                    "a spawned body chunk did not complete ({joined}); the runtime is shutting down"
                ))),
            }
        }))
    }
}

/// Aborts a spawned chunk's task when the body no longer wants it.
struct AbortOnDrop(tokio::task::JoinHandle<Result<Bytes, Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl fmt::Debug for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Chunk::Ready(bytes) => f.debug_tuple("Ready").field(bytes).finish(),
            Chunk::Future(_) => f.write_str("Future(..)"),
        }
    }
}

macro_rules! chunk_from {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Chunk {
            fn from(value: $ty) -> Self {
                Chunk::Ready(Bytes::from(value))
            }
        }
    )*};
}
chunk_from!(Bytes, Vec<u8>, &'static [u8], &'static str, String);

/// How a body ended, as reported to [`Body::on_close`] hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every item was produced and taken.
    Completed,
    /// An item failed; the response was answered with an error or aborted.
    Failed,
    /// The body was dropped before its end: the client went away, the
    /// response needed no body (HEAD, 204, 304), or the server shut down.
    Aborted,
}

enum Kind {
    Empty,
    Full(Bytes),
    Chunks {
        items: BoxStream<'static, Chunk>,
        pending: Option<ChunkFuture>,
    },
    Stream(BoxStream<'static, Result<Bytes, Error>>),
}

type CloseHook = Box<dyn FnOnce(Outcome) + Send + 'static>;

/// Response bodies: asynchronous iterables of bytes.
///
/// WSGI 1.0.1 returns an iterable of byte strings. Asynchronous WSGI lets each
/// item be either bytes ready now or a *future* resolving to bytes, and lets
/// the iterable itself be asynchronous. In Rust:
///
/// - a [`Chunk`] is one item: [`Chunk::Ready`] bytes or a future of bytes,
///   lazy ([`Chunk::future`]: it starts when the server asks for that item)
///   or eager ([`Chunk::spawn`]: it starts running when the item is made,
///   as a future yielded in pulsar is already running);
/// - a [`Body`] is the iterable: built from bytes-like values, from any
///   `IntoIterator` of chunks ([`Body::from_chunks`]), from any
///   `futures::Stream` of `Result<bytes, E>` ([`Body::from_stream`]) or of
///   chunks ([`Body::from_chunk_stream`]), or from an `AsyncRead` such as a
///   file ([`Body::from_reader`], the `wsgi.file_wrapper` equivalent).
///
/// The server polls the next item only when the connection can take more
/// (backpressure), sends nothing before the first non-empty item is ready
/// ([when the head goes out](crate::guide::streaming#when-the-head-goes-out)),
/// and closes every body exactly once: [`Body::on_close`] hooks run with the
/// [`Outcome`] when the body finishes, fails, or is dropped early because the
/// client went away.
///
/// ```
/// use bytes::Bytes;
/// use wsgi_core::{Body, Chunk};
///
/// // pulsar's `simple_async`: bytes, a future of bytes, bytes.
/// let body = Body::from_chunks([
///     Chunk::from("hello"),
///     Chunk::future(async { Ok::<_, std::io::Error>(Bytes::from_static(b" ")) }),
///     Chunk::from("World!"),
/// ]);
/// # let _ = body;
/// ```
///
/// An asynchronous iterable response body.
///
/// Build one with `From` (for `&'static str`, `String`, `Vec<u8>`, `Bytes`,
/// `Vec<Bytes>`, `Vec<Chunk>`, `()`), or with the constructors below. It is a
/// `futures::Stream` of `Result<Bytes, Error>`: futures among the items are
/// awaited in order.
///
/// ```
/// use futures_util::stream;
/// use wsgi_core::Body;
///
/// let counted = Body::from_stream(stream::iter((0..3).map(|i| Ok::<_, std::io::Error>(format!("{i}\n")))));
/// # let _ = counted;
/// ```
pub struct Body {
    kind: Kind,
    on_close: Vec<CloseHook>,
    head: HeadTiming,
}

/// When the server sends the head of a response with this body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeadTiming {
    /// PEP 3333's rule: with the first non-empty item (or at the end).
    WithFirstItem,
    /// As soon as `start_response` has been called (see
    /// [`Body::head_at_once`]).
    AtOnce,
}

impl Body {
    /// A body with no bytes.
    pub fn empty() -> Self {
        Body::with_kind(Kind::Empty)
    }

    fn with_kind(kind: Kind) -> Self {
        Body {
            kind,
            on_close: Vec::new(),
            head: HeadTiming::WithFirstItem,
        }
    }

    /// A body of the given bytes.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        if bytes.is_empty() {
            Body::empty()
        } else {
            Body::with_kind(Kind::Full(bytes))
        }
    }

    /// The WSGI iterable: any `IntoIterator` whose items convert into
    /// [`Chunk`]s, futures among them awaited in order.
    pub fn from_chunks<I>(chunks: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Chunk> + 'static,
        I::IntoIter: Send + 'static,
    {
        Body::from_chunk_stream(futures_util::stream::iter(
            chunks.into_iter().map(Into::into),
        ))
    }

    /// An asynchronous iterable whose items are [`Chunk`]s.
    pub fn from_chunk_stream<S>(items: S) -> Self
    where
        S: Stream<Item = Chunk> + Send + 'static,
    {
        Body::with_kind(Kind::Chunks {
            items: items.boxed(),
            pending: None,
        })
    }

    /// Any `futures::Stream` of `Result<bytes, E>`, such as one written with
    /// `async_stream::try_stream!`.
    pub fn from_stream<S, B, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<B, E>> + Send + 'static,
        B: Into<Bytes>,
        E: Into<Error>,
    {
        Body::with_kind(Kind::Stream(
            stream
                .map(|item| item.map(Into::into).map_err(Into::into))
                .boxed(),
        ))
    }

    /// Streams an `AsyncRead` (a `tokio::fs::File`, say) in chunks of up to
    /// `chunk_size` bytes, never reading it whole into memory: the
    /// `wsgi.file_wrapper` of asynchronous WSGI.
    pub fn from_reader<R>(reader: R, chunk_size: usize) -> Self
    where
        R: AsyncRead + Send + 'static,
    {
        Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
            reader,
            chunk_size.max(1),
        ))
    }

    /// Adds a hook that runs exactly once when the body is closed, with how
    /// it ended. Hooks run in the order they were added.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use wsgi_core::{Body, Outcome};
    ///
    /// let closed = Arc::new(AtomicUsize::new(0));
    /// let seen = closed.clone();
    /// let body = Body::from("unsent").on_close(move |outcome| {
    ///     assert_eq!(outcome, Outcome::Aborted);
    ///     seen.fetch_add(1, Ordering::SeqCst);
    /// });
    /// drop(body);
    /// assert_eq!(closed.load(Ordering::SeqCst), 1);
    /// ```
    pub fn on_close(mut self, hook: impl FnOnce(Outcome) + Send + 'static) -> Self {
        self.on_close.push(Box::new(hook));
        self
    }

    /// Sends the response's head as soon as `start_response` has been
    /// called, before the first item is ready: for event streams (see
    /// [`sse`](crate::sse)), long polling, or any response a client should
    /// see begin at once.
    ///
    /// This leaves PEP 3333's rule, so an error while producing the first
    /// item can only abort the stream; see
    /// [when the head goes out](crate::guide::streaming#when-the-head-goes-out).
    ///
    /// ```
    /// use wsgi_core::{Body, Chunk, Error};
    ///
    /// // Long polling: the client sees `200` at once, the answer later.
    /// let body = Body::from_chunks([Chunk::future(async {
    ///     tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    ///     Ok::<_, Error>("news\n")
    /// })])
    /// .head_at_once();
    /// assert!(body.sends_head_at_once());
    /// ```
    pub fn head_at_once(mut self) -> Self {
        self.head = HeadTiming::AtOnce;
        self
    }

    /// Whether the head goes out before the first item
    /// ([`head_at_once`](Self::head_at_once)).
    pub fn sends_head_at_once(&self) -> bool {
        self.head == HeadTiming::AtOnce
    }

    /// The exact number of bytes left, when known without polling.
    pub fn exact_length(&self) -> Option<u64> {
        match &self.kind {
            Kind::Empty => Some(0),
            Kind::Full(bytes) => Some(bytes.len() as u64),
            _ => None,
        }
    }

    /// All of a body known in full (bytes or nothing), the body then
    /// closed as completed; `None` for any other body, left untouched.
    pub(crate) fn take_whole(&mut self) -> Option<Bytes> {
        let bytes = match &mut self.kind {
            Kind::Empty => Bytes::new(),
            Kind::Full(bytes) => std::mem::take(bytes),
            _ => return None,
        };
        self.kind = Kind::Empty;
        // Most bodies have no hooks: `close` would still pay for its panic
        // guards.
        if !self.on_close.is_empty() {
            self.close(Outcome::Completed);
        }
        Some(bytes)
    }

    /// Whether the body is known to have no more bytes.
    pub fn is_end(&self) -> bool {
        matches!(self.kind, Kind::Empty)
    }

    /// Closes the body now with the given outcome: hooks run, the underlying
    /// iterable is dropped, and later polls yield `None`.
    ///
    /// A hook that panics is logged and the remaining hooks still run:
    /// closing happens while the server answers, and must not take the
    /// response down with it.
    pub fn close(&mut self, outcome: Outcome) {
        let iterable = std::mem::replace(&mut self.kind, Kind::Empty);
        if std::panic::catch_unwind(AssertUnwindSafe(move || drop(iterable))).is_err() {
            tracing::error!("dropping a response body panicked");
        }
        for hook in std::mem::take(&mut self.on_close) {
            if std::panic::catch_unwind(AssertUnwindSafe(move || hook(outcome))).is_err() {
                tracing::error!(?outcome, "a body close hook panicked");
            }
        }
    }

    // Per item, and only ever called from `poll_next`: see there.
    #[inline(always)]
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(_) => match std::mem::replace(&mut self.kind, Kind::Empty) {
                Kind::Full(bytes) => Poll::Ready(Some(Ok(bytes))),
                _ => Poll::Ready(None),
            },
            Kind::Stream(stream) => stream.poll_next_unpin(cx),
            Kind::Chunks { items, pending } => loop {
                if let Some(future) = pending {
                    let result = ready!(future.as_mut().poll(cx));
                    *pending = None;
                    return Poll::Ready(Some(result));
                }
                match ready!(items.poll_next_unpin(cx)) {
                    None => return Poll::Ready(None),
                    Some(Chunk::Ready(bytes)) => return Poll::Ready(Some(Ok(bytes))),
                    Some(Chunk::Future(future)) => *pending = Some(future),
                }
            },
        }
    }
}

impl Stream for Body {
    type Item = Result<Bytes, Error>;

    // Inlined into the server's poll of a response body: once per item
    // (left to the heuristics, it was called out of line after unrelated
    // changes elsewhere: +28 instructions per item).
    #[inline(always)]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = ready!(this.poll_item(cx));
        match &item {
            None => this.close(Outcome::Completed),
            Some(Err(_)) => this.close(Outcome::Failed),
            Some(Ok(_)) => {}
        }
        Poll::Ready(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.kind {
            Kind::Empty => (0, Some(0)),
            Kind::Full(_) => (1, Some(1)),
            _ => (0, None),
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if !self.on_close.is_empty() {
            self.close(Outcome::Aborted);
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Empty => "Empty",
            Kind::Full(_) => "Full",
            Kind::Chunks { .. } => "Chunks",
            Kind::Stream(_) => "Stream",
        };
        f.debug_struct("Body")
            .field("kind", &kind)
            .field("on_close", &self.on_close.len())
            .finish()
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

macro_rules! body_from {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Body {
            fn from(value: $ty) -> Self {
                Body::full(value)
            }
        }
    )*};
}
body_from!(Bytes, Vec<u8>, &'static [u8], &'static str, String);

impl From<()> for Body {
    fn from((): ()) -> Self {
        Body::empty()
    }
}

impl From<Vec<Bytes>> for Body {
    fn from(chunks: Vec<Bytes>) -> Self {
        Body::from_chunks(VecDeque::from(chunks))
    }
}

impl From<Vec<Chunk>> for Body {
    fn from(chunks: Vec<Chunk>) -> Self {
        Body::from_chunks(chunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;
    use std::sync::{Arc, Mutex};

    async fn collect(body: Body) -> Result<Vec<u8>, Error> {
        body.try_fold(Vec::new(), |mut acc, chunk| async move {
            acc.extend_from_slice(&chunk);
            Ok(acc)
        })
        .await
    }

    #[tokio::test]
    async fn futures_among_items_are_awaited_in_order() {
        let body = Body::from_chunks([
            Chunk::from("hello"),
            Chunk::future(async { Ok::<_, std::io::Error>(" ") }),
            Chunk::from("World!"),
        ]);
        assert_eq!(collect(body).await.unwrap(), b"hello World!");
    }

    #[tokio::test]
    async fn close_hook_runs_once_per_outcome() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let body = Body::from(vec![Bytes::from("a"), Bytes::from("b")])
            .on_close(move |o| log.lock().unwrap().push(o));
        collect(body).await.unwrap();

        let log = seen.clone();
        let failing = Body::from_chunks([
            Chunk::from("a"),
            Chunk::future(async { Err::<Bytes, _>(std::io::Error::other("boom")) }),
        ])
        .on_close(move |o| log.lock().unwrap().push(o));
        assert!(collect(failing).await.is_err());

        let log = seen.clone();
        drop(Body::from("x").on_close(move |o| log.lock().unwrap().push(o)));
        assert_eq!(
            *seen.lock().unwrap(),
            [Outcome::Completed, Outcome::Failed, Outcome::Aborted]
        );
    }

    #[tokio::test]
    async fn reader_is_streamed_in_bounded_chunks() {
        let data = vec![7u8; 10_000];
        let body = Body::from_reader(std::io::Cursor::new(data.clone()), 4096);
        let sizes: Vec<usize> = body.map_ok(|c| c.len()).try_collect().await.unwrap();
        assert!(sizes.iter().all(|&n| n <= 4096));
        assert_eq!(sizes.iter().sum::<usize>(), data.len());
    }
}
