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
//!
//! The order of the bytes (first chunk, `write()` bytes, the rest) is kept
//! by `Outgoing` (`response_body/outgoing.rs`), which bodies captured by
//! middleware share.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};

use crate::access_log::{AccessLogFormat, AccessRecord};
use crate::body::{Body, Outcome};
use crate::error::Error;
use crate::error_page::{log_failure, page_message, rich_page};
use crate::framing::Framing;
use crate::response_body::{Outgoing, RequestContext, ResponseBody, StreamError};
use crate::start_response::{Head, StartResponse};

mod call;

pub(crate) use call::{Continuation, Dispatch, Dispatched};

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

/// What answering one request needs besides its body: kept from the
/// environ, which moves into the application call.
struct Answer {
    settings: Arc<Settings>,
    debug: bool,
    request: RequestContext,
    /// For the error page's format.
    accept: Option<HeaderValue>,
    log: Option<Box<AccessRecord>>,
}

impl Answer {
    /// The answer, taken out to go on elsewhere (a streamed body's
    /// continuation); what is left answers nothing more.
    fn take(&mut self) -> Answer {
        Answer {
            settings: Arc::clone(&self.settings),
            debug: self.debug,
            request: self.take_request(),
            accept: self.accept.take(),
            log: self.log.take(),
        }
    }

    /// The request context, taken out for a response body: the `Uri` is
    /// moved, not cloned (an `Answer` answers once).
    fn take_request(&mut self) -> RequestContext {
        RequestContext {
            method: self.request.method.clone(),
            uri: std::mem::take(&mut self.request.uri),
            peer: self.request.peer,
        }
    }

    /// The access record, told the request, when the log is on.
    fn take_log(&mut self) -> Option<Box<AccessRecord>> {
        let mut log = self.log.take()?;
        let RequestContext { method, uri, .. } = self.take_request();
        log.set_request(method, uri);
        Some(log)
    }

