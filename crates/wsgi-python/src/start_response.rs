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

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyList, PyString, PyTuple};

use crate::error::PythonError;

/// `environ`'s `start_response` callable.
#[pyclass(name = "StartResponse", module = "wsgi_rs")]
#[derive(Debug)]
pub struct PyStartResponse {
    inner: wsgi_core::StartResponse,
}

impl PyStartResponse {
    /// Wraps the request's `start_response`.
    pub(crate) fn new(inner: wsgi_core::StartResponse) -> Self {
        PyStartResponse { inner }
    }
}

/// A native string's bytes: each character must be one byte (latin-1).
/// An ASCII string (nearly every status and header) is borrowed as it is.
fn native_bytes<'a>(what: &str, text: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    let text = text
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a str (a native string)")))?;
    if let Ok(utf8) = text.to_str() {
        if utf8.is_ascii() {
            return Ok(Cow::Borrowed(utf8.as_bytes()));
        }
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

/// Native string bytes as text (a name or a status line): lossless for
/// ASCII, which is all wsgi-core accepts there.
fn native_text(bytes: Cow<'_, [u8]>) -> Cow<'_, str> {
    match bytes {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
    }
}

/// A header's name and value objects.
type Pair<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>);

/// The header list's names and values: `[(name, value), ...]` (a list is
/// read without the iterator protocol).
fn header_pairs<'py>(list: &Bound<'py, PyAny>) -> PyResult<Vec<Pair<'py>>> {
    let pair = |item: Bound<'py, PyAny>| match item.cast::<PyTuple>() {
        Ok(tuple) if tuple.len() == 2 => Ok((tuple.get_item(0)?, tuple.get_item(1)?)),
        _ => Err(PyTypeError::new_err(format!(
            "each response header must be a (name, value) tuple, got {item}"
        ))),
    };
    if let Ok(list) = list.cast::<PyList>() {
        return list.iter().map(pair).collect();
    }
    list.try_iter()
        .map_err(|_| {
            PyTypeError::new_err("response_headers must be a list of (name, value) tuples")
        })?
        .map(|item| pair(item?))
        .collect()
}

/// A header's name and value, borrowed from Python's strings when ASCII.
type Header<'a> = (Cow<'a, str>, Cow<'a, [u8]>);

/// The headers' names and values, borrowed from `pairs` when ASCII.
fn headers<'a>(pairs: &'a [Pair<'_>]) -> PyResult<Vec<Header<'a>>> {
    pairs
        .iter()
        .map(|(name, value)| {
            // A name that is not ASCII is refused by wsgi-core's token check.
            let name = native_text(native_bytes("a header name", name)?);
            Ok((name, native_bytes("a header value", value)?))
        })
        .collect()
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
    ) -> PyResult<PyWrite> {
        let status = native_text(native_bytes("the status", status)?);
        let pairs = header_pairs(response_headers)?;
        let headers = headers(&pairs)?;
        let exception = match exc_info {
            Some(info) if !info.is_none() => {
                let value = info.get_item(1)?;
                (!value.is_none()).then_some(value)
            }
            _ => None,
        };
        let writer = match exception {
            None => self
                .inner
                .start(status.as_ref(), headers)
                .map_err(|e| PyValueError::new_err(e.to_string()))?,
            Some(value) => {
                let error = PythonError::new(py, &PyErr::from_value(value.clone()));
                match self
                    .inner
                    .start_exc_info(status.as_ref(), headers, error.into())
                {
                    Ok(writer) => writer,
                    // Too late to change the head: re-raise the
                    // application's exception, as PEP 3333 says.
                    Err(_) if self.inner.is_head_sent() => return Err(PyErr::from_value(value)),
                    Err(e) => return Err(PyValueError::new_err(e.to_string())),
                }
            }
        };
        Ok(PyWrite { inner: writer })
    }
}

/// The legacy `write(data)` callable `start_response` returns.
#[pyclass(name = "Write", module = "wsgi_rs")]
#[derive(Debug)]
pub struct PyWrite {
    inner: wsgi_core::Writer,
}

#[pymethods]
impl PyWrite {
    fn __call__(&self, data: PyBackedBytes) {
        self.inner.write(bytes::Bytes::copy_from_slice(&data));
    }
}
