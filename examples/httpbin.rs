//! httpbin: an HTTP request and response service, the way pulsar ships it.
//!
//! It shows routing (`Router` with typed rules), forms (`Form`,
//! `Multipart`), static files (`StaticFiles`), the shipped middleware
//! (`CleanPath`, `Authorization`, `WaitForBody` where a body is echoed,
//! `GZip` on responses) and `LazyWsgi` building it all once per worker.
//!
//! ```text
//! cargo run --example httpbin -- --bind 127.0.0.1:8060 --workers 2
//! curl -i 'http://127.0.0.1:8060/get?a=1&a=2'
//! curl -i -d 'x=1' http://127.0.0.1:8060/post
//! curl -i -F 'file=@README.md' http://127.0.0.1:8060/upload
//! curl -i http://127.0.0.1:8060/stream/5/10
//! curl -i 'http://127.0.0.1:8060/drip?numbytes=5&duration=2'
//! curl -i -u ada:secret http://127.0.0.1:8060/basic-auth/ada/secret
//! curl -i http://127.0.0.1:8060/media/hello.txt
//! ```
//!
//! `/post`, `/put` and `/patch` read the body whole first (bounded by
//! `--max-request-body`), `/upload` streams it part by part.
//!
//! Differences from httpbin.org, on purpose: `files` lists each uploaded
//! file's name, content type and size (and `/upload` each part's CRC-32)
//! rather than echoing its bytes (files are streamed, never held in
//! memory); `/delete` does not read a body (no
//! form helper reads one for DELETE); `/status` refuses `1xx` codes, which
//! cannot be a final answer; `/delay` is capped at 10 seconds,
//! `/stream` and `/getsize` at 10 MiB, `/drip` at 10 KiB over at most
//! 10 seconds.
//!
//! The tests serve the same handler in-process: they include this file
//! and call [`app`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::StatusCode;
use serde_json::{json, Map, Value};
use wsgi_core::cookie::Cookie;
use wsgi_core::form::{Form, FormLimits, Multipart};
use wsgi_core::lazy::LazyWsgi;
use wsgi_core::middleware::{Auth, Authorization, CleanPath, GZip, HealthCheck, WaitForBody};
use wsgi_core::router::{RouteParams, Router};
use wsgi_core::server::Server;
use wsgi_core::static_files::StaticFiles;
use wsgi_core::{
    wsgi_handler, Body, Chunk, Config, Environ, Error, HttpError, WsgiHandler, WsgiResponse,
};

/// The most bytes `/stream` and `/getsize` produce.
const MAX_GENERATED: u64 = 10 * 1024 * 1024;

/// The most bytes `/drip` sends, one chunk each.
const MAX_DRIP: u64 = 10 * 1024;

/// The httpbin application, built on each worker's first request, serving
/// `media_dir` under `/media`.
pub fn app(media_dir: PathBuf) -> LazyWsgi<WsgiHandler> {
    LazyWsgi::new(move |_environ: &Environ| Ok::<_, Error>(handler(media_dir.clone())))
}

/// The handler [`app`] builds.
pub fn handler(media_dir: PathBuf) -> WsgiHandler {
    // Routes that echo the body read it whole first: `WaitForBody` only
    // where a body is wanted, so `/upload` still streams.
    let with_body = || {
        WsgiHandler::default()
            .middleware(WaitForBody)
            .middleware(Echo)
    };
    let router = Router::new()
        .get("/", Index)
        .get("/get", Echo)
        .post("/post", with_body())
        .put("/put", with_body())
        .patch("/patch", with_body())
        .delete("/delete", Echo)
        .any("/status/<int:code>", StatusAnswer)
        .get("/redirect/<int:n>", Redirect)
        .get("/getsize/<int:n>", GetSize)
        .get("/stream/<int:m>/<int:n>", Stream)
        .get("/delay/<s>", Delay)
        .get("/drip", Drip)
        .get("/gzip", Gzipped)
        .get("/cookies", Cookies)
        .get("/cookies/set/<name>/<value>", SetCookie)
        .get("/cookies/delete/<name>", DeleteCookie)
        .get("/basic-auth/<user>/<passwd>", BasicAuth)
        .get("/response-headers", ResponseHeaders)
        .get("/headers", Headers)
        .get("/ip", Ip)
        .get("/user-agent", UserAgent)
        .get("/environ", EnvironVars)
        .post("/upload", Upload);
    WsgiHandler::default()
        // Probes first: `/healthz` (alive) and `/readyz` (503 once the
        // server drains), for load balancers and DEPLOYING.md's restarts.
        .middleware(HealthCheck::new())
        .middleware(CleanPath)
        .middleware(Authorization)
        .middleware(StaticFiles::new("/media", media_dir))
        .middleware(router)
        .response_middleware(GZip::new(200))
}

