//! WSGI applications as tower services: inside axum, under tower-http.

use std::time::Duration;

use axum::routing::get as axum_get;
use axum::Router;
use http::HeaderValue;
use tower::ServiceBuilder;
use tower_http::set_header::SetResponseHeaderLayer;
use wsgi_core::{app_fn, Body, Chunk, Environ, Error, StartResponse, WsgiService};
use wsgi_tests::{get, IO_TIMEOUT};

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
