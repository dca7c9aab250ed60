//! Deployment features of the server: several addresses, Unix sockets,
//! `SO_REUSEPORT` workers, connection and request limits, lifecycle hooks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsgi_core::config::BindAddr;
use wsgi_core::lazy::LazyWsgi;
use wsgi_core::server::{BoundAddr, Hooks, Server, ServerError};
use wsgi_core::{app_fn, Application, Body, Environ, Error, StartResponse};
use wsgi_tests::{get, read_until, send, serve_with, test_config, IO_TIMEOUT};

fn hello(_: &mut Environ, sr: StartResponse) -> Result<Body, Error> {
    sr.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok("Hello, World!".into())
}

/// A socket path unique to this test process and `name`.
fn socket_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("wsgi-{}-{name}.sock", std::process::id()))
}

#[tokio::test]
async fn several_bind_addresses_with_port_zero_each_get_a_port() {
    let mut config = test_config();
    config.bind = vec![
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    ];
    let server = serve_with(app_fn(hello), config);
    let addrs: Vec<_> = server
        .local_addrs()
        .iter()
        .map(|a| a.as_tcp().expect("a TCP address"))
        .collect();
    assert_eq!(addrs.len(), 2);
    assert_ne!(addrs[0].port(), 0, "the chosen port is reported");
    assert_ne!(addrs[0].port(), addrs[1].port());
    assert_eq!(server.local_addr(), addrs[0]);
    for addr in addrs {
        assert_eq!(get(addr, "/").await.text(), "Hello, World!");
    }
    server.shutdown().await;
}

#[cfg(unix)]
#[tokio::test]
async fn unix_socket_serves_without_remote_addr_and_replaces_a_stale_file() {
    let path = socket_path("serve");
    // A socket file left behind by a server that is gone.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("stale socket"));
    assert!(path.exists());
    let mut config = test_config();
    config.bind = vec![BindAddr::Unix(path.clone())];
    let server = serve_with(
        app_fn(|environ: &mut Environ, sr: StartResponse| {
            sr.start("200 OK", [("Content-Type", "text/plain")])?;
            let remote = environ.get("REMOTE_ADDR").unwrap_or_default().into_owned();
            Ok::<_, Error>(format!("REMOTE_ADDR=[{remote}]"))
        }),
        config,
    );
    assert_eq!(server.local_addrs(), [BoundAddr::Unix(path.clone())]);
    let mut stream = tokio::net::UnixStream::connect(&path)
        .await
        .expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut raw))
        .await
        .expect("the response arrived in time")
        .unwrap();
    let response = wsgi_tests::parse_response(&raw, false).expect("a response");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "REMOTE_ADDR=[]");
    server.shutdown().await;
    assert!(!path.exists(), "the socket file is removed at shutdown");
}

