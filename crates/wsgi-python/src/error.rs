//! Python exceptions as `wsgi_core` errors.
//!
//! An exception raised by the application becomes a [`PythonError`] inside a
//! [`wsgi_core::Error`], so the server answers it exactly as it answers a
//! Rust handler's error: a 500 page (the error chain, here the traceback,
//! only with `debug`) and one `request failed` log line at ERROR, which
//! carries the traceback whatever `debug` says.

use std::fmt;

use pyo3::prelude::*;

use crate::support;

/// An exception raised by Python code, with its formatted traceback.
#[derive(Debug, Clone)]
pub struct PythonError {
    /// `ExceptionType: message`, the traceback's last line.
    summary: String,
    /// The whole traceback, as Python's `traceback` module prints it.
    traceback: String,
}

impl PythonError {
    /// Captures `error` (formats its traceback; needs the interpreter).
    pub fn new(py: Python<'_>, error: &PyErr) -> Self {
        let value = error.value(py);
        let summary = format!(
            "{}: {}",
            value
                .get_type()
                .qualname()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "Exception".into()),
            value
                .str()
                .map(|s| s.to_string())
                .unwrap_or_else(|_| "<unprintable>".into())
        );
        let traceback = support::module(py)
            .and_then(|m| m.call_method1("format_exception", (value, error.traceback(py))))
            .and_then(|s| s.extract::<String>())
            .unwrap_or_else(|_| summary.clone());
        PythonError { summary, traceback }
    }

    /// `ExceptionType: message`.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// The formatted traceback.
    pub fn traceback(&self) -> &str {
        &self.traceback
    }
}

impl fmt::Display for PythonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The traceback: what the log line and the debug page show. Its
        // last line is the summary.
        f.write_str(&self.traceback)
    }
}

impl std::error::Error for PythonError {}

/// Converts a Python exception into the server's error type.
///
/// A [`wsgi_rs.InputError`](crate::input::InputError) that escaped the
/// application keeps the status wsgi-core gives the read error (413, 408,
/// 400), as it would from a Rust handler.
pub(crate) fn to_error(py: Python<'_>, error: &PyErr) -> wsgi_core::Error {
    let python = PythonError::new(py, error);
    let status = error
        .is_instance_of::<crate::input::InputError>(py)
        .then(|| error.value(py).getattr("status").ok())
        .flatten()
        .and_then(|s| s.extract::<u16>().ok())
        .and_then(|s| http::StatusCode::from_u16(s).ok());
    match status {
        Some(status) => wsgi_core::Error::with_status(status, python),
        None => wsgi_core::Error::new(python),
    }
}

/// Converts a Python exception, taking the interpreter for the traceback.
pub(crate) fn to_error_attached(error: &PyErr) -> wsgi_core::Error {
    Python::attach(|py| to_error(py, error))
}
