//! The environ an application sees, for requests sent over real sockets.

use serde_json::{Map, Value};
use wsgi_core::{app_fn, Application, Body, Environ, Error, StartResponse};
use wsgi_tests::{h2c_connect, raw_request, serve, serve_with, test_config};

/// Answers with every string variable as JSON, plus a few typed ones.
#[derive(Clone)]
struct Echo;

impl Application for Echo {
    async fn call(
        &self,
        environ: &mut Environ,
        start_response: StartResponse,
    ) -> Result<Body, Error> {
        let body = environ.input().read_all().await?;
        let mut vars: Map<String, Value> = environ
            .vars()
            .into_iter()
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        vars.insert("body".into(), String::from_utf8_lossy(&body).into());
        vars.insert(
            "path_bytes".into(),
            environ
                .path_info_bytes()
                .iter()
                .map(|&b| Value::from(b))
                .collect(),
        );
        let conn = environ
            .connection()
            .expect("the server provides pulsar.connection");
        vars.insert("requests_served".into(), conn.requests_served().into());
        vars.insert("connection_id".into(), conn.id().into());
        vars.insert("cfg.bind".into(), environ.config().get("bind").into());
        vars.insert(
            "wsgi.version".into(),
            format!("{:?}", environ.wsgi_version()).into(),
        );
        vars.insert("multithread".into(), environ.wsgi_multithread().into());
        start_response.start("200 OK", [("Content-Type", "application/json")])?;
        Ok(serde_json::to_vec(&vars)?.into())
    }
}

async fn environ_for(request: &str) -> Map<String, Value> {
    let server = serve(Echo);
    let response = raw_request(server.local_addr(), request).await;
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.raw)
    );
    serde_json::from_slice(&response.body).expect("JSON environ")
}

fn s<'a>(env: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    env.get(key).and_then(Value::as_str)
}

