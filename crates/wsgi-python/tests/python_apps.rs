//! Python WSGI applications behind the real server, over real sockets:
//! the environ, `wsgi.input`, `start_response` (`exc_info`, `write`),
//! `close()`, errors, `wsgi.file_wrapper`, pulsar's asynchronous bodies,
//! and `wsgiref.validate` around the apps. The Python code is inline; the
//! interpreter is embedded (the crate's `embed` feature).

use std::ffi::CString;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsgi_core::server::ServerHandle;
use wsgi_python::{Options, PythonApp};
use wsgi_tests::{get, raw_request, serve_with, test_config};

const APPS: &str = r#"
import asyncio, io, json, time, wsgiref.validate

closed = []

def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, World!"]

def environ_json(environ, start_response):
    keys = {}
    for k, v in environ.items():
        if isinstance(v, str):
            keys[k] = v
    keys["wsgi.version"] = list(environ["wsgi.version"])
    keys["wsgi.multithread"] = environ["wsgi.multithread"]
    keys["cfg.debug"] = environ["pulsar.cfg"].debug
    keys["cfg.bind"] = environ["pulsar.cfg"].get("bind")
    keys["conn.id"] = environ["pulsar.connection"].id
    keys["conn.peer"] = list(environ["pulsar.connection"].peer_addr)
    environ["wsgi.errors"].write("logged from python\n")
    environ["wsgi.errors"].flush()
    start_response("200 OK", [("Content-Type", "application/json")])
    # ensure_ascii: the native strings' characters survive as \u00XX.
    return [json.dumps(keys).encode()]

def echo(environ, start_response):
    inp = environ["wsgi.input"]
    first = inp.readline()
    second = inp.read(3)
    rest = b"".join(inp)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%r|%r|%r" % (first, second, rest)]

def readlines(environ, start_response):
    lines = environ["wsgi.input"].readlines()
    start_response("200 OK", [])
    return [str(len(lines)).encode(), b":", b"".join(lines)]

class Closing:
    def __init__(self, items, name):
        self.items, self.name = items, name
    def __iter__(self):
        for item in self.items:
            if item is None:
                raise RuntimeError("failed mid-body")
            yield item
    def close(self):
        closed.append(self.name)

