//! Serve Python WSGI applications, pulsar's asynchronous ones included, on
//! wsgi-rs.
//!
//! A Python callable `app(environ, start_response)` becomes a wsgi-core
//! [`Application`](wsgi_core::Application) ([`PythonApp`]), served by
//! wsgi-core's server with everything it guarantees a Rust handler: hostile
//! input refused before the application runs, validated response heads,
//! graceful restarts, the same error pages and log lines.
//!
//! - `environ` is a `dict` of PEP 3333 native strings; `wsgi.input` streams
//!   the request body (reads release the GIL while they wait on the
//!   socket); `wsgi.errors` logs through `tracing`; `wsgi.file_wrapper` is
//!   `wsgiref.util.FileWrapper`; `pulsar.connection` and `pulsar.cfg` are
//!   Python objects over the connection and the settings.
//! - `start_response(status, headers, exc_info=None)` validates like
//!   wsgi-core's and returns the legacy `write()`; the iterable's `close()`
//!   is always called.
//! - pulsar's asynchronous WSGI: the application may return an awaitable,
//!   and its body may yield awaitables resolving to bytes (or be an async
//!   iterable); they run on an asyncio event loop per worker, bridged to
//!   tokio with `pyo3-async-runtimes`.
//! - Synchronous applications run on a bounded thread pool
//!   ([`Options::threads`]); `--workers N` on the command line runs N
//!   processes sharing the listening sockets, since the GIL lets one
//!   process run one thread of Python at a time.
//!
//! - Fast synchronous calls run inline, on the event loop's thread, with
//!   no hop to the pool ([`Options::inline`]; the guide says when).
//!
//! Supported: CPython 3.9 and later (PyO3 0.30's range); tested with 3.11.
//! Free-threaded 3.14t builds (untested; see the guide).
//!
//! The command (`wsgi-rs module:app --bind ... --workers ...`) is
//! [`cli::main`]; it is the `wsgi-rs` binary of this crate (Python
//! embedded) and the console script of the `wsgi-rs` wheel (maturin).

// The one `cfg` PyO3's `create_exception!` expands to.
#![allow(unexpected_cfgs)]

/// The guide: installing the wheel, running Flask and Django, processes and
/// threads, pulsar's asynchronous WSGI (`docs/guide.md` in the crate).
#[doc = include_str!("../docs/guide.md")]
pub mod guide {}

pub mod app;
pub mod body;
pub mod cli;
mod environ;
pub mod error;
mod event_loop;
mod inline;
pub mod input;
pub mod objects;
mod pool;
mod processes;
pub mod settings;
pub mod start_response;
mod support;

pub use app::{load_callable, Options, PythonApp};
pub use body::Mode;
pub use error::PythonError;

use pyo3::prelude::*;

/// The Python module `wsgi_rs`: `wsgi_rs.main()` runs the command with
/// `sys.argv`, `wsgi_rs.main(["app:app", "--bind", ...])` with a list.
#[pymodule]
fn wsgi_rs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_class::<input::PyInput>()?;
    m.add_class::<start_response::PyStartResponse>()?;
    m.add_class::<start_response::PyWrite>()?;
    m.add_class::<objects::PyErrors>()?;
    m.add_class::<objects::PyConnection>()?;
    m.add_class::<objects::PyConfig>()?;
    m.add("InputError", m.py().get_type::<input::InputError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// Runs the `wsgi-rs` command; returns its exit status.
#[pyfunction]
#[pyo3(signature = (argv=None))]
fn main(py: Python<'_>, argv: Option<Vec<String>>) -> PyResult<i32> {
    let argv = match argv {
        Some(mut argv) => {
            argv.insert(0, "wsgi-rs".into());
            argv
        }
        None => {
            let mut argv: Vec<String> = py.import("sys")?.getattr("argv")?.extract()?;
            if let Some(first) = argv.first_mut() {
                *first = "wsgi-rs".into();
            }
            argv
        }
    };
    // Python's own SIGINT handler would raise KeyboardInterrupt once the
    // server has already stopped gracefully: the server handles SIGINT.
    let signal = py.import("signal")?;
    signal.call_method1(
        "signal",
        (signal.getattr("SIGINT")?, signal.getattr("SIG_DFL")?),
    )?;
    Ok(cli::run(
        py,
        argv.into_iter().map(Into::into).collect(),
        cli::Host::Python,
    ))
}
