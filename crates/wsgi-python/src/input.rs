//! `wsgi.input`: the streamed request body as a Python file-like object.
//!
//! A synchronous application reads synchronously, but the body arrives on
//! the worker's tokio runtime. Each read releases the GIL and blocks its
//! own thread (a pool thread) on the runtime's handle until bytes arrive,
//! so other Python threads run while one waits on the socket.
//!
//! Asynchronous code must not block its event loop, so called on a thread
//! whose asyncio loop is running (an `async def` application, a coroutine
//! it returns, an async body: anything on the worker's loop), `read`,
//! `readline` and `readlines` return an awaitable instead, as pulsar's
//! `HttpBodyReader` did: `body = await environ['wsgi.input'].read()`. The
//! read then waits on a thread of tokio's blocking pool and resolves the
//! future on its loop; `async for line in environ['wsgi.input']` reads
//! lines the same way. The body stays bounded by `max_request_body` and guarded by the
//! idle timeout of [`wsgi_core::Input`]; a failed read raises
//! [`InputError`], which (if the application lets it escape) is answered
//! with the same status a Rust handler's read error gets: 413, 408 or 400.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList};
use tokio::runtime::Handle;

use crate::support;

pyo3::create_exception!(
    wsgi_rs,
    InputError,
    pyo3::exceptions::PyOSError,
    "Reading wsgi.input failed; `status` is the HTTP status the server answers with if the application lets it escape."
);

/// The body and what was read ahead of the caller (a line's remainder).
#[derive(Debug)]
struct State {
    input: wsgi_core::Input,
    pending: Bytes,
}

/// `environ['wsgi.input']`: `read`, `readline`, `readlines` and iteration.
#[pyclass(name = "Input", module = "wsgi_rs")]
#[derive(Debug)]
pub struct PyInput {
    state: Arc<Mutex<State>>,
    /// The runtime reads block on; `None` only for [`PyInput::empty`]'s
    /// body, which has ended (nothing to wait for).
    handle: Option<Handle>,
}

impl PyInput {
    /// Wraps the request's body; reads block on `handle`'s runtime.
    pub(crate) fn new(input: wsgi_core::Input, handle: Handle) -> Self {
        PyInput {
            state: Arc::new(Mutex::new(State {
                input,
                pending: Bytes::new(),
            })),
            handle: Some(handle),
        }
    }

    /// One `wsgi.input` for every request without a body: an ended body
    /// has no state to change, so the environ template holds it and such
    /// a request makes no object of its own.
    pub(crate) fn empty(py: Python<'_>) -> PyResult<&'static Py<PyInput>> {
        static EMPTY: PyOnceLock<Py<PyInput>> = PyOnceLock::new();
        EMPTY.get_or_try_init(py, || {
            let state = State {
                input: wsgi_core::Input::empty(),
                pending: Bytes::new(),
            };
            Py::new(
                py,
                PyInput {
                    state: Arc::new(Mutex::new(state)),
                    handle: None,
                },
            )
        })
    }

    /// Whether nothing is left to read or wait for (`None`: another
    /// thread reads now).
    fn ended(&self) -> Option<bool> {
        let guard = self.state.try_lock().ok()?;
        Some(guard.pending.is_empty() && http_body::Body::is_end_stream(&guard.input))
    }

    /// Runs `f` with the body, the GIL released (kept when the body has
    /// ended and nothing is read ahead: `f` cannot wait then, and a call
    /// reading an empty body keeps the GIL, as a fast call should).
    fn with_state<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut State, Option<&Handle>) -> Result<T, wsgi_core::InputError> + Send,
    ) -> PyResult<T> {
        if let Ok(mut guard) = self.state.try_lock() {
            if guard.pending.is_empty() && http_body::Body::is_end_stream(&guard.input) {
                return f(&mut guard, self.handle.as_ref()).map_err(|e| input_error(py, e));
            }
        }
        let state = Arc::clone(&self.state);
        let handle = self.handle.clone();
        py.detach(move || {
            let mut guard = lock(&state);
            f(&mut guard, handle.as_ref())
        })
        .map_err(|e| input_error(py, e))
    }
}

/// `State::read` or `State::read_line`.
type ReadFn =
    fn(&mut State, Option<usize>, Option<&Handle>) -> Result<Bytes, wsgi_core::InputError>;

/// What an awaitable read resolves to.
enum Answer {
    Bytes(Bytes),
    Lines(Vec<Bytes>),
    /// A line for `__anext__`, or its end.
    Next(Bytes),
}

