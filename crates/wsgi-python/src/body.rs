//! What a Python application returns, as a wsgi-core [`Body`].
//!
//! - a list or tuple (the common case, `[b"Hello"]`): its items are taken
//!   at once, in the same GIL section as the call;
//! - any other iterable (a generator, werkzeug's `ClosingIterator`,
//!   Django's `HttpResponse`): its first item is taken with the call, each
//!   later one only when the connection can take more bytes
//!   (backpressure), on the thread pool (or the event loop in asyncio
//!   mode), so a generator may block;
//! - an asynchronous iterable (`__aiter__`): each item is awaited on the
//!   event loop;
//! - an item may be bytes or an awaitable resolving to bytes (pulsar's
//!   asynchronous WSGI), awaited on the worker's event loop.
//!
//! The iterable's `close()` (or an async iterator's `aclose()`) is always
//! called once: when the body ends, fails, or is dropped because the client
//! left.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyList, PyTuple};
use smallvec::{smallvec, SmallVec};
use wsgi_core::{Body, Chunk, Error};

use crate::error::{to_error, to_error_attached};
use crate::event_loop::WorkerLoop;
use crate::pool::Pool;
use crate::support;

/// Where the app's Python code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Synchronous WSGI on the bounded thread pool; awaitables still run on
    /// the worker's event loop.
    Threads,
    /// pulsar-style: the app, its iteration and `close()` run on the
    /// worker's asyncio event loop.
    Asyncio,
}

/// The result of calling the application, classified under the GIL.
pub(crate) enum Returned {
    /// An awaitable: await it, then classify what it resolves to.
    Awaitable(Py<PyAny>),
    /// Every item, known now (a list or tuple): nearly always one, kept
    /// without an allocation.
    Items(SmallVec<[Item; 1]>),
    /// A synchronous iterator, with the item taken already (if any).
    Iterator {
        first: Option<Item>,
        iterator: Option<Py<PyAny>>,
        close: Option<Py<PyAny>>,
    },
    /// An asynchronous iterator.
    AsyncIterator {
        iterator: Py<PyAny>,
        close: Option<Py<PyAny>>,
    },
}

/// One body item.
pub(crate) enum Item {
    Bytes(Bytes),
    Awaitable(Py<PyAny>),
}

/// Everything a request's body needs to reach Python.
#[derive(Clone)]
pub(crate) struct Context {
    pub(crate) mode: Mode,
    pub(crate) pool: Pool,
    pub(crate) event_loop: Arc<WorkerLoop>,
    /// The request's `contextvars.Context`: the call, every `next()` and
    /// `close()` run in it, whichever pool thread runs them, so context
    /// variables set by the app (Flask's request context in a streamed
    /// response) are still there for its iterator.
    pub(crate) vars: Option<Arc<Py<PyAny>>>,
}

static CONTEXT_CLASS: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
static CONTEXT_RUN: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();

/// `contextvars.Context`.
fn context_class(py: Python<'_>) -> PyResult<&Py<PyAny>> {
    CONTEXT_CLASS.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("contextvars")?.getattr("Context")?.unbind())
    })
}

thread_local! {
    /// An empty `contextvars.Context` that this thread's last request
    /// left unused, for its next one (see [`Context::recycle`]).
    /// Kept in its `Arc`, which is reused too.
    static SPARE_VARS: std::cell::Cell<Option<Arc<Py<PyAny>>>> = const { std::cell::Cell::new(None) };
}
static NEXT: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();

impl Context {
    /// Gives the request a fresh `contextvars.Context`.
    pub(crate) fn with_new_vars(mut self, py: Python<'_>) -> PyResult<Self> {
        let vars = match SPARE_VARS.take() {
            Some(spare) => spare,
            None => Arc::new(context_class(py)?.call0(py)?),
        };
        self.vars = Some(vars);
        Ok(self)
    }

    /// Done with the request: in threads mode, its `contextvars.Context`,
    /// if no variable was set in it and no body iterator still runs in
    /// it, is as good as a new one, and serves the thread's next request
    /// (creating and freeing one cost ~400 instructions of a hello
    /// request). Python code cannot keep the object itself:
    /// `copy_context()` returns a copy; in asyncio mode, where the object
    /// is handed to Python code (a task), it is left alone.
    pub(crate) fn recycle(self, py: Python<'_>) {
        if self.mode != Mode::Threads {
            return;
        }
        let Some(mut vars) = self.vars else {
            return;
        };
        // Shared with a body still running in it.
        if Arc::get_mut(&mut vars).is_none() {
            return;
        }
        if vars.bind(py).len().is_ok_and(|n| n == 0) {
            SPARE_VARS.set(Some(vars));
        }
    }

