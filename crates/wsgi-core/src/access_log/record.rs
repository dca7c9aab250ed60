//! One request's access line: what is captured when the request arrives,
//! and the line written when its response body ends.

use std::cell::RefCell;
use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http::header::{self, HeaderValue};
use http::{Method, StatusCode, Version};

use super::{text, AccessLogFormat, Field};
use crate::body::Outcome;
use crate::connection::Connection;
use crate::environ::Environ;

/// Writes one access line straight into the log of
/// [`Server::run`](crate::server::Server::run), without a `tracing` event:
/// it calls the closure to append the line's text (no newline) after the
/// line's timestamp (the time given, read when the response ended), level
/// and target.
type Direct = fn(Instant, &mut dyn FnMut(&mut Vec<u8>));

static DIRECT: OnceLock<Direct> = OnceLock::new();

/// Whether access lines are written, when the global subscriber's filter
/// cannot change its mind: `UNKNOWN` until the first request asks.
static ACCESS_ON: AtomicU8 = AtomicU8::new(UNKNOWN);
const UNKNOWN: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;
/// Whether [`ACCESS_ON`] may be used.
static FIXED_FILTER: OnceLock<()> = OnceLock::new();

/// From now on, access lines go to `direct` rather than through `tracing`
/// (called once `Server::run`'s own subscriber is the global one, so both
/// end in the same log). Whether a line is written at all is still the
/// subscriber's filter's decision; with `fixed_filter` (no directive
/// depends on spans, so the answer for `wsgi::access` never changes) it
/// is asked once rather than per request.
#[cfg(feature = "server")]
pub(crate) fn set_direct(direct: Direct, fixed_filter: bool) {
    let _ = DIRECT.set(direct);
    if fixed_filter {
        let _ = FIXED_FILTER.set(());
    }
}

/// Whether the subscriber wants access lines.
fn access_enabled() -> bool {
    let ask = || tracing::enabled!(target: "wsgi::access", tracing::Level::INFO);
    if FIXED_FILTER.get().is_none() {
        return ask();
    }
    match ACCESS_ON.load(Ordering::Relaxed) {
        OFF => false,
        ON => true,
        _ => {
            // `tracing::enabled!` asks the filter every time, whatever
            // the callsite's cached interest: 120 instructions a request.
            let on = ask();
            ACCESS_ON.store(if on { ON } else { OFF }, Ordering::Relaxed);
            on
        }
    }
}

/// The most ended records a thread keeps for its next requests.
const SPARES: usize = 64;

thread_local! {
    /// Records of ended responses, reused by this thread's next requests:
    /// an allocation and a free fewer per logged request. The boxes
    /// themselves are what is kept, hence a `Vec` of them.
    #[allow(clippy::vec_box)]
    static SPARE: RefCell<Vec<Box<AccessRecord>>> = const { RefCell::new(Vec::new()) };
}

/// What one request's access line shows, captured when the request
/// arrives and written when its response body ends.
pub(crate) struct AccessRecord {
    // One `Arc` clone per logged request: the line is rendered when the
    // body ends, after the service's settings may be out of reach.
    format: Arc<AccessLogFormat>,
    /// The request's method and target: moved in by
    /// [`set_request`](Self::set_request) from the copy the response
    /// keeps anyway, rather than cloned from the environ.
    method: Method,
    uri: http::Uri,
    version: Version,
    /// For `{peer}`: its text is made once per connection.
    connection: Option<Connection>,
    remote_addr: Option<IpAddr>,
    user_agent: Option<HeaderValue>,
    referer: Option<HeaderValue>,
    status: StatusCode,
    started: Instant,
}

impl AccessRecord {
    /// The record of `environ`'s request, when access lines are logged.
    /// Boxed: a response carries it to its end, and most responses are
    /// moved several times on the way while logging is off. The box is
    /// one the thread kept from an ended response when it has one.
    pub(crate) fn capture(environ: &Environ, format: &Arc<AccessLogFormat>) -> Option<Box<Self>> {
        if !access_enabled() {
            return None;
        }
        let header = |name| {
            format
                .uses_headers()
                .then(|| environ.headers().get(name).cloned())
                .flatten()
        };
        let remote_addr = format
            .uses_remote_addr()
            .then(|| environ.remote_addr())
            .flatten();
        let spare = SPARE
            .try_with(|spare| spare.borrow_mut().pop())
            .ok()
            .flatten();
        let Some(mut record) = spare else {
            return Some(Box::new(AccessRecord {
                user_agent: header(header::USER_AGENT),
                referer: header(header::REFERER),
                method: Method::GET,
                uri: http::Uri::default(),
                version: environ.version(),
                connection: environ.connection().cloned(),
                remote_addr,
                status: StatusCode::OK,
                started: Instant::now(),
                format: Arc::clone(format),
            }));
        };
        // Field by field: the fields `finish` cleared need no drop, and
        // nothing is built beside the box and copied in.
        if !Arc::ptr_eq(&record.format, format) {
            record.format = Arc::clone(format);
        }
        if format.uses_headers() {
            record.user_agent = header(header::USER_AGENT);
            record.referer = header(header::REFERER);
        }
        record.version = environ.version();
        record.connection = environ.connection().cloned();
        record.remote_addr = remote_addr;
        record.status = StatusCode::OK;
        record.started = Instant::now();
        Some(record)
    }

