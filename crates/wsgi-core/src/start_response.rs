//! `start_response`: how an application sets the response head.
//!
//! PEP 3333's `start_response(status, response_headers, exc_info=None)` becomes
//! [`StartResponse::start`] and [`StartResponse::start_exc_info`]. Every status
//! and header is validated when it is given, so nothing an application passes
//! can reach the wire unchecked: a header value with a line break is an error
//! for the application, never a second header for the client.
//!
//! The rules, as PEP 3333 states them:
//! - the status is a WSGI status line (`"200 OK"`: three digits, a space, a
//!   reason) or a typed [`http::StatusCode`];
//! - header names are HTTP tokens, values hold no CR, LF, NUL or other control
//!   characters (horizontal tab excepted);
//! - hop-by-hop headers (`Connection`, `Keep-Alive`, `Transfer-Encoding`, ...)
//!   belong to the server, which owns framing, and are refused;
//! - calling `start` twice is an error; `start_exc_info` replaces the head
//!   while nothing has been sent and hands the application's error back
//!   once it has (PEP 3333's re-raise), before looking at the new head at
//!   all;
//! - once any call failed, the response is a 500 unless a later
//!   `start_exc_info` replaces the head with a valid one: an application
//!   that ignores the error still cannot send what it asked for (a refused
//!   `start_exc_info` poisons the response just as a refused `start` does);
//! - the returned [`Writer`] is PEP 3333's legacy `write()`: its bytes go out
//!   before (and between) the items of the returned body, and as soon as
//!   the connection can take them, even while the application or its body
//!   is still awaiting something else.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

use crate::error::Error;

/// A validated response status: a code and an optional custom reason phrase.
///
/// ```
/// use wsgi_core::Status;
/// let status: Status = "404 Not Here".parse().unwrap();
/// assert_eq!(status.code().as_u16(), 404);
/// assert_eq!(status.reason(), "Not Here");
/// assert!("20 OK".parse::<Status>().is_err());
/// assert!("200 OK\r\nX-Evil: 1".parse::<Status>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    code: StatusCode,
    /// `Some` only when the reason differs from the canonical one.
    reason: Option<Bytes>,
}

impl Status {
    /// The status code.
    pub fn code(&self) -> StatusCode {
        self.code
    }

    /// The reason phrase: the custom one if set, else the canonical one.
    pub fn reason(&self) -> &str {
        match &self.reason {
            // Validated as visible ASCII, space or tab in `parse_status_line`.
            Some(reason) => std::str::from_utf8(reason).unwrap_or(""),
            None => self.code.canonical_reason().unwrap_or(""),
        }
    }

    pub(crate) fn custom_reason(&self) -> Option<&Bytes> {
        self.reason.as_ref()
    }

    fn from_code(code: StatusCode) -> Result<Self, StartResponseError> {
        if code.is_informational() {
            return Err(StartResponseError::InformationalStatus(code.as_u16()));
        }
        Ok(Status { code, reason: None })
    }
}

impl std::str::FromStr for Status {
    type Err = StartResponseError;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let bytes = line.as_bytes();
        let bad = || StartResponseError::InvalidStatus(line.to_owned());
        if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let code = StatusCode::from_bytes(&bytes[..3]).map_err(|_| bad())?;
        let reason = match &bytes[3..] {
            [] => None,
            [b' ', reason @ ..] => Some(reason),
            _ => return Err(bad()),
        };
        let mut status = Status::from_code(code)?;
        if let Some(reason) = reason {
            if reason
                .iter()
                .any(|&b| !(b == b'\t' || b == b' ' || b.is_ascii_graphic()))
            {
                return Err(bad());
            }
            // An empty reason for a code without a canonical one is no
            // custom reason: `Display` prints such a status as `"999 "`,
            // which must parse back to the same status (found by fuzzing).
            let canonical = code.canonical_reason().unwrap_or("").as_bytes();
            if canonical != reason {
                status.reason = Some(Bytes::copy_from_slice(reason));
            }
        }
        Ok(status)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code.as_str(), self.reason())
    }
}

/// Anything `start_response` accepts as a status.
///
/// Implemented for WSGI status lines (`&str`, `String`), [`StatusCode`],
/// `u16` and [`Status`].
pub trait IntoStatus {
    /// Validates and converts.
    fn into_status(self) -> Result<Status, StartResponseError>;
}

impl IntoStatus for Status {
    fn into_status(self) -> Result<Status, StartResponseError> {
        Ok(self)
    }
}

impl IntoStatus for StatusCode {
    fn into_status(self) -> Result<Status, StartResponseError> {
        Status::from_code(self)
    }
}

