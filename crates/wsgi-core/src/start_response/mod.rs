//! `start_response`: how an application sets the response head ([`StartResponse`], documented there).

mod error;
mod head;
mod status;
mod typed_head;

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

use crate::error::Error;

pub use error::StartResponseError;
use head::{build_head, head_from_map};
pub(crate) use head::{is_hop_by_hop, keep_spare_map, Head};
pub use status::{IntoStatus, Status};
use typed_head::build_typed_head;

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

/// `start_response`: how an application sets the response head.
///
/// PEP 3333's `start_response(status, response_headers, exc_info=None)` becomes
/// [`StartResponse::start`] and [`StartResponse::start_exc_info`]. Every status
/// and header is validated when it is given, so nothing an application passes
/// can reach the wire unchecked: a header value with a line break is an error
/// for the application, never a second header for the client.
///
/// The rules, as PEP 3333 states them:
/// - the status is a WSGI status line (`"200 OK"`: three digits, a space, a
///   reason) or a typed [`http::StatusCode`];
/// - header names are HTTP tokens, values hold no CR, LF, NUL or other control
///   characters (horizontal tab excepted);
/// - [`start_typed`](StartResponse::start_typed) takes headers already made
///   (`http`'s `HeaderName`, `HeaderValue`), checked when they were made;
/// - hop-by-hop headers (`Connection`, `Keep-Alive`, `Transfer-Encoding`, ...)
///   belong to the server, which owns framing, and are refused;
/// - calling `start` twice is an error; `start_exc_info` replaces the head
///   while nothing has been sent and hands the application's error back
///   once it has (PEP 3333's re-raise), before looking at the new head at
///   all;
/// - once any call failed, the response is a 500 unless a later
///   `start_exc_info` replaces the head with a valid one: an application
///   that ignores the error still cannot send what it asked for (a refused
///   `start_exc_info` poisons the response just as a refused `start` does);
/// - the returned [`Writer`] is PEP 3333's legacy `write()`: its bytes go out
///   before (and between) the items of the returned body, and as soon as
///   the connection can take them, even while the application or its body
///   is still awaiting something else.
///
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
#[derive(Clone, Debug)]
pub struct StartResponse {
    shared: Arc<Shared>,
}

std::thread_local! {
    /// The state of a response this thread finished with, cleared, for the
    /// next one: an allocation and a free fewer per request (see
    /// [`StartResponse::recycle`]).
    static SPARE: Cell<Option<Arc<Shared>>> = const { Cell::new(None) };
}

impl Default for StartResponse {
    fn default() -> Self {
        let spare = SPARE.try_with(Cell::take).ok().flatten();
        StartResponse {
            shared: spare.unwrap_or_default(),
        }
    }
}

impl StartResponse {
    /// A fresh handle, as the server makes for each request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves the state to the thread's next [`new`](Self::new) when this is
    /// its last handle (the application kept no clone): reset to what a
    /// new one holds, so nothing of this response reaches the next.
    pub(crate) fn recycle(self) {
        let mut shared = self.shared;
        let Some(inner) = Arc::get_mut(&mut shared) else {
            return;
        };
        let Ok(state) = inner.state.get_mut() else {
            // Poisoned by a panic: not worth the doubt.
            return;
        };
        *state = State::default();
        *inner.has_written.get_mut() = false;
        inner.waker = AtomicWaker::new();
        let _ = SPARE.try_with(|spare| spare.set(Some(shared)));
    }

    /// Sets the status and headers. Returns the legacy [`Writer`].
    ///
    /// Errors if a value is invalid (see the [rules](StartResponse)) or if the
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

