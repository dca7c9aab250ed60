//! WSGI applications as tower services: inside axum, under tower-http.

use std::time::Duration;

use axum::routing::get as axum_get;
use axum::Router;
use http::HeaderValue;
use tower::ServiceBuilder;
use tower_http::set_header::SetResponseHeaderLayer;
use wsgi_core::middleware::ServiceMiddleware;
use wsgi_core::{
    app_fn, Body, Chunk, Environ, Error, Input, StartResponse, WsgiHandler, WsgiService,
};
use wsgi_tests::{get, raw_request, serve, IO_TIMEOUT};

fn wsgi_app(environ: &mut Environ, sr: StartResponse) -> Result<Body, Error> {
    let path = environ.path_info().into_owned();
    sr.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(Body::from_chunks([
        Chunk::from("wsgi saw "),
        Chunk::future(async move { Ok::<_, Error>(path) }),
    ]))
}

async fn serve_axum(router: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    addr
}

#[tokio::test]
async fn axum_router_serves_a_wsgi_app() {
    let router = Router::new()
        .route("/native", axum_get(|| async { "axum handler" }))
        .fallback_service(WsgiService::new(app_fn(wsgi_app)));
    let addr = serve_axum(router).await;
    let response = tokio::time::timeout(IO_TIMEOUT, get(addr, "/native"))
        .await
        .unwrap();
    assert_eq!(response.text(), "axum handler");
    let response = tokio::time::timeout(IO_TIMEOUT, get(addr, "/from/wsgi"))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "wsgi saw /from/wsgi");
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
}

#[tokio::test]
async fn tower_http_layers_wrap_a_wsgi_app() {
    let service = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            http::header::HeaderName::from_static("x-layer"),
            HeaderValue::from_static("tower-http"),
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(5),
        ))
        .service(WsgiService::new(app_fn(wsgi_app)));
    let router = Router::new().fallback_service(service);
    let addr = serve_axum(router).await;
    let response = tokio::time::timeout(IO_TIMEOUT, get(addr, "/layered"))
        .await
        .unwrap();
    assert_eq!(response.header("x-layer"), Some("tower-http"));
    assert_eq!(response.text(), "wsgi saw /layered");
}

#[tokio::test]
async fn service_can_be_called_directly_without_a_socket() {
    use tower::ServiceExt;
    let service = WsgiService::new(app_fn(wsgi_app));
    let request = http::Request::get("/direct").body(String::new()).unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    use http_body_util::BodyExt;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"wsgi saw /direct");
}

fn compressible_handler() -> wsgi_core::WsgiHandler {
    use wsgi_core::middleware::middleware_fn;
    use wsgi_core::{WsgiHandler, WsgiResponse};
    WsgiHandler::default().middleware(middleware_fn(|_: &mut Environ| {
        Ok::<_, Error>(Some(WsgiResponse::text("compress me ".repeat(200))))
    }))
}