    /// Calls `callable()` in the request's context.
    pub(crate) fn run0<'py>(
        &self,
        py: Python<'py>,
        callable: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match &self.vars {
            Some(vars) => vars.bind(py).call_method1(intern!(py, "run"), (callable,)),
            None => callable.call0(),
        }
    }

    /// Calls `callable(a, b)` in the request's context (no argument tuple
    /// is built: both calls are vectorcalls).
    pub(crate) fn run2<'py>(
        &self,
        py: Python<'py>,
        callable: &Bound<'py, PyAny>,
        a: &Bound<'py, PyAny>,
        b: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match &self.vars {
            // `Context.run` itself, called with the context first: no
            // lookup of the method on each call.
            Some(vars) => CONTEXT_RUN
                .get_or_try_init(py, || context_class(py)?.getattr(py, "run"))?
                .bind(py)
                .call1((vars.bind(py), callable, a, b)),
            None => callable.call1((a, b)),
        }
    }

    /// The request's context as a Python object (`None` without one).
    pub(crate) fn vars_object(&self, py: Python<'_>) -> Py<PyAny> {
        self.vars
            .as_ref()
            .map(|v| v.clone_ref(py))
            .unwrap_or_else(|| py.None())
    }
}

fn is_awaitable(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    value.hasattr(intern!(value.py(), "__await__"))
}

/// Bytes up to this size are copied; larger ones are sent from the
/// `bytes` object itself, kept alive until written.
const COPY_MAX: usize = 16 * 1024;

/// A `bytes` object's content as [`Bytes`]: a copy when small (cheaper
/// than holding a Python reference that needs the GIL to release), the
/// object itself when large.
fn body_bytes(bytes: &Bound<'_, PyBytes>) -> Bytes {
    if bytes.as_bytes().len() <= COPY_MAX {
        Bytes::copy_from_slice(bytes.as_bytes())
    } else {
        Bytes::from_owner(PyBackedBytes::from(bytes.clone()))
    }
}

/// One item: bytes (or a bytes-like object) or an awaitable.
fn item(value: Bound<'_, PyAny>) -> PyResult<Item> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(Item::Bytes(body_bytes(bytes)));
    }
    if is_awaitable(&value)? {
        return Ok(Item::Awaitable(value.unbind()));
    }
    match value.extract::<PyBackedBytes>() {
        Ok(bytes) => Ok(Item::Bytes(Bytes::copy_from_slice(&bytes))),
        Err(_) => Err(PyTypeError::new_err(format!(
            "a WSGI body item must be bytes (or an awaitable resolving to bytes), got {}; encode text first",
            value.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))),
    }
}

/// The `close` (or `aclose`) method of `value`, if it has one.
fn close_method(
    value: &Bound<'_, PyAny>,
    name: &Bound<'_, pyo3::types::PyString>,
) -> PyResult<Option<Py<PyAny>>> {
    Ok(if value.hasattr(name)? {
        Some(value.getattr(name)?.unbind())
    } else {
        None
    })
}

/// Calls a `close()` now, logging (not raising) its failure.
pub(crate) fn call_close(py: Python<'_>, context: &Context, close: &Py<PyAny>) {
    let result = context.run0(py, close.bind(py)).and_then(|r| {
        if is_awaitable(&r)? {
            // An `aclose()` outside the event loop: run it on a new loop.
            py.import("asyncio")?.call_method1("run", (r,))?;
        }
        Ok(())
    });
    if let Err(e) = result {
        tracing::error!(error = %to_error(py, &e), "the response iterable's close() raised");
    }
}

/// Classifies what the application returned. With `take_first`, the first
/// item of an iterator is taken now (in threads mode, so the common one-item
/// body costs no second trip to the pool).
pub(crate) fn classify(
    py: Python<'_>,
    context: &Context,
    value: Bound<'_, PyAny>,
    take_first: bool,
) -> Result<Returned, Error> {
    classify_inner(py, context, value, take_first).map_err(|e| to_error(py, &e))
}

