//! The handshake: the `101` and its accept key, refusals with a clear
//! `4xx`, subprotocols, and middleware around the upgrade.

use super::*;

#[tokio::test]
async fn the_handshake_answers_101_with_the_accept_key_through_response_middleware() {
    let server = serve().await;
    let (mut client, head) = open(server.local_addr(), "/echo", "").await;
    assert!(
        head.to_ascii_lowercase().contains("\r\nx-stamped: yes\r\n"),
        "{head}"
    );
    client.send(true, 0x1, b"hi").await;
    let frame = client.recv().await.unwrap();
    assert_eq!(
        (frame.fin, frame.opcode, frame.payload.as_slice()),
        (true, 1, &b"hi"[..])
    );
    client.close(1000).await;
    assert_eq!(client.expect_close().await, Some(1000));
    client.expect_end().await;
    server.shutdown().await;
}

#[tokio::test]
async fn bad_handshakes_get_a_clear_4xx_and_the_server_keeps_serving() {
    let server = serve().await;
    let addr = server.local_addr();
    // `Connection: close` too: `raw_request` reads until the server closes.
    let base =
        "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nConnection: close\r\n";
    let cases: [(String, u16, &str); 7] = [
        (
            format!("POST /echo HTTP/1.1\r\n{base}Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"),
            405,
            "Not Allowed",
        ),
        (
            format!("GET /echo HTTP/1.1\r\n{base}Sec-WebSocket-Version: 13\r\n\r\n"),
            400,
            "Sec-WebSocket-Key",
        ),
        (
            format!("GET /echo HTTP/1.1\r\n{base}Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n"),
            400,
            "Sec-WebSocket-Key",
        ),
        (
            format!("GET /echo HTTP/1.1\r\n{base}Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 8\r\n\r\n"),
            426,
            "version 13",
        ),
        (
            format!("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"),
            400,
            "Upgrade: websocket",
        ),
        (
            format!("GET /echo HTTP/1.0\r\n{base}Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"),
            400,
            "HTTP/1.1",
        ),
        (
            handshake_request("/chat", "Origin: https://evil.example\r\nConnection: close\r\n"),
            403,
            "origin",
        ),
    ];
    for (request, status, says) in cases {
        let response = raw_request(addr, &request).await;
        assert_eq!(response.status, status, "{request}\n{}", response.text());
        assert!(
            response.text().contains(says),
            "{request}\n{}",
            response.text()
        );
        if status == 426 {
            assert_eq!(response.header("sec-websocket-version"), Some("13"));
        }
    }
    // Same origin passes by default; a listed origin passes where listed.
    let (_client, _) = open(addr, "/echo", "Origin: http://127.0.0.1\r\n").await;
    let response = raw_request(
        addr,
        &handshake_request(
            "/echo",
            "Origin: http://evil.example\r\nConnection: close\r\n",
        ),
    )
    .await;
    assert_eq!(response.status, 403, "{}", response.text());
    let (_client, _) = open(addr, "/chat", "Origin: https://allowed.example\r\n").await;
    // A plain request to a WebSocket endpoint is a 400, not a hang.
    let response = raw_request(
        addr,
        "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 400);
    server.shutdown().await;
}

#[tokio::test]
async fn start_response_still_refuses_101_and_upgrade_from_applications() {
    let app = wsgi_core::app_fn(|_: &mut Environ, sr: wsgi_core::StartResponse| {
        sr.start("101 Switching Protocols", [("Upgrade", "websocket")])?;
        Ok::<_, wsgi_core::Error>("")
    });
    let server = serve_with(app, config());
    let response = raw_request(
        server.local_addr(),
        &handshake_request("/", "Connection: close\r\n"),
    )
    .await;
    assert_eq!(
        response.status,
        500,
        "{}",
        String::from_utf8_lossy(&response.raw)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn subprotocols_are_negotiated_and_the_connection_identifies_the_socket() {
    let server = serve().await;
    let (mut client, head) = open(
        server.local_addr(),
        "/chat",
        "Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n",
    )
    .await;
    assert!(
        head.contains("\r\nsec-websocket-protocol: chat.v2\r\n"),
        "{head}"
    );
    let hello = client.recv().await.unwrap();
    let text = String::from_utf8(hello.payload).unwrap();
    assert!(text.starts_with("protocol=chat.v2 connection="), "{text}");
    let id: u64 = text.rsplit('=').next().unwrap().parse().unwrap();
    assert!(id > 0, "{text}");
    // None in common: no protocol header.
    let (mut other, head) = open(
        server.local_addr(),
        "/chat",
        "Sec-WebSocket-Protocol: x\r\n",
    )
    .await;
    assert!(
        !head.to_ascii_lowercase().contains("sec-websocket-protocol"),
        "{head}"
    );
    let hello = other.recv().await.unwrap();
    assert!(String::from_utf8(hello.payload)
        .unwrap()
        .starts_with("protocol=none"));
    server.shutdown().await;
}

#[tokio::test]
async fn middleware_that_answers_first_means_no_upgrade() {
    let server = serve().await;
    let response = raw_request(
        server.local_addr(),
        &handshake_request("/guarded", "Connection: close\r\n"),
    )
    .await;
    assert_eq!(response.status, 401, "{}", response.text());
    let (mut client, _) = open(server.local_addr(), "/guarded?token=ok", "").await;
    client.send(true, 0x2, &[1, 2, 3]).await;
    assert_eq!(client.recv().await.unwrap().payload, vec![1, 2, 3]);
    server.shutdown().await;
}

#[tokio::test]
async fn a_101_replaced_by_response_middleware_leaves_an_ordinary_connection() {
    let server = serve().await;
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream
        .write_all(handshake_request("/replaced", "").as_bytes())
        .await
        .unwrap();
    let first = wsgi_tests::read_until(&mut stream, b"refused late\n").await;
    let text = String::from_utf8_lossy(&first);
    assert!(text.starts_with("HTTP/1.1 403 "), "{text}");
    assert!(!text.to_ascii_lowercase().contains("upgrade"), "{text}");
    // The same connection serves the next request.
    stream
        .write_all(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let second = wsgi_tests::read_until(&mut stream, b"\r\n\r\n").await;
    assert!(
        second.starts_with(b"HTTP/1.1 404 "),
        "{}",
        String::from_utf8_lossy(&second)
    );
    server.shutdown().await;
}

// ---- parsing the answer to a refused handshake with the shared helper ----

#[tokio::test]
async fn a_refused_handshake_is_a_complete_http_response() {
    let server = serve().await;
    let raw = wsgi_tests::raw_exchange(
        server.local_addr(),
        handshake_request(
            "/chat",
            "Origin: https://evil.example\r\nConnection: close\r\n",
        )
        .as_bytes(),
    )
    .await;
    let response = parse_response(&raw, false).expect("a parsable response");
    assert_eq!(response.status, 403);
    assert!(response.complete);
    server.shutdown().await;
}
