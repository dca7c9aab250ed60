//! A Python WSGI callable as a wsgi-core [`Application`].
//!
//! Each request:
//! 1. on the worker's event loop, the request's variables and body are
//!    taken out of wsgi-core's `Environ` (no GIL);
//! 2. in threads mode, one job on the bounded pool builds the `environ`
//!    dict, calls the application and classifies what it returned (a list's
//!    items, or an iterator's first item) under one GIL acquisition; in
//!    asyncio mode, the call runs on the worker's event loop instead;
//! 3. an awaitable result is awaited on the event loop, then classified;
//! 4. the rest becomes a [`Body`] (see `body.rs`) that wsgi-core streams
//!    with its usual rules (nothing sent before the first non-empty item,
//!    `Content-Length` checked, backpressure, errors as 500 pages).

use std::fmt;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use wsgi_core::{Application, Body, Config, Environ, Error, StartResponse};

use crate::body::{classify, Context, Mode, Returned};
use crate::environ::{Request, Template};
use crate::error::to_error;
use crate::event_loop::WorkerLoop;
use crate::inline::Inline;
use crate::pool::Pool;
use crate::start_response::PyStartResponse;
use crate::support;

/// How many awaitables may resolve to further awaitables before the body
/// is refused (a loop guard, not a limit real applications meet).
const MAX_AWAIT_DEPTH: usize = 8;

/// The default number of Python calls that run at once in threads mode.
pub const DEFAULT_THREADS: usize = 8;

/// A Python WSGI application served by wsgi-core.
///
/// Cloning is cheap: clones share the callable, the thread pool and the
/// settings (the server clones the application once per worker).
#[derive(Clone)]
pub struct PythonApp {
    shared: Arc<Shared>,
}

struct Shared {
    app: Py<PyAny>,
    mode: Mode,
    pool: Pool,
    inline: Inline,
    multiprocess: bool,
    /// What every request's environ dict starts from.
    template: Template,
    /// The configuration `pulsar.cfg` shows, shared by the requests that
    /// carry an equal one (one server: all of them), with the address of
    /// the `Config` it was last seen at: the server shares one, so the
    /// usual check is one comparison of addresses.
    config: Mutex<Option<(usize, Arc<Config>)>>,
}

impl fmt::Debug for PythonApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PythonApp")
            .field("mode", &self.shared.mode)
            .field("multiprocess", &self.shared.multiprocess)
            .finish_non_exhaustive()
    }
}

/// Options for [`PythonApp`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Python calls running at once in threads mode (per process).
    pub threads: usize,
    /// Run the application on the worker's asyncio loop (pulsar-style)
    /// instead of the thread pool; `None` decides from the callable (a
    /// coroutine function runs on the loop).
    pub asyncio: Option<bool>,
    /// `wsgi.multiprocess`: other processes serve the same application.
    pub multiprocess: bool,
    /// Let a synchronous call run on the event loop's thread, without a
    /// hop to the pool, once the application has shown that its calls
    /// return fast and when the request has no body to wait for (see the
    /// guide); `false` runs every call on the pool.
    pub inline: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: DEFAULT_THREADS,
            asyncio: None,
            multiprocess: false,
            inline: true,
        }
    }
}

impl PythonApp {
    /// Serves the callable `app`.
    pub fn new(py: Python<'_>, app: Py<PyAny>, options: Options) -> PyResult<Self> {
        let asyncio = match options.asyncio {
            Some(asyncio) => asyncio,
            None => py
                .import("inspect")?
                .call_method1("iscoroutinefunction", (&app,))?
                .is_truthy()?,
        };
        Ok(PythonApp {
            shared: Arc::new(Shared {
                app,
                mode: if asyncio {
                    Mode::Asyncio
                } else {
                    Mode::Threads
                },
                pool: Pool::new(options.threads),
                inline: Inline::new(options.inline),
                multiprocess: options.multiprocess,
                template: Template::default(),
                config: Mutex::new(None),
            }),
        })
    }

