//! The minimal build serves requests inside axum over a real socket.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `request` on a new connection to a fresh server and returns the
/// whole response (the request asks the server to close).
async fn exchange(request: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, wsgi_minimal::router()).await });
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("the server answers within 10 s")
        .unwrap();
    String::from_utf8(response).unwrap()
}

fn get(path: &str, accept: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: h\r\nAccept: {accept}\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn the_wsgi_app_answers_next_to_axum_routes() {
    let native = exchange(&get("/native", "*/*")).await;
    assert!(native.ends_with("\r\n\r\naxum handler"), "{native}");

    let wsgi = exchange(&get("/from/wsgi", "*/*")).await;
    assert!(wsgi.starts_with("HTTP/1.1 200 OK\r\n"), "{wsgi}");
    assert!(wsgi.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{wsgi}");
    assert!(wsgi.contains("wsgi saw ") && wsgi.contains("/from/wsgi"), "{wsgi}");

    let typed = exchange(&get("/typed", "*/*")).await;
    assert!(typed.starts_with("HTTP/1.1 200 OK\r\n"), "{typed}");
    assert!(typed.ends_with("typed GET"), "{typed}");
}

#[tokio::test]
async fn error_pages_are_json_without_the_json_feature() {
    let page = exchange(&get("/fail", "application/json")).await;
    assert!(page.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{page}");
    assert!(
        page.ends_with(r#"{"status":400,"message":"nothing \"fails\" here\nbut this"}"#),
        "{page}"
    );
}