fn main() -> ExitCode {
    let media = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("media");
    match Server::new(app(media)).config(Config::from_args()).run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

// ------------------------------------------------------------ helpers

/// A route parameter, parsed (the router put them in the environ).
fn param<T: FromStr>(environ: &Environ, name: &str) -> Result<T, HttpError> {
    environ
        .extensions()
        .get::<RouteParams>()
        .ok_or_else(HttpError::not_found)?
        .get_as(name)
}

fn json_response(value: Value) -> WsgiResponse {
    let mut text = value.to_string();
    text.push('\n');
    WsgiResponse::json(text)
}

/// `Content-Type` → `Content-Type`: httpbin shows header names in title
/// case.
fn title_case(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn headers_json(environ: &Environ) -> Value {
    let mut out = Map::new();
    for name in environ.headers().keys() {
        let values: Vec<String> = environ
            .headers()
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        out.insert(title_case(name.as_str()), Value::from(values.join(",")));
    }
    Value::Object(out)
}

/// A key seen once maps to its value, a repeated key to the list.
fn multi_map(pairs: &[(String, String)]) -> Value {
    let mut out = Map::new();
    for (key, value) in pairs {
        match out.get_mut(key) {
            None => {
                out.insert(key.clone(), Value::from(value.clone()));
            }
            Some(Value::Array(values)) => values.push(Value::from(value.clone())),
            Some(single) => {
                let first = single.take();
                *single = Value::Array(vec![first, Value::from(value.clone())]);
            }
        }
    }
    Value::Object(out)
}

fn origin(environ: &Environ) -> Value {
    environ
        .remote_addr()
        .map_or(Value::Null, |ip| Value::from(ip.to_string()))
}

fn url(environ: &Environ) -> String {
    format!(
        "{}://{}:{}{}",
        environ.url_scheme(),
        environ.server_name(),
        environ.server_port(),
        environ.raw_uri()
    )
}

/// What every echo shows: args, headers, origin, url.
fn info(environ: &Environ, form: &Form) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("args".into(), multi_map(form.args()));
    out.insert("headers".into(), headers_json(environ));
    out.insert("origin".into(), origin(environ));
    out.insert("url".into(), Value::from(url(environ)));
    out
}

// ------------------------------------------------------------ endpoints

/// `/`: the index.
#[wsgi_handler]
fn index(_environ: &Environ) -> WsgiResponse {
    let links = [
        "/get",
        "/headers",
        "/ip",
        "/user-agent",
        "/environ",
        "/status/418",
        "/redirect/3",
        "/getsize/100",
        "/stream/5/10",
        "/delay/1",
        "/drip?numbytes=5&duration=2&delay=1",
        "/gzip",
        "/cookies",
        "/cookies/set/name/value",
        "/cookies/delete/name",
        "/basic-auth/user/passwd",
        "/response-headers?X-Answer=42",
        "/media/hello.txt",
        "/media/logo.svg",
    ];
    let items: String = links
        .iter()
        .map(|l| format!("<li><a href=\"{l}\">{l}</a></li>\n"))
        .collect();
    WsgiResponse::html(format!(
        "<!DOCTYPE html>\n<html><head><title>httpbin</title></head><body>\n<h1>httpbin</h1>\n<p>HTTP request and response service on wsgi-rs. POST, PUT and PATCH /post, /put, /patch; POST multipart to /upload.</p>\n<ul>\n{items}</ul>\n</body></html>\n"
    ))
}

/// `/get`, `/post`, `/put`, `/patch`, `/delete`: the request as JSON.
#[wsgi_handler]
async fn echo(environ: &mut Environ) -> Result<WsgiResponse, Error> {
    let form = Form::parse(environ).await?;
    let mut out = info(environ, &form);
    out.insert("method".into(), Value::from(environ.method().as_str()));
    out.insert("form".into(), multi_map(form.fields()));
    let mut files = Map::new();
    for file in form.files() {
        files.insert(
            file.name.clone(),
            json!({"filename": file.file_name, "content_type": file.content_type, "size": file.size}),
        );
    }
    out.insert("files".into(), Value::Object(files));
    out.insert("json".into(), form.json().cloned().unwrap_or(Value::Null));
    Ok(json_response(Value::Object(out)))
}

/// `/status/<int:code>`: answers with that status.
#[wsgi_handler]
fn status_answer(environ: &Environ) -> Result<WsgiResponse, Error> {
    let code: u16 = param(environ, "code")?;
    let status = StatusCode::from_u16(code)
        .ok()
        .filter(|s| !s.is_informational())
        .ok_or_else(|| {
            HttpError::bad_request(format!(
                "{code} cannot be a final status; ask for one from 200 to 999"
            ))
        })?;
    let mut response = WsgiResponse::new(status);
    if status.is_redirection() {
        response.headers_mut().insert(
            http::header::LOCATION,
            HeaderValue::from_static("/redirect/1"),
        );
    }
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Fake Realm\""),
        );
    }
    Ok(response)
}