    /// Imports `module:callable` (`module` alone means its `application`,
    /// as mod_wsgi and gunicorn read it; `module:create_app()` calls a
    /// factory) and serves it.
    pub fn load(py: Python<'_>, spec: &str, options: Options) -> PyResult<Self> {
        let app = load_callable(py, spec)?;
        PythonApp::new(py, app.unbind(), options)
    }

    /// Where the application runs.
    pub fn mode(&self) -> Mode {
        self.shared.mode
    }

    fn config(&self, config: &Config) -> Arc<Config> {
        let address = std::ptr::from_ref(config) as usize;
        let mut cached = self.shared.config.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *cached {
            Some((seen, arc)) if *seen == address => Arc::clone(arc),
            Some((seen, arc)) if **arc == *config => {
                *seen = address;
                Arc::clone(arc)
            }
            _ => Arc::clone(&cached.insert((address, Arc::new(config.clone()))).1),
        }
    }

    fn context(&self) -> Context {
        Context {
            mode: self.shared.mode,
            pool: self.shared.pool.clone(),
            event_loop: WorkerLoop::current(),
            vars: None,
        }
    }
}

/// Imports the callable named by `spec`.
pub fn load_callable<'py>(py: Python<'py>, spec: &str) -> PyResult<Bound<'py, PyAny>> {
    let (module_name, attribute) = spec.split_once(':').unwrap_or((spec, "application"));
    let (attribute, call) = match attribute.strip_suffix("()") {
        Some(factory) => (factory, true),
        None => (attribute, false),
    };
    let bad = |what: String| pyo3::exceptions::PyValueError::new_err(what);
    if module_name.is_empty() || attribute.is_empty() {
        return Err(bad(format!(
            "{spec:?} is not an application: give MODULE:CALLABLE, like `app:app` or `mysite.wsgi:application`"
        )));
    }
    let module = py.import(module_name).map_err(|e| {
        bad(format!(
            "cannot import {module_name:?} for the application {spec:?} (is it on the Python path? run from its directory or pass --pythonpath): {}",
            crate::error::PythonError::new(py, &e).summary()
        ))
    })?;
    let mut target = module.into_any();
    for part in attribute.split('.') {
        target = target.getattr(part).map_err(|_| {
            bad(format!(
                "module {module_name:?} has no attribute {attribute:?} (the application {spec:?})"
            ))
        })?;
    }
    if call {
        target = target.call0()?;
    }
    if !target.is_callable() {
        return Err(bad(format!(
            "{spec:?} is not callable; a WSGI application is a callable (environ, start_response)"
        )));
    }
    Ok(target)
}