impl IntoStatus for u16 {
    fn into_status(self) -> Result<Status, StartResponseError> {
        let code = StatusCode::from_u16(self)
            .map_err(|_| StartResponseError::InvalidStatus(self.to_string()))?;
        Status::from_code(code)
    }
}

impl IntoStatus for &str {
    fn into_status(self) -> Result<Status, StartResponseError> {
        self.parse()
    }
}

impl IntoStatus for String {
    fn into_status(self) -> Result<Status, StartResponseError> {
        self.parse()
    }
}

/// Why a `start_response` call was refused. Each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartResponseError {
    /// The status line is not three digits, optionally a space and a reason.
    InvalidStatus(String),
    /// 1xx statuses are interim responses that the server, not the
    /// application, sends.
    InformationalStatus(u16),
    /// The header name is not an HTTP token.
    InvalidHeaderName(String),
    /// The header value holds CR, LF, NUL or another control character.
    InvalidHeaderValue(String),
    /// A hop-by-hop header, which only the server may set.
    HopByHopHeader(String),
    /// `Content-Length` is not a non-negative integer, or appears twice with
    /// different values.
    InvalidContentLength(String),
    /// `start` was called again without `exc_info`.
    AlreadyStarted,
}

impl fmt::Display for StartResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidStatus(s) => write!(
                f,
                "invalid status {s:?}: expected three digits, a space and a reason, like \"200 OK\""
            ),
            Self::InformationalStatus(code) => write!(
                f,
                "status {code} is informational (1xx); the server sends interim responses, an application must give a final status"
            ),
            Self::InvalidHeaderName(name) => write!(
                f,
                "header name {name:?} is not a valid HTTP token (letters, digits and !#$%&'*+-.^_`|~ only)"
            ),
            Self::InvalidHeaderValue(name) => write!(
                f,
                "header value for `{name}` contains a line break or another control character"
            ),
            Self::HopByHopHeader(name) => write!(
                f,
                "`{name}` is a hop-by-hop header; the server manages connection framing, remove it"
            ),
            Self::InvalidContentLength(v) => write!(
                f,
                "Content-Length {v:?} is not a single non-negative integer"
            ),
            Self::AlreadyStarted => write!(
                f,
                "start_response was already called; call it again only with exc_info to replace the head of an error response"
            ),
        }
    }
}

impl std::error::Error for StartResponseError {}

/// A validated response head, ready for the wire.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) status: Status,
    pub(crate) headers: HeaderMap,
    pub(crate) content_length: Option<u64>,
}

/// Whether `name` is a hop-by-hop header, which only the server may set:
/// PEP 3333's list (RFC 2616 §13.5.1) plus every `Proxy-*` header
/// (`Proxy-Connection` included).
pub(crate) fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name == header::TE
        || name == header::TRAILER
        || name.as_str() == "keep-alive"
        || name.as_str() == "trailers"
        || name.as_str().starts_with("proxy-")
}

fn build_head<I, K, V>(status: impl IntoStatus, headers: I) -> Result<Head, StartResponseError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<[u8]>,
{
    let status = status.into_status()?;
    let iter = headers.into_iter();
    // Room for the `Content-Length` and `Server` the server may add: a
    // `HeaderMap` that grows rehashes every entry.
    let mut map = HeaderMap::with_capacity(iter.size_hint().0 + 2);
    let mut content_length = None;
    for (name, value) in iter {
        let name = name.as_ref();
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| StartResponseError::InvalidHeaderName(name.to_owned()))?;
        if is_hop_by_hop(&header_name) {
            return Err(StartResponseError::HopByHopHeader(name.to_owned()));
        }
        let header_value = HeaderValue::from_bytes(value.as_ref())
            .map_err(|_| StartResponseError::InvalidHeaderValue(name.to_owned()))?;
        if header_name == header::CONTENT_LENGTH {
            let text = String::from_utf8_lossy(value.as_ref());
            let parsed = text
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|_| !text.trim().starts_with('+'))
                .ok_or_else(|| StartResponseError::InvalidContentLength(text.to_string()))?;
            if content_length.is_some_and(|previous| previous != parsed) {
                return Err(StartResponseError::InvalidContentLength(text.to_string()));
            }
            if content_length.is_some() {
                continue;
            }
            content_length = Some(parsed);
            map.insert(header::CONTENT_LENGTH, HeaderValue::from(parsed));
            continue;
        }
        map.append(header_name, header_value);
    }
    Ok(Head {
        status,
        headers: map,
        content_length,
    })
}

