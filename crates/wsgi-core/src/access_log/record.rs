//! One request's access line: what is captured when the request arrives,
//! and the line written when its response body ends.

use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http::header::{self, HeaderValue};
use http::{Method, StatusCode, Version};

use super::{AccessLogFormat, Field};
use crate::body::Outcome;
use crate::connection::Connection;
use crate::environ::Environ;

/// Writes one access line straight into the log of
/// [`Server::run`](crate::server::Server::run), without a `tracing` event:
/// it calls the closure to append the line's text (no newline) after the
/// line's timestamp, level and target.
type Direct = fn(&mut dyn FnMut(&mut Vec<u8>));

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

/// What one request's access line shows, captured when the request
/// arrives and written when its response body ends.
pub(crate) struct AccessRecord {
    // One `Arc` clone per logged request: the line is rendered when the
    // body ends, after the service's settings may be out of reach.
    format: Arc<AccessLogFormat>,
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
    /// moved several times on the way while logging is off.
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
        Some(Box::new(AccessRecord {
            user_agent: header(header::USER_AGENT),
            referer: header(header::REFERER),
            method: environ.method().clone(),
            uri: environ.uri().clone(),
            version: environ.version(),
            connection: environ.connection().cloned(),
            remote_addr: format
                .uses_remote_addr()
                .then(|| environ.remote_addr())
                .flatten(),
            status: StatusCode::OK,
            started: Instant::now(),
            format: Arc::clone(format),
        }))
    }

    /// The status the response was answered with.
    pub(crate) fn set_status(&mut self, status: StatusCode) {
        self.status = status;
    }

    /// Writes the line: `bytes` body bytes were sent and the body ended
    /// with `outcome`.
    pub(crate) fn write(&self, bytes: u64, outcome: Outcome) {
        let elapsed = self.started.elapsed();
        if let Some(direct) = DIRECT.get() {
            direct(&mut |out| self.render(out, bytes, outcome, elapsed));
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
    /// formatted, numbers and IPv4 addresses without `fmt`.
    fn render(&self, out: &mut Vec<u8>, bytes: u64, outcome: Outcome, elapsed: Duration) {
        let mut numbers = itoa::Buffer::new();
        self.format.render(out, |field, out| match field {
            Field::Peer => match self.connection.as_ref().and_then(|c| c.client_addr_text()) {
                Some(peer) => out.extend_from_slice(peer.as_bytes()),
                None => out.push(b'-'),
            },
            Field::RemoteAddr => match self.remote_addr {
                Some(IpAddr::V4(ip)) => ipv4(out, ip.octets()),
                // Writing to a `Vec` cannot fail.
                Some(ip) => drop(write!(out, "{ip}")),
                None => out.push(b'-'),
            },
            Field::Method => out.extend_from_slice(self.method.as_str().as_bytes()),
            Field::Uri => match self.uri.path_and_query() {
                Some(target) if self.uri.scheme().is_none() => {
                    out.extend_from_slice(target.as_str().as_bytes());
                }
                _ => drop(write!(out, "{}", self.uri)),
            },
            Field::Path => out.extend_from_slice(self.uri.path().as_bytes()),
            Field::Query => out.extend_from_slice(self.uri.query().unwrap_or("").as_bytes()),
            Field::Version => out.extend_from_slice(version_text(self.version).as_bytes()),
            Field::Status => out.extend_from_slice(self.status.as_str().as_bytes()),
            Field::Bytes => out.extend_from_slice(numbers.format(bytes).as_bytes()),
            Field::DurationMs => milliseconds(out, elapsed, &mut numbers),
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
}

/// An IPv4 address, as `Ipv4Addr`'s `Display` writes it.
fn ipv4(out: &mut Vec<u8>, octets: [u8; 4]) {
    let mut text = [0u8; 15];
    let at = ipv4_into(&mut text, octets);
    out.extend_from_slice(&text[..at]);
}

/// Writes dotted `octets` at the start of `text` (15 bytes at least);
/// returns their length.
fn ipv4_into(text: &mut [u8], octets: [u8; 4]) -> usize {
    let mut at = 0;
    for (i, octet) in octets.into_iter().enumerate() {
        if i > 0 {
            text[at] = b'.';
            at += 1;
        }
        at = decimal(text, at, octet.into());
    }
    at
}

/// Writes `value` (below 100,000) in decimal at `text[at..]`; returns
/// the index after it.
fn decimal(text: &mut [u8], at: usize, value: u32) -> usize {
    let len = match value {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1000..=9999 => 4,
        _ => 5,
    };
    let mut rest = value;
    for digit in text[at..at + len].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    at + len
}

/// `elapsed` in milliseconds with three decimals (rounded to the
/// microsecond), as `{:.3}` writes them.
fn milliseconds(out: &mut Vec<u8>, elapsed: Duration, numbers: &mut itoa::Buffer) {
    // In `u64` (a `u128` division is a library call): 584,000 years.
    let micros = elapsed.as_secs() * 1_000_000 + u64::from(elapsed.subsec_nanos() + 500) / 1000;
    out.extend_from_slice(numbers.format(micros / 1000).as_bytes());
    let fraction = (micros % 1000) as u16;
    out.extend_from_slice(&[
        b'.',
        b'0' + (fraction / 100) as u8,
        b'0' + (fraction / 10 % 10) as u8,
        b'0' + (fraction % 10) as u8,
    ]);
}

fn version_text(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_durations_are_written_as_display_writes_them() {
        for ip in ["127.0.0.1", "10.200.3.45", "255.255.255.255", "0.0.0.0"] {
            let ip: std::net::Ipv4Addr = ip.parse().unwrap();
            let mut out = Vec::new();
            ipv4(&mut out, ip.octets());
            assert_eq!(out, ip.to_string().as_bytes());
        }
        for nanos in [
            0,
            499,
            500,
            36_000,
            1_234_567,
            5_000_999_500,
            12_345_678_901,
            999_999_999,
        ] {
            let elapsed = Duration::from_nanos(nanos);
            let mut out = Vec::new();
            milliseconds(&mut out, elapsed, &mut itoa::Buffer::new());
            let micros = (nanos + 500) / 1000;
            let expected = format!("{}.{:03}", micros / 1000, micros % 1000);
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{nanos} ns");
        }
    }
}
