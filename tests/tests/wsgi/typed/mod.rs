//! Typed handlers over a real socket: every extractor's success and
//! rejection (status, message, and the error page's format by `Accept`),
//! every kind of return value, typed handlers inside a `WsgiHandler`
//! (error renderer, response middleware, passing on `None`), `blocking`,
//! the start-up check of `State`, and `HEAD` on a typed `GET` route.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use wsgi_core::cookie::Cookie;
use wsgi_core::extract::Json;
use wsgi_core::extract::{Cookies, Extension, Form, Path, Query, Rejection, State, TypedHeader};
use wsgi_core::headers::{CacheControl, IfModifiedSince, UserAgent};
use wsgi_core::middleware::{middleware_fn, response_middleware_fn};
use wsgi_core::router::RouteParams;
use wsgi_core::router::Router;
use wsgi_core::server::{Server, ServerError};
use wsgi_core::IntoResponse;
use wsgi_core::{
    wsgi_handler, Body, Config, Connection, Environ, Error, Html, HttpError, Redirect,
    StartResponse, WsgiHandler, WsgiResponse,
};
use wsgi_tests::{
    get, parse_response, raw_exchange, serve, serve_with, test_config, RawResponse, IO_TIMEOUT,
};

// ---------------------------------------------------------------------------
// Requests

/// Sends `method path` with `headers` and `body` (with its
/// `Content-Length`) on a new connection and parses the response.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    let raw = raw_exchange(addr, &bytes).await;
    parse_response(&raw, method == "HEAD").unwrap_or_else(|| {
        panic!(
            "no parsable response to {method} {path}; got {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// A `GET` with one `Accept`.
async fn get_accepting(addr: SocketAddr, path: &str, accept: &str) -> RawResponse {
    send(addr, "GET", path, &[("Accept", accept)], b"").await
}

/// A `POST` of `body` as `content_type`.
async fn post(addr: SocketAddr, path: &str, content_type: &str, body: &[u8]) -> RawResponse {
    send(addr, "POST", path, &[("Content-Type", content_type)], body).await
}

/// The `{"status", "message"}` of a JSON error page.
fn json_error(response: &RawResponse) -> (u64, String) {
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "a JSON error page: {}",
        response.text()
    );
    let value: serde_json::Value = serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("{e}: {}", response.text()));
    (
        value["status"].as_u64().expect("a status"),
        value["message"].as_str().expect("a message").to_owned(),
    )
}

/// Asserts a rejection: its status, that the message (as text) contains
/// each of `words`, and the same as a JSON error page.
async fn assert_rejected(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    status: u16,
    words: &[&str],
) {
    let text = send(addr, method, path, headers, body).await;
    assert_eq!(text.status, status, "{method} {path}: {}", text.text());
    assert!(
        text.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{:?}",
        text.headers
    );
    for word in words {
        assert!(
            text.text().contains(word),
            "{method} {path}: {word:?} not in {:?}",
            text.text()
        );
    }
    let mut with_accept = headers.to_vec();
    with_accept.push(("Accept", "application/json"));
    let json = send(addr, method, path, &with_accept, body).await;
    assert_eq!(json.status, status);
    let (json_status, message) = json_error(&json);
    assert_eq!(json_status, u64::from(status));
    assert_eq!(format!("{message}\n"), text.text(), "the same message");
}

/// The `Set-Cookie` values of a response, in order.
fn set_cookies(response: &RawResponse) -> Vec<&str> {
    response
        .headers
        .iter()
        .filter(|(name, _)| name == "set-cookie")
        .map(|(_, value)| value.as_str())
        .collect()
}

// ---------------------------------------------------------------------------
// Types more than one group of tests uses

#[derive(Deserialize)]
struct SearchParams {
    q: String,
    page: Option<u32>,
}

#[derive(Clone)]
struct Greeting(&'static str);

#[wsgi_handler]
fn greet(State(greeting): State<Greeting>, State(hits): State<Hits>) -> String {
    let n = hits.0.fetch_add(1, Ordering::SeqCst) + 1;
    format!("{} #{n}", greeting.0)
}

#[derive(Clone, Default)]
struct Hits(Arc<AtomicU64>);

mod among_middleware;
mod context;
mod extractors;
mod returns;