#[tokio::test]
async fn wsgi_handler_runs_under_compression_layer() {
    use std::io::Read;
    let service = ServiceBuilder::new()
        .layer(tower_http::compression::CompressionLayer::new())
        .service(compressible_handler());
    let addr = serve_axum(Router::new().fallback_service(service)).await;
    let response = wsgi_tests::raw_request(
        addr,
        "GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.header("content-encoding"), Some("gzip"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&response.body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "compress me ".repeat(200));
}

#[tokio::test]
async fn wsgi_handler_runs_under_trace_and_timeout_layers() {
    use std::sync::{Arc, Mutex};
    use wsgi_core::middleware::middleware_fn;
    use wsgi_core::{WsgiHandler, WsgiResponse};

    let statuses = Arc::new(Mutex::new(Vec::new()));
    let seen = statuses.clone();
    let handler = WsgiHandler::default().middleware(middleware_fn(|environ: &mut Environ| {
        Ok::<_, Error>((environ.path_info() == "/fast").then(|| WsgiResponse::text("fast")))
    }));
    // A slow asynchronous middleware, so the timeout fires on the future.
    let slow =
        WsgiHandler::default().middleware(wsgi_core::middleware::AppMiddleware::new(SlowApp));
    let handler = handler.middleware(slow);
    let service = ServiceBuilder::new()
        .layer(tower_http::trace::TraceLayer::new_for_http().on_response(
            move |response: &http::Response<_>, _latency: Duration, _span: &tracing::Span| {
                seen.lock().unwrap().push(response.status().as_u16());
            },
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(200),
        ))
        .service(handler);
    let addr = serve_axum(Router::new().fallback_service(service)).await;
    assert_eq!(get(addr, "/fast").await.text(), "fast");
    assert_eq!(get(addr, "/slow").await.status, 408);
    assert_eq!(*statuses.lock().unwrap(), vec![200, 408]);
}

#[derive(Clone)]
struct SlowApp;

impl wsgi_core::Application for SlowApp {
    async fn call(&self, _: &mut Environ, sr: StartResponse) -> Result<Body, Error> {
        tokio::time::sleep(Duration::from_secs(2)).await;
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok("too late".into())
    }
}

#[derive(serde::Deserialize)]
struct Name {
    name: String,
}

/// A typed handler, mounted in axum as it is: its generated type is a
/// tower `Service`.
#[wsgi_core::wsgi_handler]
async fn hello(
    wsgi_core::extract::Query(who): wsgi_core::extract::Query<Name>,
    method: http::Method,
) -> wsgi_core::Html<String> {
    wsgi_core::Html(format!("<p>{method} hello {}</p>", who.name))
}

#[tokio::test]
async fn a_generated_handler_type_is_an_axum_fallback_service() {
    let router = Router::new()
        .route("/native", axum_get(|| async { "axum handler" }))
        .fallback_service(Hello);
    let addr = serve_axum(router).await;
    let response = tokio::time::timeout(IO_TIMEOUT, get(addr, "/native"))
        .await
        .unwrap();
    assert_eq!(response.text(), "axum handler");
    let response = tokio::time::timeout(IO_TIMEOUT, get(addr, "/anything?name=ada"))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(response.text(), "<p>GET hello ada</p>");
    let rejected = tokio::time::timeout(
        IO_TIMEOUT,
        wsgi_tests::raw_request(
            addr,
            "GET /anything HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        ),
    )
    .await
    .unwrap();
    assert_eq!(rejected.status, 400);
    let page: serde_json::Value = serde_json::from_slice(&rejected.body)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&rejected.raw)));
    assert_eq!(page["status"], 400);
    assert!(
        page["message"].as_str().unwrap().contains("`name`"),
        "{page}"
    );
}

#[derive(Clone)]
struct Db;

/// Counts the calls of `needs_db`, which must never run without its state.
static NEEDS_DB_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[wsgi_core::wsgi_handler]
fn needs_db(wsgi_core::extract::State(_db): wsgi_core::extract::State<Db>) -> &'static str {
    NEEDS_DB_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    "db"
}

#[tokio::test]
async fn a_generated_handler_type_served_by_axum_runs_its_start_up_check() {
    let router = Router::new()
        .route("/native", axum_get(|| async { "axum handler" }))
        .fallback_service(NeedsDb);
    let addr = serve_axum(router).await;
    for path in ["/first", "/second"] {
        let response = tokio::time::timeout(IO_TIMEOUT, get(addr, path))
            .await
            .unwrap();
        assert_eq!(response.status, 500, "{path}");
        let text = response.text();
        assert!(text.contains("`NeedsDb`"), "{path}: {text}");
        assert!(text.contains("State<app::tower::Db>"), "{path}: {text}");
        assert!(text.contains("with_state"), "{path}: {text}");
    }
    assert_eq!(
        NEEDS_DB_CALLS.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the handler ran without its state"
    );
    let response = tokio::time::timeout(IO_TIMEOUT, get(addr, "/native"))
        .await
        .unwrap();
    assert_eq!(response.text(), "axum handler");
    // Wrapped in a `WsgiService`, the same mistake is reported before
    // serving.
    let refused = WsgiService::try_with_config(NeedsDb, wsgi_core::Config::default())
        .expect_err("a missing state is refused");
    assert_eq!(refused.handler(), Some("NeedsDb"));
}

// a tower service's Content-Length is dropped: HEAD says 0, GET is chunked.
#[tokio::test]
async fn tower_service_content_length_survives() {
    let service = tower::service_fn(|request: http::Request<Input>| async move {
        let body = if request.method() == http::Method::HEAD {
            ""
        } else {
            "hello"
        };
        Ok::<_, std::convert::Infallible>(
            http::Response::builder()
                .header("content-length", "5")
                .body(http_body_util::Full::new(bytes::Bytes::from_static(
                    body.as_bytes(),
                )))
                .unwrap(),
        )
    });
    let server = serve(WsgiHandler::default().middleware(ServiceMiddleware::new(service)));
    let head = raw_request(
        server.local_addr(),
        "HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    let g = get(server.local_addr(), "/").await;
    assert_eq!(
        (head.header("content-length"), g.header("content-length")),
        (Some("5"), Some("5")),
        "HEAD: {}\nGET: {}",
        String::from_utf8_lossy(&head.raw),
        String::from_utf8_lossy(&g.raw)
    );
}
