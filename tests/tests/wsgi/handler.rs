//! WsgiHandler, WsgiResponse, error pages and LazyWsgi over a real server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use wsgi_core::cookie::Cookie;
use wsgi_core::lazy::LazyWsgi;
use wsgi_core::middleware::{middleware_fn, response_middleware_fn, ServiceMiddleware};
use wsgi_core::{
    app_fn, Body, Chunk, Environ, Error, HttpError, Input, StartResponse, WsgiHandler, WsgiResponse,
};
use wsgi_tests::{get, raw_request, serve, serve_with, test_config};

fn path_is(
    path: &'static str,
    answer: &'static str,
) -> impl wsgi_core::middleware::RequestMiddleware {
    middleware_fn(move |environ: &mut Environ| {
        Ok::<_, Error>((environ.path_info() == path).then(|| WsgiResponse::text(answer)))
    })
}

fn request_with_accept(path: &str, accept: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: h\r\nAccept: {accept}\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn first_middleware_that_answers_wins_and_none_gives_404() {
    let handler = WsgiHandler::default()
        .middleware(path_is("/a", "first a"))
        .middleware(path_is("/a", "second a"))
        .middleware(path_is("/b", "b"));
    let server = serve(handler);
    assert_eq!(get(server.local_addr(), "/a").await.text(), "first a");
    assert_eq!(get(server.local_addr(), "/b").await.text(), "b");
    let missing = get(server.local_addr(), "/c").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.text(), "Not Found\n");
}

#[tokio::test]
async fn response_middleware_applies_in_order_even_to_a_plain_application() {
    let order = |tag: &'static str| {
        response_middleware_fn(move |_: &mut Environ, mut response: WsgiResponse| {
            let previous = response
                .headers()
                .get("x-order")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            response.headers_mut().insert(
                "x-order",
                format!("{previous}{tag}").parse().map_err(Error::new)?,
            );
            Ok::<_, Error>(response)
        })
    };
    // A raw WSGI app that streams and starts the response from its body.
    let raw = app_fn(|_: &mut Environ, start_response: StartResponse| {
        let write = start_response.start("200 OK", [("Content-Type", "text/plain")])?;
        write.write("written ");
        Ok::<_, Error>(Body::from_chunks([
            Chunk::from("then "),
            Chunk::future(async { Ok::<_, Error>("streamed") }),
        ]))
    });
    let handler = WsgiHandler::default()
        .app(raw)
        .response_middleware(order("1"))
        .response_middleware(order("2"));
    let server = serve(handler);
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-order"), Some("12"));
    assert_eq!(response.text(), "written then streamed");
    assert!(response.complete);
}

#[tokio::test]
async fn errors_render_by_accept() {
    let handler = WsgiHandler::default().middleware(middleware_fn(
        |_: &mut Environ| -> Result<Option<WsgiResponse>, Error> {
            Err(HttpError::new(StatusCode::FORBIDDEN)
                .with_message("no <entry>")
                .into())
        },
    ));
    let server = serve(handler);
    let addr = server.local_addr();

    let text = raw_request(addr, &request_with_accept("/", "text/plain")).await;
    assert_eq!(text.status, 403);
    assert_eq!(text.text(), "no <entry>\n");
    assert!(text
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));

    let html = raw_request(addr, &request_with_accept("/", "text/html,*/*;q=0.8")).await;
    assert!(html
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html")));
    assert!(
        html.text().contains("<title>403 Forbidden</title>"),
        "{}",
        html.text()
    );
    assert!(
        html.text().contains("no &lt;entry&gt;"),
        "escaped: {}",
        html.text()
    );

    let json = raw_request(addr, &request_with_accept("/", "application/json")).await;
    assert_eq!(json.header("content-type"), Some("application/json"));
    let value: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"status": 403, "message": "no <entry>"})
    );
}

