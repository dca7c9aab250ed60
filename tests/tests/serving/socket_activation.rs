//! Socket activation: a server started with `LISTEN_FDS`/`LISTEN_PID`
//! serves the inherited socket instead of binding, so connections made
//! before it started are served, not refused. And `Server::run` on
//! SIGTERM with `shutdown_drain`: readiness 503 while still serving.
//!
//! The inherited socket must sit at descriptor 3 without close-on-exec in
//! a process whose pid is `LISTEN_PID`; `unsafe` (needed for `pre_exec`)
//! is forbidden here, so a short Python program plays systemd: it binds
//! and listens, reports the port, waits to be told to go, then moves the
//! socket to descriptor 3 and execs the server (same pid).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use wsgi_tests::child::send_signal;
use wsgi_tests::{get, parse_response, IO_TIMEOUT};

const ACTIVATOR: &str = r#"
import os, socket, sys
path = os.environ.get("ACTIVATE_UNIX")
if path:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(128)
    print(0, flush=True)
else:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print(listener.getsockname()[1], flush=True)
sys.stdin.readline()
os.dup2(listener.fileno(), 3)
os.set_inheritable(3, True)  # also when the socket already was descriptor 3
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[1], sys.argv[1:])
"#;

/// Starts the activator with the server's arguments; returns it, the
/// port it listens on, and its stdout (the server's log, later).
fn activator(args: &[&str], env: &[(&str, &str)]) -> (Child, u16, BufReader<ChildStdout>) {
    let mut child = Command::new("python3")
        .envs(env.iter().copied())
        .arg("-c")
        .arg(ACTIVATOR)
        .arg(env!("CARGO_BIN_EXE_health_server"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 is needed to pass a socket at descriptor 3");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let port = line.trim().parse().expect("the activator prints its port");
    (child, port, stdout)
}

fn wait_for_log(stdout: &mut BufReader<ChildStdout>, needle: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the server exited before logging {needle:?}"
        );
        if line.contains(needle) {
            return line;
        }
    }
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One request on a connection opened (and written) now; the response is
/// read later.
fn early_request(addr: SocketAddr) -> std::net::TcpStream {
    let mut stream =
        std::net::TcpStream::connect(addr).expect("the kernel accepts into the backlog");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
        .unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

fn read_response(mut stream: std::net::TcpStream) -> String {
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut raw).expect("a response in time");
    let response = parse_response(&raw, false).expect("an HTTP response");
    assert_eq!(response.status, 200, "{}", response.text());
    response.text()
}

#[tokio::test]
async fn the_inherited_socket_is_served_and_no_early_connection_is_lost() {
    let (mut child, port, mut stdout) = activator(
        &[
            // Ignored: the inherited socket replaces `bind`.
            "--bind",
            "127.0.0.1:1",
            "--workers",
            "2",
            "--shutdown-drain",
            "0.6",
        ],
        &[],
    );
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // Before the server exists: these wait in the socket's backlog.
    let early: Vec<_> = (0..5).map(|_| early_request(addr)).collect();
    writeln!(child.stdin.as_mut().unwrap(), "go").unwrap();
    // While it starts: more connections, none refused.
    let starting: Vec<_> = (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            early_request(addr)
        })
        .collect();
    let listening = wait_for_log(&mut stdout, "listening on");
    assert!(
        listening.contains(&format!("http://127.0.0.1:{port} (2 workers)")),
        "serves the inherited socket: {listening}"
    );
    let expected = format!("pid={} LISTEN_FDS=unset", child.id());
    for stream in early.into_iter().chain(starting) {
        assert_eq!(read_response(stream), expected, "LISTEN_PID is its own pid");
    }
    std::thread::spawn(move || for _ in stdout.lines() {});

    // SIGTERM with a drain: not ready, still serving, then gone.
    assert_eq!(get(addr, "/readyz").await.status, 200);
    send_signal(child.id(), "TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ready = get(addr, "/readyz").await;
        if ready.status == 503 {
            assert_eq!(ready.text(), "shutting down");
            break;
        }
        assert!(Instant::now() < deadline, "readiness never failed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        get(addr, "/").await.text(),
        expected,
        "served while draining"
    );
    assert!(wait_exit(&mut child).success());
}

#[test]
fn fd_bind_without_an_inherited_socket_is_an_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_health_server"))
        .args(["--bind", "fd://3"])
        .env_remove("LISTEN_FDS")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("fd://3") && err.contains("socket activation"),
        "{err}"
    );
}

#[tokio::test]
async fn fd_bind_picks_an_inherited_unix_socket_next_to_a_bound_address() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let path = std::env::temp_dir().join(format!("wsgi-activated-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let (mut child, _, mut stdout) = activator(
        &["--bind", "fd://3", "--bind", "127.0.0.1:0"],
        &[("ACTIVATE_UNIX", path.to_str().unwrap())],
    );
    // Connected before the server runs: waits in the backlog.
    let mut early = tokio::net::UnixStream::connect(&path).await.unwrap();
    early
        .write_all(b"GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    writeln!(child.stdin.as_mut().unwrap(), "go").unwrap();
    let first = wait_for_log(&mut stdout, "listening on");
    let second = wait_for_log(&mut stdout, "listening on");
    assert!(
        first.contains(&format!("unix:{}", path.display())),
        "{first}"
    );
    assert!(
        second.contains("http://127.0.0.1:"),
        "the other address is bound: {second}"
    );
    std::thread::spawn(move || for _ in stdout.lines() {});
    let mut raw = Vec::new();
    tokio::time::timeout(IO_TIMEOUT, early.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let response = parse_response(&raw, false).expect("a response");
    assert_eq!(
        response.text(),
        format!("pid={} LISTEN_FDS=unset", child.id())
    );

    send_signal(child.id(), "TERM");
    assert!(wait_exit(&mut child).success());
    assert!(
        path.exists(),
        "an inherited socket's file belongs to its parent"
    );
    std::fs::remove_file(&path).unwrap();
}