    /// The error page for an error raised before the head was sent: plain
    /// text, or HTML or JSON when the request's `Accept` prefers them (as
    /// the error pages of a `WsgiHandler` are), saying what
    /// [`page_message`] says. Taken by reference (and answered once) so
    /// that the answer stays where its future holds it.
    fn error(&mut self, error: Error) -> Response<ResponseBody> {
        let status = error.status();
        if status.is_server_error() {
            let request = &self.request;
            log_failure(&error, &request.method, &request.uri, request.peer);
        }
        let method = self.request.method.clone();
        let (content_type, text) = match page_message(&error, self.debug) {
            None => (None, String::new()),
            Some(message) => match rich_page(self.accept.as_ref(), status, &message) {
                Some(page) => (Some(page.content_type()), page.into_body()),
                None => (Some(TEXT_PLAIN), format!("{message}\n")),
            },
        };
        let log = self.take_log();
        let mut response = plain_response(status, content_type, text, &method, &self.settings, log);
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

    /// The response once the body is read as far as the head needs: the
    /// head taken from `start_response`, checked against the body.
    fn head(
        &mut self,
        rest: Rest,
        start_response: StartResponse,
        timeout: Option<Duration>,
    ) -> Response<ResponseBody> {
        let head = match start_response.take_head() {
            Ok(Some(head)) => head,
            Ok(None) => {
                let error = Error::msg("the application returned without calling start_response");
                return self.error(error);
            }
            Err(refused) => return self.error(Error::new(refused)),
        };
        start_response.recycle();
        respond(head, rest, self, timeout)
    }

    /// A streamed body: its first chunk is read (unless only the head is
    /// wanted), then the head is taken. A HEAD answer needs only the head:
    /// once it is set, the body is not waited for (it may be an endless
    /// event stream). Neither is a body that asked for its head at once
    /// (`Body::head_at_once`).
    async fn stream(
        &mut self,
        body: Body,
        start_response: StartResponse,
        timeout: Option<Duration>,
    ) -> Response<ResponseBody> {
        let head_now = self.request.method == Method::HEAD || body.sends_head_at_once();
        // Boxed here, not only in `ResponseBody`: `Rest` stays small, so
        // the common `Rest::Whole` moves in registers.
        let mut outgoing = Box::new(Outgoing::new(body, Some(start_response.clone())));
        if !head_now || !start_response.is_started() {
            if let Err(error) = outgoing.read_first(timeout).await {
                return self.error(error.into_error());
            }
        }
        self.head(Rest::Stream(outgoing), start_response, timeout)
    }
}

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// A response of `text` (of `content_type`) made by the server itself.
pub(crate) fn plain_response(
    status: StatusCode,
    content_type: Option<&'static str>,
    text: String,
    method: &Method,
    settings: &Settings,
    mut log: Option<Box<AccessRecord>>,
) -> Response<ResponseBody> {
    if let Some(log) = &mut log {
        log.set_status(status);
    }
    let framing = Framing::of(method, status);
    let length = text.len();
    let bytes = if framing.sends_body() {
        Bytes::from(text)
    } else {
        Bytes::new()
    };
    let mut response = Response::new(ResponseBody::full(bytes, log));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if framing.adds_length() {
        if let Some(content_type) = content_type.filter(|_| length > 0) {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    if let Some(server) = &settings.server_header {
        headers.insert(header::SERVER, server.clone());
    }
    response
}

/// A plain-text response made by the server itself (`400`, `404`, `413`,
/// `417`).
pub(crate) fn text_response(
    status: StatusCode,
    text: String,
    method: &Method,
    settings: &Settings,
) -> Response<ResponseBody> {
    plain_response(status, Some(TEXT_PLAIN), text, method, settings, None)
}

/// The body left to send once the head is known.
enum Rest {
    /// Known in full, with no `write()` bytes beside it, and closed: it
    /// goes out as one frame without the streaming machinery.
    Whole(Bytes),
    /// Anything else, its first chunk read.
    Stream(Box<Outgoing>),
}

impl Rest {
    /// `body` as [`Rest::Whole`] when it is known in full and nothing was
    /// `write()`n; otherwise `body` back, untouched.
    fn whole(mut body: Body, start_response: &StartResponse) -> Result<Rest, Body> {
        if start_response.has_written() {
            return Err(body);
        }
        match body.take_whole() {
            Some(bytes) => Ok(Rest::Whole(bytes)),
            None => Err(body),
        }
    }

    /// Whether everything is read, and how many bytes were taken out.
    fn progress(&self) -> (bool, u64) {
        match self {
            Rest::Whole(bytes) => (true, bytes.len() as u64),
            Rest::Stream(outgoing) => (outgoing.is_read(), outgoing.read_len()),
        }
    }

    /// The exact length of everything left, when known without polling.
    fn exact_length(&self) -> Option<u64> {
        match self {
            Rest::Whole(bytes) => Some(bytes.len() as u64),
            Rest::Stream(outgoing) => outgoing.exact_length(),
        }
    }
}

/// The response for `head`, once the body's first chunk was read.
fn respond(
    head: Head,
    mut rest: Rest,
    answer: &mut Answer,
    timeout: Option<Duration>,
) -> Response<ResponseBody> {
    let Head {
        status,
        mut headers,
        content_length,
        has_server,
    } = head;
    let framing = Framing::of(&answer.request.method, status.code());
    let (ended, read) = rest.progress();

    // Length errors that are already known become clean 500s. A bodiless
    // answer (HEAD, 204, 304) keeps the length of the body it would have
    // had, whatever the application produced for it.
    if let Some(declared) = content_length.filter(|_| framing.sends_body()) {
        if read > declared {
            return answer.error(Error::new(StreamError::TooLong { declared }));
        }
        if ended && read < declared {
            let error = StreamError::TooShort {
                declared,
                sent: read,
            };
            return answer.error(Error::new(error));
        }
    }
    if let Some(log) = &mut answer.log {
        log.set_status(status.code());
    }
    if let (true, Rest::Stream(outgoing)) = (ended, &mut rest) {
        outgoing.close(Outcome::Completed);
    }
    let mut declared = content_length;
    if declared.is_none() && framing.adds_length() {
        if let Some(len) = rest.exact_length() {
            declared = Some(len);
            // A body that is sent reports its exact length to hyper, which
            // writes `Content-Length` itself (HTTP/1 formats it straight
            // into the head, HTTP/2 adds it): no header value to allocate
            // per response. Only a bodiless answer (HEAD) and an empty body
            // (which HTTP/2 would send without one) carry it here.
            if !framing.sends_body() || len == 0 {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
        }
    }
    if !framing.allows_length() {
        headers.remove(header::CONTENT_LENGTH);
    }
    if !has_server {
        if let Some(server) = &answer.settings.server_header {
            headers.insert(header::SERVER, server.clone());
        }
    }

    let body = match rest {
        Rest::Stream(outgoing) if framing.sends_body() => {
            let log = answer.log.take();
            ResponseBody::streaming(outgoing, declared, timeout, answer.take_request(), log)
        }
        rest => {
            let bytes = match rest {
                Rest::Whole(bytes) if framing.sends_body() => bytes,
                // Closes a streamed body: `Outcome::Aborted` unless it had
                // ended.
                _ => Bytes::new(),
            };
            ResponseBody::full(bytes, answer.take_log())
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status.code();
    if let Some(reason) = status.custom_reason() {
        if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(reason.clone()) {
            response.extensions_mut().insert(reason);
        }
    }
    *response.headers_mut() = headers;
    response
}
