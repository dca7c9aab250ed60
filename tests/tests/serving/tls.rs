//! HTTPS with rustls: a certificate generated at test time, HTTP/1.1 and
//! HTTP/2 chosen by ALPN, `wsgi.url_scheme`/`HTTPS`, bad files refused,
//! and the handshake bounded by `header_read_timeout`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncReadExt;
use wsgi_core::config::TlsFiles;
use wsgi_core::server::{Server, ServerError, ServerHandle};
use wsgi_core::{app_fn, Config, Environ, Error, StartResponse};
use wsgi_tests::{test_config, IO_TIMEOUT};

/// A self-signed certificate for `localhost`, written to PEM files.
struct TestCert {
    der: CertificateDer<'static>,
    certfile: PathBuf,
    keyfile: PathBuf,
}

impl TestCert {
    fn new(name: &str) -> Self {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a certificate");
        let dir = std::env::temp_dir();
        let certfile = dir.join(format!("wsgi-{}-{name}-cert.pem", std::process::id()));
        let keyfile = dir.join(format!("wsgi-{}-{name}-key.pem", std::process::id()));
        std::fs::write(&certfile, generated.cert.pem()).unwrap();
        std::fs::write(&keyfile, generated.signing_key.serialize_pem()).unwrap();
        TestCert {
            der: generated.cert.der().clone(),
            certfile,
            keyfile,
        }
    }

    fn config(&self) -> Config {
        let mut config = test_config();
        config.tls = Some(TlsFiles::new(&self.certfile, &self.keyfile));
        config
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.certfile);
        let _ = std::fs::remove_file(&self.keyfile);
    }
}

fn scheme_app(environ: &mut Environ, sr: StartResponse) -> Result<String, Error> {
    sr.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(format!(
        "{} HTTPS={} {}",
        environ.url_scheme(),
        environ.get("HTTPS").unwrap_or_default(),
        environ.server_protocol()
    ))
}

fn serve_tls(cert: &TestCert) -> ServerHandle {
    Server::new(app_fn(scheme_app))
        .config(cert.config())
        .spawn()
        .expect("the TLS server starts")
}

/// Connects over TLS trusting `cert`, offering `alpn`; returns the stream
/// and the protocol the server chose.
async fn connect(
    server: &ServerHandle,
    cert: &TestCert,
    alpn: &[&[u8]],
) -> (
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    Option<Vec<u8>>,
) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = tokio::time::timeout(IO_TIMEOUT, connector.connect(name, tcp))
        .await
        .expect("handshake in time")
        .expect("the handshake succeeds");
    let chosen = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    (tls, chosen)
}

async fn body_of(response: http::Response<hyper::body::Incoming>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn https_over_http1_sets_url_scheme_and_https() {
    let cert = TestCert::new("h1");
    let server = serve_tls(&cert);
    let (tls, alpn) = connect(&server, &cert, &[b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = http::Request::get("/")
        .header("Host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(body_of(response).await, "https HTTPS=on HTTP/1.1");
    server.shutdown().await;
}

#[tokio::test]
async fn alpn_h2_serves_http2_over_tls() {
    let cert = TestCert::new("h2");
    let server = serve_tls(&cert);
    let (tls, alpn) = connect(&server, &cert, &[b"h2", b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]), "the server picks h2");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = http::Request::get("https://localhost/")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(body_of(response).await, "https HTTPS=on HTTP/2");
    server.shutdown().await;
}

#[tokio::test]
async fn stalled_tls_handshake_is_closed_after_the_header_read_timeout() {
    let cert = TestCert::new("stall");
    let mut config = cert.config();
    config.header_read_timeout = Duration::from_millis(300);
    let server = Server::new(app_fn(scheme_app))
        .config(config)
        .spawn()
        .unwrap();
    // Connects and never sends a ClientHello.
    let mut tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf))
        .await
        .expect("the server closed the stalled handshake")
        .ok();
    assert!(started.elapsed() >= Duration::from_millis(250));
    server.shutdown().await;
}

#[tokio::test]
async fn unusable_certificate_files_are_reported_before_serving() {
    let cert = TestCert::new("bad");
    let mut config = cert.config();
    config.tls = Some(TlsFiles::new(&cert.certfile, &cert.certfile));
    let err = Server::new(app_fn(scheme_app))
        .config(config)
        .spawn()
        .expect_err("a certificate is not a key");
    assert!(matches!(err, ServerError::Tls(_)), "{err}");
    assert!(err.to_string().contains("keyfile"), "{err}");

    let mut config = cert.config();
    config.tls = Some(TlsFiles::new(
        std::env::temp_dir().join("wsgi-no-such-cert.pem"),
        &cert.keyfile,
    ));
    let err = Server::new(app_fn(scheme_app))
        .config(config)
        .spawn()
        .expect_err("a missing file");
    assert!(err.to_string().contains("wsgi-no-such-cert.pem"), "{err}");
}
