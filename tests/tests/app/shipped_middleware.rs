//! The shipped middleware, each in a `WsgiHandler` served over a real
//! socket: clean_path, authorization, wait_for_body, in_executor, GZip and
//! AccessControl.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsgi_core::middleware::{
    in_executor, middleware_fn, AccessControl, AllowOrigin, Auth, Authorization, CleanPath, GZip,
    WaitForBody,
};
use wsgi_core::{Body, Chunk, Environ, Error, WsgiHandler, WsgiResponse};
use wsgi_tests::{
    get, parse_response, raw_request, serve, serve_with, test_config, RawResponse, IO_TIMEOUT,
};

/// Answers every request with its method and raw URI.
fn echo_uri(environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
    Ok(Some(WsgiResponse::text(format!(
        "{} {}",
        environ.method(),
        environ.raw_uri()
    ))))
}

/// A `GET` with extra request headers and `Connection: close`.
async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> RawResponse {
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    raw_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n"),
    )
    .await
}

/// Every value of a (possibly repeated) response header.
fn header_values<'a>(response: &'a RawResponse, name: &str) -> Vec<&'a str> {
    response
        .headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

// ---------------------------------------------------------------- clean_path

#[tokio::test]
async fn clean_path_redirects_runs_of_slashes_with_301_keeping_the_query() {
    let server = serve(
        WsgiHandler::default()
            .middleware(CleanPath)
            .middleware(middleware_fn(echo_uri)),
    );
    let response = get(server.local_addr(), "//a///b?x=1").await;
    assert_eq!(response.status, 301, "{}", response.status_line);
    assert_eq!(response.header("location"), Some("/a/b?x=1"));
    assert!(response.complete);
}

#[tokio::test]
async fn clean_path_passes_clean_paths_on() {
    let server = serve(
        WsgiHandler::default()
            .middleware(CleanPath)
            .middleware(middleware_fn(echo_uri)),
    );
    let response = get(server.local_addr(), "/a/b?x=1").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("location"), None);
    assert_eq!(response.text(), "GET /a/b?x=1");
}

// ------------------------------------------------------------- authorization

/// Answers with what `Authorization` left in the extensions.
fn echo_auth(environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
    let text = match environ.extensions().get::<Auth>() {
        None => "none".to_owned(),
        Some(Auth::Basic { username, password }) => format!("basic {username} {password}"),
        Some(Auth::Digest(d)) => format!(
            "digest username={} realm={} nonce={} uri={} response={} qop={:?} nc={:?} cnonce={:?} opaque={:?} algorithm={:?}",
            d.username, d.realm, d.nonce, d.uri, d.response, d.qop, d.nc, d.cnonce, d.opaque, d.algorithm
        ),
    };
    Ok(Some(WsgiResponse::text(text)))
}

fn auth_server() -> wsgi_core::server::ServerHandle {
    serve(
        WsgiHandler::default()
            .middleware(Authorization)
            .middleware(middleware_fn(echo_auth)),
    )
}

#[tokio::test]
async fn basic_credentials_reach_a_later_handler() {
    let server = auth_server();
    // base64("aladdin:open:sesame")
    let response = get_with(
        server.local_addr(),
        "/",
        &[("Authorization", "Basic YWxhZGRpbjpvcGVuOnNlc2FtZQ==")],
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "basic aladdin open:sesame");
}

#[tokio::test]
async fn digest_credentials_reach_a_later_handler() {
    let server = auth_server();
    let digest = r#"Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
    let response = get_with(server.local_addr(), "/", &[("Authorization", digest)]).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.text(),
        "digest username=Mufasa realm=http-auth@example.org nonce=7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v uri=/dir/index.html response=753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1 qop=Some(\"auth\") nc=Some(\"00000001\") cnonce=Some(\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\") opaque=Some(\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\") algorithm=Some(\"SHA-256\")"
    );
}

