//! A socket's life: closed on return and on panic, pinged when silent,
//! closed at a graceful shutdown, held back by a client that does not
//! read, counted by `max_connections`, and logged when it ends.

use super::*;

#[tokio::test]
async fn returning_closes_with_1000_and_a_panic_with_1011() {
    let server = serve().await;
    let addr = server.local_addr();
    let (mut client, _) = open(addr, "/hello", "").await;
    assert_eq!(client.recv().await.unwrap().payload, b"hello");
    assert_eq!(client.expect_close().await, Some(1000));
    client.close(1000).await;
    client.expect_end().await;

    let (mut client, _) = open(addr, "/panic", "").await;
    assert_eq!(client.expect_close().await, Some(1011));
    client.close(1011).await;
    client.expect_end().await;
    // The server still serves.
    let (mut client, _) = open(addr, "/echo", "").await;
    client.send(true, 0x1, b"alive").await;
    assert_eq!(client.recv().await.unwrap().payload, b"alive");
    server.shutdown().await;
}

#[tokio::test]
async fn a_silent_socket_is_pinged_then_closed_with_1001() {
    let server = serve().await;
    let (mut client, _) = open(server.local_addr(), "/idle", "").await;
    let started = Instant::now();
    let ping = client.recv().await.unwrap();
    assert_eq!(ping.opcode, 0x9, "a ping after half the idle timeout");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    // Not answering: closed at the idle timeout.
    assert_eq!(client.expect_close().await, Some(1001));
    assert!(started.elapsed() >= Duration::from_millis(550));
    client.close(1001).await;
    client.expect_end().await;

    // Answering pongs keeps it open past the timeout.
    let (mut client, _) = open(server.local_addr(), "/idle", "").await;
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        let frame = client.recv().await.unwrap();
        assert_eq!(frame.opcode, 0x9, "only pings while the client answers");
        client.send(true, 0xA, &frame.payload).await;
    }
    client.send(true, 0x1, b"still open").await;
    loop {
        let frame = client.recv().await.unwrap();
        if frame.opcode == 0x1 {
            assert_eq!(frame.payload, b"still open");
            break;
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_graceful_shutdown_closes_sockets_with_1001_and_waits_for_them() {
    let server = serve().await;
    let addr = server.local_addr();
    let (mut first, _) = open(addr, "/echo", "").await;
    let (mut second, _) = open(addr, "/echo", "").await;
    let shutdown = tokio::spawn(server.shutdown());
    assert_eq!(first.expect_close().await, Some(1001));
    assert_eq!(second.expect_close().await, Some(1001));
    // Messages still in flight are read before the answer.
    first.close(1001).await;
    first.expect_end().await;
    assert!(
        !shutdown.is_finished(),
        "the shutdown waits for the second socket"
    );
    second.close(1001).await;
    second.expect_end().await;
    tokio::time::timeout(IO_TIMEOUT, shutdown)
        .await
        .expect("the shutdown ends once the sockets closed")
        .unwrap();
}

#[tokio::test]
async fn a_client_that_does_not_read_holds_the_sender_back() {
    let sent = Arc::new(AtomicU64::new(0));
    let server = serve_with(flood_endpoint(Arc::clone(&sent)), config());
    let (client, _) = open(server.local_addr(), "/", "").await;
    // Let the socket buffers fill, then check the count stopped growing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = sent.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = sent.load(Ordering::SeqCst);
    assert_eq!(before, after, "the sender waits for the client");
    // 64 KiB messages: what fits in the kernel's buffers, not 1 GiB.
    assert!(
        after < 200,
        "{after} messages of 64 KiB went out to a client that reads nothing"
    );
    drop(client);
    server.shutdown().await;
}

#[tokio::test]
async fn a_socket_counts_as_a_connection_for_max_connections() {
    let mut config = config();
    config.max_connections = 1;
    let server = serve_with(app(), config);
    let addr = server.local_addr();
    let (mut socket, _) = open(addr, "/echo", "").await;
    // A second connection waits in the backlog while the socket is open.
    let waiting = tokio::spawn(async move {
        raw_request(
            addr,
            "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "answered while the socket held the only slot"
    );
    socket.close(1000).await;
    assert_eq!(socket.expect_close().await, Some(1000));
    let response = tokio::time::timeout(IO_TIMEOUT, waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn the_access_log_has_a_line_when_the_socket_ends() {
    // The access line is a `tracing` event: collect it.
    use std::sync::Mutex;
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = serve().await;
    let (mut client, _) = open(server.local_addr(), "/echo", "").await;
    client.send(true, 0x1, b"12345").await;
    client.recv().await.unwrap();
    client.close(4001).await;
    assert_eq!(client.expect_close().await, Some(4001));
    client.expect_end().await;
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let text = String::from_utf8_lossy(&lines.0.lock().unwrap()).into_owned();
        if let Some(line) = text.lines().find(|l| l.contains("WEBSOCKET /echo")) {
            assert!(line.contains("closed 4001"), "{line}");
            assert!(line.contains("5 bytes in, 5 bytes out"), "{line}");
            assert!(line.contains(" ms"), "{line}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no access line for the socket: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.shutdown().await;
}
