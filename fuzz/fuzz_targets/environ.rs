//! `Environ` from arbitrary request heads.
//!
//! The first byte picks the route into an environ:
//! - even: the rest is raw bytes on an HTTP/1 connection, parsed by hyper
//!   with the server's settings and handed to `WsgiService` with a
//!   `Connection`, as the server does (so only requests hyper and the
//!   service's own checks accept reach the application);
//! - odd: a structured request (method, target, header list) as an HTTP/2
//!   request would arrive through h2, which accepts repeated equal
//!   `Content-Length` headers, built with `Environ::new`.
//!
//! Either way the application checks the environ's invariants:
//! - every variable listed by `vars()` is unique, reads back the same
//!   through `get()`, has an ASCII name without `-`, and (but `PATH_INFO`)
//!   a value with no CR, LF or NUL whose characters are latin-1;
//! - `REQUEST_METHOD` is the method, `QUERY_STRING` the raw query,
//!   `SCRIPT_NAME` + `PATH_INFO` the percent-decoded path;
//! - `CONTENT_LENGTH`, when present, is digits only and equals
//!   `content_length()`;
//! - each `HTTP_*` holds exactly the header's values (latin-1), joined with
//!   `,` (`; ` for cookies), and no header with `_` in its name has one;
//! - `SERVER_PORT` is a number and `SERVER_NAME` holds no userinfo or path.
//!   Nothing may panic (libFuzzer aborts on any panic, caught or not).
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, COOKIE};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsgi_core::{app_fn, Config, Connection, Environ, Error, Input, StartResponse, WsgiService};
use wsgi_fuzz::{block_on, latin1};

fn config(script_name: &str) -> Config {
    let mut config = Config::default();
    config.script_name = script_name.to_owned();
    config
}

/// The invariants, as a list of violations (empty when all hold).
fn check(environ: &Environ) -> Vec<String> {
    let mut problems = Vec::new();
    let mut fail = |p: String| problems.push(p);
    let vars = environ.vars();
    for (i, (name, value)) in vars.iter().enumerate() {
        if vars[..i].iter().any(|(n, _)| n == name) {
            fail(format!("{name} listed twice"));
        }
        if environ.get(name).as_deref() != Some(&**value) {
            fail(format!(
                "{name}: vars() {value:?} != get() {:?}",
                environ.get(name)
            ));
        }
        if name.is_empty() || !name.is_ascii() || (name.starts_with("HTTP_") && name.contains('-'))
        {
            fail(format!("bad name {name:?}"));
        }
        if name.starts_with("HTTP_") && name.bytes().any(|b| b.is_ascii_lowercase()) {
            fail(format!("{name} is not upper case"));
        }
        if name != "PATH_INFO" && value.contains(['\r', '\n', '\0']) {
            fail(format!("{name} = {value:?} holds a line break or NUL"));
        }
        // The request target is UTF-8 (`http::Uri` holds a `str`): like
        // PATH_INFO, QUERY_STRING and RAW_URI carry its bytes as UTF-8,
        // the environ's documented rule. Everything else is latin-1.
        if !matches!(&**name, "PATH_INFO" | "QUERY_STRING" | "RAW_URI")
            && value.chars().any(|c| c as u32 > 0xff)
        {
            fail(format!("{name} = {value:?} is not latin-1"));
        }
    }

    if environ.get("REQUEST_METHOD").as_deref() != Some(environ.method().as_str()) {
        fail("REQUEST_METHOD differs from the method".into());
    }
    let query = environ.uri().query().unwrap_or("");
    if environ.get("QUERY_STRING").as_deref() != Some(query) {
        fail(format!(
            "QUERY_STRING {:?} != {query:?}",
            environ.get("QUERY_STRING")
        ));
    }
    if !query.is_empty() && !environ.raw_uri().ends_with(&format!("?{query}")) {
        fail(format!("RAW_URI {:?} lost the query", environ.raw_uri()));
    }
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(environ.uri().path()).collect();
    let script = environ.script_name().as_bytes();
    let mounted = !script.is_empty()
        && decoded.starts_with(script)
        && decoded.get(script.len()).is_none_or(|&b| b == b'/');
    let expected_path = if mounted {
        &decoded[script.len()..]
    } else {
        &decoded[..]
    };
    if *environ.path_info_bytes() != *expected_path {
        fail(format!(
            "PATH_INFO {:?} != {expected_path:?} (decoded path, SCRIPT_NAME {:?})",
            environ.path_info_bytes(),
            environ.script_name()
        ));
    }
    // As a string, PATH_INFO carries the same bytes: UTF-8, else latin-1.
    let path_info = environ.path_info();
    let carried = match std::str::from_utf8(expected_path) {
        Ok(text) => *path_info == *text,
        Err(_) => {
            path_info
                .chars()
                .map(char_byte)
                .collect::<Option<Vec<u8>>>()
                .as_deref()
                == Some(expected_path)
        }
    };
    if !carried {
        fail(format!(
            "PATH_INFO {path_info:?} does not carry the bytes {expected_path:?}"
        ));
    }

    if let Some(length) = environ.get("CONTENT_LENGTH") {
        // PEP 3333: "may be empty or absent"; otherwise a number.
        if !length.bytes().all(|b| b.is_ascii_digit()) {
            fail(format!("CONTENT_LENGTH {length:?} is not digits only"));
        } else if !length.is_empty() && length.parse::<u64>().ok() != environ.content_length() {
            fail(format!(
                "CONTENT_LENGTH {length:?} != content_length() {:?}",
                environ.content_length()
            ));
        }
    }

    for name in environ.headers().keys() {
        let var: String = std::iter::once("HTTP_".to_owned())
            .chain(std::iter::once(
                name.as_str().to_ascii_uppercase().replace('-', "_"),
            ))
            .collect();
        let got = environ.get(&var);
        if name.as_str().contains('_') {
            if got.is_some()
                && !environ.headers().keys().any(|other| {
                    !other.as_str().contains('_')
                        && other.as_str().to_ascii_uppercase().replace('-', "_")
                            == name.as_str().to_ascii_uppercase().replace('-', "_")
                })
            {
                fail(format!("{name} (with `_`) became {var}"));
            }
            continue;
        }
        if name == http::header::CONTENT_TYPE || name == http::header::CONTENT_LENGTH {
            if got.is_some() {
                fail(format!("{var} must not exist"));
            }
            continue;
        }
        let separator: &[u8] = if name == COOKIE { b"; " } else { b"," };
        let mut expected = Vec::new();
        for (i, value) in environ.headers().get_all(name).iter().enumerate() {
            if i > 0 {
                expected.extend_from_slice(separator);
            }
            expected.extend_from_slice(value.as_bytes());
        }
        if got.as_deref() != Some(latin1(&expected).as_str()) {
            fail(format!("{var} = {got:?}, expected {:?}", latin1(&expected)));
        }
    }

    if environ
        .get("SERVER_PORT")
        .and_then(|p| p.parse::<u16>().ok())
        .is_none()
    {
        fail(format!("SERVER_PORT {:?}", environ.get("SERVER_PORT")));
    }
    let server_name = environ.server_name();
    if server_name.contains(['@', '/', ' ']) {
        fail(format!("SERVER_NAME {server_name:?}"));
    }
    problems
}