#[tokio::test]
async fn internal_errors_hide_details_unless_debug() {
    let failing = || {
        WsgiHandler::default().middleware(middleware_fn(
            |_: &mut Environ| -> Result<Option<WsgiResponse>, Error> {
                Err(Error::msg("connection string postgres://admin:hunter2@db"))
            },
        ))
    };
    let server = serve(failing());
    let response = raw_request(
        server.local_addr(),
        &request_with_accept("/", "application/json"),
    )
    .await;
    assert_eq!(response.status, 500);
    assert!(!response.text().contains("hunter2"));
    assert!(response.text().contains("Internal Server Error"));

    let mut config = test_config();
    config.debug = true;
    let server = serve_with(failing(), config);
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 500);
    assert!(
        response.text().contains("hunter2"),
        "debug shows the chain: {}",
        response.text()
    );
}

#[tokio::test]
async fn panicking_middleware_renders_a_500_page() {
    let handler = WsgiHandler::default().middleware(middleware_fn(
        |_: &mut Environ| -> Result<Option<WsgiResponse>, Error> { panic!("middleware bug") },
    ));
    let server = serve(handler);
    let response = raw_request(server.local_addr(), &request_with_accept("/", "text/html")).await;
    assert_eq!(response.status, 500);
    assert!(response
        .text()
        .contains("<title>500 Internal Server Error</title>"));
    assert_eq!(
        get(server.local_addr(), "/").await.status,
        500,
        "still serving"
    );
}

#[tokio::test]
async fn redirects_and_method_not_allowed_carry_their_headers() {
    let handler = WsgiHandler::default().middleware(middleware_fn(
        |environ: &mut Environ| -> Result<Option<WsgiResponse>, Error> {
            match environ.path_info().as_ref() {
                "/old" => Err(HttpError::permanent_redirect("/new?x=1").into()),
                "/only-get" if environ.method() != Method::GET => {
                    Err(HttpError::method_not_allowed(&[Method::GET, Method::HEAD]).into())
                }
                _ => Ok(None),
            }
        },
    ));
    let server = serve(handler);
    let redirect = get(server.local_addr(), "/old").await;
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("location"), Some("/new?x=1"));
    assert!(redirect.body.is_empty(), "redirects have no body");

    let not_allowed = raw_request(
        server.local_addr(),
        "POST /only-get HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(not_allowed.status, 405);
    assert_eq!(not_allowed.header("allow"), Some("GET, HEAD"));
}

#[tokio::test]
async fn custom_error_renderer_is_used() {
    let handler = WsgiHandler::default().error_renderer(|environ: &Environ, error: &Error| {
        WsgiResponse::text(format!(
            "custom {} for {}",
            error.status().as_u16(),
            environ.path_info()
        ))
        .with_status(error.status())
    });
    let server = serve(handler);
    let response = get(server.local_addr(), "/nowhere").await;
    assert_eq!(response.status, 404);
    assert_eq!(response.text(), "custom 404 for /nowhere");
}

#[tokio::test]
async fn wsgi_response_features_reach_the_wire() {
    let handler = WsgiHandler::default().middleware(middleware_fn(|environ: &mut Environ| {
        let mut response = match environ.path_info().as_ref() {
            "/stream" => {
                WsgiResponse::stream(Body::from_chunks([Chunk::from("a"), Chunk::from("b")]))
            }
            "/fail" => WsgiResponse::text("denied").with_status(StatusCode::FORBIDDEN),
            _ => WsgiResponse::text("olá"),
        };
        response.set_cookie(
            Cookie::build(("session", "s1"))
                .path("/")
                .http_only(true)
                .max_age(cookie::time::Duration::hours(1))
                .build(),
        );
        response.delete_cookie("old", Some("/"), None);
        Ok::<_, Error>(Some(response))
    }));
    let server = serve(handler);
    let response = get(server.local_addr(), "/").await;
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.header("content-length"), Some("4"));
    assert_eq!(response.text(), "olá");
    let cookies: Vec<&str> = response
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(
        cookies[0].starts_with("session=s1")
            && cookies[0].contains("HttpOnly")
            && cookies[0].contains("Max-Age=3600")
    );
    assert!(cookies[1].starts_with("old=") && cookies[1].contains("Max-Age=0"));

    let streamed = get(server.local_addr(), "/stream").await;
    assert_eq!(streamed.header("transfer-encoding"), Some("chunked"));
    assert_eq!(streamed.text(), "ab");

    let failed = get(server.local_addr(), "/fail").await;
    assert_eq!(failed.status, 403);
    assert!(
        failed.header("set-cookie").is_none(),
        "no cookies on error statuses"
    );

    let head = raw_request(
        server.local_addr(),
        "HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(head.header("content-length"), Some("4"));
    assert!(String::from_utf8_lossy(&head.raw).ends_with("\r\n\r\n"));
}