#[tokio::test]
async fn malformed_authorization_is_ignored_not_an_error() {
    let server = auth_server();
    for value in [
        "Basic !!!not-base64",
        "Basic dXNlcg==",
        r#"Digest username="unterminated"#,
        "Bearer abc",
    ] {
        let response = get_with(server.local_addr(), "/", &[("Authorization", value)]).await;
        assert_eq!(response.status, 200, "{value:?}");
        assert_eq!(response.text(), "none", "{value:?}");
    }
}

// ------------------------------------------------------------- wait_for_body

/// A synchronous middleware: reads `wsgi.input` without awaiting, and
/// fails if the body is not all there yet.
fn read_body_now(environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
    let body = environ
        .input()
        .read_all()
        .now_or_never()
        .ok_or_else(|| Error::msg("the body was not in memory yet"))??;
    Ok(Some(WsgiResponse::text(format!(
        "read {} bytes synchronously: {}",
        body.len(),
        String::from_utf8_lossy(&body)
    ))))
}

#[tokio::test]
async fn wait_for_body_lets_a_synchronous_middleware_read_the_body() {
    let mut config = test_config();
    config.debug = true; // show the error chain if the body was not ready
    let server = serve_with(
        WsgiHandler::default()
            .middleware(WaitForBody)
            .middleware(middleware_fn(read_body_now)),
        config,
    );
    // The body comes in two chunks, after the head: the handler starts
    // before it has arrived.
    let mut stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(b"6\r\nhello \r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(b"5\r\nworld\r\n0\r\n\r\n").await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut raw))
        .await
        .expect("a response in time")
        .unwrap();
    let response = parse_response(&raw, false).expect("an HTTP response");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "read 11 bytes synchronously: hello world");
}

#[tokio::test]
async fn wait_for_body_answers_413_over_the_limit() {
    let mut config = test_config();
    config.max_request_body = 16;
    let called = Arc::new(AtomicUsize::new(0));
    let count = called.clone();
    let server = serve_with(
        WsgiHandler::default()
            .middleware(WaitForBody)
            .middleware(middleware_fn(move |environ: &mut Environ| {
                count.fetch_add(1, Ordering::SeqCst);
                read_body_now(environ)
            })),
        config,
    );
    // Chunked, so the server cannot refuse it from a Content-Length before
    // the application runs: WaitForBody finds out while reading.
    let response = raw_request(
        server.local_addr(),
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n14\r\n0123456789abcdefghij\r\n14\r\n0123456789abcdefghij\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 413, "{}", response.text());
    assert!(
        response.text().contains("16-byte limit"),
        "the message names the limit: {}",
        response.text()
    );
    assert_eq!(called.load(Ordering::SeqCst), 0, "later middleware skipped");
}

// --------------------------------------------------------------- in_executor

