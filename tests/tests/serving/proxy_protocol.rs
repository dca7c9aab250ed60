//! The PROXY protocol (`proxy_protocol`): v1 and v2 headers name the
//! client before HTTP or TLS; connections without a valid header, or too
//! slow to send it, are closed unanswered while the server keeps serving.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsgi_core::config::TlsFiles;
use wsgi_core::server::ServerHandle;
use wsgi_core::{app_fn, Config, Environ, Error, StartResponse};
use wsgi_tests::{parse_response, serve_with, test_config, IO_TIMEOUT};

fn echo(environ: &mut Environ, sr: StartResponse) -> Result<String, Error> {
    sr.start("200 OK", [("Content-Type", "text/plain")])?;
    let connection = environ.connection().expect("served by the server");
    Ok(format!(
        "remote={} port={} scheme={} peer={} proxied={:?}",
        environ.get("REMOTE_ADDR").unwrap_or_default(),
        environ.get("REMOTE_PORT").unwrap_or_default(),
        environ.url_scheme(),
        connection
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
        connection.proxied_addr(),
    ))
}

fn proxy_config() -> Config {
    let mut config = test_config();
    config.proxy_protocol = true;
    config
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n";

/// Sends `preamble` then `REQUEST` on one connection; the response body,
/// or `None` when the server closed the connection without answering.
async fn exchange(server: &ServerHandle, preamble: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut bytes = preamble.to_vec();
    bytes.extend_from_slice(REQUEST);
    // The server may close before reading everything; that is a refusal.
    let _ = stream.write_all(&bytes).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut raw))
        .await
        .expect("the server answers or closes in time");
    if raw.is_empty() {
        return None;
    }
    let response = parse_response(&raw, false).expect("an HTTP response");
    assert_eq!(response.status, 200, "{}", response.text());
    Some(response.text())
}

fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.push(0x20 | command);
    header.push(family);
    header.extend_from_slice(&u16::try_from(addresses.len()).unwrap().to_be_bytes());
    header.extend_from_slice(addresses);
    header
}

