//! `start_response(status, headers, exc_info=None)` and its `write()`.
//!
//! Both wrap wsgi-core's [`StartResponse`](wsgi_core::StartResponse), so a
//! Python application's status and headers pass the same checks as a Rust
//! handler's (no CR/LF or control characters, no hop-by-hop headers, no
//! 1xx). A refused call raises `ValueError` saying what to fix; the
//! response is then a 500 unless a later call with `exc_info` replaces the
//! head, as PEP 3333 asks. Header values are native strings: each
//! character is one byte (latin-1).

use std::borrow::Cow;
use std::cell::Cell;

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyList, PyString, PyTuple};
use smallvec::SmallVec;

use crate::error::PythonError;

/// `environ`'s `start_response` callable.
#[pyclass(name = "StartResponse", module = "wsgi_rs")]
#[derive(Debug)]
pub struct PyStartResponse {
    /// `None` once its request is over and the object waits for the
    /// thread's next one (see [`PyStartResponse::recycle`]).
    inner: Option<wsgi_core::StartResponse>,
    /// Made by [`reuse`](Self::reuse), for a call whose end
    /// [`recycle`](Self::recycle)s it and its `write` callable.
    pooled: bool,
}

thread_local! {
    /// A `start_response` object that this thread's last request left
    /// unreferenced, for its next one.
    static SPARE: Cell<Option<Py<PyStartResponse>>> = const { Cell::new(None) };
    /// The `write` callable a pooled `start_response` last returned on
    /// this thread, until the call's end looks at it.
    static LAST_WRITE: Cell<Option<Py<PyWrite>>> = const { Cell::new(None) };
    /// A `write` callable that nothing held at its call's end.
    static SPARE_WRITE: Cell<Option<Py<PyWrite>>> = const { Cell::new(None) };
}

impl PyStartResponse {
    /// Wraps the request's `start_response`.
    pub(crate) fn new(inner: wsgi_core::StartResponse) -> Self {
        PyStartResponse {
            inner: Some(inner),
            pooled: false,
        }
    }

    /// The request's `start_response` object: the thread's spare one when
    /// there is one (creating and freeing one cost ~430 instructions of a
    /// hello request), else a new one.
    pub(crate) fn reuse<'py>(
        py: Python<'py>,
        inner: wsgi_core::StartResponse,
    ) -> PyResult<Bound<'py, PyStartResponse>> {
        if let Some(spare) = SPARE.take().map(|spare| spare.into_bound(py)) {
            if let Ok(mut object) = spare.try_borrow_mut() {
                object.inner = Some(inner);
                drop(object);
                return Ok(spare);
            }
        }
        let object = PyStartResponse {
            inner: Some(inner),
            pooled: true,
        };
        Bound::new(py, object)
    }

    /// Done with the request (on the thread of [`reuse`](Self::reuse)):
    /// the object, and the `write` callable it returned, become the
    /// thread's spare ones if nothing else holds them (a generator body
    /// or a middleware may keep them, and call them, after the call
    /// returned), their handles to the request released.
    pub(crate) fn recycle(object: Bound<'_, PyStartResponse>) {
        if let Some(write) = LAST_WRITE.take() {
            let write = write.into_bound(object.py());
            if alone(write.as_any()) {
                if let Ok(mut borrowed) = write.try_borrow_mut() {
                    borrowed.inner = None;
                    drop(borrowed);
                    SPARE_WRITE.set(Some(write.unbind()));
                }
            }
        }
        if !alone(object.as_any()) {
            return;
        }
        let Ok(mut borrowed) = object.try_borrow_mut() else {
            return;
        };
        borrowed.inner = None;
        drop(borrowed);
        SPARE.set(Some(object.unbind()));
    }

    /// The request's handle (always there while Python code can reach
    /// the object).
    fn inner(&self) -> PyResult<&wsgi_core::StartResponse> {
        self.inner
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("start_response called after its request ended"))
    }
}

/// A native string's text when it is ASCII (nearly every status and
/// header is): borrowed from the string, checked once.
fn ascii<'a>(text: &'a Bound<'_, PyString>) -> Option<&'a str> {
    text.to_str().ok().filter(|utf8| utf8.is_ascii())
}

/// `text` as a `str`, or the `TypeError` naming `what`.
fn as_str<'a, 'py>(what: &str, text: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyString>> {
    text.cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a str (a native string)")))
}

/// A native string's bytes: each character must be one byte (latin-1).
fn native_bytes<'a>(what: &str, text: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    let text = as_str(what, text)?;
    if let Some(ascii) = ascii(text) {
        return Ok(Cow::Borrowed(ascii.as_bytes()));
    }
    let text = text.to_cow()?;
    text.chars()
        .map(|c| u8::try_from(u32::from(c)))
        .collect::<Result<Vec<u8>, _>>()
        .map(Cow::Owned)
        .map_err(|_| {
            PyValueError::new_err(format!(
                "{what} {text:?} has a character above U+00FF; encode it (RFC 8187 for header values) so that it is latin-1"
            ))
        })
}

/// A native string as text (a name or a status line): ASCII as it is,
/// which is all wsgi-core accepts there; anything else as the bytes'
/// lossy UTF-8 reading, for wsgi-core to refuse with the name in its
/// message.
fn native_text<'a>(what: &str, text: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, str>> {
    if let Some(ascii) = ascii(as_str(what, text)?) {
        return Ok(Cow::Borrowed(ascii));
    }
    let bytes = native_bytes(what, text)?;
    Ok(Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()))
}