/// [`build_head`] for headers in a `HeaderMap`: the same checks in the same
/// order, and the same head (one `Content-Length`, written as digits).
fn head_from_map(status: Status, mut headers: HeaderMap) -> Result<Head, StartResponseError> {
    let mut content_length = None;
    let mut rewrite_length = false;
    for (name, value) in &headers {
        if is_hop_by_hop(name) {
            return Err(StartResponseError::HopByHopHeader(name.as_str().to_owned()));
        }
        // `HeaderValue::from_bytes`'s rule, for a value built unchecked.
        let bytes = value.as_bytes();
        if !bytes.iter().all(|&b| b == b'\t' || (b >= 32 && b != 127)) {
            return Err(StartResponseError::InvalidHeaderValue(
                name.as_str().to_owned(),
            ));
        }
        if name == header::CONTENT_LENGTH {
            let text = String::from_utf8_lossy(bytes);
            let parsed = text
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|_| !text.trim().starts_with('+'))
                .ok_or_else(|| StartResponseError::InvalidContentLength(text.to_string()))?;
            if content_length.is_some_and(|previous| previous != parsed) {
                return Err(StartResponseError::InvalidContentLength(text.to_string()));
            }
            // Already as `HeaderValue::from(parsed)` writes it, or not.
            let canonical =
                bytes.iter().all(u8::is_ascii_digit) && (bytes.len() == 1 || bytes[0] != b'0');
            rewrite_length |= content_length.is_some() || !canonical;
            content_length = Some(parsed);
        }
    }
    if let (true, Some(length)) = (rewrite_length, content_length) {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    // Room for the `Server` (and `Content-Length`) the server may add.
    headers.reserve(2);
    Ok(Head {
        status,
        headers,
        content_length,
    })
}

#[derive(Debug, Default)]
struct State {
    head: Option<Head>,
    /// A head was accepted (it may since have been taken for the wire).
    started: bool,
    head_sent: bool,
    /// The first refused call; makes the response a 500 unless `exc_info`
    /// replaces the head later.
    refused: Option<StartResponseError>,
    written: VecDeque<Bytes>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Whether `write()` bytes are queued: lets the server skip the lock on
    /// every body item when (as usual) nothing was written.
    has_written: AtomicBool,
    /// The task sending the response, woken by `write()`: bytes written
    /// while the application or its body waits for something else must
    /// not wait with it (PEP 3333 wants them sent at once).
    waker: AtomicWaker,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave `State` half-updated
        // in a way that matters: every field is assigned whole.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// PEP 3333's `start_response` callable, as a cheap, cloneable handle.
///
/// The server creates one per request and passes it to the application; the
/// application may move clones into its body (to call
/// [`start_exc_info`](Self::start_exc_info) while streaming, for example).
///
/// ```
/// use wsgi_core::{StartResponse, StartResponseError};
///
/// let start_response = StartResponse::new();
/// start_response.start("200 OK", [("Content-Type", "text/plain")]).unwrap();
/// assert_eq!(
///     start_response.start("200 OK", [("X-A", "1")]).unwrap_err(),
///     StartResponseError::AlreadyStarted
/// );
///
/// let other = StartResponse::new();
/// let err = other.start("200 OK", [("X-A", "a\r\nSet-Cookie: x=1")]).unwrap_err();
/// assert_eq!(err.to_string(), "header value for `X-A` contains a line break or another control character");
/// ```
#[derive(Clone, Debug, Default)]
pub struct StartResponse {
    shared: Arc<Shared>,
}

impl StartResponse {
    /// A fresh handle, as the server makes for each request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the status and headers. Returns the legacy [`Writer`].
    ///
    /// Errors if a value is invalid (see the [module docs](self)) or if the
    /// head was already set.
    pub fn start<I, K, V>(
        &self,
        status: impl IntoStatus,
        headers: I,
    ) -> Result<Writer, StartResponseError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        self.set_head(build_head(status, headers))
    }

    /// [`start`](Self::start) with headers already in a `HeaderMap` (a
    /// [`WsgiResponse`](crate::WsgiResponse)'s): the same checks and the
    /// same head, without parsing each name and copying each value again.
    pub(crate) fn start_map(
        &self,
        status: Status,
        headers: HeaderMap,
    ) -> Result<Writer, StartResponseError> {
        self.set_head(head_from_map(status, headers))
    }

