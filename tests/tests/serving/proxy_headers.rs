//! Behind a reverse proxy: forwarding headers (`X-Forwarded-*`, RFC 7239
//! `Forwarded`) are believed only from `forwarded_allow_ips`, and set
//! `REMOTE_ADDR`, the scheme and the host; malformed ones are ignored.

use wsgi_core::config::BindAddr;
use wsgi_core::{app_fn, Config, Environ, Error, StartResponse};
use wsgi_tests::{raw_request, serve_with, test_config};

/// Answers with the variables a proxy can change, one `NAME=value` a line.
fn echo(environ: &mut Environ, sr: StartResponse) -> Result<String, Error> {
    sr.start("200 OK", [("Content-Type", "text/plain")])?;
    let mut out = String::new();
    for name in [
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "wsgi.url_scheme",
        "HTTPS",
        "HTTP_HOST",
        "SERVER_NAME",
        "SERVER_PORT",
        "HTTP_X_FORWARDED_FOR",
    ] {
        let value = environ.get(name).unwrap_or_default().into_owned();
        out.push_str(&format!("{name}={value}\n"));
    }
    let connection = environ.connection().expect("served by the server");
    out.push_str(&format!(
        "peer={}\ntrusted={}\n",
        connection
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
        connection.is_trusted_proxy()
    ));
    Ok(out)
}

fn var<'a>(body: &'a str, name: &str) -> &'a str {
    body.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} missing from {body}"))
}

async fn ask(config: Config, headers: &str) -> String {
    let server = serve_with(app_fn(echo), config);
    let request =
        format!("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n");
    let response = raw_request(server.local_addr(), &request).await;
    server.shutdown().await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.text()
}

const X_HEADERS: &str = "X-Forwarded-For: 198.51.100.1, 203.0.113.7, 127.0.0.1\r\n\
    X-Forwarded-Proto: https\r\n\
    X-Forwarded-Host: example.com\r\n\
    X-Forwarded-Port: 8443\r\n";

#[tokio::test]
async fn a_trusted_proxy_sets_client_scheme_and_host() {
    // The default trusts loopback, where this test connects from.
    let body = ask(test_config(), X_HEADERS).await;
    assert_eq!(var(&body, "REMOTE_ADDR"), "203.0.113.7", "{body}");
    assert_eq!(var(&body, "REMOTE_PORT"), "", "the port is not forwarded");
    assert_eq!(var(&body, "wsgi.url_scheme"), "https");
    assert_eq!(var(&body, "HTTPS"), "on");
    assert_eq!(var(&body, "HTTP_HOST"), "example.com:8443");
    assert_eq!(var(&body, "SERVER_NAME"), "example.com");
    assert_eq!(var(&body, "SERVER_PORT"), "8443");
    assert_eq!(var(&body, "peer"), "127.0.0.1", "the socket's peer stays");
    assert_eq!(var(&body, "trusted"), "true");

    // With the client's hop trusted too, the walk goes one further left.
    let mut config = test_config();
    config.forwarded_allow_ips = "127.0.0.1,203.0.113.0/24".parse().unwrap();
    let body = ask(config, X_HEADERS).await;
    assert_eq!(var(&body, "REMOTE_ADDR"), "198.51.100.1", "{body}");
}

#[tokio::test]
async fn an_untrusted_peer_changes_nothing() {
    let mut config = test_config();
    config.forwarded_allow_ips = "10.0.0.0/8,fd00::/8".parse().unwrap();
    let body = ask(config, X_HEADERS).await;
    assert_eq!(var(&body, "REMOTE_ADDR"), "127.0.0.1", "{body}");
    assert_ne!(var(&body, "REMOTE_PORT"), "");
    assert_eq!(var(&body, "wsgi.url_scheme"), "http");
    assert_eq!(var(&body, "HTTPS"), "");
    assert_eq!(var(&body, "HTTP_HOST"), "localhost");
    assert_eq!(var(&body, "SERVER_PORT"), "80");
    assert_eq!(
        var(&body, "HTTP_X_FORWARDED_FOR"),
        "198.51.100.1, 203.0.113.7, 127.0.0.1",
        "still readable as a header"
    );
    assert_eq!(var(&body, "trusted"), "false");

    // An empty list trusts nobody either.
    let mut config = test_config();
    config.forwarded_allow_ips = "".parse().unwrap();
    let body = ask(config, X_HEADERS).await;
    assert_eq!(var(&body, "REMOTE_ADDR"), "127.0.0.1", "{body}");
}

