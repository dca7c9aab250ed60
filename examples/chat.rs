//! A chat room: an HTML page served by the app, messages over a WebSocket,
//! and Server-Sent Events (with a POST to send) for browsers or proxies
//! where the WebSocket fails.
//!
//! ```text
//! cargo run --example chat -- --bind 127.0.0.1:8060
//! # open http://127.0.0.1:8060/ in two browser tabs and talk
//! curl -N http://127.0.0.1:8060/events          # the room, as events
//! curl -d 'hello from curl' http://127.0.0.1:8060/send
//! ```
//!
//! - `GET /`: the page. It opens `/ws`; if that fails (or closes before it
//!   ever opened), it listens on `/events` and sends with `POST /send`.
//!   `/?sse` goes to the event stream at once. The page's "Transport" line
//!   says which one is open, once it is.
//! - `GET /ws`: a WebSocket; each text message is said in the room, and
//!   everything said in the room is sent to the socket.
//! - `GET /events`: the room as an event stream (`Last-Event-ID` skips what
//!   the browser already has, while it is still in the room's recent
//!   history), with keep-alive comments.
//! - `POST /send`: says the body (text, at most 4 KiB) in the room.
//!
//! The room is a `tokio::sync::broadcast` channel given as state; a client
//! that falls too far behind skips what it missed rather than holding the
//! others back.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use wsgi_core::extract::State;
use wsgi_core::router::Router;
use wsgi_core::server::Server;
use wsgi_core::sse::{Event, EventStream, LastEventId};
use wsgi_core::websocket::{Message, WebSocket, WebSocketUpgrade};
use wsgi_core::{wsgi_handler, Config, Error, Html, HttpError, WsgiHandler, WsgiResponse};

/// Longest message accepted, in bytes.
pub const MAX_MESSAGE: usize = 4096;

/// One line said in the room, with its number.
#[derive(Debug, Clone)]
pub struct Said {
    /// Increasing from 1: the event id of the SSE stream.
    pub id: u64,
    /// What was said.
    pub text: String,
}

/// The room everybody in it hears.
#[derive(Debug, Clone)]
pub struct Room {
    sender: broadcast::Sender<Said>,
    next_id: Arc<AtomicU64>,
}

impl Room {
    /// An empty room keeping the last `history` lines for late readers.
    pub fn new(history: usize) -> Self {
        let (sender, _) = broadcast::channel(history.max(1));
        Room {
            sender,
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Says `text` to everybody listening.
    pub fn say(&self, text: String) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // No listener: nobody hears it, as in a real empty room.
        let _ = self.sender.send(Said { id, text });
    }

    fn listen(&self) -> broadcast::Receiver<Said> {
        self.sender.subscribe()
    }
}

/// The page: a message list, an input, and the script choosing between the
/// WebSocket and the event stream.
pub const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>wsgi-rs chat</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 40em; margin: 2em auto; }
  #log { border: 1px solid #ccc; height: 20em; overflow-y: auto; padding: .5em; }
  #log p { margin: .2em 0; }
  form { display: flex; gap: .5em; margin-top: .5em; }
  input { flex: 1; }
</style>
</head>
<body>
<h1>Chat</h1>
<p>Transport: <span id="transport">connecting…</span></p>
<div id="log"></div>
<form id="form"><input id="text" autocomplete="off" maxlength="4000" autofocus><button>Send</button></form>
<script>
const log = document.getElementById("log");
const transport = document.getElementById("transport");
function show(text) {
  const line = document.createElement("p");
  line.textContent = text;
  log.appendChild(line);
  log.scrollTop = log.scrollHeight;
}
let send = null;
function useEvents() {
  const source = new EventSource("events");
  source.onopen = () => { transport.textContent = "server-sent events"; };
  source.addEventListener("said", (event) => show(event.data));
  send = (text) => fetch("send", { method: "POST", body: text });
}
function useWebSocket() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let opened = false;
  const socket = new WebSocket(scheme + "//" + location.host + location.pathname.replace(/[^/]*$/, "") + "ws");
  socket.onopen = () => {
    opened = true;
    transport.textContent = "WebSocket";
    send = (text) => socket.send(text);
  };
  socket.onmessage = (event) => show(event.data);
  socket.onclose = () => {
    if (!opened || new URLSearchParams(location.search).has("fallback")) { useEvents(); }
    else { transport.textContent = "disconnected"; }
  };
}
if (new URLSearchParams(location.search).has("sse")) { useEvents(); } else { useWebSocket(); }
document.getElementById("form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("text");
  if (send && input.value) { send(input.value); input.value = ""; }
});
</script>
</body>
</html>
"#;

#[wsgi_handler]
fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// A WebSocket in the room: what it says is said, what is said is sent.
#[wsgi_handler]
fn ws(upgrade: WebSocketUpgrade, State(room): State<Room>) -> WsgiResponse {
    upgrade
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| talk(socket, room))
}

async fn talk(mut socket: WebSocket, room: Room) {
    let mut heard = room.listen();
    loop {
        tokio::select! {
            received = socket.recv() => match received {
                Some(Ok(Message::Text(text))) => room.say(text.to_string()),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
            said = heard.recv() => match said {
                Ok(said) => {
                    if socket.send(Message::text(said.text)).await.is_err() {
                        return;
                    }
                }
                // Too far behind: skip what was missed.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// The room as an event stream, each line a `said` event.
#[wsgi_handler]
fn events(State(room): State<Room>, LastEventId(last): LastEventId) -> EventStream {
    let seen: u64 = last.and_then(|id| id.parse().ok()).unwrap_or(0);
    let heard = room.listen();
    let events = futures_util::stream::unfold(heard, move |mut heard| async move {
        loop {
            match heard.recv().await {
                Ok(said) if said.id <= seen => continue,
                Ok(said) => {
                    let event = Event::new()
                        .event("said")
                        .id(said.id.to_string())
                        .data(said.text);
                    return Some((Ok::<_, Error>(event), heard));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    EventStream::new(events).keep_alive(Duration::from_secs(15))
}

/// Says the request body in the room.
#[wsgi_handler]
fn send(State(room): State<Room>, text: String) -> Result<&'static str, HttpError> {
    if text.is_empty() || text.len() > MAX_MESSAGE {
        return Err(HttpError::bad_request(format!(
            "send between 1 and {MAX_MESSAGE} bytes of text"
        )));
    }
    room.say(text);
    Ok("sent\n")
}

/// The chat application around `room`.
pub fn app(room: Room) -> WsgiHandler {
    WsgiHandler::default().with_state(room).middleware(
        Router::new()
            .get("/", Page)
            .get("/ws", Ws)
            .get("/events", Events)
            .post("/send", Send),
    )
}

/// Serves the chat with the command line's settings.
pub fn main() -> ExitCode {
    match Server::new(app(Room::new(100)))
        .config(Config::from_args())
        .run()
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
