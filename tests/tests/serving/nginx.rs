//! Two instances of the `httpbin_server` binary behind a real nginx, with
//! the configuration `DEPLOYING.md` shows (read from the guide, so the
//! guide's snippet is the one tested): what the application sees through
//! the proxy, load balancing, unbuffered streaming, server-sent events and
//! a WebSocket passed on live, a large upload, and a
//! rolling restart of both instances under load with no failed request.
//!
//! nginx is `$WSGI_NGINX`, else `/usr/sbin/nginx`, else the first `nginx`
//! on `PATH`. Without one the tests print why on stderr and pass, unless
//! `WSGI_REQUIRE_NGINX=1` (CI sets it), which makes a missing nginx a
//! failure.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsgi_tests::{dechunk, parse_response, raw_exchange, raw_request, RawResponse, IO_TIMEOUT};

/// The guide whose nginx block these tests run.
const GUIDE: &str = include_str!("../../../DEPLOYING.md");
/// The comment that precedes the tested block in the guide.
const MARKER: &str = "<!-- tested: tests/tests/serving/nginx.rs";

/// The nginx to run, if this machine has one: `WSGI_NGINX` if set (a path
/// that is not a file counts as none), else the usual places.
fn nginx_binary() -> Option<PathBuf> {
    if let Some(chosen) = std::env::var_os("WSGI_NGINX") {
        let chosen = PathBuf::from(chosen);
        return chosen.is_file().then_some(chosen);
    }
    let standard = PathBuf::from("/usr/sbin/nginx");
    if standard.is_file() {
        return Some(standard);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

/// Writes `text` to stderr past the test harness's capture (which holds
/// `eprintln!` back unless the test fails), so a skip or the figures show.
fn report(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// nginx, or `None` after saying on stderr why the test is skipped.
/// Panics when `WSGI_REQUIRE_NGINX=1` and there is none.
fn nginx_or_skip(test: &str) -> Option<PathBuf> {
    let found = nginx_binary();
    if found.is_none() {
        assert!(
            std::env::var("WSGI_REQUIRE_NGINX").as_deref() != Ok("1"),
            "WSGI_REQUIRE_NGINX=1 but there is no nginx (install it: apt-get install -y nginx)"
        );
        report(&format!(
            "SKIPPED {test}: nginx is not installed (apt-get install -y nginx); \
             set WSGI_REQUIRE_NGINX=1 to make this a failure"
        ));
    }
    found
}

/// The guide's nginx block, for instances `a` and `b` and nginx on
/// `listen`. Each replaced text must occur exactly once, so an edit of the
/// guide that this test would no longer follow fails here.
fn site_config(a: SocketAddr, b: SocketAddr, listen: SocketAddr) -> String {
    let start = GUIDE
        .find(MARKER)
        .expect("the guide marks its tested block");
    let rest = &GUIDE[start..];
    let open = rest
        .find("```nginx\n")
        .expect("an nginx block after the marker")
        + 9;
    let len = rest[open..].find("```").expect("the block ends");
    let mut text = rest[open..open + len].to_owned();
    for (from, to) in [
        ("server 127.0.0.1:8001 ", format!("server {a} ")),
        ("server 127.0.0.1:8002 ", format!("server {b} ")),
        ("listen 80;", format!("listen {listen};")),
    ] {
        assert_eq!(
            text.matches(from).count(),
            1,
            "the guide's nginx block has `{from}` once"
        );
        text = text.replace(from, &to);
    }
    text
}

/// Sends `signal` (a name, such as `TERM`) to a process.
fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Waits for `child` to exit; kills it after `limit`.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A free loopback port (free when this returns; nobody else binds here).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One `httpbin_server` process.
struct Instance {
    child: Child,
    addr: SocketAddr,
    name: String,
}

impl Instance {
    /// Starts an instance named `name` (its `SERVER_SOFTWARE`) on `port`
    /// (0 for a free one), as the guide runs them, and returns once it
    /// serves.
    fn start(name: &str, port: u16) -> Instance {
        let mut child = Command::new(env!("CARGO_BIN_EXE_httpbin_server"))
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--workers", "1", "--max-request-body", "33554432"])
            .args(["--server-software", name, "--log-level", "warn"])
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start httpbin_server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("{name} exited before it was ready"))
                .expect("read its output");
            if let Some(rest) = line.strip_prefix("ready http://") {
                break rest.parse().expect("a socket address");
            }
        };
        // Keep reading so the instance never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Instance {
            child,
            addr,
            name: name.to_owned(),
        }
    }

    /// SIGTERM, then waits for a clean exit; returns how long it took.
    fn stop(&mut self) -> Duration {
        let started = Instant::now();
        send_signal(self.child.id(), "TERM");
        let status = wait_exit(&mut self.child, Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "{} did not exit cleanly after SIGTERM: {status:?}",
            self.name
        );
        started.elapsed()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// nginx in the foreground with every file it writes in a temporary
/// directory, so it runs as root or not, beside any system nginx.
struct Nginx {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn start(binary: &Path, a: SocketAddr, b: SocketAddr) -> Nginx {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // The free port may be taken by another test before nginx binds
        // it: then try another.
        for _attempt in 0..3 {
            let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            let mut child = Nginx::spawn(binary, dir.path(), site_config(a, b, addr));
            let deadline = Instant::now() + IO_TIMEOUT;
            while std::net::TcpStream::connect(addr).is_err() {
                if let Ok(Some(status)) = child.try_wait() {
                    let log =
                        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                    if log.contains("Address already in use") {
                        break;
                    }
                    panic!("nginx exited ({status}): {log}");
                }
                assert!(Instant::now() < deadline, "nginx did not listen on {addr}");
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Ok(None) = child.try_wait() {
                return Nginx { child, addr, dir };
            }
        }
        panic!("nginx found no free port in three attempts");
    }

    /// Starts nginx with `site` (the guide's block) inside an `http` block
    /// that keeps every file nginx writes in `dir`.
    fn spawn(binary: &Path, dir: &Path, site: String) -> Child {
        let site_file = dir.join("httpbin.conf");
        std::fs::write(&site_file, site).expect("write the site");
        // Run as root, nginx's workers would switch to `nobody`, who cannot
        // enter the temporary directory: keep them as the caller.
        let running_as_root = std::os::unix::fs::MetadataExt::uid(
            &std::fs::metadata("/proc/self").expect("/proc/self"),
        ) == 0;
        let user = if running_as_root { "user root;" } else { "" };
        let d = dir.display();
        let main = format!(
            "{user}
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {site};
}}
",
            site = site_file.display()
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, main).expect("write nginx.conf");
        Command::new(binary)
            .arg("-p")
            .arg(dir)
            // The error log from the start, not the built-in path, which a
            // non-root user cannot open.
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx")
    }

    /// nginx's error log lines that say `text`.
    fn errors_with(&self, text: &str) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("error.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(text))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the master stops its workers too; SIGKILL would leave
        // them behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            wait_exit(&mut self.child, Duration::from_secs(5));
        }
    }
}

