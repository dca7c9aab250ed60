//! The `environ` dict a Python application receives.
//!
//! The request's variables are taken from wsgi-core's [`Environ`] on the
//! event loop (owned strings, no GIL), and the dict is built later on the
//! thread that calls the application. Values are PEP 3333 native strings:
//! each character stands for one byte (latin-1). wsgi-core already decodes
//! header values that way; `PATH_INFO` is rebuilt from its exact decoded
//! bytes (wsgi-core returns valid UTF-8 as such for Rust handlers, PEP 3333
//! wants `/caf\xc3\xa9` as `'/cafÃ©'`), and the configured `SCRIPT_NAME`
//! is UTF-8 text, so its bytes are mapped too.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use pyo3::{intern, IntoPyObjectExt};
use tokio::runtime::Handle;
use wsgi_core::{Config, Connection, Environ};

use crate::input::PyInput;
use crate::objects::{PyConfig, PyConnection, PyErrors};

/// What the dict is built from, taken out of the request's [`Environ`].
#[derive(Debug)]
pub(crate) struct Request {
    vars: Vec<(String, String)>,
    path_info: String,
    script_name: String,
    url_scheme: &'static str,
    input: wsgi_core::Input,
    connection: Option<Connection>,
    config: Arc<Config>,
    handle: Handle,
}

/// Bytes as a native string: one character per byte.
pub(crate) fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

impl Request {
    /// Takes the variables and the body out of `environ`.
    pub(crate) fn capture(environ: &mut Environ, config: Arc<Config>, handle: Handle) -> Self {
        let vars = environ
            .vars()
            .into_iter()
            .filter(|(k, _)| k != "PATH_INFO" && k != "SCRIPT_NAME")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Request {
            vars,
            path_info: latin1(&environ.path_info_bytes()),
            script_name: latin1(environ.script_name().as_bytes()),
            url_scheme: environ.url_scheme(),
            input: environ.take_input(),
            connection: environ.connection().cloned(),
            config,
            handle,
        }
    }

    /// Whether body bytes may still have to arrive from the client.
    pub(crate) fn body_pending(&self) -> bool {
        !http_body::Body::is_end_stream(&self.input)
    }

    /// The environ dict.
    pub(crate) fn into_dict(
        self,
        py: Python<'_>,
        multiprocess: bool,
    ) -> PyResult<Bound<'_, PyDict>> {
        let dict = PyDict::new(py);
        for (key, value) in &self.vars {
            dict.set_item(PyString::new(py, key), PyString::new(py, value))?;
        }
        dict.set_item(intern!(py, "PATH_INFO"), self.path_info)?;
        dict.set_item(intern!(py, "SCRIPT_NAME"), self.script_name)?;
        dict.set_item(intern!(py, "wsgi.version"), (1, 0))?;
        dict.set_item(intern!(py, "wsgi.url_scheme"), self.url_scheme)?;
        dict.set_item(
            intern!(py, "wsgi.input"),
            PyInput::new(self.input, self.handle).into_py_any(py)?,
        )?;
        dict.set_item(intern!(py, "wsgi.errors"), errors(py)?)?;
        dict.set_item(intern!(py, "wsgi.multithread"), true)?;
        dict.set_item(intern!(py, "wsgi.multiprocess"), multiprocess)?;
        dict.set_item(intern!(py, "wsgi.run_once"), false)?;
        // gunicorn's and mod_wsgi's extension: the body ends where the
        // request's does, so `read()` without a size is safe.
        dict.set_item(intern!(py, "wsgi.input_terminated"), true)?;
        dict.set_item(intern!(py, "wsgi.file_wrapper"), file_wrapper(py)?)?;
        if let Some(connection) = self.connection {
            dict.set_item(
                intern!(py, "pulsar.connection"),
                PyConnection::new(connection).into_py_any(py)?,
            )?;
        }
        dict.set_item(
            intern!(py, "pulsar.cfg"),
            PyConfig::new(self.config).into_py_any(py)?,
        )?;
        Ok(dict)
    }
}

static ERRORS: pyo3::sync::PyOnceLock<Py<PyErrors>> = pyo3::sync::PyOnceLock::new();
static FILE_WRAPPER: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();

/// One `wsgi.errors` stream for every request: it keeps no request state.
fn errors(py: Python<'_>) -> PyResult<&Py<PyErrors>> {
    ERRORS.get_or_try_init(py, || Py::new(py, PyErrors::default()))
}

/// `wsgi.file_wrapper`: the standard library's `wsgiref.util.FileWrapper`,
/// iterated like any body (its `close()` closes the file).
fn file_wrapper(py: Python<'_>) -> PyResult<&Py<PyAny>> {
    FILE_WRAPPER.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("wsgiref.util")?.getattr("FileWrapper")?.unbind())
    })
}