fn classify_inner(
    py: Python<'_>,
    context: &Context,
    value: Bound<'_, PyAny>,
    take_first: bool,
) -> PyResult<Returned> {
    if let Ok(list) = value.cast::<PyList>() {
        return list
            .iter()
            .map(item)
            .collect::<PyResult<_>>()
            .map(Returned::Items);
    }
    if let Ok(tuple) = value.cast::<PyTuple>() {
        return tuple
            .iter()
            .map(item)
            .collect::<PyResult<_>>()
            .map(Returned::Items);
    }
    if let Ok(bytes) = value.cast::<PyBytes>() {
        // Not an iterable of bytes, but the intent is plain.
        return Ok(Returned::Items(smallvec![Item::Bytes(body_bytes(bytes))]));
    }
    if is_awaitable(&value)? {
        return Ok(Returned::Awaitable(value.unbind()));
    }
    if value.hasattr(intern!(py, "__aiter__"))? {
        let close = close_method(&value, intern!(py, "aclose"))?;
        let iterator = value.call_method0(intern!(py, "__aiter__"))?.unbind();
        return Ok(Returned::AsyncIterator { iterator, close });
    }
    let close = close_method(&value, intern!(py, "close"))?;
    let iterator = match value.try_iter() {
        Ok(iterator) => iterator,
        Err(e) => {
            if let Some(close) = &close {
                call_close(py, context, close);
            }
            return Err(PyTypeError::new_err(format!(
                "a WSGI application must return an iterable of bytes: {e}"
            )));
        }
    };
    if !take_first {
        return Ok(Returned::Iterator {
            first: None,
            iterator: Some(iterator.into_any().unbind()),
            close,
        });
    }
    let iterator = iterator.into_any().unbind();
    let first = match next_sync(py, context, &iterator) {
        Ok(first) => first,
        Err(e) => {
            if let Some(close) = &close {
                call_close(py, context, close);
            }
            return Err(e);
        }
    };
    let iterator = first.is_some().then_some(iterator);
    Ok(Returned::Iterator {
        first,
        iterator,
        close,
    })
}

/// The next item of a synchronous iterator, `None` at its end.
fn next_sync(py: Python<'_>, context: &Context, iterator: &Py<PyAny>) -> PyResult<Option<Item>> {
    let end = support::module(py)?.getattr(intern!(py, "END"))?;
    let next = NEXT
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("builtins")?.getattr("next")?.unbind())
        })?
        .bind(py);
    let value = context.run2(py, next, iterator.bind(py), &end)?;
    if value.is(&end) {
        return Ok(None);
    }
    item(value).map(Some)
}

impl Context {
    /// The chunk for one item: awaitables go to the event loop.
    pub(crate) fn chunk(&self, py: Python<'_>, item: Item) -> Chunk {
        match item {
            Item::Bytes(bytes) => Chunk::Ready(bytes),
            Item::Awaitable(awaitable) => {
                let future = self.await_python(py, awaitable.into_bound(py));
                Chunk::future(async move {
                    let value = future.await?;
                    Python::attach(|py| {
                        value
                            .into_bound(py)
                            .extract::<PyBackedBytes>()
                            .map(|b| Bytes::copy_from_slice(&b))
                            .map_err(|_| {
                                Error::msg("an awaitable in a WSGI body must resolve to bytes")
                            })
                    })
                })
            }
        }
    }