    /// [`start_map`](Self::start_map) for headers the crate built itself
    /// (a `WsgiResponse` whose own headers were empty: only its content
    /// type, length and checked cookies): nothing there needs the checks.
    pub(crate) fn start_built(
        &self,
        status: Status,
        mut headers: HeaderMap,
        content_length: Option<u64>,
    ) -> Result<Writer, StartResponseError> {
        // Room for the `Server` (and `Content-Length`) the server may add.
        headers.reserve(2);
        self.set_head(Ok(Head {
            status,
            headers,
            content_length,
        }))
    }

    /// The head of a `101 Switching Protocols` to `protocol`: `headers`
    /// get the usual checks (no hop-by-hop header from the application),
    /// then the server's own `Connection: upgrade` and `Upgrade`. Only the
    /// WebSocket API reaches this (through `WsgiResponse`), so `start`
    /// keeps refusing 1xx and `Upgrade` from applications.
    pub(crate) fn start_switching(
        &self,
        headers: HeaderMap,
        protocol: HeaderValue,
    ) -> Result<Writer, StartResponseError> {
        let status = Status {
            code: StatusCode::SWITCHING_PROTOCOLS,
            reason: None,
        };
        let head = head_from_map(status, headers).map(|mut head| {
            head.headers.remove(header::CONTENT_LENGTH);
            head.content_length = None;
            head.headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            head.headers.insert(header::UPGRADE, protocol);
            head
        });
        self.set_head(head)
    }

    fn set_head(
        &self,
        built: Result<Head, StartResponseError>,
    ) -> Result<Writer, StartResponseError> {
        let mut state = self.shared.lock();
        let result = match built {
            // Also after the head went out: PEP 3333 makes that fatal.
            Ok(_) if state.started => Err(StartResponseError::AlreadyStarted),
            Ok(head) => {
                state.head = Some(head);
                state.started = true;
                Ok(self.writer())
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            state.refused.get_or_insert_with(|| e.clone());
        }
        result
    }

    /// `start_response(status, headers, exc_info)`: replaces the head with an
    /// error response while nothing has been sent.
    ///
    /// Once the head is on the wire it is too late: `exc_info` is handed back
    /// as the error, which the application should propagate (the server then
    /// aborts the stream), just as PEP 3333 re-raises it.
    pub fn start_exc_info<I, K, V>(
        &self,
        status: impl IntoStatus,
        headers: I,
        exc_info: Error,
    ) -> Result<Writer, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let built = build_head(status, headers);
        let mut state = self.shared.lock();
        // First: once the head is out, nothing about the new one matters;
        // the application's own error is what goes back up.
        if state.head_sent {
            return Err(exc_info);
        }
        let head = match built {
            Ok(head) => head,
            Err(refused) => {
                // As for `start`: an application that ignores this error
                // still gets a 500, not the head it had set before.
                state.refused = Some(refused.clone());
                return Err(refused.into());
            }
        };
        tracing::debug!(error = %exc_info, "start_response called with exc_info; replacing the head");
        state.head = Some(head);
        state.started = true;
        state.refused = None;
        state.written.clear();
        self.shared.has_written.store(false, Ordering::Release);
        Ok(self.writer())
    }

    /// Whether a head has been set.
    pub fn is_started(&self) -> bool {
        self.shared.lock().started
    }

    /// Whether the head has gone to the client (after which `exc_info` can no
    /// longer change it).
    pub fn is_head_sent(&self) -> bool {
        self.shared.lock().head_sent
    }