/// Two instances and nginx in front of them.
struct Site {
    a: Instance,
    b: Instance,
    nginx: Nginx,
}

fn site(test: &str) -> Option<Site> {
    let binary = nginx_or_skip(test)?;
    let a = Instance::start("httpbin-a", 0);
    let b = Instance::start("httpbin-b", 0);
    let nginx = Nginx::start(&binary, a.addr, b.addr);
    Some(Site { a, b, nginx })
}

fn json_of(response: &RawResponse) -> Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|e| {
        panic!(
            "{} is not JSON ({e}): {}",
            response.status_line,
            response.text()
        )
    })
}

#[tokio::test]
async fn the_application_sees_the_request_and_the_forwarded_headers() {
    let Some(site) = site("the_application_sees_the_request_and_the_forwarded_headers") else {
        return;
    };
    let port = site.nginx.addr.port();
    let response = raw_request(
        site.nginx.addr,
        "GET /environ?a=1&b=two%20words HTTP/1.1\r\nHost: example.test\r\nUser-Agent: nginx-test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let environ = json_of(&response);
    let var = |name: &str| environ[name].as_str().map(str::to_owned);
    // The peer is nginx, on this machine.
    assert_eq!(var("REMOTE_ADDR").as_deref(), Some("127.0.0.1"));
    assert_eq!(var("REQUEST_METHOD").as_deref(), Some("GET"));
    assert_eq!(var("PATH_INFO").as_deref(), Some("/environ"));
    assert_eq!(var("QUERY_STRING").as_deref(), Some("a=1&b=two%20words"));
    // The trusted X-Forwarded-Host and -Port (nginx's own port, not 80)
    // make the public authority.
    assert_eq!(var("HTTP_HOST"), Some(format!("example.test:{port}")));
    assert_eq!(var("HTTP_USER_AGENT").as_deref(), Some("nginx-test"));
    // nginx speaks HTTP/1.1 to the instances and drops `Connection`.
    assert_eq!(var("SERVER_PROTOCOL").as_deref(), Some("HTTP/1.1"));
    assert_eq!(var("HTTP_CONNECTION"), None);
    // What the guide's configuration forwards.
    assert_eq!(var("HTTP_X_FORWARDED_FOR").as_deref(), Some("127.0.0.1"));
    assert_eq!(var("HTTP_X_REAL_IP").as_deref(), Some("127.0.0.1"));
    assert_eq!(var("HTTP_X_FORWARDED_PROTO").as_deref(), Some("http"));
    assert_eq!(
        var("HTTP_X_FORWARDED_HOST").as_deref(),
        Some("example.test")
    );
    assert_eq!(
        var("HTTP_X_FORWARDED_PORT").as_deref(),
        Some(port.to_string().as_str())
    );
    // nginx is a trusted peer (forwarded_allow_ips defaults to loopback),
    // so the server reads the public side from those headers.
    assert_eq!(
        var("SERVER_PORT").as_deref(),
        Some(port.to_string().as_str())
    );
    assert_eq!(var("SERVER_NAME").as_deref(), Some("example.test"));
    assert_eq!(var("wsgi.url_scheme").as_deref(), Some("http"));

    // A client's own `Forwarded` is cleared by the guide's configuration:
    // it would otherwise win over X-Forwarded-For and set REMOTE_ADDR.
    let response = raw_request(
        site.nginx.addr,
        "GET /environ HTTP/1.1\r\nHost: example.test\r\nForwarded: for=198.51.100.1;proto=https\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let environ = json_of(&response);
    assert_eq!(environ["REMOTE_ADDR"], "127.0.0.1");
    assert_eq!(environ["wsgi.url_scheme"], "http");
    assert!(environ.get("HTTP_FORWARDED").is_none(), "{environ}");

    // A client's own X-Forwarded-For is kept, with nginx's peer appended.
    let response = raw_request(
        site.nginx.addr,
        "POST /post?q=1 HTTP/1.1\r\nHost: example.test\r\nX-Forwarded-For: 203.0.113.7\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\nConnection: close\r\n\r\nx=1&y=2",
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let echo = json_of(&response);
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["args"]["q"], "1");
    assert_eq!(echo["form"]["x"], "1");
    assert_eq!(echo["form"]["y"], "2");
    assert_eq!(echo["headers"]["X-Forwarded-For"], "203.0.113.7, 127.0.0.1");
    // Walking that list from the right, 127.0.0.1 (this test's own
    // address) is a trusted proxy, so the first untrusted hop is the
    // client: on a real site the client's address is not in
    // forwarded_allow_ips and its claim is the leftmost, ignored entry.
    assert_eq!(echo["origin"], "203.0.113.7", "{echo}");
}

#[tokio::test]
async fn requests_are_spread_over_both_instances() {
    let Some(site) = site("requests_are_spread_over_both_instances") else {
        return;
    };
    let mut served = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..10 {
        let response = raw_request(
            site.nginx.addr,
            "GET /environ HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(response.status, 200, "{}", response.text());
        let name = json_of(&response)["SERVER_SOFTWARE"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        *served.entry(name).or_default() += 1;
    }
    let counts: Vec<usize> = [&site.a.name, &site.b.name]
        .iter()
        .map(|name| served.get(*name).copied().unwrap_or(0))
        .collect();
    assert!(
        counts.iter().all(|&n| n >= 3) && counts.iter().sum::<usize>() == 10,
        "round robin over both instances: {served:?}"
    );
}

#[tokio::test]
async fn a_stream_marked_unbuffered_reaches_the_client_as_it_is_produced() {
    let Some(site) = site("a_stream_marked_unbuffered_reaches_the_client_as_it_is_produced") else {
        return;
    };
    // Four bytes, 0.3 s apart: the last is produced 0.9 s in. nginx must
    // pass the first on at once (nginx's gzip, for one, would hold it).
    let mut stream = tokio::net::TcpStream::connect(site.nginx.addr)
        .await
        .unwrap();
    let started = Instant::now();
    stream
        .write_all(
            b"GET /drip?numbytes=4&duration=1.2 HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    let first_byte = loop {
        let n = tokio::time::timeout(IO_TIMEOUT, stream.read(&mut buf))
            .await
            .expect("the response started in time")
            .unwrap();
        assert!(
            n > 0,
            "closed early: {:?}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buf[..n]);
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            if dechunk(&received[end + 4..]).0.contains(&b'*') {
                break started.elapsed();
            }
        }
    };
    tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut received))
        .await
        .expect("the response ended in time")
        .unwrap();
    let total = started.elapsed();
    let response = parse_response(&received, false).expect("a response");
    assert_eq!(response.status, 200);
    assert!(response.complete, "{:?}", response.text());
    assert_eq!(response.body, b"****");
    assert!(
        total >= Duration::from_millis(850),
        "the drip took its time: {total:?}"
    );
    assert!(
        first_byte < Duration::from_millis(600),
        "the first byte arrived after {first_byte:?} of {total:?}: nginx buffered the stream"
    );
}

/// Reads from `stream` until `received` contains `end`.
async fn read_until_seen(stream: &mut tokio::net::TcpStream, received: &mut Vec<u8>, end: &[u8]) {
    let mut buf = vec![0u8; 4096];
    while !received.windows(end.len()).any(|w| w == end) {
        let n = tokio::time::timeout(IO_TIMEOUT, stream.read(&mut buf))
            .await
            .expect("more bytes in time")
            .unwrap();
        assert!(
            n > 0,
            "closed early: {:?}",
            String::from_utf8_lossy(received)
        );
        received.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn events_arrive_live_through_nginx() {
    let Some(site) = site("events_arrive_live_through_nginx") else {
        return;
    };
    // Three events 0.3 s apart, the first 0.3 s in: the head must come at
    // once and each event when it is sent, not all at the end.
    let mut stream = tokio::net::TcpStream::connect(site.nginx.addr)
        .await
        .unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /events HTTP/1.1\r\nHost: example.test\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    read_until_seen(&mut stream, &mut received, b"\r\n\r\n").await;
    let head = started.elapsed();
    let text = String::from_utf8_lossy(&received).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("content-type: text/event-stream"), "{text}");
    read_until_seen(&mut stream, &mut received, b"data: event 0\n\n").await;
    let first = started.elapsed();
    read_until_seen(&mut stream, &mut received, b"data: event 2\n\n").await;
    let last = started.elapsed();
    assert!(
        head < Duration::from_millis(250),
        "the head came after {head:?}: nginx or the server waited for the first event"
    );
    assert!(
        first < Duration::from_millis(550),
        "the first event came after {first:?}"
    );
    assert!(
        last - first >= Duration::from_millis(450),
        "events came together: {first:?}, {last:?}"
    );
}

#[tokio::test]
async fn a_websocket_works_through_nginx() {
    let Some(site) = site("a_websocket_works_through_nginx") else {
        return;
    };
    let mut stream = tokio::net::TcpStream::connect(site.nginx.addr)
        .await
        .unwrap();
    stream
        .write_all(b"GET /ws/echo HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    read_until_seen(&mut stream, &mut received, b"\r\n\r\n").await;
    let head = String::from_utf8_lossy(&received).into_owned();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    received.clear();
    for message in [&b"through nginx"[..], b"twice"] {
        // A masked text frame.
        let mask = [9u8, 8, 7, 6];
        let mut frame = vec![0x81, 0x80 | message.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(message.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        stream.write_all(&frame).await.unwrap();
        let mut echo = vec![0x81, message.len() as u8];
        echo.extend_from_slice(message);
        read_until_seen(&mut stream, &mut received, &echo).await;
        received.clear();
    }
    // A close is answered with the same code, then the connection ends.
    stream
        .write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8])
        .await
        .unwrap();
    read_until_seen(&mut stream, &mut received, &[0x88, 0x02, 0x03, 0xe8]).await;
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut rest)).await;
    assert!(
        ended.is_ok(),
        "the connection ends after the close handshake"
    );
}

/// `len` bytes that do not compress and do not repeat soon (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[tokio::test]
async fn a_24_mib_upload_arrives_whole() {
    let Some(site) = site("a_24_mib_upload_arrives_whole") else {
        return;
    };
    let file = noise(24 * 1024 * 1024);
    let boundary = "nginx-test-boundary-7f3a";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"noise.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut request = format!(
        "POST /upload HTTP/1.1\r\nHost: example.test\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let started = Instant::now();
    let raw = raw_exchange(site.nginx.addr, &request).await;
    let response = parse_response(&raw, false).expect("a response to the upload");
    assert_eq!(response.status, 200, "{}", response.text());
    let parts = json_of(&response)["parts"].clone();
    assert_eq!(parts[0]["size"], file.len() as u64, "{parts}");
    assert_eq!(
        parts[0]["crc32"],
        format!("{:08x}", crc32fast::hash(&file)),
        "{parts}"
    );
    report(&format!(
        "24 MiB upload through nginx: {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    ));
}

/// What the client loops of the rolling restart saw.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    posts: AtomicU64,
    failed: AtomicU64,
    by_instance: Mutex<std::collections::BTreeMap<String, u64>>,
    failures: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, what: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut failures = self.failures.lock().unwrap();
        if failures.len() < 10 {
            failures.push(what);
        }
    }
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// One request through nginx; checks the answer is 200 and for this very
/// request. GETs read `/environ` (which instance answered), POSTs echo a
/// form.
async fn one_request(client: &HttpClient, base: &str, worker: usize, n: u64, tally: &Tally) {
    let post = worker == 0 && n % 4 == 0;
    let request = if post {
        http::Request::post(format!("{base}/post"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(format!("w={worker}&n={n}"))))
    } else {
        http::Request::get(format!("{base}/environ?w={worker}&n={n}")).body(Full::default())
    };
    let request = request.expect("a valid request");
    tally.sent.fetch_add(1, Ordering::Relaxed);
    if post {
        tally.posts.fetch_add(1, Ordering::Relaxed);
    }
    let what = if post { "POST /post" } else { "GET /environ" };
    let result = tokio::time::timeout(IO_TIMEOUT, async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok::<_, String>((status, body))
    })
    .await;
    let (status, body) = match result {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => return tally.fail(format!("{what} #{n} of loop {worker}: {e}")),
        Err(_) => return tally.fail(format!("{what} #{n} of loop {worker}: no answer in time")),
    };
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (w, n) = (worker.to_string(), n.to_string());
    let right = if post {
        json["form"]["w"] == w.as_str() && json["form"]["n"] == n.as_str()
    } else {
        json["QUERY_STRING"] == format!("w={w}&n={n}").as_str()
    };
    if status != 200 || !right {
        return tally.fail(format!(
            "{what} #{n} of loop {worker}: {status} {}",
            String::from_utf8_lossy(&body)
        ));
    }
    if let Some(name) = json["SERVER_SOFTWARE"].as_str() {
        *tally
            .by_instance
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_default() += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_under_load_fails_no_request() {
    let _load = wsgi_tests::exclusive().await;
    let Some(mut site) = site("rolling_restart_under_load_fails_no_request") else {
        return;
    };
    let base = format!("http://{}", site.nginx.addr);
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    // Eight client loops on keep-alive connections, each one request at a
    // time, for the whole test; loop 0 sends every fourth as a POST.
    let loops: Vec<_> = (0..8)
        .map(|worker| {
            let (client, base, tally, stop) = (
                client.clone(),
                base.clone(),
                Arc::clone(&tally),
                Arc::clone(&stop),
            );
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    one_request(&client, &base, worker, n, &tally).await;
                    n += 1;
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut figures = Vec::new();
    for instance in [&mut site.a, &mut site.b] {
        let sent_before = tally.sent.load(Ordering::Relaxed);
        let stopping = tokio::task::block_in_place(|| instance.stop());
        let port = instance.addr.port();
        let name = instance.name.clone();
        let down = Instant::now();
        *instance = tokio::task::block_in_place(|| Instance::start(&name, port));
        assert_eq!(instance.addr.port(), port, "restarted on its port");
        figures.push(format!(
            "{name}: stopped in {:.0} ms, serving again {:.0} ms after its exit",
            stopping.as_secs_f64() * 1000.0,
            down.elapsed().as_secs_f64() * 1000.0
        ));
        // Traffic went on while it was away.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            tally.sent.load(Ordering::Relaxed) > sent_before + 20,
            "the load kept running while {name} restarted"
        );
    }
    let by_instance_before = tally.by_instance.lock().unwrap().clone();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.await.expect("a client loop");
    }
    let elapsed = started.elapsed();
    let sent = tally.sent.load(Ordering::Relaxed);
    let failed = tally.failed.load(Ordering::Relaxed);
    let by_instance = tally.by_instance.lock().unwrap().clone();
    // What nginx met and retried on the other instance: refused
    // connections (an instance down) are expected; connections closed
    // under a request sent on them are the race the server avoids.
    let refused = site.nginx.errors_with("Connection refused").len();
    let cut = site.nginx.errors_with("prematurely closed");
    let reset = site.nginx.errors_with("reset by peer");
    report(&format!(
        "rolling restart through nginx: {sent} requests sent ({} POST), {failed} failed, in {:.2} s; served by {by_instance:?}; nginx retried {refused} refused connections, {} closed and {} reset under a request\n  {}",
        tally.posts.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
        cut.len(),
        reset.len(),
        figures.join("\n  ")
    ));
    for line in cut.iter().chain(&reset).take(5) {
        report(&format!("  nginx: {line}"));
    }
    assert_eq!(
        failed,
        0,
        "failed requests during the rolling restart: {:#?}",
        tally.failures.lock().unwrap()
    );
    // Both restarted instances took traffic again at the end.
    for name in [&site.a.name, &site.b.name] {
        let after = by_instance.get(name).copied().unwrap_or(0);
        let before = by_instance_before.get(name).copied().unwrap_or(0);
        assert!(
            after > before,
            "{name} served after its restart: {by_instance:?}"
        );
    }
}