#[tokio::test]
async fn in_executor_runs_off_the_worker_thread_and_mutates_the_environ() {
    let mut config = test_config();
    config.workers = 1; // a real worker thread, `wsgi-worker-0`
    let thread_name = || std::thread::current().name().unwrap_or("?").to_owned();
    let server = serve_with(
        WsgiHandler::default()
            .middleware(middleware_fn(move |environ: &mut Environ| {
                environ.set("test.worker", thread_name())?;
                Ok::<_, Error>(None)
            }))
            .middleware(in_executor(move |environ: &mut Environ| {
                // Blocking here would stall the worker's event loop.
                std::thread::sleep(Duration::from_millis(10));
                let seen = format!(
                    "{} on {}",
                    environ.path_info(),
                    environ.get("test.worker").unwrap_or_default()
                );
                environ.set("test.seen", seen)?;
                environ.set("test.blocking", thread_name())?;
                Ok::<_, Error>(None)
            }))
            .middleware(middleware_fn(|environ: &mut Environ| {
                let get = |name| environ.get(name).unwrap_or_default().into_owned();
                Ok::<_, Error>(Some(WsgiResponse::text(format!(
                    "{}|{}|{}",
                    get("test.worker"),
                    get("test.blocking"),
                    get("test.seen")
                ))))
            })),
        config,
    );
    let response = get(server.local_addr(), "/work").await;
    assert_eq!(response.status, 200, "{}", response.text());
    let text = response.text();
    let parts: Vec<&str> = text.split('|').collect();
    let [worker, blocking, seen] = parts[..] else {
        panic!("unexpected answer {text:?}");
    };
    assert_eq!(worker, "wsgi-worker-0");
    assert!(
        !blocking.starts_with("wsgi-worker-") && !blocking.is_empty(),
        "the blocking function ran on {blocking:?}"
    );
    assert_eq!(
        seen, "/work on wsgi-worker-0",
        "it saw the request's environ"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn in_executor_panic_is_a_500_and_the_worker_keeps_serving() {
    let server = serve(
        WsgiHandler::default()
            .middleware(in_executor(|environ: &mut Environ| {
                if environ.path_info() == "/panic" {
                    panic!("blocking bug");
                }
                Ok::<_, Error>(None)
            }))
            .middleware(middleware_fn(echo_uri)),
    );
    let response = get(server.local_addr(), "/panic").await;
    assert_eq!(response.status, 500);
    assert!(
        !response.text().contains("blocking bug"),
        "internals hidden"
    );
    assert_eq!(get(server.local_addr(), "/ok").await.text(), "GET /ok");
}

// ---------------------------------------------------------------------- GZip

/// Text that compresses well, well over `min_length`.
fn big_text() -> String {
    (0..400)
        .map(|i| format!("line {i}: the quick brown fox jumps over the lazy dog\n"))
        .collect()
}

fn gzip_server() -> wsgi_core::server::ServerHandle {
    serve(
        WsgiHandler::default()
            .middleware(middleware_fn(|environ: &mut Environ| {
                let mut response = match environ.path_info().as_ref() {
                    "/big" => WsgiResponse::text(big_text()),
                    "/small" => WsgiResponse::text("too small to bother"),
                    "/png" => {
                        let mut png = WsgiResponse::bytes(big_text());
                        png.set_content_type("image/png");
                        png
                    }
                    "/missing" => WsgiResponse::text(big_text()).with_status(StatusCode::NOT_FOUND),
                    "/stream" => {
                        let mut stream = WsgiResponse::stream(Body::from_chunks([
                            Chunk::from(big_text()),
                            Chunk::from(big_text()),
                        ]));
                        stream.set_content_type("text/plain");
                        stream
                    }
                    _ => return Ok::<_, Error>(None),
                };
                response.headers_mut().insert("x-path", "seen".parse()?);
                Ok(Some(response))
            }))
            .response_middleware(GZip::new(200)),
    )
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("a valid gzip stream");
    text
}

#[tokio::test]
async fn gzip_compresses_large_text_when_accepted() {
    let server = gzip_server();
    let response = get_with(
        server.local_addr(),
        "/big",
        &[("Accept-Encoding", "deflate, gzip;q=0.8, br;q=0.1")],
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-encoding"), Some("gzip"));
    assert_eq!(header_values(&response, "vary"), ["Accept-Encoding"]);
    assert_eq!(
        response.header("content-length"),
        Some(response.body.len().to_string().as_str()),
        "Content-Length is the compressed size"
    );
    assert!(response.complete);
    assert!(response.body.len() < big_text().len() / 4, "it shrank");
    assert_eq!(gunzip(&response.body), big_text());
}

#[tokio::test]
async fn gzip_is_not_used_when_refused_with_q_zero_but_vary_is_set() {
    let server = gzip_server();
    let response = get_with(
        server.local_addr(),
        "/big",
        &[("Accept-Encoding", "gzip;q=0, deflate")],
    )
    .await;
    assert_eq!(response.header("content-encoding"), None);
    assert_eq!(response.text(), big_text());
    assert_eq!(header_values(&response, "vary"), ["Accept-Encoding"]);
}

#[tokio::test]
async fn gzip_is_not_used_without_accept_encoding_but_vary_is_set() {
    let server = gzip_server();
    let response = get(server.local_addr(), "/big").await;
    assert_eq!(response.header("content-encoding"), None);
    assert_eq!(response.text(), big_text());
    assert_eq!(header_values(&response, "vary"), ["Accept-Encoding"]);
}

#[tokio::test]
async fn gzip_leaves_small_png_error_and_streamed_responses_alone() {
    let server = gzip_server();
    for path in ["/small", "/png", "/missing", "/stream"] {
        let response = get_with(server.local_addr(), path, &[("Accept-Encoding", "gzip")]).await;
        assert_eq!(response.header("x-path"), Some("seen"), "{path}");
        assert_eq!(response.header("content-encoding"), None, "{path}");
        assert!(response.complete, "{path}");
        let expected = match path {
            "/small" => "too small to bother".to_owned(),
            "/stream" => big_text().repeat(2),
            _ => big_text(),
        };
        assert_eq!(response.text(), expected, "{path}: the body is unchanged");
    }
}

// ------------------------------------------------------------- AccessControl

fn cors_server(origin: AllowOrigin) -> wsgi_core::server::ServerHandle {
    let cors = AccessControl::new(
        origin,
        [http::Method::GET, http::Method::PUT, http::Method::DELETE],
    )
    .max_age(Duration::from_secs(3600));
    serve(
        WsgiHandler::default()
            .middleware(cors.clone())
            // The application refuses OPTIONS: preflights must never reach it.
            .middleware(middleware_fn(|environ: &mut Environ| {
                if environ.method() == http::Method::OPTIONS {
                    return Err(
                        wsgi_core::HttpError::method_not_allowed(&[http::Method::GET]).into(),
                    );
                }
                echo_uri(environ)
            }))
            .response_middleware(cors),
    )
}

const APP: &str = "https://app.example";

#[tokio::test]
async fn cors_echoes_an_allowed_origin_on_a_simple_request() {
    let server = cors_server(AllowOrigin::list([APP]));
    let response = get_with(server.local_addr(), "/data", &[("Origin", APP)]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("access-control-allow-origin"), Some(APP));
    assert_eq!(
        response.header("access-control-allow-methods"),
        Some("GET, PUT, DELETE")
    );
    assert_eq!(header_values(&response, "vary"), ["Origin"]);
    assert_eq!(response.text(), "GET /data");
}

#[tokio::test]
async fn cors_gives_a_disallowed_origin_no_cors_headers() {
    let server = cors_server(AllowOrigin::list([APP]));
    let response = get_with(
        server.local_addr(),
        "/data",
        &[("Origin", "https://evil.example")],
    )
    .await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .headers
            .iter()
            .all(|(name, _)| !name.starts_with("access-control-")),
        "{:?}",
        response.headers
    );
    assert_eq!(header_values(&response, "vary"), ["Origin"]);
}

#[tokio::test]
async fn cors_any_origin_answers_star() {
    let server = cors_server(AllowOrigin::Any);
    let response = get_with(
        server.local_addr(),
        "/data",
        &[("Origin", "https://anyone.example")],
    )
    .await;
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    assert_eq!(header_values(&response, "vary"), Vec::<&str>::new());
}

#[tokio::test]
async fn cors_preflight_is_answered_204_with_the_headers() {
    let server = cors_server(AllowOrigin::list([APP]));
    let response = raw_request(
        server.local_addr(),
        &format!(
            "OPTIONS /data HTTP/1.1\r\nHost: h\r\nOrigin: {APP}\r\nAccess-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: x-token, content-type\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(response.status, 204, "{}", response.status_line);
    assert_eq!(response.header("access-control-allow-origin"), Some(APP));
    assert_eq!(
        response.header("access-control-allow-methods"),
        Some("GET, PUT, DELETE")
    );
    assert_eq!(
        response.header("access-control-allow-headers"),
        Some("x-token, content-type")
    );
    assert_eq!(response.header("access-control-max-age"), Some("3600"));
    assert!(response.body.is_empty());

    // From another origin the preflight passes to the application.
    let refused = raw_request(
        server.local_addr(),
        "OPTIONS /data HTTP/1.1\r\nHost: h\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: PUT\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(refused.status, 405);
    assert_eq!(refused.header("access-control-allow-origin"), None);
}