    fn writer(&self) -> Writer {
        Writer {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Called by the server when it is about to send the head: returns the
    /// head (or the refusal that makes it a 500) and marks it sent.
    pub(crate) fn take_head(&self) -> Result<Option<Head>, StartResponseError> {
        let mut state = self.shared.lock();
        state.head_sent = true;
        if let Some(refused) = state.refused.take() {
            return Err(refused);
        }
        Ok(state.head.take())
    }

    /// Takes the bytes queued through [`Writer::write`], oldest first.
    pub(crate) fn take_written(&self) -> Option<Bytes> {
        if !self.has_written() {
            return None;
        }
        let mut state = self.shared.lock();
        let bytes = state.written.pop_front();
        if state.written.is_empty() {
            self.shared.has_written.store(false, Ordering::Release);
        }
        bytes
    }

    /// Whether any bytes are queued, without taking them (no lock).
    pub(crate) fn has_written(&self) -> bool {
        self.shared.has_written.load(Ordering::Acquire)
    }

    /// Whether bytes are queued, arranging for `waker` to be woken by the
    /// next [`Writer::write`] when none are: the sender calls this before
    /// waiting on the application or its body.
    pub(crate) fn poll_written(&self, waker: &std::task::Waker) -> bool {
        if self.has_written() {
            return true;
        }
        self.shared.waker.register(waker);
        // Checked again: a write between the first check and the
        // registration would otherwise wake nobody.
        self.has_written()
    }
}

/// PEP 3333's legacy `write(data)` callable, returned by `start_response`.
///
/// Its bytes are queued and go out before the next item of the returned body
/// (so before the whole body if written during the call), and without
/// waiting for it: bytes written while the application or its body awaits
/// something else are sent (head first) as soon as the connection takes
/// them. Prefer returning a body: `write` cannot apply backpressure, so the
/// queue grows with what is written.
#[derive(Clone, Debug)]
pub struct Writer {
    shared: Arc<Shared>,
}

impl Writer {
    /// Queues `data` for the client.
    pub fn write(&self, data: impl Into<Bytes>) {
        let data = data.into();
        if !data.is_empty() {
            let mut state = self.shared.lock();
            state.written.push_back(data);
            // Set under the lock, so `take_written` never clears it while
            // bytes are queued.
            self.shared.has_written.store(true, Ordering::Release);
            drop(state);
            self.shared.waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_rules() {
        assert_eq!(
            "200 OK".parse::<Status>().map(|s| s.code()),
            Ok(StatusCode::OK)
        );
        assert!("200".parse::<Status>().is_ok());
        assert!("200OK".parse::<Status>().is_err());
        assert!("abc OK".parse::<Status>().is_err());
        assert!("99 Low".parse::<Status>().is_err());
        assert_eq!(
            "101 Switching Protocols".parse::<Status>(),
            Err(StartResponseError::InformationalStatus(101))
        );
        assert!("200 O\nK".parse::<Status>().is_err());
        assert_eq!(
            "418 Teapot".parse::<Status>().map(|s| s.to_string()),
            Ok("418 Teapot".into())
        );
    }

    #[test]
    fn a_status_prints_to_a_line_that_parses_back_to_it() {
        for line in ["999", "999 ", "299 Custom", "200 ", "200 OK", "200"] {
            let status: Status = line.parse().unwrap();
            assert_eq!(
                status.to_string().parse::<Status>(),
                Ok(status.clone()),
                "{line:?} printed as {status}"
            );
        }
    }

    #[test]
    fn hop_by_hop_headers_are_refused() {
        for name in [
            "Connection",
            "Keep-Alive",
            "Transfer-Encoding",
            "Upgrade",
            "TE",
            "Trailer",
            "Proxy-Authenticate",
        ] {
            let sr = StartResponse::new();
            assert_eq!(
                sr.start("200 OK", [(name, "x")]).unwrap_err(),
                StartResponseError::HopByHopHeader(name.to_owned()),
                "{name} must be refused"
            );
        }
    }

    #[test]
    fn invalid_names_and_values_are_refused() {
        let sr = StartResponse::new();
        assert!(matches!(
            sr.start("200 OK", [("Bad Name", "x")]),
            Err(StartResponseError::InvalidHeaderName(_))
        ));
        assert!(matches!(
            sr.start("200 OK", [("X-A", "a\nb")]),
            Err(StartResponseError::InvalidHeaderValue(_))
        ));
        assert!(matches!(
            sr.start("200 OK", [("X-A", "a\0b")]),
            Err(StartResponseError::InvalidHeaderValue(_))
        ));
        assert!(matches!(
            sr.start("200 OK", [("Content-Length", "-1")]),
            Err(StartResponseError::InvalidContentLength(_))
        ));
        // A refused call poisons the response even if the app ignores it.
        assert!(sr.take_head().is_err());
    }

    #[test]
    fn exc_info_replaces_the_head_until_it_is_sent() {
        let sr = StartResponse::new();
        sr.start("200 OK", [("X-A", "1")]).unwrap();
        sr.start_exc_info("500 Oops", [("X-B", "2")], Error::msg("boom"))
            .unwrap();
        let head = sr.take_head().unwrap().unwrap();
        assert_eq!(head.status.code(), 500);
        assert!(head.headers.get("x-a").is_none());
        let err = sr
            .start_exc_info("500 Oops", Vec::<(&str, &str)>::new(), Error::msg("late"))
            .unwrap_err();
        assert_eq!(err.to_string(), "late");
    }

    #[test]
    fn writes_are_queued_in_order() {
        let sr = StartResponse::new();
        let write = sr.start("200 OK", [("X-A", "1")]).unwrap();
        write.write("a");
        write.write("");
        write.write("b");
        assert_eq!(sr.take_written().as_deref(), Some(&b"a"[..]));
        assert_eq!(sr.take_written().as_deref(), Some(&b"b"[..]));
        assert!(sr.take_written().is_none());
    }
}