fn char_byte(c: char) -> Option<u8> {
    u8::try_from(u32::from(c)).ok()
}

/// Raw bytes through hyper's HTTP/1 parser and `WsgiService`.
fn over_http1(script_name: &str, bytes: &[u8]) {
    let problems = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&problems);
    let app = app_fn(move |environ: &mut Environ, sr: StartResponse| {
        let found = check(environ);
        if let Ok(mut all) = seen.lock() {
            all.extend(found);
        }
        sr.start("204 No Content", [("X-Checked", "1")])?;
        Ok::<_, Error>(())
    });
    let config = config(script_name);
    let service = WsgiService::with_config(app, config.clone());
    block_on(async move {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let peer: SocketAddr = ([127, 0, 0, 1], 40000).into();
        let local: SocketAddr = ([127, 0, 0, 1], 8060).into();
        let connection =
            Connection::new(tokio::runtime::Handle::current(), Some(peer), Some(local));
        let hyper_service =
            hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(connection.clone());
                let mut service = service.clone();
                tower_service::Service::call(&mut service, request)
            });
        // The server's HTTP/1 settings (server::connection_builder).
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(None)
            .max_buf_size(config.max_header_size.max(8192))
            .max_headers(config.max_headers);
        let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(server), hyper_service);
        let exchange = async {
            let _ = client.write_all(bytes).await;
            let _ = client.shutdown().await;
            let mut response = Vec::new();
            let _ = client.read_to_end(&mut response).await;
        };
        let (_, _) = tokio::join!(conn, exchange);
    });
    let problems = problems.lock().map(|p| p.clone()).unwrap_or_default();
    assert!(problems.is_empty(), "{problems:#?}");
}

#[derive(Arbitrary, Debug)]
struct Structured {
    method: String,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
}

/// h2 (0.4) accepts a request whose `Content-Length` headers all hold the
/// same digits; anything else is a stream error before hyper sees it.
fn h2_accepts(request: &http::Request<()>) -> bool {
    let mut first = None;
    for value in request.headers().get_all(http::header::CONTENT_LENGTH) {
        let bytes = value.as_bytes();
        // h2's `parse_u64`: at most 19 digits, and empty reads as 0.
        if !bytes.iter().all(u8::is_ascii_digit) || bytes.len() > 19 {
            return false;
        }
        if first.is_some_and(|f: &[u8]| f != bytes) {
            return false;
        }
        first = Some(bytes);
    }
    true
}

/// A request as HTTP/2 would deliver it, straight into `Environ::new`.
fn as_http2(script_name: &str, input: Structured) {
    let mut builder = http::Request::builder()
        .version(http::Version::HTTP_2)
        .method(input.method.as_str())
        .uri(input.target.as_str());
    for (name, value) in &input.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) else {
            return;
        };
        builder = builder.header(name, value);
    }
    let Ok(request) = builder.body(()) else {
        return;
    };
    if !h2_accepts(&request) {
        return;
    }
    let (head, ()) = request.into_parts();
    let environ = Environ::new(
        head,
        Input::from_bytes(Bytes::new()),
        Arc::new(config(script_name)),
        None,
    );
    let problems = check(&environ);
    assert!(problems.is_empty(), "{problems:#?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let script_name = if mode & 2 == 0 { "" } else { "/app" };
    if mode & 1 == 0 {
        over_http1(script_name, rest);
    } else if let Ok(input) = Structured::arbitrary_take_rest(Unstructured::new(rest)) {
        as_http2(script_name, input);
    }
});