impl Application for PythonApp {
    async fn call(
        &self,
        environ: &mut Environ,
        start_response: StartResponse,
    ) -> Result<Body, Error> {
        let config = self.config(environ.config());
        let handle = tokio::runtime::Handle::current();
        let mut request = Request::capture(environ, config, handle);
        let context = self.context();
        let shared = Arc::clone(&self.shared);
        let multiprocess = shared.multiprocess;
        let mut returned = match shared.mode {
            Mode::Threads => {
                let claim = shared
                    .inline
                    .claim(request.body_pending(), shared.pool.is_idle());
                if let Some(claim) = claim {
                    // No hop to the pool: run the call here (see inline.rs),
                    // the variables read from the environ as they are.
                    let environ = &*environ;
                    let result = Python::attach(|py| {
                        let dict = request
                            .into_dict_from(py, &shared.template, multiprocess, environ)
                            .map_err(|e| to_error(py, &e))?;
                        call_sync(py, &shared, dict, start_response, context)
                    });
                    claim.finish();
                    result?
                } else {
                    request.take_vars(environ);
                    let shared = Arc::clone(&shared);
                    let pool = shared.pool.clone();
                    pool.run(move |py| {
                        let timing = shared.inline.probe();
                        let result = request
                            .into_dict(py, &shared.template, multiprocess)
                            .map_err(|e| to_error(py, &e))
                            .and_then(|dict| call_sync(py, &shared, dict, start_response, context));
                        shared.inline.pool_call(timing);
                        result
                    })
                    .await?
                }
            }
            Mode::Asyncio => {
                let environ = &*environ;
                let (future, context) = Python::attach(|py| {
                    let context = context.with_new_vars(py).map_err(|e| to_error(py, &e))?;
                    let environ = request
                        .into_dict_from(py, &shared.template, multiprocess, environ)
                        .map_err(|e| to_error(py, &e))?;
                    let start_response = Py::new(py, PyStartResponse::new(start_response))
                        .map_err(|e| to_error(py, &e))?;
                    let coroutine = support::module(py)
                        .and_then(|m| {
                            m.call_method1(
                                "call",
                                (
                                    &shared.app,
                                    environ,
                                    start_response,
                                    context.vars_object(py),
                                ),
                            )
                        })
                        .map_err(|e| to_error(py, &e))?;
                    Ok::<_, Error>((context.await_python(py, coroutine), context))
                })?;
                let value = future.await?;
                Python::attach(|py| {
                    classify(py, &context, value.into_bound(py), false)
                        .map(|r| finish(py, context, r))
                })?
            }
        };
        for _ in 0..MAX_AWAIT_DEPTH {
            let (awaitable, context) = match returned {
                Done::Body(body) => return Ok(body),
                Done::Awaitable(awaitable, context) => (awaitable, context),
            };
            let future = Python::attach(|py| context.await_python(py, awaitable.into_bound(py)));
            let value = future.await?;
            returned = match context.mode {
                Mode::Threads => {
                    shared
                        .pool
                        .run(move |py| {
                            classify(py, &context, value.into_bound(py), true)
                                .map(|r| finish(py, context, r))
                        })
                        .await?
                }
                Mode::Asyncio => Python::attach(|py| {
                    classify(py, &context, value.into_bound(py), false)
                        .map(|r| finish(py, context, r))
                })?,
            };
        }
        Err(Error::msg(format!(
            "the application's result was still awaitable after {MAX_AWAIT_DEPTH} awaits; return an iterable of bytes"
        )))
    }
}

/// Builds the environ, calls the application and classifies its result,
/// all under one GIL acquisition (threads mode).
fn call_sync(
    py: Python<'_>,
    shared: &Shared,
    environ: Bound<'_, PyDict>,
    start_response: StartResponse,
    context: Context,
) -> Result<Done, Error> {
    let context = context.with_new_vars(py).map_err(|e| to_error(py, &e))?;
    let start_response =
        PyStartResponse::reuse(py, start_response).map_err(|e| to_error(py, &e))?;
    let returned = context
        .run2(
            py,
            shared.app.bind(py),
            environ.as_any(),
            start_response.as_any(),
        )
        .map_err(|e| to_error(py, &e))
        .and_then(|result| classify(py, &context, result, true));
    // Also after an error: the `write` callable is let go of either way.
    PyStartResponse::recycle(start_response);
    Ok(finish(py, context, returned?))
}

/// A classified result: a body, or an awaitable still to await in the
/// request's context.
enum Done {
    Body(Body),
    Awaitable(Py<PyAny>, Context),
}

/// The body, or the awaitable with the context it needs. The context is
/// dropped here when done with: attached, its Python object is released
/// at once, where a drop after the call would queue it in pyo3's pool of
/// pending releases (a lock, a push, and work for the next call).
fn finish(py: Python<'_>, context: Context, returned: Returned) -> Done {
    match returned {
        Returned::Awaitable(awaitable) => Done::Awaitable(awaitable, context),
        other => {
            let body = context.body(py, other);
            context.recycle(py);
            Done::Body(body)
        }
    }
}