/// `/redirect/<int:n>`: redirects `n` times, then to `/get`.
#[wsgi_handler]
fn redirect(environ: &Environ) -> Result<WsgiResponse, Error> {
    let n: u32 = param(environ, "n")?;
    let location = match n {
        0 => return Err(HttpError::bad_request("redirect at least once: /redirect/1").into()),
        1 => "/get".to_owned(),
        n => format!("/redirect/{}", n - 1),
    };
    let mut response = WsgiResponse::new(StatusCode::FOUND);
    response
        .headers_mut()
        .insert(http::header::LOCATION, HeaderValue::from_str(&location)?);
    Ok(response)
}

fn generated_size(n: u64) -> Result<u64, HttpError> {
    if n > MAX_GENERATED {
        return Err(HttpError::bad_request(format!(
            "{n} bytes is more than the {MAX_GENERATED}-byte maximum; ask for less"
        )));
    }
    Ok(n)
}

/// `/getsize/<int:n>`: a JSON document carrying `n` bytes of data.
#[wsgi_handler]
async fn get_size(environ: &mut Environ) -> Result<WsgiResponse, Error> {
    let n = generated_size(param(environ, "n")?)?;
    let form = Form::parse(environ).await?;
    let mut out = info(environ, &form);
    out.insert("size".into(), Value::from(n));
    out.insert("data".into(), Value::from("d".repeat(n as usize)));
    Ok(json_response(Value::Object(out)))
}

/// `/stream/<int:m>/<int:n>`: `m` chunks of `n` bytes, each one a future.
#[wsgi_handler]
fn stream(environ: &Environ) -> Result<WsgiResponse, Error> {
    let m: u64 = param(environ, "m")?;
    let n: u64 = param(environ, "n")?;
    generated_size(m.saturating_mul(n))?;
    let chunks = (0..m).map(move |i| {
        Chunk::future(async move {
            // Each chunk is produced later, on its own turn of the loop.
            tokio::task::yield_now().await;
            let byte = b'a' + (i % 26) as u8;
            Ok::<_, Error>(Bytes::from(vec![byte; n as usize]))
        })
    });
    let mut response = WsgiResponse::stream(Body::from_chunks(chunks));
    response.set_content_type("application/octet-stream");
    Ok(response)
}