#[tokio::test]
async fn v1_and_v2_headers_name_the_client() {
    let server = serve_with(app_fn(echo), proxy_config());
    let body = exchange(&server, b"PROXY TCP4 192.0.2.10 192.0.2.1 51000 80\r\n")
        .await
        .expect("served");
    assert!(
        body.starts_with("remote=192.0.2.10 port=51000 scheme=http peer=127.0.0.1 proxied=Some(192.0.2.10:51000)"),
        "{body}"
    );
    let body = exchange(&server, b"PROXY TCP6 2001:db8::10 2001:db8::1 4711 443\r\n")
        .await
        .expect("served");
    assert!(body.starts_with("remote=2001:db8::10 port=4711 "), "{body}");

    let mut addresses = vec![203, 0, 113, 20, 10, 0, 0, 1];
    addresses.extend_from_slice(&40000u16.to_be_bytes());
    addresses.extend_from_slice(&80u16.to_be_bytes());
    // A TLV (type 0x04, NOOP) after the addresses is skipped.
    addresses.extend_from_slice(&[0x04, 0, 2, 0, 0]);
    let body = exchange(&server, &v2(1, 0x11, &addresses))
        .await
        .expect("served");
    assert!(
        body.starts_with("remote=203.0.113.20 port=40000 "),
        "{body}"
    );

    let mut addresses = [0u8; 36];
    addresses[..16].copy_from_slice(
        &"2001:db8::20"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    addresses[32..34].copy_from_slice(&5u16.to_be_bytes());
    let body = exchange(&server, &v2(1, 0x21, &addresses))
        .await
        .expect("served");
    assert!(body.starts_with("remote=2001:db8::20 port=5 "), "{body}");

    // The balancer's own checks: the socket's peer is the client.
    for local in [b"PROXY UNKNOWN\r\n".to_vec(), v2(0, 0x00, &[])] {
        let body = exchange(&server, &local).await.expect("served");
        assert!(body.starts_with("remote=127.0.0.1 "), "{body}");
        assert!(body.ends_with("proxied=None"), "{body}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn connections_without_a_valid_header_are_closed_unanswered() {
    let server = serve_with(app_fn(echo), proxy_config());
    for preamble in [
        &b""[..],
        b"PROXY TCP4 192.0.2.10\r\n",
        b"PROXY TCP4 300.0.0.1 192.0.2.1 1 2\r\n",
        b"PROXY TCP9 192.0.2.10 192.0.2.1 1 2\r\n",
        b"\r\n\r\n\0\r\nQUIT\n\x2f\x11\x00\x0c",
    ] {
        assert_eq!(
            exchange(&server, preamble).await,
            None,
            "{:?}",
            String::from_utf8_lossy(preamble)
        );
    }
    // The server keeps serving.
    assert!(exchange(&server, b"PROXY UNKNOWN\r\n").await.is_some());
    server.shutdown().await;
}

#[tokio::test]
async fn a_slow_header_is_cut_off_at_header_read_timeout() {
    let mut config = proxy_config();
    config.header_read_timeout = Duration::from_millis(300);
    let server = serve_with(app_fn(echo), config);
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    stream.write_all(b"PROXY TCP4 192.0.2.10 ").await.unwrap();
    let started = Instant::now();
    let mut raw = Vec::new();
    tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut raw))
        .await
        .expect("closed in time")
        .unwrap();
    let waited = started.elapsed();
    assert!(raw.is_empty(), "no response: {raw:?}");
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(exchange(&server, b"PROXY UNKNOWN\r\n").await.is_some());
    server.shutdown().await;
}

#[tokio::test]
async fn the_proxied_source_is_what_forwarded_allow_ips_checks() {
    let mut config = proxy_config();
    config.forwarded_allow_ips = "10.0.0.0/8".parse().unwrap();
    let server = serve_with(app_fn(echo), config);
    let forwarded = b"X-Forwarded-For: 198.51.100.77\r\n";
    let with_xff = |header: &[u8]| {
        // The forwarding header goes inside the request head.
        let mut bytes = header.to_vec();
        bytes.extend_from_slice(b"GET / HTTP/1.1\r\nHost: app\r\n");
        bytes.extend_from_slice(forwarded);
        bytes
    };
    for (header, expected) in [
        (
            &b"PROXY TCP4 10.1.2.3 10.0.0.1 1000 80\r\n"[..],
            "remote=198.51.100.77 ",
        ),
        (
            b"PROXY TCP4 192.0.2.33 10.0.0.1 1000 80\r\n",
            "remote=192.0.2.33 ",
        ),
        // The socket's peer (loopback) is not in the list.
        (b"PROXY UNKNOWN\r\n", "remote=127.0.0.1 "),
    ] {
        let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
        stream.write_all(&with_xff(header)).await.unwrap();
        stream
            .write_all(b"Connection: close\r\n\r\n")
            .await
            .unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut raw))
            .await
            .unwrap()
            .unwrap();
        let response = parse_response(&raw, false).expect("a response");
        assert!(response.text().starts_with(expected), "{}", response.text());
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_header_comes_before_the_tls_handshake() {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let dir = std::env::temp_dir();
    let certfile = dir.join(format!("wsgi-{}-pp-cert.pem", std::process::id()));
    let keyfile = dir.join(format!("wsgi-{}-pp-key.pem", std::process::id()));
    std::fs::write(&certfile, generated.cert.pem()).unwrap();
    std::fs::write(&keyfile, generated.signing_key.serialize_pem()).unwrap();
    let mut config = proxy_config();
    config.tls = Some(TlsFiles::new(&certfile, &keyfile));
    let server = serve_with(app_fn(echo), config);
    std::fs::remove_file(certfile).unwrap();
    std::fs::remove_file(keyfile).unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots.add(generated.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config));
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    tcp.write_all(b"PROXY TCP4 192.0.2.44 192.0.2.1 1234 443\r\n")
        .await
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = tokio::time::timeout(IO_TIMEOUT, connector.connect(name, tcp))
        .await
        .expect("handshake in time")
        .expect("the handshake succeeds after the PROXY header");
    tls.write_all(REQUEST).await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(IO_TIMEOUT, tls.read_to_end(&mut raw))
        .await
        .unwrap();
    let response = parse_response(&raw, false).expect("a response");
    assert!(
        response
            .text()
            .starts_with("remote=192.0.2.44 port=1234 scheme=https "),
        "{}",
        response.text()
    );
    server.shutdown().await;
}