#[tokio::test]
async fn nested_handler_passes_when_none_of_its_middleware_answers() {
    let inner = WsgiHandler::default().middleware(path_is("/inner", "inner answered"));
    let outer = WsgiHandler::default()
        .middleware(inner)
        .middleware(path_is("/outer", "outer answered"));
    let server = serve(outer);
    assert_eq!(
        get(server.local_addr(), "/inner").await.text(),
        "inner answered"
    );
    assert_eq!(
        get(server.local_addr(), "/outer").await.text(),
        "outer answered"
    );
    assert_eq!(get(server.local_addr(), "/none").await.status, 404);
}

#[tokio::test]
async fn tower_service_works_as_a_middleware() {
    let service = tower::service_fn(|request: http::Request<Input>| async move {
        use http_body_util::BodyExt;
        let path = request.uri().path().to_owned();
        let body = request.into_body().collect().await?.to_bytes();
        let text = format!("tower saw {path} with {} bytes", body.len());
        Ok::<_, wsgi_core::InputError>(
            http::Response::builder()
                .header("x-tower", "yes")
                .body(text)
                .unwrap(),
        )
    });
    let handler = WsgiHandler::default()
        .middleware(path_is("/wsgi", "wsgi"))
        .middleware(ServiceMiddleware::new(service));
    let server = serve(handler);
    assert_eq!(get(server.local_addr(), "/wsgi").await.text(), "wsgi");
    let response = raw_request(
        server.local_addr(),
        "POST /svc HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert_eq!(response.header("x-tower"), Some("yes"));
    assert_eq!(response.text(), "tower saw /svc with 5 bytes");
}

#[tokio::test]
async fn lazy_wsgi_builds_once_even_under_concurrent_first_requests() {
    let builds = Arc::new(AtomicUsize::new(0));
    let counter = builds.clone();
    let lazy = LazyWsgi::new(move |environ: &Environ| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        // Slow setup, so concurrent first requests really overlap it.
        std::thread::sleep(Duration::from_millis(100));
        let software = environ.server_software().to_owned();
        Ok::<_, Error>(
            WsgiHandler::default().middleware(middleware_fn(move |_: &mut Environ| {
                Ok::<_, Error>(Some(WsgiResponse::text(format!("build {n} by {software}"))))
            })),
        )
    });
    assert!(!lazy.is_built());
    let server = serve(lazy);
    let addr = server.local_addr();
    let responses = futures_util::future::join_all((0..20).map(|_| get(addr, "/"))).await;
    for response in &responses {
        assert_eq!(response.status, 200);
        assert!(
            response.text().starts_with("build 1 by wsgi-rs/"),
            "{}",
            response.text()
        );
    }
    assert_eq!(builds.load(Ordering::SeqCst), 1);
}

/// A `LazyWsgi` whose builds are numbered; each answers `<thread> <build>`
/// with the thread serving the request.
fn numbered_lazy(builds: &Arc<AtomicUsize>) -> LazyWsgi<impl wsgi_core::Application> {
    let counter = builds.clone();
    LazyWsgi::new(move |_: &Environ| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        Ok::<_, Error>(app_fn(
            move |_: &mut Environ, start_response: StartResponse| {
                start_response.start("200 OK", [("Content-Type", "text/plain")])?;
                let thread = std::thread::current().name().unwrap_or("?").to_owned();
                Ok::<_, Error>(format!("{thread} {n}"))
            },
        ))
    })
}

