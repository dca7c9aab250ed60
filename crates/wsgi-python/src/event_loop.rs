//! One asyncio event loop per server worker, bridged to tokio.
//!
//! Awaitables a Python application returns or yields (coroutines, asyncio
//! futures and tasks) run on an asyncio loop; the worker's tokio runtime
//! awaits them through `pyo3-async-runtimes`' `into_future_with_locals`,
//! which schedules the awaitable with `call_soon_threadsafe` and hands the
//! result back over a oneshot channel. The loop runs `run_forever` on a
//! thread of its own (asyncio releases the GIL while it waits in its
//! selector) and is started the first time a worker needs it, so apps that
//! never await pay nothing.
//!
//! Each worker thread has its own loop, so workers do not contend on one
//! selector, and a restart of the application (`max_requests`) keeps it.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use pyo3::prelude::*;
use pyo3_async_runtimes::TaskLocals;

/// A worker's event loop, started on first use.
#[derive(Debug, Default)]
pub(crate) struct WorkerLoop {
    locals: OnceLock<TaskLocals>,
    /// Held while starting, so two threads never start two loops.
    starting: Mutex<()>,
}

thread_local! {
    static WORKER_LOOP: Arc<WorkerLoop> = Arc::new(WorkerLoop::default());
}

impl WorkerLoop {
    /// The loop of the calling worker thread (not started yet, perhaps).
    pub(crate) fn current() -> Arc<WorkerLoop> {
        WORKER_LOOP.with(Arc::clone)
    }

    /// The loop's task locals, starting the loop if needed.
    pub(crate) fn locals(&self, py: Python<'_>) -> PyResult<TaskLocals> {
        if let Some(locals) = self.locals.get() {
            return Ok(locals.clone());
        }
        // The loop thread needs the GIL to start: wait for it without it.
        let started = py.detach(|| -> Result<(), String> {
            let _guard = self.starting.lock().unwrap_or_else(|p| p.into_inner());
            if self.locals.get().is_some() {
                return Ok(());
            }
            let locals = start_loop()?;
            let _ = self.locals.set(locals);
            Ok(())
        });
        started.map_err(pyo3::exceptions::PyRuntimeError::new_err)?;
        self.locals.get().cloned().ok_or_else(|| {
            pyo3::exceptions::PyRuntimeError::new_err("the asyncio loop did not start")
        })
    }
}

/// Starts a thread running a new asyncio loop forever; returns its locals.
fn start_loop() -> Result<TaskLocals, String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::Builder::new()
        .name("wsgi-asyncio".into())
        .spawn(move || {
            Python::attach(|py| {
                let setup = || -> PyResult<Bound<'_, PyAny>> {
                    let asyncio = py.import("asyncio")?;
                    let event_loop = asyncio.call_method0("new_event_loop")?;
                    asyncio.call_method1("set_event_loop", (&event_loop,))?;
                    Ok(event_loop)
                };
                match setup().and_then(|l| Ok((TaskLocals::new(l.clone()).copy_context(py)?, l))) {
                    Ok((locals, event_loop)) => {
                        let _ = sender.send(Ok(locals));
                        if let Err(e) = event_loop.call_method0("run_forever") {
                            tracing::error!(error = %crate::error::PythonError::new(py, &e), "the asyncio event loop stopped");
                        }
                    }
                    Err(e) => {
                        let _ = sender.send(Err(format!(
                            "starting an asyncio event loop failed: {}",
                            crate::error::PythonError::new(py, &e)
                        )));
                    }
                }
            })
        })
        .map_err(|e| format!("starting the asyncio loop thread failed: {e}"))?;
    receiver
        .recv()
        .map_err(|_| "the asyncio loop thread died while starting".to_owned())?
}