/// A header's name and value objects.
type Pair<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>);

/// Headers a response usually has at most: more spill to the heap.
const USUAL_HEADERS: usize = 8;

/// Headers held on the stack: filled in place, since moving a
/// `SmallVec` copies its whole inline array.
type Stacked<T> = SmallVec<[T; USUAL_HEADERS]>;

/// The header list's names and values, `[(name, value), ...]`, into
/// `pairs` (a list is read without the iterator protocol).
fn header_pairs<'py>(list: &Bound<'py, PyAny>, pairs: &mut Stacked<Pair<'py>>) -> PyResult<()> {
    let pair = |item: Bound<'py, PyAny>| match item.cast::<PyTuple>() {
        Ok(tuple) if tuple.len() == 2 => Ok((tuple.get_item(0)?, tuple.get_item(1)?)),
        _ => Err(PyTypeError::new_err(format!(
            "each response header must be a (name, value) tuple, got {item}"
        ))),
    };
    if let Ok(list) = list.cast::<PyList>() {
        for item in list.iter() {
            pairs.push(pair(item)?);
        }
        return Ok(());
    }
    let items = list.try_iter().map_err(|_| {
        PyTypeError::new_err("response_headers must be a list of (name, value) tuples")
    })?;
    for item in items {
        pairs.push(pair(item?)?);
    }
    Ok(())
}

/// A header's name and value, borrowed from Python's strings when ASCII.
type Header<'a> = (Cow<'a, str>, Cow<'a, [u8]>);

/// The headers' names and values into `headers`, borrowed from `pairs`
/// when ASCII.
fn headers<'a>(pairs: &'a [Pair<'_>], headers: &mut Stacked<Header<'a>>) -> PyResult<()> {
    for (name, value) in pairs {
        // A name that is not ASCII is refused by wsgi-core's token check.
        let name = native_text("a header name", name)?;
        headers.push((name, native_bytes("a header value", value)?));
    }
    Ok(())
}

/// Whether ours is the only reference to `object`: then no Python code
/// can reach it again.
fn alone(object: &Bound<'_, PyAny>) -> bool {
    #[allow(deprecated)] // `ffi::Py_REFCNT`, its replacement, is unsafe.
    let count = object.get_refcnt();
    count == 1
}

/// The `write` callable for `writer`: for a pooled `start_response`, the
/// thread's spare one when there is one, remembered for the call's end.
fn write_callable(
    py: Python<'_>,
    writer: wsgi_core::Writer,
    pooled: bool,
) -> PyResult<Py<PyWrite>> {
    if !pooled {
        return Py::new(
            py,
            PyWrite {
                inner: Some(writer),
            },
        );
    }
    let mut writer = Some(writer);
    let mut write = None;
    if let Some(spare) = SPARE_WRITE.take().map(|spare| spare.into_bound(py)) {
        if let Ok(mut borrowed) = spare.try_borrow_mut() {
            borrowed.inner = writer.take();
            drop(borrowed);
            write = Some(spare.unbind());
        }
    }
    let write = match write {
        Some(write) => write,
        None => Py::new(py, PyWrite { inner: writer })?,
    };
    LAST_WRITE.set(Some(write.clone_ref(py)));
    Ok(write)
}

#[pymethods]
impl PyStartResponse {
    #[pyo3(signature = (status, response_headers, exc_info=None))]
    fn __call__(
        &self,
        py: Python<'_>,
        status: &Bound<'_, PyAny>,
        response_headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyWrite>> {
        let inner = self.inner()?;
        let status = native_text("the status", status)?;
        let mut pairs = Stacked::new();
        header_pairs(response_headers, &mut pairs)?;
        let mut converted = Stacked::new();
        headers(&pairs, &mut converted)?;
        let headers = converted
            .iter()
            .map(|(name, value)| (name.as_ref(), value.as_ref()));
        let exception = match exc_info {
            Some(info) if !info.is_none() => {
                let value = info.get_item(1)?;
                (!value.is_none()).then_some(value)
            }
            _ => None,
        };
        let writer = match exception {
            None => inner
                .start(status.as_ref(), headers)
                .map_err(|e| PyValueError::new_err(e.to_string()))?,
            Some(value) => {
                let error = PythonError::new(py, &PyErr::from_value(value.clone()));
                match inner.start_exc_info(status.as_ref(), headers, error.into()) {
                    Ok(writer) => writer,
                    // Too late to change the head: re-raise the
                    // application's exception, as PEP 3333 says.
                    Err(_) if inner.is_head_sent() => return Err(PyErr::from_value(value)),
                    Err(e) => return Err(PyValueError::new_err(e.to_string())),
                }
            }
        };
        write_callable(py, writer, self.pooled)
    }
}

/// The legacy `write(data)` callable `start_response` returns.
#[pyclass(name = "Write", module = "wsgi_rs")]
#[derive(Debug)]
pub struct PyWrite {
    /// `None` only while spare (unreachable from Python).
    inner: Option<wsgi_core::Writer>,
}

#[pymethods]
impl PyWrite {
    fn __call__(&self, data: PyBackedBytes) -> PyResult<()> {
        let inner = self
            .inner
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("write called after its request ended"))?;
        inner.write(bytes::Bytes::copy_from_slice(&data));
        Ok(())
    }
}