/// Serves `app` on two workers and returns, per serving thread, the builds
/// it answered with.
async fn builds_seen_per_worker(
    app: impl wsgi_core::Application + Clone,
) -> std::collections::HashMap<String, std::collections::HashSet<String>> {
    let mut config = test_config();
    config.workers = 2;
    let server = serve_with(app, config);
    let mut built_by: std::collections::HashMap<String, std::collections::HashSet<String>> =
        Default::default();
    for _ in 0..60 {
        let text = get(server.local_addr(), "/").await.text();
        let (thread, n) = text.split_once(' ').expect("`thread n`");
        built_by
            .entry(thread.to_owned())
            .or_default()
            .insert(n.to_owned());
    }
    server.shutdown().await;
    built_by
}

#[tokio::test]
async fn lazy_wsgi_builds_once_per_worker() {
    let builds = Arc::new(AtomicUsize::new(0));
    let lazy = numbered_lazy(&builds);
    let built_by = builds_seen_per_worker(lazy.clone()).await;
    // Each worker that served built once, and used that build throughout;
    // the original copy never built.
    assert!(built_by.values().all(|n| n.len() == 1), "{built_by:?}");
    let all: std::collections::HashSet<&String> = built_by.values().flatten().collect();
    assert_eq!(all.len(), built_by.len(), "{built_by:?}");
    assert_eq!(builds.load(Ordering::SeqCst), built_by.len());
    assert!(!lazy.is_built());
}

#[tokio::test]
async fn failing_setup_answers_500_and_is_retried() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let lazy = LazyWsgi::new(move |_: &Environ| {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(Error::msg("database not ready"));
        }
        Ok(WsgiHandler::default().middleware(path_is("/", "ready")))
    });
    let server = serve(lazy);
    assert_eq!(get(server.local_addr(), "/").await.status, 500);
    assert_eq!(get(server.local_addr(), "/").await.text(), "ready");
}

#[tokio::test]
async fn an_error_before_the_first_streamed_chunk_is_rendered_like_any_error() {
    let handler = WsgiHandler::default()
        .middleware(middleware_fn(|_: &mut Environ| {
            Ok::<_, Error>(Some(WsgiResponse::stream(Body::from_chunks([
                Chunk::future(async {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Err::<&'static str, Error>(
                        HttpError::new(StatusCode::FORBIDDEN)
                            .with_message("no <entry>")
                            .into(),
                    )
                }),
            ]))))
        }))
        .response_middleware(response_middleware_fn(
            |_: &mut Environ, mut response: WsgiResponse| {
                response
                    .headers_mut()
                    .insert("x-stamped", http::HeaderValue::from_static("1"));
                Ok::<_, Error>(response)
            },
        ));
    let server = serve(handler);
    let json = raw_request(
        server.local_addr(),
        &request_with_accept("/", "application/json"),
    )
    .await;
    assert_eq!(json.status, 403, "{}", json.text());
    assert_eq!(json.header("content-type"), Some("application/json"));
    assert_eq!(json.header("x-stamped"), Some("1"));
    let value: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"status": 403, "message": "no <entry>"})
    );
}

