//! The Python half of the bridge: `support.py`, compiled once per process.
//!
//! A few steps are simpler and faster in Python than through the C API
//! (formatting a traceback, a coroutine that calls the app on the event
//! loop); they live in `support.py` and are reached from here.

use std::ffi::CString;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

static SUPPORT: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The source of `support.py`.
const SOURCE: &str = include_str!("support.py");

/// The compiled helper module.
pub(crate) fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    SUPPORT
        .get_or_try_init(py, || {
            let code = CString::new(SOURCE)
                .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
            let module = PyModule::from_code(py, &code, c"wsgi_rs_support.py", c"wsgi_rs_support")?;
            Ok::<_, PyErr>(module.unbind())
        })
        .map(|m| m.bind(py).clone())
}
