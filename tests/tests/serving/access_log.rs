//! The access log of `Server::run` over real sockets: with several
//! workers serving many connections at once, every request is logged
//! exactly once, each connection's lines in its order, in the default
//! template's exact format; lines written just before and during the
//! shutdown reach stdout before the server exits.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Lines, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use wsgi_tests::child::{read_address, send_signal};

const CLIENTS: usize = 8;
const REQUESTS: usize = 150;

/// Sends `GET path` on `stream` (kept alive) and reads the whole response.
fn get(stream: &mut TcpStream, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let mut byte = [0u8; 1024];
    loop {
        let n = stream.read(&mut byte).unwrap();
        assert!(n > 0, "the server closed the connection");
        response.extend_from_slice(&byte[..n]);
        let text = String::from_utf8_lossy(&response);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .expect("a Content-Length")
                .parse()
                .unwrap();
            if body.len() >= length {
                return text.into_owned();
            }
        }
    }
}

/// One access line in the default template: the peer's port, the method
/// and path, and the status and bytes; the line's shape is checked
/// (`TIMESTAMP  INFO wsgi::access: PEER "METHOD PATH HTTP/1.1" STATUS
/// BYTES MS.MSms`).
fn parse(line: &str) -> (u16, String, String) {
    let (stamp, rest) = line.split_at(27);
    let stamp = stamp.as_bytes();
    assert!(
        stamp[4] == b'-' && stamp[10] == b'T' && stamp[19] == b'.' && stamp[26] == b'Z',
        "timestamp: {line}"
    );
    let rest = rest
        .strip_prefix("  INFO wsgi::access: 127.0.0.1:")
        .unwrap_or_else(|| panic!("prefix: {line:?}"));
    let (port, rest) = rest.split_once(" \"").expect("method");
    let (path, rest) = rest.split_once(" HTTP/1.1\" ").expect("version");
    let (status_and_bytes, millis) = rest.rsplit_once(' ').expect("duration");
    let millis = millis.strip_suffix("ms").expect("ms");
    let (whole, fraction) = millis.split_once('.').expect("three decimals");
    assert!(
        !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && fraction.len() == 3
            && fraction.bytes().all(|b| b.is_ascii_digit()),
        "duration: {line}"
    );
    (
        port.parse().expect("a port"),
        path.to_owned(),
        status_and_bytes.to_owned(),
    )
}

/// Starts `slow_server` with `args`, its log to a pipe without colour;
/// returns it, its stdout's lines (past the address line) and its address.
fn start(args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slow_server"))
        .args(["--bind", "127.0.0.1:0"])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start slow_server");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr: SocketAddr = read_address(&mut lines);
    (child, lines, addr)
}

#[test]
fn every_request_of_many_connections_on_several_workers_is_logged_once_in_order() {
    let (mut child, lines, addr) = start(&["--workers", "3"]);
    // Read the log while the clients run, so a full pipe never holds the
    // server up.
    let reader = std::thread::spawn(move || lines.map(|l| l.expect("read")).collect::<Vec<_>>());

    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                for i in 0..REQUESTS {
                    let response = get(&mut stream, &format!("/fast/{client}/{i}"));
                    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
                    assert!(response.ends_with("\r\n\r\nfast"), "{response}");
                }
                stream.local_addr().unwrap().port()
            })
        })
        .collect();
    let ports: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    // A bodiless answer is logged with its request too.
    let mut head = TcpStream::connect(addr).unwrap();
    head.write_all(b"HEAD /fast/head HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    head.read_to_end(&mut response).unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"));
    // A request still running when the shutdown begins: its line is
    // written during the drain.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    slow.write_all(b"GET /slow HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // At once after the last responses: their lines are at most a moment
    // old, still in the workers' buffers.
    send_signal(child.id(), "TERM");
    let mut response = Vec::new();
    slow.read_to_end(&mut response).unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"));

    let log = reader.join().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    let mut seen: HashMap<(usize, usize), usize> = HashMap::new();
    let mut last: Vec<Option<usize>> = vec![None; CLIENTS];
    let mut slow_lines = 0;
    let mut head_lines = 0;
    for line in log.iter().filter(|l| l.contains(" wsgi::access: ")) {
        let (port, request, status_and_bytes) = parse(line);
        if request == "HEAD /fast/head" {
            assert_eq!(status_and_bytes, "200 0", "{line}");
            head_lines += 1;
            continue;
        }
        let path = request.strip_prefix("GET ").expect("a GET");
        if path == "/slow" {
            assert_eq!(status_and_bytes, "200 17", "{line}");
            slow_lines += 1;
            continue;
        }
        assert_eq!(status_and_bytes, "200 4", "{line}");
        let mut parts = path
            .strip_prefix("/fast/")
            .expect("a /fast/ path")
            .split('/');
        let client: usize = parts.next().unwrap().parse().unwrap();
        let i: usize = parts.next().unwrap().parse().unwrap();
        assert_eq!(port, ports[client], "the peer of client {client}: {line}");
        *seen.entry((client, i)).or_default() += 1;
        // One connection is served by one worker, whose lines keep their
        // order.
        assert!(
            last[client].is_none_or(|before| before < i),
            "client {client}'s request {i} logged after {:?}",
            last[client]
        );
        last[client] = Some(i);
    }
    assert_eq!(slow_lines, 1, "the request served during the shutdown");
    assert_eq!(head_lines, 1, "the HEAD request");
    for client in 0..CLIENTS {
        for i in 0..REQUESTS {
            assert_eq!(
                seen.get(&(client, i)).copied().unwrap_or(0),
                1,
                "client {client}'s request {i}"
            );
        }
    }
    assert_eq!(seen.len(), CLIENTS * REQUESTS);
    assert!(
        log.last().is_some_and(|l| l.contains("server stopped")),
        "the last line: {:?}",
        log.last()
    );
}

/// A server that logged nothing for a while (its writer thread then
/// sleeps until a line comes) still writes a request's line at once, not
/// at the next busy moment or the shutdown.
#[test]
fn a_line_after_a_quiet_spell_is_written_while_the_server_runs() {
    let (mut child, lines, addr) = start(&["--workers", "1"]);
    let (sender, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for round in 0..3 {
        // Longer than a round of the writer thread: it finds nothing and
        // goes to sleep.
        std::thread::sleep(Duration::from_millis(300));
        let response = get(&mut stream, &format!("/fast/quiet/{round}"));
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let wanted = format!("\"GET /fast/quiet/{round} HTTP/1.1\" 200 4");
        loop {
            let line = received
                .recv_timeout(Duration::from_secs(2))
                .unwrap_or_else(|_| panic!("round {round}: no access line while running"));
            if line.contains(&wanted) {
                break;
            }
        }
    }
    send_signal(child.id(), "TERM");
    assert!(child.wait().unwrap().success());
}