def closing(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Closing([b"a", b"b"], environ["PATH_INFO"])

def failing_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Closing([None], "failing" + environ["PATH_INFO"])

def endless(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    def gen():
        try:
            while True:
                yield b"x" * 65536
        finally:
            closed.append("endless")
    return gen()

def boom(environ, start_response):
    raise ValueError("the app broke")

def exc_info(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise KeyError("late")
    except KeyError:
        import sys
        start_response("503 Busy", [("Content-Type", "text/plain"), ("Retry-After", "1")], sys.exc_info())
    return [b"try later"]

def bad_header(environ, start_response):
    try:
        start_response("200 OK", [("X-Evil", "a\r\nSet-Cookie: x=1")])
    except ValueError as e:
        start_response("200 OK", [("X-Refused", "yes")], (type(e), e, None))
        return [str(e).encode()]
    return [b"accepted"]

def writer(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    return [b"returned"]

def sleepy(environ, start_response):
    time.sleep(float(environ["QUERY_STRING"] or "0.5"))
    start_response("200 OK", [])
    return [b"slept"]

def file_wrapper(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](io.BytesIO(b"0123456789" * 1000), 4096)

async def later(value, delay=0.01):
    await asyncio.sleep(delay)
    return value

def simple_async(environ, start_response):
    # pulsar's simple_async: bytes, a future resolving to bytes, bytes.
    start_response("200 OK", [("Content-Type", "text/plain")])
    loop = asyncio.get_event_loop()
    future = loop.create_future()
    loop.call_later(0.01, future.set_result, b" ")
    return [b"hello", future, b"World!"]

def coroutine_items(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello", later(b" "), b"World!"]

async def async_handler(environ, start_response):
    await asyncio.sleep(0.01)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"awaited ", later(b"twice")]

def async_generator_body(environ, start_response):
    async def body():
        for i in range(3):
            await asyncio.sleep(0.005)
            yield b"%d" % i
    start_response("200 OK", [("Content-Type", "text/plain")])
    return body()

def read_all(environ, start_response):
    # Every way of reading, twice: a request without a body reads nothing
    # each time, whatever was read from the one before it.
    inp = environ["wsgi.input"]
    got = [inp.read(), inp.read(5), inp.readline(), inp.readlines(), list(inp), inp.read()]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [repr(got).encode()]

async def async_read_all(environ, start_response):
    inp = environ["wsgi.input"]
    got = [await inp.read(), await inp.readline(), await inp.readlines()]
    got.append([line async for line in inp])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [repr(got).encode()]

validated_hello = wsgiref.validate.validator(hello)
validated_echo = wsgiref.validate.validator(echo)
validated_closing = wsgiref.validate.validator(closing)
validated_writer = wsgiref.validate.validator(writer)
validated_file_wrapper = wsgiref.validate.validator(file_wrapper)
"#;

static MODULES: AtomicUsize = AtomicUsize::new(0);

/// A fresh copy of `APPS` (its own `closed` list) and `name` from it.
fn app(name: &str, asyncio: Option<bool>) -> (PythonApp, Py<PyModule>) {
    Python::attach(|py| {
        let module_name = format!("apps_{}", MODULES.fetch_add(1, Ordering::SeqCst));
        let code = CString::new(APPS).expect("no NUL in the apps");
        let module_cname = CString::new(module_name.clone()).expect("no NUL");
        let module =
            PyModule::from_code(py, &code, c"apps.py", &module_cname).expect("apps compile");
        let callable = module.getattr(name).expect("the app exists").unbind();
        let options = Options {
            asyncio,
            ..Options::default()
        };
        let app = PythonApp::new(py, callable, options).expect("the app loads");
        (app, module.unbind())
    })
}

fn serve(name: &str) -> (ServerHandle, Py<PyModule>) {
    serve_mode(name, None, false)
}

fn serve_mode(name: &str, asyncio: Option<bool>, debug: bool) -> (ServerHandle, Py<PyModule>) {
    let (app, module) = app(name, asyncio);
    let mut config = test_config();
    config.debug = debug;
    (serve_with(app, config), module)
}

fn closed(module: &Py<PyModule>) -> Vec<String> {
    Python::attach(|py| {
        module
            .bind(py)
            .getattr("closed")
            .unwrap()
            .extract()
            .unwrap()
    })
}

async fn wait_closed(module: &Py<PyModule>, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !closed(module).iter().any(|c| c == name) {
        assert!(
            Instant::now() < deadline,
            "close() of {name} never ran: {:?}",
            closed(module)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hello_world_with_content_length() {
    let (server, _m) = serve("hello");
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "Hello, World!");
    assert_eq!(response.header("content-length"), Some("13"));
}

#[tokio::test(flavor = "multi_thread")]
async fn environ_holds_native_strings_and_pulsar_objects() {
    let (server, _m) = serve("environ_json");
    let raw = wsgi_tests::raw_exchange(
        server.local_addr(),
        b"GET /caf%C3%A9/x?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nX-Tag: a\r\nX-Tag: b\r\nX-Latin: \xe9\r\nConnection: close\r\n\r\n",
    )
    .await;
    let response = wsgi_tests::parse_response(&raw, false).unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let json: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    // PEP 3333: the decoded bytes of the path, one character per byte.
    assert_eq!(json["PATH_INFO"], "/caf\u{c3}\u{a9}/x");
    assert_eq!(json["QUERY_STRING"], "q=1");
    assert_eq!(json["SERVER_NAME"], "example.com");
    assert_eq!(json["SERVER_PORT"], "8080");
    assert_eq!(json["HTTP_X_TAG"], "a,b");
    assert_eq!(json["HTTP_X_LATIN"], "\u{e9}");
    assert_eq!(json["REQUEST_METHOD"], "GET");
    assert_eq!(json["SCRIPT_NAME"], "");
    assert_eq!(json["wsgi.url_scheme"], "http");
    assert_eq!(json["wsgi.version"], serde_json::json!([1, 0]));
    assert_eq!(json["cfg.debug"], false);
    assert_eq!(json["cfg.bind"], serde_json::json!(["127.0.0.1:0"]));
    assert!(json["conn.id"].as_u64().is_some());
    assert_eq!(json["conn.peer"][0], "127.0.0.1");
    assert_eq!(json["REMOTE_ADDR"], "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread")]
async fn input_reads_lines_sizes_and_iterates_over_a_chunked_body() {
    let (server, _m) = serve_mode("echo", None, true);
    let mut stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nline\r\n")
        .await
        .unwrap();
    // The app is already blocked in readline(); the rest arrives later.
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream
        .write_all(b"6\r\n one\nt\r\n8\r\nwo\nthree\r\n0\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let response = wsgi_tests::parse_response(&raw, false).unwrap();
    assert_eq!(response.text(), r#"b'line one\n'|b'two'|b'\nthree'"#);
}

#[tokio::test(flavor = "multi_thread")]
async fn readlines_returns_every_line() {
    let (server, _m) = serve("readlines");
    let body = "a\nb\nc";
    let response = raw_request(
        server.local_addr(),
        &format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert_eq!(response.text(), "3:a\nb\nc");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_waiting_on_the_socket_does_not_hold_the_gil() {
    let (server, _m) = serve("echo");
    let addr = server.local_addr();
    // A body that never comes: the app blocks in readline().
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let response = raw_request(
        addr,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\nok\nx",
    )
    .await;
    assert_eq!(response.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a second request waited on the first's read"
    );
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread")]
async fn close_is_called_after_the_body_is_sent() {
    let (server, m) = serve("closing");
    let response = get(server.local_addr(), "/sent").await;
    assert_eq!(response.text(), "ab");
    wait_closed(&m, "/sent").await;
    // HEAD: the body is not sent, close() still runs.
    let head = raw_request(
        server.local_addr(),
        "HEAD /head HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(head.status, 200);
    wait_closed(&m, "/head").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn close_is_called_when_the_client_goes_away_mid_body() {
    let (server, m) = serve("endless");
    let mut stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 65536];
    let _ = stream.read(&mut buf).await.unwrap();
    drop(stream);
    wait_closed(&m, "endless").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_failing_before_its_first_item_is_a_500_and_is_closed() {
    let (server, m) = serve("failing_body");
    let response = get(server.local_addr(), "/x").await;
    assert_eq!(response.status, 500);
    wait_closed(&m, "failing/x").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exceptions_are_500s_with_the_traceback_only_in_debug() {
    let (server, _m) = serve("boom");
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 500);
    assert_eq!(response.text(), "Internal Server Error\n");
    let (debug, _m) = serve_mode("boom", None, true);
    let response = get(debug.local_addr(), "/").await;
    assert_eq!(response.status, 500);
    let text = response.text();
    assert!(text.contains("Traceback (most recent call last)"), "{text}");
    assert!(text.contains("ValueError: the app broke"), "{text}");
    assert!(text.contains("in boom"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn exc_info_replaces_the_head_before_it_is_sent() {
    let (server, _m) = serve("exc_info");
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 503);
    assert_eq!(response.header("retry-after"), Some("1"));
    assert_eq!(response.text(), "try later");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_headers_are_refused_to_the_app() {
    let (server, _m) = serve("bad_header");
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-refused"), Some("yes"));
    assert!(response.header("set-cookie").is_none());
    assert!(
        response.text().contains("line break"),
        "{}",
        response.text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn write_goes_out_before_the_returned_body() {
    let (server, _m) = serve("writer");
    assert_eq!(
        get(server.local_addr(), "/").await.text(),
        "written returned"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn blocking_apps_run_concurrently_on_the_pool() {
    let (server, _m) = serve("sleepy");
    let addr = server.local_addr();
    let started = Instant::now();
    let requests: Vec<_> = (0..4)
        .map(|_| tokio::spawn(async move { get(addr, "/?0.5").await.status }))
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap(), 200);
    }
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn file_wrapper_streams_the_file() {
    let (server, _m) = serve("file_wrapper");
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.body, b"0123456789".repeat(1000));
}

#[tokio::test(flavor = "multi_thread")]
async fn pulsar_simple_async_serves_hello_world() {
    let (server, _m) = serve_mode("simple_async", Some(true), false);
    assert_eq!(get(server.local_addr(), "/").await.text(), "hello World!");
}

#[tokio::test(flavor = "multi_thread")]
async fn coroutines_among_items_are_awaited_in_threads_mode() {
    let (server, _m) = serve("coroutine_items");
    assert_eq!(get(server.local_addr(), "/").await.text(), "hello World!");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_coroutine_function_app_runs_on_the_event_loop() {
    let (app, _m) = app("async_handler", None);
    assert_eq!(app.mode(), wsgi_python::Mode::Asyncio);
    let server = serve_with(app, test_config());
    assert_eq!(get(server.local_addr(), "/").await.text(), "awaited twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn async_generator_bodies_stream() {
    for asyncio in [Some(false), Some(true)] {
        let (server, _m) = serve_mode("async_generator_body", asyncio, false);
        assert_eq!(get(server.local_addr(), "/").await.text(), "012");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wsgiref_validate_finds_nothing_wrong() {
    for name in [
        "validated_hello",
        "validated_closing",
        "validated_writer",
        "validated_file_wrapper",
    ] {
        let (server, _m) = serve_mode(name, None, true);
        let response = get(server.local_addr(), "/v").await;
        assert_eq!(response.status, 200, "{name}: {}", response.text());
    }
    let (server, _m) = serve_mode("validated_echo", None, true);
    let response = raw_request(
        server.local_addr(),
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nConnection: close\r\n\r\nab\ncdefg",
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_limit_escaping_the_app_is_a_413() {
    let (app, _m) = app("echo", None);
    let mut config = test_config();
    config.max_request_body = 4;
    let server = serve_with(app, config);
    let response = raw_request(
        server.local_addr(),
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n8\r\n12345678\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 413, "{}", response.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_without_a_body_read_nothing_between_requests_with_one() {
    // Synchronous reads (threads mode, inline or on the pool) and
    // awaitable ones (asyncio mode): requests without a body share one
    // ended `wsgi.input`, which must stay ended whatever a request with a
    // body read before it.
    for (name, asyncio, empty, full) in [
        (
            "read_all",
            Some(false),
            "[b'', b'', b'', [], [], b'']",
            "[b'ab\\ncd', b'', b'', [], [], b'']",
        ),
        (
            "async_read_all",
            Some(true),
            "[b'', b'', [], []]",
            "[b'ab\\ncd', b'', [], []]",
        ),
    ] {
        let (server, _m) = serve_mode(name, asyncio, true);
        let addr = server.local_addr();
        for _ in 0..3 {
            assert_eq!(get(addr, "/").await.text(), empty, "{name}");
            let response = raw_request(
                addr,
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nab\ncd",
            )
            .await;
            assert_eq!(response.text(), full, "{name}");
        }
    }
}