impl Answer {
    /// The value the future gets: `(ok, value)`.
    fn into_python(self, py: Python<'_>) -> PyResult<(bool, Py<PyAny>)> {
        Ok(match self {
            Answer::Bytes(bytes) => (true, PyBytes::new(py, &bytes).into_any().unbind()),
            Answer::Lines(lines) => (
                true,
                PyList::new(py, lines.iter().map(|l| PyBytes::new(py, l)))?
                    .into_any()
                    .unbind(),
            ),
            Answer::Next(line) if line.is_empty() => (
                false,
                PyStopAsyncIteration::new_err(()).into_value(py).into_any(),
            ),
            Answer::Next(line) => (true, PyBytes::new(py, &line).into_any().unbind()),
        })
    }
}

/// What a read's future gets: `(true, value)`, or `(false, exception)`.
fn outcome(py: Python<'_>, result: Result<Answer, wsgi_core::InputError>) -> (bool, Py<PyAny>) {
    match result.map(|a| a.into_python(py)) {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => (false, e.into_value(py).into_any()),
        Err(e) => (false, input_error(py, e).into_value(py).into_any()),
    }
}

static RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The asyncio loop running on this thread, if any.
fn running_loop(py: Python<'_>) -> PyResult<Option<Bound<'_, PyAny>>> {
    let get = RUNNING_LOOP.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("asyncio")?.getattr("_get_running_loop")?.unbind())
    })?;
    let running = get.bind(py).call0()?;
    Ok((!running.is_none()).then_some(running))
}

impl PyInput {
    /// `f`'s answer, now when `event_loop` is `None` (a synchronous read),
    /// else as a future of `event_loop` resolved from a blocking thread.
    fn answer<'py>(
        &self,
        py: Python<'py>,
        event_loop: Option<Bound<'py, PyAny>>,
        f: impl FnOnce(&mut State, Option<&Handle>) -> Result<Answer, wsgi_core::InputError>
            + Send
            + 'static,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some(event_loop) = event_loop else {
            let answer = self.with_state(py, f)?;
            let (ok, value) = answer.into_python(py)?;
            let value = value.into_bound(py);
            return if ok {
                Ok(value)
            } else {
                Err(PyErr::from_value(value))
            };
        };
        let future = event_loop.call_method0(intern!(py, "create_future"))?;
        let resolve = support::module(py)?.getattr(intern!(py, "resolve"))?;
        let handle = match &self.handle {
            Some(handle) if self.ended() != Some(true) => handle.clone(),
            // Nothing to wait for: the future is resolved before it is
            // returned, without a trip through a blocking thread.
            _ => {
                let (ok, value) = outcome(py, f(&mut lock(&self.state), self.handle.as_ref()));
                resolve.call1((&future, ok, value))?;
                return Ok(future);
            }
        };
        let state = Arc::clone(&self.state);
        let resolve = resolve.unbind();
        let (target, on) = (future.clone().unbind(), event_loop.unbind());
        handle.clone().spawn_blocking(move || {
            let result = f(&mut lock(&state), Some(&handle));
            Python::attach(|py| {
                let (ok, value) = outcome(py, result);
                // The loop may be closed by now (the server stopping).
                let _ = on.call_method1(
                    py,
                    intern!(py, "call_soon_threadsafe"),
                    (resolve, target, ok, value),
                );
            });
        });
        Ok(future)
    }

    /// `read` and `readline`: `read` with the size limit (`0` answers at
    /// once, without touching the body), now or as an awaitable.
    fn read_bytes<'py>(
        &self,
        py: Python<'py>,
        size: Option<isize>,
        read: ReadFn,
    ) -> PyResult<Bound<'py, PyAny>> {
        let limit = size_limit(size);
        let event_loop = running_loop(py)?;
        if limit == Some(0) && event_loop.is_none() {
            return Ok(PyBytes::new(py, b"").into_any());
        }
        self.answer(py, event_loop, move |state, handle| {
            if limit == Some(0) {
                return Ok(Answer::Bytes(Bytes::new()));
            }
            read(state, limit, handle).map(Answer::Bytes)
        })
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every mutation leaves `State` whole; a panic mid-read poisons nothing
    // that matters.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// The Python exception for a failed read, carrying the status the server
/// answers with if the application lets it escape (the status wsgi-core
/// gives the same error from a Rust handler).
fn input_error(py: Python<'_>, error: wsgi_core::InputError) -> PyErr {
    let message = error.to_string();
    let status = wsgi_core::Error::new(error).status().as_u16();
    let error = InputError::new_err(message);
    if let Err(e) = error.value(py).setattr("status", status) {
        return e;
    }
    error
}