    /// Writes the line (see [`write`](Self::write)), then keeps the box
    /// for the thread's next request, without what ties it to this one.
    pub(crate) fn finish(mut self: Box<Self>, bytes: u64, outcome: Outcome) {
        self.write(bytes, outcome);
        self.connection = None;
        self.uri = http::Uri::default();
        self.method = Method::GET;
        self.user_agent = None;
        self.referer = None;
        let _ = SPARE.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < SPARES {
                spare.push(self);
            }
        });
    }

    /// The request's method and target (see the field's docs).
    pub(crate) fn set_request(&mut self, method: Method, uri: http::Uri) {
        self.method = method;
        self.uri = uri;
    }

    /// The status the response was answered with.
    pub(crate) fn set_status(&mut self, status: StatusCode) {
        self.status = status;
    }

    /// Writes the line: `bytes` body bytes were sent and the body ended
    /// with `outcome`.
    fn write(&self, bytes: u64, outcome: Outcome) {
        // One clock reading for the duration and the line's timestamp.
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.started);
        if let Some(direct) = DIRECT.get() {
            direct(now, &mut |out| self.render(out, bytes, outcome, elapsed));
            return;
        }
        // An application's own subscriber gets an event, with the values
        // as fields too.
        let mut line = Vec::with_capacity(96);
        self.render(&mut line, bytes, outcome, elapsed);
        let line = String::from_utf8_lossy(&line);
        tracing::info!(
            target: "wsgi::access",
            status = self.status.as_u16(),
            bytes,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "{line}"
        );
    }

    /// Appends the line's text to `out`: only the template's fields are
    /// formatted, without `fmt` (see [`text`]).
    fn render(&self, out: &mut Vec<u8>, bytes: u64, outcome: Outcome, elapsed: Duration) {
        if self.format.is_default() {
            return self.render_default(out, bytes, elapsed);
        }
        self.format.render(out, |field, out| match field {
            Field::Peer => self.peer(out),
            Field::RemoteAddr => match self.remote_addr {
                Some(IpAddr::V4(ip)) => text::ipv4(ip.octets()).put(out),
                // Writing to a `Vec` cannot fail.
                Some(ip) => drop(write!(out, "{ip}")),
                None => out.push(b'-'),
            },
            Field::Method => self.method(out),
            Field::Uri => self.uri(out),
            Field::Path => out.extend_from_slice(self.uri.path().as_bytes()),
            Field::Query => out.extend_from_slice(self.uri.query().unwrap_or("").as_bytes()),
            Field::Version => text::version(self.version).put(out),
            Field::Status => text::status(self.status.as_u16()).put(out),
            Field::Bytes => text::decimal(bytes).put(out),
            Field::DurationMs => text::milliseconds(elapsed).put(out),
            Field::Outcome => out.extend_from_slice(match outcome {
                Outcome::Completed => b"completed".as_slice(),
                Outcome::Failed => b"failed",
                _ => b"aborted",
            }),
            Field::UserAgent | Field::Referer => {
                let value = if field == Field::UserAgent {
                    &self.user_agent
                } else {
                    &self.referer
                };
                let text = value.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-");
                out.extend_from_slice(text.as_bytes());
            }
        });
    }

    /// [`DEFAULT_FORMAT`](super::DEFAULT_FORMAT), `{peer} "{method} {uri}
    /// {version}" {status} {bytes} {duration_ms}ms`, written in one
    /// straight run: the same bytes as the template's loop, which cost
    /// twice as much (a step and a jump per field).
    fn render_default(&self, out: &mut Vec<u8>, bytes: u64, elapsed: Duration) {
        self.peer(out);
        out.extend_from_slice(b" \"");
        self.method(out);
        out.push(b' ');
        self.uri(out);
        out.push(b' ');
        text::version(self.version).put(out);
        out.extend_from_slice(b"\" ");
        text::status(self.status.as_u16()).put(out);
        out.push(b' ');
        text::decimal(bytes).put(out);
        out.push(b' ');
        text::milliseconds(elapsed).put(out);
        out.extend_from_slice(b"ms");
    }

    /// `{peer}`: its text is made once per connection.
    fn peer(&self, out: &mut Vec<u8>) {
        match self.connection.as_ref().and_then(|c| c.client_addr_text()) {
            Some(peer) => out.extend_from_slice(peer.as_bytes()),
            None => out.push(b'-'),
        }
    }

    /// `{method}`.
    fn method(&self, out: &mut Vec<u8>) {
        match text::method(&self.method) {
            Some(name) => name.put(out),
            None => out.extend_from_slice(self.method.as_str().as_bytes()),
        }
    }

    /// `{uri}`: the request target as sent.
    fn uri(&self, out: &mut Vec<u8>) {
        match self.uri.path_and_query() {
            Some(target) if self.uri.scheme().is_none() => {
                out.extend_from_slice(target.as_str().as_bytes());
            }
            // Writing to a `Vec` cannot fail.
            _ => drop(write!(out, "{}", self.uri)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(format: &AccessLogFormat, connection: Option<Connection>) -> AccessRecord {
        AccessRecord {
            format: Arc::new(format.clone()),
            method: Method::GET,
            uri: http::Uri::from_static("/"),
            version: Version::HTTP_11,
            connection,
            remote_addr: None,
            user_agent: None,
            referer: None,
            status: StatusCode::OK,
            started: Instant::now(),
        }
    }

    fn line(record: &AccessRecord, bytes: u64, outcome: Outcome, elapsed: Duration) -> String {
        let mut out = Vec::new();
        record.render(&mut out, bytes, outcome, elapsed);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_default_template_is_written_as_the_template_loop_writes_it() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let peers = [
            None,
            Some("127.0.0.1:50123".parse().unwrap()),
            Some("[2001:db8::1]:8080".parse().unwrap()),
        ];
        let requests = [
            (Method::GET, "/", Version::HTTP_11),
            (Method::POST, "/items/42?x=1&y=%20", Version::HTTP_10),
            (Method::HEAD, "*", Version::HTTP_2),
            (
                Method::DELETE,
                "http://example.com:81/a?b",
                Version::HTTP_09,
            ),
            (
                Method::from_bytes(b"PROPFIND-LONGER-THAN-16").unwrap(),
                "/",
                Version::HTTP_3,
            ),
        ];
        let default = AccessLogFormat::default();
        let mut looped = default.clone();
        looped.is_default = false;
        for peer in peers {
            let connection = Connection::new(runtime.handle().clone(), peer, None);
            for (method, uri, version) in &requests {
                for (status, bytes, nanos) in [
                    (200, 13, 36_123),
                    (404, 0, 0),
                    (599, u64::MAX, 12_345_678_901),
                ] {
                    let mut fast = record(&default, Some(connection.clone()));
                    fast.method = method.clone();
                    fast.uri = uri.parse().unwrap();
                    fast.version = *version;
                    fast.status = StatusCode::from_u16(status).unwrap();
                    let mut slow = record(&looped, Some(connection.clone()));
                    slow.method = fast.method.clone();
                    slow.uri = fast.uri.clone();
                    slow.version = fast.version;
                    slow.status = fast.status;
                    let elapsed = Duration::from_nanos(nanos);
                    let written = line(&fast, bytes, Outcome::Completed, elapsed);
                    assert_eq!(written, line(&slow, bytes, Outcome::Completed, elapsed));
                    // And as `format!` writes it.
                    let peer = peer.map_or("-".to_owned(), |p| p.to_string());
                    let version = match *version {
                        Version::HTTP_09 => "HTTP/0.9",
                        Version::HTTP_10 => "HTTP/1.0",
                        Version::HTTP_11 => "HTTP/1.1",
                        Version::HTTP_2 => "HTTP/2",
                        _ => "HTTP/3",
                    };
                    let millis = (nanos + 500) / 1000;
                    let expected = format!(
                        "{peer} \"{method} {uri} {version}\" {status} {bytes} {}.{:03}ms",
                        millis / 1000,
                        millis % 1000
                    );
                    assert_eq!(written, expected);
                }
            }
        }
    }

    #[test]
    fn every_field_is_written_as_display_writes_it() {
        let format = AccessLogFormat::parse(
            "{peer}|{remote_addr}|{method}|{uri}|{path}|{query}|{version}|{status}|{bytes}|{duration_ms}|{outcome}|{user_agent}|{referer}",
        )
        .unwrap();
        let mut record = record(&format, None);
        record.uri = "/a/b?c=d".parse().unwrap();
        record.status = StatusCode::NOT_FOUND;
        record.remote_addr = Some("203.0.113.5".parse().unwrap());
        record.user_agent = Some(HeaderValue::from_static("tester/1"));
        let elapsed = Duration::from_micros(1_234_567);
        assert_eq!(
            line(&record, 1_000_000, Outcome::Aborted, elapsed),
            "-|203.0.113.5|GET|/a/b?c=d|/a/b|c=d|HTTP/1.1|404|1000000|1234.567|aborted|tester/1|-"
        );
        record.remote_addr = Some("2001:db8::5".parse().unwrap());
        record.uri = "/".parse().unwrap();
        let written = line(&record, 0, Outcome::Failed, Duration::ZERO);
        assert_eq!(
            written,
            "-|2001:db8::5|GET|/|/||HTTP/1.1|404|0|0.000|failed|tester/1|-"
        );
    }
}