#[cfg(unix)]
#[tokio::test]
async fn unix_socket_path_that_is_a_regular_file_is_not_removed() {
    let path = socket_path("regular-file");
    std::fs::write(&path, "precious").unwrap();
    let mut config = test_config();
    config.bind = vec![BindAddr::Unix(path.clone())];
    let err = Server::new(app_fn(hello))
        .config(config)
        .spawn()
        .expect_err("a regular file is not a stale socket");
    assert!(matches!(err, ServerError::Bind { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    std::fs::remove_file(&path).unwrap();
}

#[derive(Clone)]
struct ThreadName;

impl Application for ThreadName {
    async fn call(&self, _: &mut Environ, sr: StartResponse) -> Result<Body, Error> {
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        sr.start("200 OK", [("Content-Type", "text/plain")])?;
        Ok(thread.into())
    }
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn reuseport_workers_share_the_connections_of_one_port() {
    let mut config = test_config();
    config.workers = 2;
    let server = serve_with(ThreadName, config);
    let mut threads = std::collections::HashSet::new();
    for _ in 0..40 {
        threads.insert(get(server.local_addr(), "/").await.text());
    }
    assert_eq!(
        threads.len(),
        2,
        "the kernel spread 40 connections over both workers: {threads:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn max_connections_keeps_extra_connections_waiting_until_one_closes() {
    let mut config = test_config();
    config.max_connections = 2;
    config.http_keep_alive = Duration::from_secs(30);
    let server = serve_with(app_fn(hello), config);
    let addr = server.local_addr();
    let request = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut first = send(addr, request).await;
    read_until(&mut first, b"Hello, World!").await;
    let mut second = send(addr, request).await;
    read_until(&mut second, b"Hello, World!").await;

    let mut third = send(addr, request).await;
    let mut buf = [0u8; 256];
    let early = tokio::time::timeout(Duration::from_millis(300), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a third connection was served past max_connections = 2"
    );
    drop(first);
    read_until(&mut third, b"Hello, World!").await;
    // The server is still healthy for the second connection too.
    second.write_all(request).await.unwrap();
    read_until(&mut second, b"Hello, World!").await;
}

#[tokio::test]
async fn max_requests_restarts_workers_with_a_fresh_app_and_drops_no_request() {
    let builds = Arc::new(AtomicUsize::new(0));
    let count = builds.clone();
    let lazy = LazyWsgi::new(move |_: &Environ| {
        count.fetch_add(1, Ordering::SeqCst);
        Ok::<_, Error>(app_fn(hello))
    });
    let mut config = test_config();
    config.workers = 2;
    config.max_requests = 5;
    let server = serve_with(lazy, config);
    for i in 0..30 {
        let response = get(server.local_addr(), "/").await;
        assert_eq!(response.status, 200, "request {i}");
        assert_eq!(response.text(), "Hello, World!", "request {i}");
    }
    // Each worker builds once per 5 requests it serves: 30 requests over
    // the workers need at least 6 builds, where no restart would give 2.
    let built = builds.load(Ordering::SeqCst);
    assert!(built >= 6, "the application was built {built} times");
    server.shutdown().await;
}

#[tokio::test]
async fn max_requests_lets_a_keep_alive_connection_finish_its_request() {
    let mut config = test_config();
    config.max_requests = 1;
    let server = serve_with(app_fn(hello), config);
    let mut stream = send(server.local_addr(), b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    read_until(&mut stream, b"Hello, World!").await;
    // The retired generation closes the idle connection; new connections
    // go to the fresh one.
    let mut rest = Vec::new();
    tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut rest))
        .await
        .expect("the retired connection closes")
        .ok();
    assert_eq!(get(server.local_addr(), "/").await.status, 200);
}

#[tokio::test]
async fn lifecycle_hooks_run_at_their_points() {
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = |events: &Arc<Mutex<Vec<String>>>| {
        let events = events.clone();
        move |event: String| events.lock().unwrap().push(event)
    };
    let (ready, made, lost, pre, post, exit) = (
        log(&events),
        log(&events),
        log(&events),
        log(&events),
        log(&events),
        log(&events),
    );
    let hooks = Hooks::default()
        .when_ready(move |addrs| {
            ready(format!("ready {}", addrs.len()));
            async {}
        })
        .connection_made(move |connection| {
            made(format!("made {}", connection.peer_addr().is_some()));
            async {}
        })
        .pre_request(move |request| {
            let pre = pre.clone();
            // Asynchronous: the request waits for it.
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                pre(format!("pre {} {}", request.method, request.uri));
            }
        })
        .post_request(move |request, response| {
            post(format!(
                "post {} {} {} {:?}",
                request.uri, response.status, response.bytes, response.outcome
            ));
            async {}
        })
        .connection_lost(move |connection| {
            lost(format!("lost {}", connection.requests_served()));
            async {}
        })
        .when_exit(move || {
            exit("exit".to_owned());
            async {}
        });
    let server = Server::new(app_fn(hello))
        .config(test_config())
        .hooks(hooks)
        .spawn()
        .expect("the server starts");
    let response = get(server.local_addr(), "/hooked?x=1").await;
    assert_eq!(response.status, 200);
    // `post_request` and `connection_lost` run as the response ends.
    let deadline = tokio::time::Instant::now() + IO_TIMEOUT;
    while events.lock().unwrap().len() < 5 {
        assert!(tokio::time::Instant::now() < deadline, "{events:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.shutdown().await;
    let mut events = events.lock().unwrap().clone();
    assert_eq!(events[..3], ["ready 1", "made true", "pre GET /hooked?x=1"]);
    assert_eq!(events.pop().as_deref(), Some("exit"));
    let mut ending = events.split_off(3);
    ending.sort();
    assert_eq!(
        ending,
        ["lost 1", "post /hooked?x=1 200 OK 13 Completed"],
        "{events:?}"
    );
}

#[tokio::test]
async fn handlers_read_the_new_settings_from_pulsar_cfg() {
    let mut config = test_config();
    config.max_requests = 1000;
    config.backlog = 64;
    let server = serve_with(
        app_fn(|environ: &mut Environ, sr: StartResponse| {
            let config = environ.config();
            let text = format!(
                "{} {} {}",
                config.max_requests,
                config.get("backlog").unwrap_or_default(),
                config.get("bind").unwrap_or_default()
            );
            sr.start("200 OK", [("Content-Type", "text/plain")])?;
            Ok::<_, Error>(text)
        }),
        config,
    );
    assert_eq!(
        get(server.local_addr(), "/").await.text(),
        "1000 64 127.0.0.1:0"
    );
}
