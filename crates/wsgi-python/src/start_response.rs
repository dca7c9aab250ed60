//! `start_response(status, headers, exc_info=None)` and its `write()`.
//!
//! Both wrap wsgi-core's [`StartResponse`](wsgi_core::StartResponse), so a
//! Python application's status and headers pass the same checks as a Rust
//! handler's (no CR/LF or control characters, no hop-by-hop headers, no
//! 1xx). A refused call raises `ValueError` saying what to fix; the
//! response is then a 500 unless a later call with `exc_info` replaces the
//! head, as PEP 3333 asks. Header values are native strings: each
//! character is one byte (latin-1).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyString, PyTuple};

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
fn native_bytes(what: &str, text: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let text = text
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a str (a native string)")))?;
    let text = text.to_cow()?;
    text.chars()
        .map(|c| u8::try_from(u32::from(c)))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| {
            PyValueError::new_err(format!(
                "{what} {text:?} has a character above U+00FF; encode it (RFC 8187 for header values) so that it is latin-1"
            ))
        })
}

/// The header list: `[(name, value), ...]` of native strings.
fn headers(list: &Bound<'_, PyAny>) -> PyResult<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for item in list.try_iter().map_err(|_| {
        PyTypeError::new_err("response_headers must be a list of (name, value) tuples")
    })? {
        let item = item?;
        let pair = item
            .cast::<PyTuple>()
            .ok()
            .filter(|t| t.len() == 2)
            .ok_or_else(|| {
                PyTypeError::new_err(format!(
                    "each response header must be a (name, value) tuple, got {item}"
                ))
            })?;
        let name = native_bytes("a header name", &pair.get_item(0)?)?;
        let value = native_bytes("a header value", &pair.get_item(1)?)?;
        // A name that is not ASCII is refused by wsgi-core's token check.
        out.push((String::from_utf8_lossy(&name).into_owned(), value));
    }
    Ok(out)
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
        let status = String::from_utf8_lossy(&native_bytes("the status", status)?).into_owned();
        let headers = headers(response_headers)?;
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
                .start(status.as_str(), headers)
                .map_err(|e| PyValueError::new_err(e.to_string()))?,
            Some(value) => {
                let error = PythonError::new(py, &PyErr::from_value(value.clone()));
                match self
                    .inner
                    .start_exc_info(status.as_str(), headers, error.into())
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