    /// Schedules `awaitable` on the worker's event loop; the future
    /// resolves with its result.
    pub(crate) fn await_python(
        &self,
        py: Python<'_>,
        awaitable: Bound<'_, PyAny>,
    ) -> impl std::future::Future<Output = Result<Py<PyAny>, Error>> + Send + 'static {
        let scheduled = self
            .event_loop
            .locals(py)
            .and_then(|locals| pyo3_async_runtimes::into_future_with_locals(&locals, awaitable))
            .map_err(|e| to_error(py, &e));
        async move {
            match scheduled {
                Ok(future) => future.await.map_err(|e| to_error_attached(&e)),
                Err(e) => Err(e),
            }
        }
    }

    /// The next item of an iterator: on the pool (threads mode) or on the
    /// event loop (asyncio mode, through `support.next_item`).
    async fn next_item(&self, iterator: Arc<Py<PyAny>>) -> Result<Option<Chunk>, Error> {
        let context = self.clone();
        match self.mode {
            Mode::Threads => {
                self.pool
                    .run(move |py| {
                        next_sync(py, &context, &iterator)
                            .map(|item| item.map(|i| context.chunk(py, i)))
                            .map_err(|e| to_error(py, &e))
                    })
                    .await
            }
            Mode::Asyncio => self.next_on_loop(iterator, "next_item").await,
        }
    }

    /// The next item through a `support` coroutine run on the event loop.
    async fn next_on_loop(
        &self,
        iterator: Arc<Py<PyAny>>,
        helper: &'static str,
    ) -> Result<Option<Chunk>, Error> {
        let future = Python::attach(|py| {
            let coroutine = support::module(py)
                .and_then(|m| m.call_method1(helper, (&*iterator, self.vars_object(py))))
                .map_err(|e| to_error(py, &e))?;
            Ok::<_, Error>(self.await_python(py, coroutine))
        })?;
        let value = future.await?;
        Python::attach(|py| {
            let value = value.into_bound(py);
            let end = support::module(py)
                .and_then(|m| m.getattr("END"))
                .map_err(|e| to_error(py, &e))?;
            if value.is(&end) {
                return Ok(None);
            }
            item(value)
                .map(|i| Some(self.chunk(py, i)))
                .map_err(|e| to_error(py, &e))
        })
    }

    /// The response body for what the application returned (not an
    /// awaitable: await those first).
    pub(crate) fn body(&self, py: Python<'_>, returned: Returned) -> Body {
        match returned {
            Returned::Awaitable(_) => Body::from_chunks([Chunk::future(std::future::ready(
                Err::<Bytes, _>(Error::msg("internal: an awaitable body was not awaited")),
            ))]),
            Returned::Items(items) => {
                if let [Item::Bytes(_)] = items.as_slice() {
                    if let Some(Item::Bytes(bytes)) = items.into_iter().next() {
                        return Body::full(bytes);
                    }
                    return Body::empty();
                }
                let chunks: Vec<Chunk> = items.into_iter().map(|i| self.chunk(py, i)).collect();
                Body::from(chunks)
            }
            Returned::Iterator {
                first,
                iterator,
                close,
            } => {
                let first = first.map(|i| self.chunk(py, i));
                let rest = iterator.map(|it| self.stream(Arc::new(it), false));
                let chunks = stream::iter(first).chain(stream::iter(rest).flatten());
                self.with_close(Body::from_chunk_stream(chunks), close)
            }
            Returned::AsyncIterator { iterator, close } => {
                let chunks = self.stream(Arc::new(iterator), true);
                self.with_close(Body::from_chunk_stream(chunks), close)
            }
        }
    }

    /// The items after the first, each fetched when the server asks.
    fn stream(
        &self,
        iterator: Arc<Py<PyAny>>,
        asynchronous: bool,
    ) -> impl Stream<Item = Chunk> + Send + 'static {
        let context = self.clone();
        stream::unfold(Some(iterator), move |state| {
            let context = context.clone();
            async move {
                let iterator = state?;
                let next = if asynchronous {
                    context
                        .next_on_loop(Arc::clone(&iterator), "anext_item")
                        .await
                } else {
                    context.next_item(Arc::clone(&iterator)).await
                };
                match next {
                    Ok(Some(chunk)) => Some((chunk, Some(iterator))),
                    Ok(None) => None,
                    // The error fails the body through a failing chunk.
                    Err(e) => Some((Chunk::future(std::future::ready(Err::<Bytes, _>(e))), None)),
                }
            }
        })
    }

    /// Calls `close` once when the body is closed, off the event loop.
    fn with_close(&self, body: Body, close: Option<Py<PyAny>>) -> Body {
        let Some(close) = close else {
            return body;
        };
        let context = self.clone();
        body.on_close(move |_outcome| context.close_later(close))
    }

    fn close_later(&self, close: Py<PyAny>) {
        match self.mode {
            Mode::Asyncio => {
                let scheduled = Python::attach(|py| {
                    let coroutine = support::module(py)?.call_method1("close_method", (&close,))?;
                    let locals = self.event_loop.locals(py)?;
                    pyo3_async_runtimes::into_future_with_locals(&locals, coroutine)
                });
                match (scheduled, tokio::runtime::Handle::try_current()) {
                    (Ok(future), Ok(handle)) => {
                        handle.spawn(async move {
                            if let Err(e) = future.await {
                                tracing::error!(error = %to_error_attached(&e), "the response iterable's close() raised");
                            }
                        });
                    }
                    (Ok(_), Err(_)) => {}
                    (Err(e), _) => {
                        tracing::error!(error = %to_error_attached(&e), "scheduling the response iterable's close() failed");
                    }
                }
            }
            Mode::Threads => {
                let context = self.clone();
                self.pool
                    .spawn_detached(move |py| call_close(py, &context, &close))
            }
        }
    }
}
