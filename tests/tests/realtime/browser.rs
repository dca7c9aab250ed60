//! A headless chromium driven over the Chrome DevTools Protocol (CDP): just
//! enough of it to open pages and evaluate JavaScript in them, which is all
//! the browser test of the chat example needs (`chat_browser.rs`).
//!
//! CDP is JSON over a WebSocket: a command `{id, method, params,
//! sessionId}` is answered by a message with the same `id`; the other
//! messages (events) are skipped. Commands are sent one at a time, so the
//! client reads until its answer.
//!
//! The browser is `$WSGI_CHROMIUM`, else `chromium`, `chromium-browser` or
//! `google-chrome` on the `PATH`. Without one the caller skips, unless
//! `WSGI_REQUIRE_CHROMIUM=1` (CI sets it after installing Debian's
//! `chromium`), which makes it a failure.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// How long chromium may take to start and print its DevTools address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one CDP command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

/// A running headless chromium, killed when dropped.
pub(super) struct Browser {
    child: Child,
    cdp: WebSocketStream<TcpStream>,
    next_id: u64,
    /// The rest of chromium's stderr, kept (unread) until the browser ends
    /// so the thread reading it never blocks the browser.
    _stderr: mpsc::Receiver<String>,
    // Removed after the child is killed (fields drop after `drop`).
    _profile: tempfile::TempDir,
}

/// One page (a tab) of the browser.
#[derive(Debug, Clone)]
pub(super) struct Page {
    session: String,
}

fn report(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// The browser to run, or `None` after saying why the test is skipped (a
/// failure when `WSGI_REQUIRE_CHROMIUM=1`).
pub(super) fn chromium_or_skip(test: &str) -> Option<String> {
    let candidates: Vec<String> = match std::env::var("WSGI_CHROMIUM") {
        Ok(chosen) => vec![chosen],
        Err(_) => ["chromium", "chromium-browser", "google-chrome"]
            .map(str::to_owned)
            .to_vec(),
    };
    let found = candidates.into_iter().find(|browser| {
        Command::new(browser)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
    });
    if found.is_none() {
        let required = std::env::var("WSGI_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{test}: WSGI_REQUIRE_CHROMIUM=1 but no chromium found (apt-get install chromium, or set WSGI_CHROMIUM to the browser's path)"
        );
        report(&format!(
            "{test}: skipped, no chromium (set WSGI_CHROMIUM, or WSGI_REQUIRE_CHROMIUM=1 to fail)"
        ));
    }
    found
}

impl Browser {
    /// Starts `program` headless with a fresh profile and connects to its
    /// DevTools endpoint.
    pub(super) async fn launch(program: &str) -> Browser {
        let profile = tempfile::tempdir().expect("a temporary profile directory");
        let mut child = Command::new(program)
            .args([
                "--headless",
                // Chromium's sandbox needs user namespaces, which containers
                // (and root) usually lack; the pages are the test's own.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        // Its stderr, line by line, from a thread: the DevTools address is
        // printed there, and the rest is kept for a failure's message.
        let stderr = child.stderr.take().expect("piped stderr");
        let (lines, seen) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut output = Vec::new();
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match seen.recv_timeout(left) {
                Ok(line) => match line.split_once("DevTools listening on ") {
                    Some((_, url)) => break url.trim().to_owned(),
                    None => output.push(line),
                },
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "{program} printed no DevTools address within {START_TIMEOUT:?}; its stderr:\n{}",
                        output.join("\n")
                    );
                }
            }
        };
        let authority = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("unexpected DevTools address {url}"));
        let tcp = TcpStream::connect(authority)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to chromium's DevTools at {url}: {e}"));
        let (cdp, _) = tokio_tungstenite::client_async(url.as_str(), tcp)
            .await
            .unwrap_or_else(|e| panic!("DevTools WebSocket handshake with {url}: {e}"));
        Browser {
            child,
            cdp,
            next_id: 0,
            _stderr: seen,
            _profile: profile,
        }
    }

    /// Sends a command (to a page's session, or to the browser) and returns
    /// its result; a CDP error fails the test.
    pub(super) async fn command(
        &mut self,
        session: Option<&Page>,
        method: &str,
        params: Value,
    ) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(page) = session {
            command["sessionId"] = Value::String(page.session.clone());
        }
        let exchange = async {
            self.cdp
                .send(Message::text(command.to_string()))
                .await
                .expect("a CDP command goes out");
            loop {
                let message = self
                    .cdp
                    .next()
                    .await
                    .expect("chromium closed the DevTools connection")
                    .expect("a CDP message");
                let Message::Text(text) = message else {
                    continue;
                };
                let answer: Value = serde_json::from_str(text.as_str()).expect("CDP sends JSON");
                if answer["id"].as_u64() == Some(id) {
                    return answer;
                }
            }
        };
        let answer = tokio::time::timeout(COMMAND_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| panic!("no answer to CDP {method} within {COMMAND_TIMEOUT:?}"));
        if let Some(error) = answer.get("error") {
            panic!("CDP {method} failed: {error}");
        }
        answer["result"].clone()
    }

    /// Opens `url` in a new page.
    pub(super) async fn open(&mut self, url: &str) -> Page {
        let target = self
            .command(None, "Target.createTarget", json!({ "url": url }))
            .await;
        let target_id = target["targetId"].clone();
        let attached = self
            .command(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await;
        let session = attached["sessionId"]
            .as_str()
            .expect("attachToTarget gives a sessionId")
            .to_owned();
        Page { session }
    }

    /// Evaluates `expression` in `page` (awaiting a promise) and returns
    /// its value; a thrown exception fails the test.
    pub(super) async fn eval(&mut self, page: &Page, expression: &str) -> Value {
        let result = self
            .command(
                Some(page),
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("`{expression}` threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` in `page` until it is `true`, failing after
    /// `timeout` with what `describe` evaluates to then.
    pub(super) async fn wait_for(
        &mut self,
        page: &Page,
        expression: &str,
        describe: &str,
        timeout: Duration,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.eval(page, expression).await == Value::Bool(true) {
                return;
            }
            if Instant::now() >= deadline {
                let state = self.eval(page, describe).await;
                panic!("`{expression}` still false after {timeout:?}; {describe} = {state}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
