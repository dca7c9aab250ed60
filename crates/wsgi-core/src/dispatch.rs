//! From an application's answer to an HTTP response.
//!
//! This is where the asynchronous WSGI rules meet the wire:
//! 1. the application is called (a panic or an error becomes an error
//!    response);
//! 2. the body is polled until its first non-empty item (or its end), so an
//!    error before that is still a clean 500, and `start_response` may be
//!    called lazily from inside the body;
//! 3. only then is the head taken from `start_response` and sent;
//! 4. the rest of the body streams through [`ResponseBody`], which hyper
//!    polls only when the connection can take more. A declared
//!    `Content-Length` is enforced both ways: an item that would exceed it,
//!    or an end before it, aborts the stream.

use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode, Version};
use http_body::{Frame, SizeHint};

use crate::access_log::{AccessLogFormat, Field};
use crate::application::Application;
use crate::body::{Body, Outcome};
use crate::connection::InFlight;
use crate::environ::Environ;
use crate::error::{BoxError, Error};
use crate::error_page::RichPage;
use crate::start_response::{Head, StartResponse};

/// Per-service values computed once rather than per request.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) server_header: Option<HeaderValue>,
    pub(crate) access_log: Arc<AccessLogFormat>,
    /// `response_timeout`, when set.
    pub(crate) response_timeout: Option<Duration>,
}

impl Settings {
    pub(crate) fn new(config: &crate::Config) -> Self {
        Settings {
            server_header: Some(config.server_software.header_value().clone()),
            // Parsed with the configuration: a `Config` cannot hold a bad
            // template.
            access_log: Arc::new(config.access_log_format.clone()),
            response_timeout: (!config.response_timeout.is_zero())
                .then_some(config.response_timeout),
        }
    }
}

/// Why a response body was aborted after its head was sent.
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamError {
    /// The application's body failed.
    Body(Error),
    /// The body yielded more bytes than its `Content-Length`.
    TooLong {
        /// The declared length.
        declared: u64,
    },
    /// The body ended before its `Content-Length`.
    TooShort {
        /// The declared length.
        declared: u64,
        /// The bytes actually produced.
        sent: u64,
    },
    /// The body panicked.
    Panicked(Error),
    /// The application, or one item of its body, took longer than
    /// `response_timeout`.
    TimedOut {
        /// The configured `response_timeout`.
        timeout: Duration,
    },
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Body(e) => write!(f, "response body failed: {e}"),
            StreamError::TooLong { declared } => write!(
                f,
                "response body is longer than its Content-Length of {declared} bytes; fix the header or the body"
            ),
            StreamError::TooShort { declared, sent } => write!(
                f,
                "response body ended after {sent} of its declared {declared} bytes; fix the Content-Length or the body"
            ),
            StreamError::Panicked(e) => write!(f, "response body panicked: {e}"),
            StreamError::TimedOut { timeout } => write!(
                f,
                "the application did not produce its response or next body item within the response_timeout of {timeout:?}; raise --response-timeout or make it faster"
            ),
        }
    }
}

impl std::error::Error for StreamError {}

/// Request facts kept for the access log line, written when the body ends.
pub(crate) struct AccessLog {
    // One `Arc` clone per logged request: the line is rendered when the
    // body ends, after the service's settings may be out of reach.
    format: Arc<AccessLogFormat>,
    method: Method,
    uri: http::Uri,
    version: Version,
    peer: Option<std::net::SocketAddr>,
    remote_addr: Option<std::net::IpAddr>,
    user_agent: Option<HeaderValue>,
    referer: Option<HeaderValue>,
    status: StatusCode,
    started: Instant,
}

impl AccessLog {
    fn capture(environ: &Environ, settings: &Settings) -> Option<Self> {
        if !tracing::enabled!(target: "wsgi::access", tracing::Level::INFO) {
            return None;
        }
        let format = Arc::clone(&settings.access_log);
        let header = |name| {
            format
                .uses_headers()
                .then(|| environ.headers().get(name).cloned())
                .flatten()
        };
        Some(AccessLog {
            user_agent: header(header::USER_AGENT),
            referer: header(header::REFERER),
            method: environ.method().clone(),
            uri: environ.uri().clone(),
            version: environ.version(),
            peer: environ.connection().and_then(|c| c.client_addr()),
            remote_addr: environ.remote_addr(),
            status: StatusCode::OK,
            started: Instant::now(),
            format,
        })
    }