impl State {
    /// The next bytes: what was read ahead first, else the next chunk.
    fn chunk(&mut self, handle: Option<&Handle>) -> Result<Option<Bytes>, wsgi_core::InputError> {
        if !self.pending.is_empty() {
            return Ok(Some(std::mem::take(&mut self.pending)));
        }
        if http_body::Body::is_end_stream(&self.input) {
            // Nothing to wait for (a call running on the event loop's own
            // thread has no body to wait for, and must not block on it).
            return Ok(None);
        }
        match handle {
            Some(handle) => handle.block_on(self.input.chunk()),
            // Only `PyInput::empty` has no runtime, and its body has ended.
            None => Ok(None),
        }
    }

    /// Up to `limit` bytes (all when `None`): fewer only at the end.
    fn read(
        &mut self,
        limit: Option<usize>,
        handle: Option<&Handle>,
    ) -> Result<Bytes, wsgi_core::InputError> {
        let mut out = BytesMut::new();
        loop {
            if limit.is_some_and(|n| out.len() >= n) {
                break;
            }
            let Some(mut chunk) = self.chunk(handle)? else {
                break;
            };
            if let Some(n) = limit {
                let room = n - out.len();
                if chunk.len() > room {
                    self.pending = chunk.split_off(room);
                }
            }
            if out.is_empty() && limit == Some(chunk.len()) {
                return Ok(chunk); // one chunk is the whole answer: no copy
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }

    /// One line, `\n` included, of at most `limit` bytes.
    fn read_line(
        &mut self,
        limit: Option<usize>,
        handle: Option<&Handle>,
    ) -> Result<Bytes, wsgi_core::InputError> {
        let mut line = BytesMut::new();
        loop {
            if limit.is_some_and(|n| line.len() >= n) {
                break;
            }
            let Some(mut chunk) = self.chunk(handle)? else {
                break;
            };
            let mut end = chunk
                .iter()
                .position(|&b| b == b'\n')
                .map_or(chunk.len(), |i| i + 1);
            if let Some(n) = limit {
                end = end.min(n - line.len());
            }
            let found = chunk[..end].ends_with(b"\n");
            self.pending = chunk.split_off(end);
            line.extend_from_slice(&chunk);
            if found {
                break;
            }
        }
        Ok(line.freeze())
    }
}

/// `None` and negative sizes mean "no limit", as for Python files.
fn size_limit(size: Option<isize>) -> Option<usize> {
    size.and_then(|n| usize::try_from(n).ok())
}

#[pymethods]
impl PyInput {
    /// `read(size=-1)`: up to `size` bytes, all of the rest without one;
    /// an awaitable of them on a running asyncio loop.
    #[pyo3(signature = (size=None))]
    fn read<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyAny>> {
        self.read_bytes(py, size, State::read)
    }

    /// `readline(size=-1)`: one line, `\n` included; an awaitable of it
    /// on a running asyncio loop.
    #[pyo3(signature = (size=None))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyAny>> {
        self.read_bytes(py, size, State::read_line)
    }

    /// `readlines(hint=-1)`: lines until their total reaches `hint`; an
    /// awaitable of them on a running asyncio loop.
    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(&self, py: Python<'py>, hint: Option<isize>) -> PyResult<Bound<'py, PyAny>> {
        let hint = size_limit(hint).filter(|&n| n > 0);
        let event_loop = running_loop(py)?;
        self.answer(py, event_loop, move |state, handle| {
            let mut lines = Vec::new();
            let mut total = 0;
            loop {
                let line = state.read_line(None, handle)?;
                if line.is_empty() {
                    break;
                }
                total += line.len();
                lines.push(line);
                if hint.is_some_and(|n| total >= n) {
                    break;
                }
            }
            Ok(Answer::Lines(lines))
        })
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// `async for line in environ['wsgi.input']`: each line, awaited.
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let event_loop = running_loop(py)?.ok_or_else(|| {
            pyo3::exceptions::PyRuntimeError::new_err(
                "async iteration of wsgi.input needs a running asyncio loop; iterate it with `for` in synchronous code",
            )
        })?;
        self.answer(py, Some(event_loop), |state, handle| {
            state.read_line(None, handle).map(Answer::Next)
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.with_state(py, |state, handle| state.read_line(None, handle))?;
        Ok((!line.is_empty()).then(|| PyBytes::new(py, &line)))
    }

    /// Bytes received from the client so far.
    #[getter]
    fn bytes_received(&self, py: Python<'_>) -> u64 {
        let state = Arc::clone(&self.state);
        py.detach(move || lock(&state).input.bytes_received())
    }
}