#[tokio::test]
async fn forwarded_takes_precedence_over_x_forwarded() {
    let headers =
        "Forwarded: for=\"[2001:db8::1]:4711\";proto=https;host=shop.example, for=127.0.0.1\r\n\
        X-Forwarded-For: 192.0.2.99\r\n\
        X-Forwarded-Host: other.example\r\n";
    let body = ask(test_config(), headers).await;
    assert_eq!(var(&body, "REMOTE_ADDR"), "2001:db8::1", "{body}");
    assert_eq!(var(&body, "REMOTE_PORT"), "4711");
    assert_eq!(var(&body, "wsgi.url_scheme"), "https");
    assert_eq!(var(&body, "HTTP_HOST"), "shop.example");
    assert_eq!(var(&body, "SERVER_PORT"), "443");
}

#[tokio::test]
async fn malformed_values_fall_back_to_the_peer() {
    let mut config = test_config();
    config.forwarded_allow_ips = "*".parse().unwrap();
    for headers in [
        "X-Forwarded-For: not-an-address\r\nX-Forwarded-Proto: gopher\r\nX-Forwarded-Host: a b\r\nX-Forwarded-Port: 99999\r\n",
        "X-Forwarded-For: ,,,\r\nX-Forwarded-Ssl: maybe\r\n",
        "Forwarded: for=\"unterminated\r\nX-Forwarded-For: 192.0.2.1\r\n",
        "Forwarded: for=unknown;proto=http\r\n",
        "Forwarded: for=_hidden, for=192.0.2.1\r\n",
    ] {
        let body = ask(config.clone(), headers).await;
        assert_eq!(var(&body, "REMOTE_ADDR"), "127.0.0.1", "{headers:?}: {body}");
        assert_eq!(var(&body, "wsgi.url_scheme"), "http", "{headers:?}");
        assert_eq!(var(&body, "HTTP_HOST"), "localhost", "{headers:?}");
    }
    // `*` trusts every hop: the leftmost is the client.
    let body = ask(config, X_HEADERS).await;
    assert_eq!(var(&body, "REMOTE_ADDR"), "198.51.100.1", "{body}");
}

#[tokio::test]
async fn x_forwarded_ssl_and_ipv6_hops() {
    let headers = "X-Forwarded-For: [2001:db8::7]:5000, ::1\r\nX-Forwarded-Ssl: on\r\n";
    let body = ask(test_config(), headers).await;
    assert_eq!(var(&body, "REMOTE_ADDR"), "2001:db8::7", "{body}");
    assert_eq!(var(&body, "REMOTE_PORT"), "5000");
    assert_eq!(var(&body, "HTTPS"), "on");
    assert_eq!(var(&body, "SERVER_PORT"), "443");
}

#[cfg(unix)]
#[tokio::test]
async fn a_unix_socket_peer_is_trusted() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let path = std::env::temp_dir().join(format!("wsgi-fwd-{}.sock", std::process::id()));
    let mut config = test_config();
    config.bind = vec![BindAddr::Unix(path.clone())];
    let server = serve_with(app_fn(echo), config);
    let mut stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\nX-Forwarded-For: 192.0.2.5\r\nX-Forwarded-Proto: https\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    server.shutdown().await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("REMOTE_ADDR=192.0.2.5\n"), "{text}");
    assert!(text.contains("wsgi.url_scheme=https\n"), "{text}");
    assert!(text.contains("trusted=true\n"), "{text}");
}