#[tokio::test]
async fn a_lazy_wsgi_nested_in_a_handler_is_built_once_per_worker() {
    // The handler's clones (one per worker) share the `LazyWsgi`.
    let builds = Arc::new(AtomicUsize::new(0));
    let handler = WsgiHandler::default().middleware(numbered_lazy(&builds));
    let built_by = builds_seen_per_worker(handler).await;
    assert_eq!(built_by.len(), 2, "both workers served: {built_by:?}");
    assert!(built_by.values().all(|n| n.len() == 1), "{built_by:?}");
    let all: std::collections::HashSet<&String> = built_by.values().flatten().collect();
    assert_eq!(all.len(), 2, "one build per worker: {built_by:?}");
    assert_eq!(builds.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_async_lazy_setup_is_awaited_once_per_worker() {
    let builds = Arc::new(AtomicUsize::new(0));
    let counter = builds.clone();
    let lazy = LazyWsgi::new_async(move |environ: &Environ| {
        let software = environ.server_software().to_owned();
        let counter = counter.clone();
        async move {
            // An async pool opening: awaited, not blocking the loop.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            Ok::<_, Error>(WsgiHandler::default().middleware(middleware_fn(
                move |_: &mut Environ| {
                    Ok::<_, Error>(Some(WsgiResponse::text(format!("build {n} by {software}"))))
                },
            )))
        }
    });
    let server = serve(WsgiHandler::default().middleware(lazy));
    let addr = server.local_addr();
    let responses = futures_util::future::join_all((0..10).map(|_| get(addr, "/"))).await;
    for response in &responses {
        assert!(
            response.text().starts_with("build 1 by wsgi-rs/"),
            "{}",
            response.text()
        );
    }
    assert_eq!(builds.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_blocking_lazy_setup_does_not_stall_the_event_loop() {
    let lazy = LazyWsgi::new(|_: &Environ| {
        // A synchronous driver opening its pool.
        std::thread::sleep(Duration::from_millis(1500));
        Ok::<_, Error>(WsgiHandler::default().middleware(path_is("/slow", "built")))
    });
    let handler = WsgiHandler::default()
        .middleware(path_is("/ping", "pong"))
        .middleware(lazy);
    // One worker thread, its own event loop; the client runs here.
    let mut config = test_config();
    config.workers = 1;
    let server = serve_with(handler, config);
    let addr = server.local_addr();
    let slow = tokio::spawn(async move { get(addr, "/slow").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let ping = get(addr, "/ping").await;
    let waited = started.elapsed();
    assert_eq!(ping.text(), "pong");
    assert!(
        waited < Duration::from_millis(700),
        "/ping waited {waited:?} behind the setup"
    );
    assert_eq!(slow.await.unwrap().text(), "built");
}

#[tokio::test]
async fn async_middleware_fn_awaits_with_the_environ() {
    use wsgi_core::middleware::async_middleware_fn;
    let handler = WsgiHandler::default()
        .middleware(async_middleware_fn(|environ: &mut Environ| {
            Box::pin(async move {
                if environ.method() != Method::POST {
                    return Ok::<_, Error>(None);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                let body = environ.input().read_all().await?;
                Ok(Some(WsgiResponse::text(format!(
                    "got {}",
                    String::from_utf8_lossy(&body)
                ))))
            })
        }))
        .middleware(path_is("/", "passed"));
    let server = serve(handler);
    let posted = raw_request(
        server.local_addr(),
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert_eq!(posted.text(), "got hello");
    assert_eq!(get(server.local_addr(), "/").await.text(), "passed");
}

// HttpError from a plain application loses its headers (Location, Allow).
#[tokio::test]
async fn redirect_error_from_plain_app_has_location() {
    let server = serve(app_fn(|_: &mut Environ, _sr: StartResponse| {
        Err::<Body, Error>(HttpError::redirect("/login").into())
    }));
    let r = get(server.local_addr(), "/").await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("/login"),
        "{}",
        String::from_utf8_lossy(&r.raw)
    );
}

// capture() (plain app inside a WsgiHandler) drops write() bytes queued
// by the body's last poll.
#[tokio::test]
async fn captured_app_keeps_trailing_written_bytes() {
    let handler = WsgiHandler::default().app(app_fn(|_: &mut Environ, sr: StartResponse| {
        let write = sr.start("200 OK", [("Content-Type", "text/plain")])?;
        let mut step = 0;
        let stream = futures_util::stream::poll_fn(move |_| {
            step += 1;
            match step {
                1 => std::task::Poll::Ready(Some(Chunk::from("head;"))),
                _ => {
                    write.write("tail");
                    std::task::Poll::Ready(None)
                }
            }
        });
        Ok::<_, Error>(Body::from_chunk_stream(stream))
    }));
    let server = serve(handler);
    let r = get(server.local_addr(), "/").await;
    assert_eq!(r.text(), "head;tail");
}