#[tokio::test]
async fn cgi_variables_for_a_plain_get() {
    let env = environ_for(
        "GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(s(&env, "REQUEST_METHOD"), Some("GET"));
    assert_eq!(s(&env, "SCRIPT_NAME"), Some(""));
    assert_eq!(s(&env, "PATH_INFO"), Some("/a/b"));
    assert_eq!(s(&env, "QUERY_STRING"), Some("x=1&y=%20"));
    assert_eq!(s(&env, "RAW_URI"), Some("/a/b?x=1&y=%20"));
    assert_eq!(s(&env, "SERVER_NAME"), Some("example.com"));
    assert_eq!(s(&env, "SERVER_PORT"), Some("8080"));
    assert_eq!(s(&env, "SERVER_PROTOCOL"), Some("HTTP/1.1"));
    assert_eq!(s(&env, "REMOTE_ADDR"), Some("127.0.0.1"));
    assert!(s(&env, "REMOTE_PORT").is_some_and(|p| p.parse::<u16>().is_ok()));
    assert_eq!(s(&env, "HTTP_USER_AGENT"), Some("t"));
    assert_eq!(s(&env, "HTTP_HOST"), Some("example.com:8080"));
    assert_eq!(s(&env, "wsgi.url_scheme"), Some("http"));
    assert_eq!(s(&env, "wsgi.version"), Some("(1, 0)"));
    assert!(s(&env, "SERVER_SOFTWARE").is_some_and(|v| v.starts_with("wsgi-rs/")));
    assert_eq!(
        env.get("CONTENT_LENGTH"),
        None,
        "absent header, absent variable"
    );
    assert_eq!(env.get("CONTENT_TYPE"), None);
    assert_eq!(env.get("HTTPS"), None);
    assert_eq!(s(&env, "cfg.bind"), Some("127.0.0.1:0"));
}

#[tokio::test]
async fn percent_encoded_path_is_decoded_and_raw_uri_is_not() {
    let env = environ_for(
        "GET /caf%C3%A9/a%2Fb%20c?q=%C3%A9 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(s(&env, "PATH_INFO"), Some("/café/a/b c"));
    assert_eq!(s(&env, "RAW_URI"), Some("/caf%C3%A9/a%2Fb%20c?q=%C3%A9"));
    assert_eq!(s(&env, "QUERY_STRING"), Some("q=%C3%A9"));
}

#[tokio::test]
async fn non_utf8_path_keeps_every_byte() {
    let env = environ_for("GET /x%FF%FEy HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
    let bytes: Vec<u64> = env["path_bytes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(bytes, [b'/', b'x', 0xFF, 0xFE, b'y'].map(u64::from));
    // As a string: latin-1, one character per byte (PEP 3333's rule).
    assert_eq!(s(&env, "PATH_INFO"), Some("/x\u{ff}\u{fe}y"));
}

#[tokio::test]
async fn absolute_form_target_sets_server_name_and_raw_uri() {
    let env = environ_for(
        "GET http://proxy.example:9000/p?q=1 HTTP/1.1\r\nHost: ignored.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(s(&env, "SERVER_NAME"), Some("proxy.example"));
    assert_eq!(s(&env, "SERVER_PORT"), Some("9000"));
    assert_eq!(s(&env, "PATH_INFO"), Some("/p"));
    assert_eq!(s(&env, "QUERY_STRING"), Some("q=1"));
    assert_eq!(s(&env, "RAW_URI"), Some("http://proxy.example:9000/p?q=1"));
}

#[tokio::test]
async fn http_1_0_request_without_host() {
    let env = environ_for("GET /old HTTP/1.0\r\n\r\n").await;
    assert_eq!(s(&env, "SERVER_PROTOCOL"), Some("HTTP/1.0"));
    assert_eq!(
        s(&env, "SERVER_NAME"),
        Some("127.0.0.1"),
        "falls back to the local address"
    );
    assert!(s(&env, "SERVER_PORT").is_some_and(|p| p != "80"));
    assert_eq!(env.get("HTTP_HOST"), None);
}

#[tokio::test]
async fn repeated_headers_are_joined_and_cookies_use_semicolons() {
    let env = environ_for(
        "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\nCookie: a=1\r\nx-forwarded-for: 2.2.2.2\r\nX_Spoof: yes\r\nCookie: b=2\r\nx-forwarded-for: 3.3.3.3\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        s(&env, "HTTP_X_FORWARDED_FOR"),
        Some("1.1.1.1,2.2.2.2,3.3.3.3")
    );
    assert_eq!(s(&env, "HTTP_COOKIE"), Some("a=1; b=2"));
    assert_eq!(
        env.get("HTTP_X_SPOOF"),
        None,
        "underscored header names are not HTTP_ variables"
    );
}

#[tokio::test]
async fn content_headers_become_cgi_variables_and_body_is_readable() {
    let env = environ_for(
        "POST /submit HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world",
    )
    .await;
    assert_eq!(s(&env, "CONTENT_TYPE"), Some("text/plain"));
    assert_eq!(s(&env, "CONTENT_LENGTH"), Some("11"));
    assert_eq!(env.get("HTTP_CONTENT_TYPE"), None);
    assert_eq!(env.get("HTTP_CONTENT_LENGTH"), None);
    assert_eq!(s(&env, "body"), Some("hello world"));
}

#[tokio::test]
async fn chunked_request_body_is_readable() {
    let env = environ_for(
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(s(&env, "body"), Some("hello world"));
    assert_eq!(env.get("CONTENT_LENGTH"), None);
}

#[tokio::test]
async fn script_name_from_config_is_removed_from_path_info() {
    let mut config = test_config();
    config.script_name = "/app".into();
    let server = serve_with(Echo, config);
    let response = raw_request(
        server.local_addr(),
        "GET /app/items/1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    let env: Map<String, Value> = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(s(&env, "SCRIPT_NAME"), Some("/app"));
    assert_eq!(s(&env, "PATH_INFO"), Some("/items/1"));
}

#[tokio::test]
async fn requests_served_counts_per_connection() {
    use tokio::io::AsyncReadExt;
    let server = serve(Echo);
    let mut stream = wsgi_tests::send(server.local_addr(), b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
    let mut raw = Vec::new();
    tokio::time::timeout(wsgi_tests::IO_TIMEOUT, stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("\"requests_served\":1"), "{text}");
    assert!(text.contains("\"requests_served\":2"), "{text}");
}

#[tokio::test]
async fn the_application_starts_before_the_body_arrives() {
    // Answers with the first line of the body as soon as it has it.
    let app = app_fn(|environ: &mut Environ, start_response: StartResponse| {
        let mut input = environ.take_input();
        start_response.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok::<_, Error>(Body::from_chunks([wsgi_core::Chunk::future(async move {
            Ok::<_, Error>(input.read_line().await?)
        })]))
    });
    let server = serve(app);
    let mut stream = wsgi_tests::send(
        server.local_addr(),
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nfirst line\n",
    )
    .await;
    // The rest of the body (89 bytes) is never sent, yet the answer comes.
    wsgi_tests::read_until(&mut stream, b"first line\n\r\n").await;
}

#[tokio::test]
async fn an_absolute_https_target_does_not_make_a_plain_request_secure() {
    let env = environ_for(
        "GET https://bank.example/login HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(s(&env, "wsgi.url_scheme"), Some("http"));
    assert_eq!(env.get("HTTPS"), None);
    assert_eq!(s(&env, "SERVER_PORT"), Some("80"), "http's default port");
    // The target's authority is the host (RFC 9112 §3.2.2): HTTP_HOST and
    // SERVER_NAME agree, whatever `Host` said.
    assert_eq!(s(&env, "SERVER_NAME"), Some("bank.example"));
    assert_eq!(s(&env, "HTTP_HOST"), Some("bank.example"));
}

#[tokio::test]
async fn an_h2c_scheme_of_https_does_not_make_a_plain_request_secure() {
    use http_body_util::{BodyExt, Full};

    let server = serve(Echo);
    let (mut sender, _conn) = h2c_connect(server.local_addr()).await;
    // `:scheme https` over plain TCP.
    let request = http::Request::get("https://bank.example/login")
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.expect("h2 response");
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let env: Map<String, Value> = serde_json::from_slice(&body).unwrap();
    assert_eq!(s(&env, "wsgi.url_scheme"), Some("http"));
    assert_eq!(env.get("HTTPS"), None);
    assert_eq!(s(&env, "SERVER_PORT"), Some("80"));
    assert_eq!(s(&env, "HTTP_HOST"), Some("bank.example"));
}

#[tokio::test]
async fn script_name_from_config_answers_404_outside_the_mount_point() {
    let mut config = test_config();
    config.script_name = "/app".into();
    let server = serve_with(Echo, config);
    for path in ["/other", "/apple", "/"] {
        let response = raw_request(
            server.local_addr(),
            &format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"),
        )
        .await;
        // SCRIPT_NAME + PATH_INFO could not rebuild the path: not the app's.
        assert_eq!(response.status, 404, "{path}: {}", response.text());
    }
    let response = raw_request(
        server.local_addr(),
        "GET /app HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    let env: Map<String, Value> = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(s(&env, "SCRIPT_NAME"), Some("/app"));
    assert_eq!(s(&env, "PATH_INFO"), Some(""));
}

#[tokio::test]
async fn wsgi_multithread_is_true_since_the_app_may_run_on_several_threads() {
    // On one worker: the blocking pool (`in_executor`, `LazyWsgi` setups)
    // runs application code on other threads while this one goes on.
    let env = environ_for("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
    assert_eq!(env.get("multithread"), Some(&Value::Bool(true)));
    // On two workers, one application answers on two threads at once.
    let mut config = test_config();
    config.workers = 2;
    let server = serve_with(Echo, config);
    let response = raw_request(
        server.local_addr(),
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    let env: Map<String, Value> = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(env.get("multithread"), Some(&Value::Bool(true)));
    assert_eq!(s(&env, "wsgi.multiprocess"), Some("false"));
}

/// A ProxyFix-style middleware: rewrites what a proxy it knows about told
/// it, through the environ's dictionary interface alone.
fn proxy_fix() -> impl wsgi_core::middleware::RequestMiddleware {
    wsgi_core::middleware::middleware_fn(|environ: &mut Environ| {
        environ.set("wsgi.url_scheme", "https")?;
        environ.set("REMOTE_ADDR", "203.0.113.7")?;
        environ.set("HTTP_HOST", "public.example")?;
        environ.set("SERVER_NAME", "public.example")?;
        environ.set("SERVER_PORT", "443")?;
        environ.set("HTTP_X_ADDED", "yes")?;
        Ok::<_, Error>(None)
    })
}

/// Answers with what the typed accessors read, and the dictionary.
fn typed_echo() -> impl Application + Clone {
    app_fn(|environ: &mut Environ, start_response: StartResponse| {
        let mut out: Map<String, Value> = environ
            .vars()
            .into_iter()
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        out.insert("typed.url_scheme".into(), environ.url_scheme().into());
        out.insert("typed.is_https".into(), environ.is_https().into());
        out.insert(
            "typed.remote_addr".into(),
            environ.remote_addr().map(|a| a.to_string()).into(),
        );
        out.insert("typed.server_name".into(), environ.server_name().into());
        out.insert("typed.server_port".into(), environ.server_port().into());
        out.insert(
            "typed.x_added".into(),
            environ
                .header("x-added")
                .and_then(|v| v.to_str().ok())
                .into(),
        );
        for name in [
            "wsgi.version",
            "wsgi.multithread",
            "wsgi.multiprocess",
            "wsgi.run_once",
            "wsgi.url_scheme",
        ] {
            out.insert(format!("get.{name}"), environ.get(name).as_deref().into());
        }
        start_response.start("200 OK", [("Content-Type", "application/json")])?;
        Ok::<_, Error>(serde_json::to_vec(&out)?)
    })
}

#[tokio::test]
async fn middleware_sets_any_variable_and_the_typed_accessors_read_it() {
    let handler = wsgi_core::WsgiHandler::default()
        .middleware(proxy_fix())
        .app(typed_echo());
    let server = serve(handler);
    let response = raw_request(
        server.local_addr(),
        "GET / HTTP/1.1\r\nHost: internal:8060\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let env: Map<String, Value> = serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&response.raw)));
    assert_eq!(s(&env, "wsgi.url_scheme"), Some("https"));
    assert_eq!(s(&env, "HTTPS"), Some("on"));
    assert_eq!(s(&env, "typed.url_scheme"), Some("https"));
    assert_eq!(env.get("typed.is_https"), Some(&Value::Bool(true)));
    assert_eq!(s(&env, "REMOTE_ADDR"), Some("203.0.113.7"));
    assert_eq!(s(&env, "typed.remote_addr"), Some("203.0.113.7"));
    assert_eq!(s(&env, "HTTP_HOST"), Some("public.example"));
    assert_eq!(s(&env, "SERVER_NAME"), Some("public.example"));
    assert_eq!(s(&env, "typed.server_name"), Some("public.example"));
    assert_eq!(s(&env, "SERVER_PORT"), Some("443"));
    assert_eq!(env.get("typed.server_port"), Some(&Value::from(443)));
    assert_eq!(s(&env, "HTTP_X_ADDED"), Some("yes"));
    assert_eq!(s(&env, "typed.x_added"), Some("yes"));
    // Every PEP 3333 key is readable by name, and listed.
    assert_eq!(s(&env, "get.wsgi.version"), Some("1.0"));
    assert_eq!(s(&env, "get.wsgi.multithread"), Some("true"));
    assert_eq!(s(&env, "get.wsgi.multiprocess"), Some("false"));
    assert_eq!(s(&env, "get.wsgi.run_once"), Some("false"));
    assert_eq!(s(&env, "get.wsgi.url_scheme"), Some("https"));
    for name in [
        "wsgi.version",
        "wsgi.multithread",
        "wsgi.multiprocess",
        "wsgi.run_once",
        "GATEWAY_INTERFACE",
    ] {
        assert!(env.contains_key(name), "vars() leaves out {name}");
    }
}

#[tokio::test]
async fn middleware_removes_variables_and_the_typed_accessors_see_it() {
    let strip = wsgi_core::middleware::middleware_fn(|environ: &mut Environ| {
        let dropped = environ.remove("HTTP_X_INTERNAL")?;
        environ.set("myapp.dropped", dropped.unwrap_or_default())?;
        environ.remove("REMOTE_ADDR")?;
        environ.remove("QUERY_STRING")?;
        // Required keys stay; the error says what to do instead.
        let refused = environ.remove("SERVER_NAME").unwrap_err().to_string();
        environ.set("myapp.refused", refused)?;
        Ok::<_, Error>(None)
    });
    let handler = wsgi_core::WsgiHandler::default()
        .middleware(strip)
        .app(typed_echo());
    let server = serve(handler);
    let response = raw_request(
        server.local_addr(),
        "GET /?a=1 HTTP/1.1\r\nHost: h\r\nX-Internal: secret\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let env: Map<String, Value> = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(env.get("HTTP_X_INTERNAL"), None);
    assert_eq!(s(&env, "myapp.dropped"), Some("secret"));
    assert_eq!(env.get("REMOTE_ADDR"), None);
    assert_eq!(env.get("typed.remote_addr"), Some(&Value::Null));
    assert_eq!(env.get("QUERY_STRING"), None);
    assert!(
        s(&env, "myapp.refused").is_some_and(|e| e.contains("required")),
        "{env:?}"
    );
    assert_eq!(s(&env, "SERVER_NAME"), Some("h"));
}