    /// [`start`](Self::start) for headers already made as `http`'s
    /// [`HeaderName`] and [`HeaderValue`]: use it for headers known at
    /// compile time, or built as those types anyway.
    ///
    /// Those types are valid by construction (in a `const`,
    /// `HeaderName::from_static` and `HeaderValue::from_static` are checked
    /// by the compiler), so no name is parsed and no value checked or copied
    /// per request. The server's own [rules](StartResponse) still apply:
    /// hop-by-hop headers are refused, `Content-Length` must be one
    /// non-negative integer, and a second call is an error.
    ///
    /// ```
    /// use wsgi_core::http::header::{self, HeaderName, HeaderValue};
    /// use wsgi_core::http::StatusCode;
    /// use wsgi_core::{StartResponse, StartResponseError};
    ///
    /// const CONTENT_TYPE_TEXT: (HeaderName, HeaderValue) =
    ///     (header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    /// // `HeaderName::from_static` takes the name in lowercase.
    /// const FRAME_OPTIONS: (HeaderName, HeaderValue) = (
    ///     HeaderName::from_static("x-frame-options"),
    ///     HeaderValue::from_static("DENY"),
    /// );
    ///
    /// let start_response = StartResponse::new();
    /// start_response
    ///     .start_typed(StatusCode::OK, [CONTENT_TYPE_TEXT, FRAME_OPTIONS])
    ///     .unwrap();
    /// assert!(start_response.is_started());
    ///
    /// // Hop-by-hop headers still belong to the server.
    /// let other = StartResponse::new();
    /// let close = (header::CONNECTION, HeaderValue::from_static("close"));
    /// assert_eq!(
    ///     other.start_typed("200 OK", [CONTENT_TYPE_TEXT, close]).unwrap_err(),
    ///     StartResponseError::HopByHopHeader("connection".to_owned())
    /// );
    /// ```
    pub fn start_typed(
        &self,
        status: impl IntoStatus,
        headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
    ) -> Result<Writer, StartResponseError> {
        self.set_head(build_typed_head(status, headers))
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
            has_server: headers.contains_key(header::SERVER),
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
        self.replace_head(build_head(status, headers), exc_info)
    }

    /// [`start_exc_info`](Self::start_exc_info) for headers already made,
    /// as [`start_typed`](Self::start_typed) takes them.
    ///
    /// ```
    /// use wsgi_core::http::header::{self, HeaderValue};
    /// use wsgi_core::{Error, StartResponse};
    ///
    /// let text = (header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    /// let start_response = StartResponse::new();
    /// start_response.start_typed("200 OK", [text.clone()]).unwrap();
    /// // Something failed before the body went out: the head is replaced.
    /// start_response
    ///     .start_exc_info_typed("500 Internal Server Error", [text], Error::msg("boom"))
    ///     .unwrap();
    /// assert!(start_response.is_started());
    /// ```
    pub fn start_exc_info_typed(
        &self,
        status: impl IntoStatus,
        headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
        exc_info: Error,
    ) -> Result<Writer, Error> {
        self.replace_head(build_typed_head(status, headers), exc_info)
    }

    /// `start_exc_info`'s rules, for a head `built` before the lock.
    fn replace_head(
        &self,
        built: Result<Head, StartResponseError>,
        exc_info: Error,
    ) -> Result<Writer, Error> {
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
    // Inlined: the body's sender asks on every item, and almost always
    // nothing was written.
    #[inline]
    pub(crate) fn take_written(&self) -> Option<Bytes> {
        if !self.has_written() {
            return None;
        }
        self.take_queued()
    }

    #[cold]
    fn take_queued(&self) -> Option<Bytes> {
        let mut state = self.shared.lock();
        let bytes = state.written.pop_front();
        if state.written.is_empty() {
            self.shared.has_written.store(false, Ordering::Release);
        }
        bytes
    }

    /// Whether any bytes are queued, without taking them (no lock).
    #[inline]
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
    fn a_kept_request_map_comes_back_empty() {
        let mut request = HeaderMap::new();
        request.insert(header::HOST, HeaderValue::from_static("example.com"));
        request.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        keep_spare_map(request);
        let sr = StartResponse::new();
        sr.start("200 OK", [("Content-Type", "text/plain")])
            .unwrap();
        let head = sr.take_head().unwrap().unwrap();
        assert_eq!(head.headers.len(), 1);
        assert_eq!(head.headers[header::CONTENT_TYPE], "text/plain");
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
