//! Server-Sent Events: a `text/event-stream` response whose head goes out
//! at once, then one event at a time as the application produces them.
//!
//! An [`EventStream`] wraps any stream of [`Event`]s; it is a response
//! ([`IntoResponse`]) with the event-stream content type, `Cache-Control:
//! no-cache` and `X-Accel-Buffering: no` (so nginx passes each event on
//! instead of buffering), and a body that sends its head before the first
//! event ([`Body::head_at_once`]). With
//! [`keep_alive`](EventStream::keep_alive) a comment line is sent whenever
//! the stream has been quiet that long, so proxies and browsers keep the
//! connection. A reconnecting browser sends the last id it saw; the
//! [`LastEventId`] extractor reads it.
//!
//! ```
//! use std::time::Duration;
//! use futures_util::stream::{self, StreamExt};
//! use wsgi_core::sse::{Event, EventStream, LastEventId};
//! use wsgi_core::{wsgi_handler, Error};
//!
//! #[wsgi_handler]
//! fn ticks(LastEventId(last): LastEventId) -> EventStream {
//!     let start: u64 = last.and_then(|id| id.parse().ok()).map_or(0, |id: u64| id + 1);
//!     let events = stream::iter(start..).then(|n| async move {
//!         tokio::time::sleep(Duration::from_secs(1)).await;
//!         Ok::<_, Error>(Event::new().event("tick").id(n.to_string()).data(format!("tick {n}\nsecond line")))
//!     });
//!     EventStream::new(events).keep_alive(Duration::from_secs(15))
//! }
//! # let _ = Ticks;
//! ```

use std::fmt::{self, Write as _};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use http::header::{self, HeaderValue};

use crate::body::Body;
use crate::environ::Environ;
use crate::error::Error;
use crate::extract::FromEnviron;
use crate::response::{IntoResponse, WsgiResponse};

/// One event: any of `event` (its type), `data` (several lines allowed),
/// `id`, `retry`, and comments. Line breaks in `event` and `id` (and NUL
/// in `id`), which the format cannot carry, are removed.
///
/// ```
/// use std::time::Duration;
/// use wsgi_core::sse::Event;
///
/// let event = Event::new()
///     .event("message")
///     .id("7")
///     .retry(Duration::from_secs(3))
///     .data("first line\nsecond line");
/// assert_eq!(
///     event.to_string(),
///     "event: message\nid: 7\nretry: 3000\ndata: first line\ndata: second line\n\n"
/// );
/// assert_eq!(Event::comment("keep-alive").to_string(), ": keep-alive\n\n");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// The field lines, in the order they were set, without the blank line
    /// that ends the event.
    text: String,
}

impl Event {
    /// An empty event (add fields to it).
    pub fn new() -> Self {
        Event::default()
    }

    /// A comment alone: ignored by `EventSource`, it keeps the connection
    /// busy.
    pub fn comment(text: &str) -> Self {
        Event::new().with_comment(text)
    }

    /// Adds a comment line (each line of `text`).
    pub fn with_comment(mut self, text: &str) -> Self {
        for line in lines(text) {
            self.field("", line);
        }
        self
    }

    /// The event's type (`addEventListener(type, ...)`; `message` when
    /// absent).
    pub fn event(mut self, name: &str) -> Self {
        let name: String = name.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
        self.field("event", &name);
        self
    }

    /// The data; each line of it becomes a `data:` line, joined again with
    /// `\n` by the browser.
    pub fn data(mut self, data: impl AsRef<str>) -> Self {
        for line in lines(data.as_ref()) {
            self.field("data", line);
        }
        self
    }

    /// The event's id: a reconnecting browser sends the last one it saw as
    /// `Last-Event-ID` (see [`LastEventId`]).
    pub fn id(mut self, id: impl AsRef<str>) -> Self {
        let id: String = id
            .as_ref()
            .chars()
            .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
            .collect();
        self.field("id", &id);
        self
    }

    /// How long the browser waits before reconnecting.
    pub fn retry(mut self, after: Duration) -> Self {
        let millis = after.as_millis().to_string();
        self.field("retry", &millis);
        self
    }

    fn field(&mut self, name: &str, value: &str) {
        // `name: value`; a comment is `: value`.
        let _ = writeln!(self.text, "{name}: {value}");
    }
}