    fn write(&self, bytes: u64, outcome: Outcome) {
        use std::fmt::Write;
        let elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let line = self.format.render(|field, out| {
            let _ = match field {
                Field::Peer => match self.peer {
                    Some(peer) => write!(out, "{peer}"),
                    None => write!(out, "-"),
                },
                Field::RemoteAddr => match self.remote_addr {
                    Some(addr) => write!(out, "{addr}"),
                    None => write!(out, "-"),
                },
                Field::Method => write!(out, "{}", self.method),
                Field::Uri => write!(out, "{}", self.uri),
                Field::Path => write!(out, "{}", self.uri.path()),
                Field::Query => write!(out, "{}", self.uri.query().unwrap_or("")),
                Field::Version => write!(out, "{}", version_text(self.version)),
                Field::Status => write!(out, "{}", self.status.as_u16()),
                Field::Bytes => write!(out, "{bytes}"),
                Field::DurationMs => write!(out, "{elapsed_ms:.3}"),
                Field::Outcome => write!(
                    out,
                    "{}",
                    match outcome {
                        Outcome::Completed => "completed",
                        Outcome::Failed => "failed",
                        _ => "aborted",
                    }
                ),
                Field::UserAgent | Field::Referer => {
                    let value = if field == Field::UserAgent {
                        &self.user_agent
                    } else {
                        &self.referer
                    };
                    let text = value.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-");
                    write!(out, "{text}")
                }
            };
        });
        tracing::info!(
            target: "wsgi::access",
            status = self.status.as_u16(),
            bytes,
            elapsed_ms,
            "{line}"
        );
    }
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

/// The request an error is logged with.
pub(crate) struct RequestContext {
    method: Method,
    uri: http::Uri,
    peer: Option<std::net::SocketAddr>,
}

impl RequestContext {
    fn capture(environ: &Environ) -> Self {
        RequestContext {
            method: environ.method().clone(),
            // A reference-count bump: hyper's `Uri` parts are `Bytes`.
            uri: environ.uri().clone(),
            peer: environ.connection().and_then(|c| c.client_addr()),
        }
    }
}

/// Called once when a response body ends, with the bytes sent and how it
/// ended (the `post_request` hook).
pub(crate) type OnEnd = Box<dyn FnOnce(u64, Outcome) + Send + 'static>;

/// The body of a response produced by the server: the application's body
/// with the WSGI framing rules applied. It is an [`http_body::Body`], so it
/// works with hyper, axum and tower-http.
pub struct ResponseBody {
    /// The chunk read before the head was sent.
    first: Option<Bytes>,
    /// A body item waiting behind `write()` bytes queued while it was made.
    held: Option<Bytes>,
    body: Option<Body>,
    start_response: Option<StartResponse>,
    declared: Option<u64>,
    sent: u64,
    log: Option<AccessLog>,
    failed: bool,
    /// An abort waiting for hyper to flush what was produced before it.
    abort: Option<StreamError>,
    /// Marks the request in flight on its connection until the body is done.
    in_flight: Option<InFlight>,
    on_end: Option<OnEnd>,
    /// For the error log when the stream is aborted.
    context: Option<RequestContext>,
    /// `response_timeout` and its timer, armed while the body is awaited.
    /// Boxed so the body stays `Unpin`; one allocation per response, only
    /// when the setting is on.
    timer: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
    /// Whether the timer runs for the current wait.
    waiting: bool,
}

impl ResponseBody {
    fn new(log: Option<AccessLog>) -> Self {
        ResponseBody {
            first: None,
            held: None,
            body: None,
            start_response: None,
            declared: Some(0),
            sent: 0,
            log,
            failed: false,
            abort: None,
            in_flight: None,
            on_end: None,
            context: None,
            timer: None,
            waiting: false,
        }
    }

    fn fixed(bytes: Bytes, log: Option<AccessLog>) -> Self {
        let mut body = ResponseBody::new(log);
        body.declared = Some(bytes.len() as u64);
        body.first = (!bytes.is_empty()).then_some(bytes);
        body
    }