#[test]
fn the_setting_reads_from_flags_environment_and_files() {
    let config =
        Config::try_from_args(["app", "--forwarded-allow-ips", "10.0.0.0/8,fd00::/8"]).unwrap();
    assert_eq!(
        config.forwarded_allow_ips.to_string(),
        "10.0.0.0/8,fd00::/8"
    );
    assert_eq!(
        config.get("forwarded_allow_ips").as_deref(),
        Some("10.0.0.0/8,fd00::/8")
    );
    assert_eq!(
        Config::default().forwarded_allow_ips.to_string(),
        "127.0.0.1,::1"
    );
    let err =
        Config::try_from_args(["app", "--forwarded-allow-ips", "10.0.0.0/8,nope"]).unwrap_err();
    assert!(
        err.to_string().contains("`nope` is not an IP address"),
        "{err}"
    );
    let path = std::env::temp_dir().join(format!("wsgi-fwd-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "forwarded_allow_ips = \"*\"\nproxy_protocol = true\nshutdown_drain = 2.5\n",
    )
    .unwrap();
    let config = Config::default().try_update_from_file(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(config.forwarded_allow_ips.to_string(), "*");
    assert!(config.proxy_protocol);
    assert_eq!(
        config.shutdown_drain,
        std::time::Duration::from_millis(2500)
    );
}

/// `SCRIPT_NAME` and `PATH_INFO` for `GET path` with `headers`.
async fn mount(config: Config, path: &str, headers: &str) -> (String, String) {
    let server = serve_with(
        app_fn(|environ: &mut Environ, sr: StartResponse| {
            sr.start("200 OK", [("Content-Type", "text/plain")])?;
            Ok::<_, Error>(format!("{}|{}", environ.script_name(), environ.path_info()))
        }),
        config,
    );
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n");
    let response = raw_request(server.local_addr(), &request).await;
    server.shutdown().await;
    assert_eq!(response.status, 200, "{}", response.text());
    let text = response.text();
    let (script_name, path_info) = text.split_once('|').expect("`script|path`");
    (script_name.to_owned(), path_info.to_owned())
}

fn with_forwarded_prefix() -> Config {
    let mut config = test_config();
    config.forwarded_prefix = true;
    config
}

#[tokio::test]
async fn a_trusted_proxy_gives_script_name_when_forwarded_prefix_is_on() {
    // The proxy stripped its prefix from the path (X-Forwarded-Prefix)...
    let got = mount(
        with_forwarded_prefix(),
        "/x",
        "X-Forwarded-Prefix: /app/\r\n",
    )
    .await;
    assert_eq!(got, ("/app".to_owned(), "/x".to_owned()));
    // ... or passed the path whole (X-Script-Name): either way,
    // SCRIPT_NAME + PATH_INFO is the client's path.
    let got = mount(with_forwarded_prefix(), "/app/x", "X-Script-Name: /app\r\n").await;
    assert_eq!(got, ("/app".to_owned(), "/x".to_owned()));
}

#[tokio::test]
async fn forwarded_prefix_is_ignored_when_off_untrusted_or_malformed() {
    let got = mount(test_config(), "/x", "X-Forwarded-Prefix: /app\r\n").await;
    assert_eq!(got, (String::new(), "/x".to_owned()), "off by default");

    let mut untrusted = with_forwarded_prefix();
    untrusted.forwarded_allow_ips = "10.0.0.1".parse().unwrap();
    let got = mount(untrusted, "/x", "X-Forwarded-Prefix: /app\r\n").await;
    assert_eq!(got, (String::new(), "/x".to_owned()), "untrusted peer");

    for bad in ["app", "/a/../b", "/a?b"] {
        let got = mount(
            with_forwarded_prefix(),
            "/x",
            &format!("X-Forwarded-Prefix: {bad}\r\n"),
        )
        .await;
        assert_eq!(got, (String::new(), "/x".to_owned()), "{bad}");
    }
}