/// The lines of `text`, split at `\r\n`, `\n` or `\r` as the format does.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').flat_map(|line| {
        line.strip_suffix('\r')
            .unwrap_or(line)
            .split('\r')
            .collect::<Vec<_>>()
    })
}

/// The event as sent: its field lines and the blank line that ends it.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")
    }
}

impl From<Event> for Bytes {
    fn from(event: Event) -> Bytes {
        let mut text = event.text;
        text.push('\n');
        Bytes::from(text)
    }
}

/// A `text/event-stream` response: see the [module docs](self).
pub struct EventStream {
    events: BoxStream<'static, Result<Event, Error>>,
    keep_alive: Option<Duration>,
}

impl EventStream {
    /// The events of `events`, each sent when it is ready; an error ends
    /// the stream (the connection is closed, and the browser reconnects).
    pub fn new<S, E>(events: S) -> Self
    where
        S: Stream<Item = Result<Event, E>> + Send + 'static,
        E: Into<Error>,
    {
        EventStream {
            events: events.map(|event| event.map_err(Into::into)).boxed(),
            keep_alive: None,
        }
    }

    /// Sends a comment (`: keep-alive`) whenever no event was sent for
    /// `every`: proxies and load balancers close connections that stay
    /// silent (nginx after 60 s by default).
    pub fn keep_alive(mut self, every: Duration) -> Self {
        self.keep_alive = Some(every).filter(|every| !every.is_zero());
        self
    }

    /// The response body: the events (with keep-alive comments), head at
    /// once.
    pub fn into_body(self) -> Body {
        let stream = KeepAlive {
            events: self.events,
            every: self.keep_alive,
            timer: self
                .keep_alive
                .map(|every| Box::pin(tokio::time::sleep(every))),
        };
        Body::from_stream(stream).head_at_once()
    }
}

impl IntoResponse for EventStream {
    fn into_response(self) -> Result<WsgiResponse, Error> {
        let mut response = WsgiResponse::stream(self.into_body());
        response.set_content_type("text/event-stream");
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        Ok(response)
    }
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("keep_alive", &self.keep_alive)
            .finish_non_exhaustive()
    }
}

/// The events, with a comment after each quiet `every`.
struct KeepAlive {
    events: BoxStream<'static, Result<Event, Error>>,
    every: Option<Duration>,
    /// Boxed so the stream is `Unpin`; reset after each event.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Stream for KeepAlive {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Poll::Ready(event) = this.events.poll_next_unpin(cx) {
            if let (Some(timer), Some(every)) = (this.timer.as_mut(), this.every) {
                timer.as_mut().reset(tokio::time::Instant::now() + every);
            }
            return Poll::Ready(event.map(|event| event.map(Bytes::from)));
        }
        if let (Some(timer), Some(every)) = (this.timer.as_mut(), this.every) {
            if timer.as_mut().poll(cx).is_ready() {
                timer.as_mut().reset(tokio::time::Instant::now() + every);
                return Poll::Ready(Some(Ok(Bytes::from_static(b": keep-alive\n\n"))));
            }
        }
        Poll::Pending
    }
}

/// The `Last-Event-ID` a reconnecting `EventSource` sends: the id of the
/// last event it received (`None` on a first connection). An extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastEventId(pub Option<String>);

impl LastEventId {
    /// Reads it from the request (the extractor does the same).
    pub fn from_request(environ: &Environ) -> Self {
        LastEventId(
            environ
                .header("last-event-id")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
        )
    }
}

impl FromEnviron for LastEventId {
    type Rejection = std::convert::Infallible;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Self::Rejection> {
        Ok(LastEventId::from_request(environ))
    }
}

#[cfg(test)]
mod tests {
    use super::Event;

    #[test]
    fn data_lines_split_at_every_line_break() {
        let event = Event::new().data("a\r\nb\rc\nd");
        assert_eq!(event.to_string(), "data: a\ndata: b\ndata: c\ndata: d\n\n");
        assert_eq!(Event::new().data("").to_string(), "data: \n\n");
    }

    #[test]
    fn event_names_and_ids_cannot_break_the_framing() {
        let event = Event::new().event("a\nb").id("1\r\n2\0");
        assert_eq!(event.to_string(), "event: ab\nid: 12\n\n");
    }
}