/// `/delay/<s>`: answers after `s` seconds (at most 10). `s` is any
/// number, `3` as well as `0.5`: httpbin's users write whole seconds, which
/// the router's `float` converter (digits, a dot, digits) would not match.
#[wsgi_handler]
async fn delay(environ: &mut Environ) -> Result<WsgiResponse, Error> {
    let seconds: f64 = param::<f64>(environ, "s")
        .ok()
        .filter(|s| s.is_finite())
        .ok_or_else(HttpError::not_found)?;
    let seconds = seconds.clamp(0.0, 10.0);
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let form = Form::parse(environ).await?;
    let mut out = info(environ, &form);
    out.insert("delay".into(), Value::from(seconds));
    Ok(json_response(Value::Object(out)))
}

/// A number of seconds from the query, 0 to 10, or a 400 naming `key`.
fn query_seconds(form: &Form, key: &str) -> Result<Duration, HttpError> {
    let Some(text) = form.arg(key) else {
        return Ok(Duration::ZERO);
    };
    text.parse::<f64>()
        .ok()
        .filter(|s| (0.0..=10.0).contains(s))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| HttpError::bad_request(format!("`{key}` is seconds from 0 to 10")))
}

/// `/drip?numbytes=N&duration=S&delay=S`: waits `delay` seconds, then
/// sends `numbytes` bytes of `*` one at a time, spread evenly over
/// `duration` seconds (defaults 10 bytes, 2 s, no delay). Each byte is its
/// own chunk, and `X-Accel-Buffering: no` asks a proxy in front (nginx) to
/// pass each one on at once rather than buffer the response.
#[wsgi_handler]
async fn drip(environ: &mut Environ) -> Result<WsgiResponse, Error> {
    let form = Form::parse(environ).await?;
    let numbytes: u64 = match form.arg("numbytes") {
        None => 10,
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| *n <= MAX_DRIP)
            .ok_or_else(|| {
                HttpError::bad_request(format!("`numbytes` is a count from 0 to {MAX_DRIP}"))
            })?,
    };
    let duration = match form.arg("duration") {
        None => Duration::from_secs(2),
        Some(_) => query_seconds(&form, "duration")?,
    };
    let delay = query_seconds(&form, "delay")?;
    let interval = duration.checked_div(numbytes as u32).unwrap_or_default();
    let start = tokio::time::Instant::now() + delay;
    let chunks = (0..numbytes).map(move |i| {
        Chunk::future(async move {
            tokio::time::sleep_until(start + interval * i as u32).await;
            Ok::<_, Error>(Bytes::from_static(b"*"))
        })
    });
    let mut response = WsgiResponse::stream(Body::from_chunks(chunks));
    response.set_content_type("application/octet-stream");
    response.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(response)
}

/// `/gzip`: a JSON document, gzipped by the `GZip` response middleware for
/// clients that accept it.
#[wsgi_handler]
async fn gzipped(environ: &mut Environ) -> Result<WsgiResponse, Error> {
    let form = Form::parse(environ).await?;
    let mut out = info(environ, &form);
    out.insert("gzipped".into(), Value::from(true));
    out.insert("method".into(), Value::from(environ.method().as_str()));
    // Padding so the document is always worth compressing.
    out.insert("padding".into(), Value::from(" ".repeat(256)));
    Ok(json_response(Value::Object(out)))
}

fn request_cookies(environ: &Environ) -> Map<String, Value> {
    let mut out = Map::new();
    for header in environ.headers().get_all(http::header::COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for cookie in Cookie::split_parse(text).flatten() {
            out.insert(cookie.name().to_owned(), Value::from(cookie.value()));
        }
    }
    out
}

/// `/cookies`: the cookies the client sent.
#[wsgi_handler]
fn cookies(environ: &Environ) -> WsgiResponse {
    json_response(json!({ "cookies": request_cookies(environ) }))
}

fn to_cookies() -> WsgiResponse {
    let mut response = WsgiResponse::new(StatusCode::FOUND);
    response
        .headers_mut()
        .insert(http::header::LOCATION, HeaderValue::from_static("/cookies"));
    response
}

/// `/cookies/set/<name>/<value>`: sets a cookie, then redirects to
/// `/cookies`.
#[wsgi_handler]
fn set_cookie(environ: &Environ) -> Result<WsgiResponse, Error> {
    let name: String = param(environ, "name")?;
    let value: String = param(environ, "value")?;
    let mut response = to_cookies();
    response.set_cookie(Cookie::build((name, value)).path("/").build());
    Ok(response)
}

