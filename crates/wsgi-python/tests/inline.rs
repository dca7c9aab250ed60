//! Synchronous calls run inline, on the event loop's thread, once an
//! application has shown that its calls return fast; never for a request
//! with a body to wait for, never for an application that blocks, and not
//! again (for a while) after an inline call blocked. Over real sockets,
//! with the interpreter embedded; the app answers with the name of the
//! thread that ran it (pool threads are `wsgi-python-N`), as Linux tells.
#![cfg(target_os = "linux")]

use std::ffi::CString;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::prelude::*;
use wsgi_core::server::ServerHandle;
use wsgi_python::{Options, PythonApp};
use wsgi_tests::{get, raw_request, serve_with, test_config};

const APP: &str = r#"
import threading, time

def app(environ, start_response):
    if environ["QUERY_STRING"]:
        time.sleep(float(environ["QUERY_STRING"]))
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    with open(f"/proc/self/task/{threading.get_native_id()}/comm", "rb") as comm:
        return [comm.read().strip()]
"#;

/// More fast calls than the first streak needs (`inline::FIRST_STREAK`,
/// 64).
const WARM_UP: usize = 80;

/// Enough fast calls for a streak even when the kernel preempts some
/// (a preempted call may take over 1 ms and restart the streak).
const PATIENCE: usize = 2000;

static MODULES: AtomicUsize = AtomicUsize::new(0);

/// One test at a time: tests running side by side share the GIL, and a
/// call that waits for it counts as blocking.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn serve(inline: bool) -> (ServerHandle, Py<PyModule>) {
    let (app, module) = Python::attach(|py| {
        let name = format!("inline_app_{}", MODULES.fetch_add(1, Ordering::SeqCst));
        let code = CString::new(APP).expect("no NUL");
        let cname = CString::new(name).expect("no NUL");
        let module = PyModule::from_code(py, &code, c"inline_app.py", &cname).expect("compiles");
        let callable = module.getattr("app").expect("the app").unbind();
        let options = Options {
            inline,
            ..Options::default()
        };
        let app = PythonApp::new(py, callable, options).expect("loads");
        (app, module.unbind())
    });
    (serve_with(app, test_config()), module)
}

/// The name of the thread that ran the app for `GET path`.
async fn thread_of(addr: SocketAddr, path: &str) -> String {
    let response = get(addr, path).await;
    assert_eq!(response.status, 200);
    response.text()
}

/// Fast calls until one runs inline.
async fn warm_up(addr: SocketAddr) {
    for _ in 0..PATIENCE {
        if !on_pool(&thread_of(addr, "/").await) {
            return;
        }
    }
    panic!("{PATIENCE} fast calls, and none ran inline");
}

fn on_pool(thread: &str) -> bool {
    thread.starts_with("wsgi-python-")
}

#[tokio::test(flavor = "multi_thread")]
async fn fast_calls_come_to_run_inline_but_bodies_stay_on_the_pool() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (server, _m) = serve(true);
    let addr = server.local_addr();
    for _ in 0..10 {
        assert!(on_pool(&thread_of(addr, "/").await), "first on the pool");
    }
    warm_up(addr).await;
    let thread = thread_of(addr, "/").await;
    assert!(!on_pool(&thread), "inline after a streak, ran on {thread}");
    let post = raw_request(
        addr,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    )
    .await;
    assert_eq!(post.status, 200);
    assert!(on_pool(&post.text()), "a body to read: {}", post.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_that_blocks_inline_sends_the_calls_back_to_the_pool() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (server, _m) = serve(true);
    let addr = server.local_addr();
    warm_up(addr).await;
    // Sleeping inline: this call stalls the loop. If the loop was not
    // watching (counting context switches), the sleep passes unjudged and
    // starts watching, so the second one is caught; the next ones do not
    // stall it.
    let sleeper = thread_of(addr, "/?0.01").await;
    assert!(!on_pool(&sleeper), "{sleeper}");
    thread_of(addr, "/?0.01").await;
    for _ in 0..WARM_UP {
        let thread = thread_of(addr, "/").await;
        assert!(on_pool(&thread), "back on the pool, ran on {thread}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_application_that_blocks_never_runs_inline() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (server, _m) = serve(true);
    let addr = server.local_addr();
    for _ in 0..WARM_UP {
        let thread = thread_of(addr, "/?0.0001").await;
        assert!(on_pool(&thread), "ran on {thread}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn inline_false_keeps_every_call_on_the_pool() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (server, _m) = serve(false);
    let addr = server.local_addr();
    for _ in 0..WARM_UP {
        let thread = thread_of(addr, "/").await;
        assert!(on_pool(&thread), "ran on {thread}");
    }
}