    /// Aborts the stream. The error is returned on the next poll: answering
    /// `Pending` first (with an immediate wake-up) lets hyper flush the bytes
    /// produced so far, so the client sees the partial body before the
    /// connection closes, never a completed message.
    fn fail(
        &mut self,
        cx: &mut Context<'_>,
        error: StreamError,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &self.context {
            Some(request) => tracing::error!(
                error = %error,
                method = %request.method,
                uri = %request.uri,
                peer = ?request.peer,
                "aborting the response stream"
            ),
            None => tracing::error!(error = %error, "aborting the response stream"),
        }
        if let Some(mut body) = self.body.take() {
            let outcome = match error {
                StreamError::TooShort { .. } => Outcome::Completed,
                _ => Outcome::Failed,
            };
            body.close(outcome);
        }
        self.start_response = None;
        self.held = None;
        self.abort = Some(error);
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Keeps the request in flight on its connection until this body is
    /// dropped.
    pub(crate) fn track(&mut self, in_flight: InFlight) {
        self.in_flight = Some(in_flight);
    }

    /// Runs `on_end` when this body is dropped.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn on_end(&mut self, on_end: OnEnd) {
        self.on_end = Some(on_end);
    }

    /// Sends `bytes`, enforcing the declared length. Once the declared
    /// length is reached the body is complete: it is closed as such here,
    /// because hyper stops polling and would otherwise drop it unfinished.
    fn data(
        &mut self,
        cx: &mut Context<'_>,
        bytes: Bytes,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let len = bytes.len() as u64;
        if let Some(declared) = self.declared {
            if self.sent + len > declared {
                return self.fail(cx, StreamError::TooLong { declared });
            }
            let queued = self.held.is_some()
                || self
                    .start_response
                    .as_ref()
                    .is_some_and(StartResponse::has_written);
            if self.sent + len == declared && !queued {
                if let Some(mut body) = self.body.take() {
                    body.close(Outcome::Completed);
                }
                self.start_response = None;
            }
        }
        self.sent += len;
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }
}

/// Polls a body, turning a panic into an error.
fn poll_body(body: &mut Body, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, StreamError>>> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| body.poll_next_unpin(cx))) {
        Ok(Poll::Ready(Some(Err(e)))) => Poll::Ready(Some(Err(StreamError::Body(e)))),
        Ok(Poll::Ready(Some(Ok(bytes)))) => Poll::Ready(Some(Ok(bytes))),
        Ok(Poll::Ready(None)) => Poll::Ready(None),
        Ok(Poll::Pending) => Poll::Pending,
        Err(panic) => {
            body.close(Outcome::Failed);
            Poll::Ready(Some(Err(StreamError::Panicked(Error::from_panic(panic)))))
        }
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(error) = this.abort.take() {
            this.failed = true;
            return Poll::Ready(Some(Err(Box::new(error))));
        }
        if this.failed {
            return Poll::Ready(None);
        }
        loop {
            // The order bytes were produced in: the chunk read before the
            // head, then legacy `write()` bytes, then the item that was
            // waiting behind them, then the body's next item.
            let next = this
                .first
                .take()
                .or_else(|| {
                    this.start_response
                        .as_ref()
                        .and_then(StartResponse::take_written)
                })
                .or_else(|| this.held.take());
            if let Some(bytes) = next {
                return this.data(cx, bytes);
            }
            let Some(body) = this.body.as_mut() else {
                return Poll::Ready(None);
            };
            match poll_body(body, cx) {
                Poll::Pending => {
                    // `write()` bytes made while the body waits go out now,
                    // not when the body next wakes us.
                    if this
                        .start_response
                        .as_ref()
                        .is_some_and(|sr| sr.poll_written(cx.waker()))
                    {
                        continue;
                    }
                    // The wait starts when the body is first found not
                    // ready, so time hyper spends on a slow client is not
                    // counted against the application.
                    if let Some((timeout, sleep)) = this.timer.as_mut() {
                        if !this.waiting {
                            this.waiting = true;
                            sleep.as_mut().reset(tokio::time::Instant::now() + *timeout);
                        }
                        if sleep.as_mut().poll(cx).is_ready() {
                            let timeout = *timeout;
                            return this.fail(cx, StreamError::TimedOut { timeout });
                        }
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Some(Ok(bytes))) if bytes.is_empty() => this.waiting = false,
                // Goes out after any `write()` bytes queued while it was made.
                Poll::Ready(Some(Ok(bytes))) => {
                    this.waiting = false;
                    this.held = Some(bytes);
                }
                Poll::Ready(Some(Err(e))) => return this.fail(cx, e),
                Poll::Ready(None) => {
                    if this
                        .start_response
                        .as_ref()
                        .is_some_and(StartResponse::has_written)
                    {
                        continue;
                    }
                    this.body = None;
                    this.start_response = None;
                    if let Some(declared) = this.declared {
                        if this.sent < declared {
                            let sent = this.sent;
                            return this.fail(cx, StreamError::TooShort { declared, sent });
                        }
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed
            || (self.abort.is_none()
                && self.first.is_none()
                && self.held.is_none()
                && self.body.is_none()
                && self.start_response.is_none())
    }

    fn size_hint(&self) -> SizeHint {
        match self.declared {
            Some(declared) => SizeHint::with_exact(declared.saturating_sub(self.sent)),
            None => SizeHint::default(),
        }
    }
}

/// An empty body, for layers (like tower-http's timeout) that answer on
/// their own.
impl Default for ResponseBody {
    fn default() -> Self {
        ResponseBody::fixed(Bytes::new(), None)
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        let outcome = if self.failed || self.abort.is_some() {
            Outcome::Failed
        } else if self.body.is_some() || self.first.is_some() || self.held.is_some() {
            Outcome::Aborted
        } else {
            Outcome::Completed
        };
        // Dropping `self.body` runs its close hooks (`Aborted`) if it was
        // not finished.
        if let Some(log) = &self.log {
            log.write(self.sent, outcome);
        }
        if let Some(on_end) = self.on_end.take() {
            on_end(self.sent, outcome);
        }
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("declared", &self.declared)
            .field("sent", &self.sent)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// Whether a response with this status to this method carries no body.
fn bodiless(method: &Method, status: StatusCode) -> bool {
    method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// The plain-text answer for an error raised before the head was sent.
pub(crate) fn error_response(
    error: &Error,
    debug: bool,
    request: &RequestContext,
    settings: &Settings,
    log: Option<AccessLog>,
) -> Response<ResponseBody> {
    error_response_by_accept(error, debug, request, settings, log, None)
}

/// The answer for an error the application returned or panicked with:
/// plain text, or HTML or JSON when the request's `Accept` prefers them
/// (as the error pages of a `WsgiHandler` are).
fn error_response_by_accept(
    error: &Error,
    debug: bool,
    request: &RequestContext,
    settings: &Settings,
    log: Option<AccessLog>,
    accept: Option<&HeaderValue>,
) -> Response<ResponseBody> {
    let status = error.status();
    let method = &request.method;
    let text = if status.is_server_error() {
        tracing::error!(
            error = %error.chain(),
            status = status.as_u16(),
            method = %request.method,
            uri = %request.uri,
            peer = ?request.peer,
            "request failed"
        );
        let reason = status.canonical_reason().unwrap_or("Server Error");
        if debug {
            format!("{reason}\n\n{}\n", error.chain())
        } else {
            format!("{reason}\n")
        }
    } else if status.is_redirection() {
        String::new()
    } else {
        format!("{error}\n")
    };
    let rich = accept
        .filter(|_| !status.is_redirection())
        .and_then(|accept| {
            let message = if !status.is_server_error() {
                error.to_string()
            } else if debug {
                error.chain()
            } else {
                status
                    .canonical_reason()
                    .unwrap_or("Server Error")
                    .to_owned()
            };
            crate::error_page::rich_page(Some(accept), status, &message)
        });
    let content_type = rich.as_ref().map(RichPage::content_type);
    let text = rich.map_or(text, RichPage::into_body);
    let mut response = plain_response(status, text, method, settings, log);
    if let Some(content_type) = content_type {
        if response.headers().contains_key(header::CONTENT_TYPE) {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
    }
    // `Location` for redirects, `Allow` for 405, ... from an `HttpError`.
    if let Some(headers) = error.headers() {
        for (name, value) in headers {
            if !crate::start_response::is_hop_by_hop(name) && name != header::CONTENT_LENGTH {
                response.headers_mut().append(name, value.clone());
            }
        }
    }
    response
}

pub(crate) fn plain_response(
    status: StatusCode,
    text: String,
    method: &Method,
    settings: &Settings,
    mut log: Option<AccessLog>,
) -> Response<ResponseBody> {
    if let Some(log) = &mut log {
        log.status = status;
    }
    let text_is_empty = text.is_empty();
    let bytes = if bodiless(method, status) {
        Bytes::new()
    } else {
        Bytes::from(text)
    };
    let length = bytes.len();
    let mut response = Response::new(ResponseBody::fixed(bytes, log));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if status != StatusCode::NO_CONTENT && status != StatusCode::NOT_MODIFIED {
        if !text_is_empty {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
        }
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    if let Some(server) = &settings.server_header {
        headers.insert(header::SERVER, server.clone());
    }
    response
}

/// Runs `app` for `environ` and produces the response, following the rules
/// in the [module docs](self).
pub(crate) async fn dispatch<A: Application + ?Sized>(
    app: Arc<A>,
    environ: Environ,
    settings: &Settings,
) -> Response<ResponseBody> {
    let start_response = StartResponse::new();
    let debug = environ.config().debug;
    let request = RequestContext::capture(&environ);
    let log = AccessLog::capture(&environ, settings);
    // For the error page: the environ moves into the call below.
    let accept = environ.header(header::ACCEPT).cloned();

    let timeout = settings.response_timeout;
    // The call owns the application handle and the environ, so that when it
    // `write()`s and then awaits, the head and those bytes can go out while
    // it goes on, as the body's first item. The request head and any
    // unread input go when it returns.
    let responder = start_response.clone();
    let mut call = Box::pin(
        AssertUnwindSafe(async move {
            let mut environ = environ;
            app.call(&mut environ, responder).await
        })
        .catch_unwind(),
    );
    let call_or_write = poll_fn(|cx| match call.as_mut().poll(cx) {
        Poll::Ready(called) => Poll::Ready(Some(called)),
        Poll::Pending if start_response.poll_written(cx.waker()) => Poll::Ready(None),
        Poll::Pending => Poll::Pending,
    });
    let called = match timeout {
        None => call_or_write.await,
        Some(timeout) => match tokio::time::timeout(timeout, call_or_write).await {
            Ok(called) => called,
            Err(_) => {
                drop(call);
                let error = Error::with_status(
                    StatusCode::GATEWAY_TIMEOUT,
                    StreamError::TimedOut { timeout },
                );
                return error_response(&error, debug, &request, settings, log);
            }
        },
    };
    let mut body = match called {
        Some(Ok(Ok(body))) => body,
        Some(Ok(Err(error))) => {
            return error_response_by_accept(
                &error,
                debug,
                &request,
                settings,
                log,
                accept.as_ref(),
            )
        }
        Some(Err(panic)) => {
            let error = Error::from_panic(panic);
            return error_response_by_accept(
                &error,
                debug,
                &request,
                settings,
                log,
                accept.as_ref(),
            );
        }
        // Written while still running: the rest of the call, then its body,
        // is the body.
        None => Body::from_stream(futures_util::stream::once(call).flat_map(|called| {
            let error = match called {
                Ok(Ok(body)) => return body.left_stream(),
                Ok(Err(error)) => error,
                Err(panic) => Error::from_panic(panic),
            };
            futures_util::stream::iter([Err(error)]).right_stream()
        })),
    };
    // A HEAD answer needs only the head: once it is set, the body is not
    // waited for (it may be an endless event stream). Neither is a body
    // that asked for its head at once (`Body::head_at_once`).
    let head_now = request.method == Method::HEAD || body.sends_head_at_once();
    let prefix = if head_now && start_response.is_started() {
        Prefix::default()
    } else {
        match read_prefix(&mut body, &start_response, timeout).await {
            Ok(prefix) => prefix,
            Err(StreamError::Body(error)) => {
                return error_response(&error, debug, &request, settings, log)
            }
            Err(error @ StreamError::TimedOut { .. }) => {
                let error = Error::with_status(StatusCode::GATEWAY_TIMEOUT, error);
                return error_response(&error, debug, &request, settings, log);
            }
            Err(error) => {
                return error_response(&Error::new(error), debug, &request, settings, log)
            }
        }
    };

    let head = match start_response.take_head() {
        Ok(Some(head)) => head,
        Ok(None) => {
            let error = Error::msg("the application returned without calling start_response");
            return error_response(&error, debug, &request, settings, log);
        }
        Err(refused) => {
            return error_response(&Error::new(refused), debug, &request, settings, log)
        }
    };
    respond(
        head,
        prefix,
        body,
        start_response,
        request,
        debug,
        settings,
        log,
    )
}

/// What was read before the head: the first chunk, and an item waiting
/// behind `write()` bytes.
#[derive(Debug, Default)]
pub(crate) struct Prefix {
    pub(crate) first: Option<Bytes>,
    pub(crate) held: Option<Bytes>,
}

/// Reads `body` up to its first non-empty item: nothing is sent before it
/// (PEP 3333), so until then an error can still become a clean error
/// response. `write()` bytes go first, whether queued before the item or
/// while it was made (the item then waits behind them). Each wait is
/// bounded by `timeout`. Shared by the server and by
/// [`capture`](crate::middleware::capture).
pub(crate) async fn read_prefix(
    body: &mut Body,
    start_response: &StartResponse,
    timeout: Option<Duration>,
) -> Result<Prefix, StreamError> {
    if let Some(written) = start_response.take_written() {
        return Ok(Prefix {
            first: Some(written),
            held: None,
        });
    }
    loop {
        // `None` when `write()` bytes arrived while the body was pending:
        // they are the first chunk, and the pending item follows later.
        let next = poll_fn(|cx| match poll_body(body, cx) {
            Poll::Pending if start_response.poll_written(cx.waker()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
            Poll::Ready(item) => Poll::Ready(Some(item)),
        });
        let next = match timeout {
            None => next.await,
            Some(timeout) => match tokio::time::timeout(timeout, next).await {
                Ok(next) => next,
                Err(_) => return Err(StreamError::TimedOut { timeout }),
            },
        };
        let Some(next) = next else {
            return Ok(Prefix {
                first: start_response.take_written(),
                held: None,
            });
        };
        return match next {
            Some(Ok(bytes)) if bytes.is_empty() => continue,
            Some(Ok(bytes)) => Ok(match start_response.take_written() {
                Some(written) => Prefix {
                    first: Some(written),
                    held: Some(bytes),
                },
                None => Prefix {
                    first: Some(bytes),
                    held: None,
                },
            }),
            Some(Err(error)) => Err(error),
            None => Ok(Prefix {
                first: start_response.take_written(),
                held: None,
            }),
        };
    }
}

#[allow(clippy::too_many_arguments)]
fn respond(
    head: Head,
    prefix: Prefix,
    mut body: Body,
    start_response: StartResponse,
    request: RequestContext,
    debug: bool,
    settings: &Settings,
    mut log: Option<AccessLog>,
) -> Response<ResponseBody> {
    let Head {
        status,
        mut headers,
        content_length,
    } = head;
    let Prefix { first, held } = prefix;
    let ended = body.is_end() && !start_response.has_written();
    let prefix_len =
        first.as_ref().map_or(0, |b| b.len() as u64) + held.as_ref().map_or(0, |b| b.len() as u64);
    // The full length when it is known without waiting: everything was read,
    // or nothing was and the body knows its size.
    let known_len = if ended {
        Some(prefix_len)
    } else if first.is_none() && held.is_none() && !start_response.has_written() {
        body.exact_length()
    } else {
        None
    };

    // Length errors that are already known become clean 500s. A bodiless
    // answer (HEAD, 204, 304) keeps the length of the body it would have
    // had, whatever the application produced for it.
    let no_body = bodiless(&request.method, status.code());
    if let Some(declared) = content_length.filter(|_| !no_body) {
        if prefix_len > declared || (ended && prefix_len < declared) {
            let error = if prefix_len > declared {
                StreamError::TooLong { declared }
            } else {
                StreamError::TooShort {
                    declared,
                    sent: prefix_len,
                }
            };
            return error_response(&Error::new(error), debug, &request, settings, log);
        }
    }
    if let Some(log) = &mut log {
        log.status = status.code();
    }

    if ended {
        body.close(Outcome::Completed);
    }
    let mut declared = content_length;
    // A `101` (RFC 9110 §8.6: no 1xx carries a length) is followed by
    // another protocol, not by a body.
    let no_content = status.code() == StatusCode::NO_CONTENT || status.code().is_informational();
    if declared.is_none() && !no_content && status.code() != StatusCode::NOT_MODIFIED {
        if let Some(len) = known_len {
            declared = Some(len);
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    if no_content {
        headers.remove(header::CONTENT_LENGTH);
    }
    if !headers.contains_key(header::SERVER) {
        if let Some(server) = &settings.server_header {
            headers.insert(header::SERVER, server.clone());
        }
    }

    let response_body = if no_body {
        drop(body); // closes it: `Outcome::Aborted` unless it had ended
        ResponseBody::new(log)
    } else {
        let mut response_body = ResponseBody::new(log);
        response_body.first = first;
        response_body.held = held;
        response_body.body = (!ended).then_some(body);
        response_body.start_response = (!ended).then_some(start_response);
        response_body.declared = declared;
        response_body.context = Some(request);
        response_body.timer = settings
            .response_timeout
            .filter(|_| !ended)
            .map(|timeout| (timeout, Box::pin(tokio::time::sleep(timeout))));
        response_body
    };

    let mut response = Response::new(response_body);
    *response.status_mut() = status.code();
    if let Some(reason) = status.custom_reason() {
        if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(reason.clone()) {
            response.extensions_mut().insert(reason);
        }
    }
    *response.headers_mut() = headers;
    response
}