/// `/cookies/delete/<name>`: deletes a cookie, then redirects to
/// `/cookies`.
#[wsgi_handler]
fn delete_cookie(environ: &Environ) -> Result<WsgiResponse, Error> {
    let name: String = param(environ, "name")?;
    let mut response = to_cookies();
    response.delete_cookie(name, Some("/"), None);
    Ok(response)
}

/// `/basic-auth/<user>/<passwd>`: 200 for those Basic credentials, else
/// 401 with a challenge.
#[wsgi_handler]
fn basic_auth(environ: &Environ) -> Result<WsgiResponse, Error> {
    let user: String = param(environ, "user")?;
    let passwd: String = param(environ, "passwd")?;
    let matches = matches!(
        environ.extensions().get::<Auth>(),
        Some(Auth::Basic { username, password }) if *username == user && *password == passwd
    );
    if !matches {
        return Err(HttpError::new(StatusCode::UNAUTHORIZED)
            .with_message("send the credentials of this URL with Basic authentication")
            .with_header(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Fake Realm\""),
            )
            .into());
    }
    Ok(json_response(json!({"authenticated": true, "user": user})))
}

/// Headers `/response-headers` refuses to set: the server owns framing.
fn is_framing(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
            | "content-length"
    ) || name.as_str().starts_with("proxy-")
}

/// `/response-headers?k=v`: answers with the query's pairs as headers.
#[wsgi_handler]
async fn response_headers(environ: &mut Environ) -> Result<WsgiResponse, Error> {
    let form = Form::parse_with(environ, FormLimits::default()).await?;
    let mut response = json_response(multi_map(form.args()));
    for (key, value) in form.args() {
        let name = HeaderName::from_bytes(key.as_bytes())
            .ok()
            .filter(|n| !is_framing(n))
            .ok_or_else(|| {
                HttpError::bad_request(format!(
                    "`{key}` cannot be a response header name here; use a token such as X-Custom"
                ))
            })?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            HttpError::bad_request(format!(
                "the value for `{key}` contains characters a header cannot carry"
            ))
        })?;
        response.headers_mut().append(name, value);
    }
    Ok(response)
}

/// `/headers`: the request headers.
#[wsgi_handler]
fn headers(environ: &Environ) -> WsgiResponse {
    json_response(json!({ "headers": headers_json(environ) }))
}

/// `/ip`: the client's address.
#[wsgi_handler]
fn ip(environ: &Environ) -> WsgiResponse {
    json_response(json!({ "origin": origin(environ) }))
}

/// `/user-agent`: the client's `User-Agent`.
#[wsgi_handler]
fn user_agent(environ: &Environ) -> WsgiResponse {
    let agent = environ
        .header(http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    json_response(json!({ "user-agent": agent }))
}

/// `/environ`: every string-valued WSGI variable.
#[wsgi_handler]
fn environ_vars(environ: &Environ) -> WsgiResponse {
    let vars: Map<String, Value> = environ
        .vars()
        .into_iter()
        .map(|(k, v)| (k.into_owned(), Value::from(v.into_owned())))
        .collect();
    json_response(Value::Object(vars))
}

/// `/upload`: streams a multipart body part by part; answers with each
/// part's name, file name, content type, size and CRC-32 (hex), so a
/// client can check what arrived without the server keeping it.
#[wsgi_handler]
async fn upload(environ: &mut Environ) -> Result<WsgiResponse, Error> {
    let mut multipart = Multipart::from_environ(environ, FormLimits::default())?;
    let mut parts = Vec::new();
    while let Some(mut field) = multipart.next_field().await? {
        let name = field.name().map(str::to_owned);
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let mut size = 0u64;
        let mut crc = crc32fast::Hasher::new();
        while let Some(chunk) = field.chunk().await? {
            size += chunk.len() as u64;
            crc.update(&chunk);
        }
        parts.push(json!({
            "name": name, "filename": file_name, "content_type": content_type, "size": size,
            "crc32": format!("{:08x}", crc.finalize()),
        }));
    }
    Ok(json_response(json!({ "parts": parts })))
}
