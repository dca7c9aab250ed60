//! The environ's Python objects: `wsgi.errors`, `pulsar.connection` and
//! `pulsar.cfg`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyAttributeError, PyKeyError};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

/// `environ['wsgi.errors']`: a text stream whose lines are logged through
/// `tracing` at ERROR with target `wsgi.errors`, like a Rust handler's
/// `environ.errors()`. Text without a final newline waits for the rest of
/// its line, or for `flush()`.
#[pyclass(name = "Errors", module = "wsgi_rs")]
#[derive(Debug, Default)]
pub struct PyErrors {
    partial: Mutex<String>,
}

fn log_error_line(line: &str) {
    if !line.is_empty() {
        tracing::error!(target: "wsgi.errors", "{line}");
    }
}

#[pymethods]
impl PyErrors {
    fn write(&self, text: &str) -> usize {
        let lines = {
            let mut partial = self.partial.lock().unwrap_or_else(|p| p.into_inner());
            partial.push_str(text);
            match partial.rfind('\n') {
                Some(end) => partial.drain(..=end).collect::<String>(),
                None => String::new(),
            }
        };
        lines.lines().for_each(log_error_line);
        text.chars().count()
    }

    fn writelines(&self, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            self.write(line?.extract::<&str>()?);
        }
        Ok(())
    }

    fn flush(&self) {
        let rest = std::mem::take(&mut *self.partial.lock().unwrap_or_else(|p| p.into_inner()));
        log_error_line(&rest);
    }
}

/// `environ['pulsar.connection']`: the connection serving the request.
#[pyclass(name = "Connection", module = "wsgi_rs", frozen)]
#[derive(Debug)]
pub struct PyConnection {
    inner: wsgi_core::Connection,
}

impl PyConnection {
    /// Wraps the request's connection.
    pub(crate) fn new(inner: wsgi_core::Connection) -> Self {
        PyConnection { inner }
    }
}

fn address(addr: Option<SocketAddr>) -> Option<(String, u16)> {
    addr.map(|a| (a.ip().to_string(), a.port()))
}

#[pymethods]
impl PyConnection {
    /// The connection's id, unique in this process.
    #[getter]
    fn id(&self) -> u64 {
        self.inner.id()
    }

    /// `(host, port)` of the peer socket, `None` on a Unix socket.
    #[getter]
    fn peer_addr(&self) -> Option<(String, u16)> {
        address(self.inner.peer_addr())
    }

    /// `(host, port)` of the client: the PROXY protocol's source if any.
    #[getter]
    fn client_addr(&self) -> Option<(String, u16)> {
        address(self.inner.client_addr())
    }

    /// `(host, port)` this side of the connection.
    #[getter]
    fn local_addr(&self) -> Option<(String, u16)> {
        address(self.inner.local_addr())
    }

    /// Whether the connection is TLS.
    #[getter]
    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }

    /// Whether the server is shutting down (readiness should fail).
    #[getter]
    fn is_draining(&self) -> bool {
        self.inner.is_draining()
    }

    /// Requests served on this connection so far, this one included.
    #[getter]
    fn requests_served(&self) -> u64 {
        self.inner.requests_served()
    }

    fn __repr__(&self) -> String {
        format!("<wsgi_rs.Connection id={}>", self.inner.id())
    }
}

/// `environ['pulsar.cfg']`: the server's settings, by attribute
/// (`cfg.workers`), by key (`cfg['workers']`) or with `cfg.get(name,
/// default)`, as pulsar's `cfg`. Lists for `bind` and
/// `forwarded_allow_ips`, booleans, integers, and seconds as floats.
#[pyclass(name = "Config", module = "wsgi_rs", frozen)]
#[derive(Debug)]
pub struct PyConfig {
    inner: Arc<wsgi_core::Config>,
}

impl PyConfig {
    /// Wraps the server's configuration.
    pub(crate) fn new(inner: Arc<wsgi_core::Config>) -> Self {
        PyConfig { inner }
    }

    fn value(&self, py: Python<'_>, name: &str) -> PyResult<Option<Py<PyAny>>> {
        let Some(text) = self.inner.get(name) else {
            return Ok(None);
        };
        let value = match name {
            "bind" | "forwarded_allow_ips" => text
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
                .into_py_any(py)?,
            "debug" | "proxy_protocol" | "forwarded_prefix" => (text == "true").into_py_any(py)?,
            // `Config::get` shows durations as seconds, always a number.
            "http_keep_alive"
            | "response_timeout"
            | "header_read_timeout"
            | "shutdown_timeout"
            | "shutdown_drain"
            | "websocket_idle_timeout" => match text.parse::<f64>() {
                Ok(seconds) => seconds.into_py_any(py)?,
                Err(_) => text.into_py_any(py)?,
            },
            _ => match text.parse::<u64>() {
                Ok(n) => n.into_py_any(py)?,
                Err(_) => text.into_py_any(py)?,
            },
        };
        Ok(Some(value))
    }
}

#[pymethods]
impl PyConfig {
    /// The setting `name`, or `default` for an unknown name.
    #[pyo3(signature = (name, default=None))]
    fn get(&self, py: Python<'_>, name: &str, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        Ok(self
            .value(py, name)?
            .or(default)
            .unwrap_or_else(|| py.None()))
    }

    fn __getattr__(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        self.value(py, name)?.ok_or_else(|| {
            PyAttributeError::new_err(format!(
                "no setting {name:?}; the settings are {:?}",
                wsgi_core::Config::SETTINGS
            ))
        })
    }

    fn __getitem__(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        self.value(py, name)?
            .ok_or_else(|| PyKeyError::new_err(name.to_owned()))
    }

    /// The setting names.
    #[getter]
    fn settings(&self) -> Vec<&'static str> {
        wsgi_core::Config::SETTINGS.to_vec()
    }
}
