//! A server in a child process (the `load_server` binary), so a test can
//! read its resident memory and open file descriptors from `/proc` and send
//! it signals.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running server process; killed when dropped (a failing test must not
/// leave it behind).
#[derive(Debug)]
pub struct ChildServer {
    child: Child,
    addr: SocketAddr,
}

/// The body counts `GET /stats` reports: how the counted bodies ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BodyStats {
    /// Bodies made.
    pub started: u64,
    /// Bodies sent to their end.
    pub completed: u64,
    /// Bodies dropped before their end (the client left).
    pub aborted: u64,
    /// Bodies whose stream failed.
    pub failed: u64,
}

impl BodyStats {
    /// Bodies whose close hook has run.
    pub fn closed(&self) -> u64 {
        self.completed + self.aborted + self.failed
    }
}

impl ChildServer {
    /// Starts `binary` with `--bind 127.0.0.1:0 --workers 1` and `args`,
    /// and waits for the address it logs.
    pub fn start(binary: impl AsRef<Path>, args: &[&str]) -> ChildServer {
        ChildServer::start_with_env(binary, args, &[])
    }

    /// Like [`start`](Self::start), with `env` added to the inherited
    /// environment.
    pub fn start_with_env(
        binary: impl AsRef<Path>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> ChildServer {
        let mut child = Command::new(binary.as_ref())
            .args(["--bind", "127.0.0.1:0", "--workers", "1"])
            .args(args)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            // The address line, warnings and errors, without an access line
            // per request.
            .env("RUST_LOG", "info,wsgi::access=off")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server process");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = read_address(&mut lines);
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ChildServer { child, addr }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB (`VmRSS` of `/proc/PID/status`).
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid()).expect("the server process is running")
    }

    /// Open file descriptors (entries of `/proc/PID/fd`).
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .count()
    }

    /// `GET /stats`.
    pub async fn stats(&self) -> BodyStats {
        let response = crate::get(self.addr, "/stats").await;
        assert_eq!(response.status, 200, "{}", response.text());
        let json: serde_json::Value =
            serde_json::from_slice(&response.body).expect("/stats is JSON");
        let count = |name: &str| json[name].as_u64().expect("a count");
        BodyStats {
            started: count("started"),
            completed: count("completed"),
            aborted: count("aborted"),
            failed: count("failed"),
        }
    }

    /// Polls `/stats` until `done` holds or `within` passes; returns the
    /// last counts.
    pub async fn wait_for_stats(
        &self,
        within: Duration,
        done: impl Fn(&BodyStats) -> bool,
    ) -> BodyStats {
        let deadline = Instant::now() + within;
        loop {
            let stats = self.stats().await;
            if done(&stats) || Instant::now() >= deadline {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls the open file descriptors until at most `limit` or `within`
    /// passes; returns the last count.
    pub async fn wait_for_fds(&self, within: Duration, limit: usize) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let fds = self.fd_count();
            if fds <= limit || Instant::now() >= deadline {
                return fds;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends `signal` (a name such as `TERM`) with `kill`.
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    /// Waits up to `within` for the process to exit.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the server") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Reads a server's log lines up to the one announcing its address
/// (`listening on http://ADDR`), and returns that address.
pub fn read_address(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> SocketAddr {
    loop {
        let line = lines
            .next()
            .expect("the server logs its address before exiting")
            .expect("read a log line");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            let addr: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                .collect();
            return addr.parse().expect("a socket address");
        }
    }
}

/// Sends `signal` (a name such as `TERM`) to process `pid` with `kill`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// `VmRSS` of process `pid` in KiB, if the process is still there.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
