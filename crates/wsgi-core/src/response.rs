//! `WsgiResponse`: its overview is on the re-export in `lib.rs`.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
#[cfg(feature = "cookies")]
use cookie::Cookie;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

mod into_response;
#[cfg(feature = "cookies")]
mod set_cookie;

pub use into_response::{Html, IntoResponse, IntoResponseParts, Redirect};

use crate::body::Body;
use crate::environ::Environ;
use crate::error::Error;
use crate::framing::Framing;
use crate::response_body::{Outgoing, StreamError};
use crate::start_response::{IntoStatus, StartResponse, Status};

/// What a [`WsgiResponse`] carries.
#[derive(Debug)]
pub enum Content {
    /// Bytes known in full (a `Content-Length` is sent).
    Bytes(Bytes),
    /// A streamed asynchronous iterable.
    Stream(Body),
}

/// A response: status, headers, content, cookies.
pub struct WsgiResponse {
    status: StatusCode,
    headers: HeaderMap,
    content: Content,
    // Static for the constructors' own types, so `start` sends them
    // without copying.
    content_type: Option<Cow<'static, str>>,
    encoding: Option<Cow<'static, str>>,
    /// What few responses carry, boxed: a response is moved through every
    /// middleware level, so its size is paid at each.
    rare: Option<Box<Rare>>,
}

/// The rarely set parts of a [`WsgiResponse`].
#[derive(Default)]
struct Rare {
    reason: Option<String>,
    #[cfg(feature = "cookies")]
    cookies: Vec<Cookie<'static>>,
    /// The protocol a `101` switches to (`Upgrade`): set only by the
    /// WebSocket API, the one way to answer `101` (see `start`).
    switching: Option<HeaderValue>,
}

impl WsgiResponse {
    /// An empty response with `status`.
    pub fn new(status: StatusCode) -> Self {
        WsgiResponse {
            status,
            headers: HeaderMap::new(),
            content: Content::Bytes(Bytes::new()),
            content_type: None,
            encoding: None,
            rare: None,
        }
    }

    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// `101 Switching Protocols` to `protocol` (`Upgrade: protocol`,
    /// `Connection: upgrade`). Crate-private: applications cannot send a
    /// `101` themselves, only accept an upgrade through the API that then
    /// serves the connection (`WebSocketUpgrade`).
    #[cfg_attr(not(feature = "ws"), allow(dead_code))]
    pub(crate) fn switching_protocols(protocol: HeaderValue) -> Self {
        let mut response = WsgiResponse::new(StatusCode::SWITCHING_PROTOCOLS);
        response.rare_mut().switching = Some(protocol);
        response
    }

    /// `200 OK` with `text` encoded as UTF-8 (`text/plain; charset=utf-8`).
    pub fn text(text: impl Into<String>) -> Self {
        let mut response = WsgiResponse::new(StatusCode::OK);
        response.content = Content::Bytes(Bytes::from(text.into()));
        response.encoding = Some(Cow::Borrowed("utf-8"));
        response
    }

    /// `200 OK` with an HTML document (`text/html; charset=utf-8`).
    pub fn html(html: impl Into<String>) -> Self {
        let mut response = WsgiResponse::text(html);
        response.content_type = Some(Cow::Borrowed("text/html"));
        response
    }

    /// `200 OK` with a JSON document (`application/json`).
    pub fn json(json: impl Into<Bytes>) -> Self {
        let mut response = WsgiResponse::bytes(json);
        response.content_type = Some(Cow::Borrowed("application/json"));
        response
    }

    /// `200 OK` with bytes and no content type.
    pub fn bytes(bytes: impl Into<Bytes>) -> Self {
        let mut response = WsgiResponse::new(StatusCode::OK);
        response.content = Content::Bytes(bytes.into());
        response
    }

    /// `200 OK` streaming an asynchronous iterable.
    pub fn stream(body: impl Into<Body>) -> Self {
        let mut response = WsgiResponse::new(StatusCode::OK);
        response.content = Content::Stream(body.into());
        response
    }

    /// Sets the status (builder style).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Sets the status code (and forgets a custom reason).
    pub fn set_status(&mut self, status: StatusCode) {
        self.status = status;
        if let Some(rare) = &mut self.rare {
            rare.reason = None;
        }
    }

    /// The reason phrase: custom if set, else the canonical one.
    pub fn reason(&self) -> &str {
        self.rare
            .as_ref()
            .and_then(|rare| rare.reason.as_deref())
            .or(self.status.canonical_reason())
            .unwrap_or("")
    }

    /// Sets a custom reason phrase (validated when the response starts).
    pub fn set_reason(&mut self, reason: impl Into<String>) {
        self.rare_mut().reason = Some(reason.into());
    }

    /// The headers (case-insensitive, multi-valued).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The headers, to add or change some.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The `Content-Type` that will be sent: the one set (or `text/plain`
    /// when only an encoding is set), with `; charset=<encoding>` appended
    /// when an encoding is set and no charset is given.
    pub fn content_type(&self) -> Option<Cow<'_, str>> {
        let base = match (&self.content_type, &self.encoding) {
            (Some(ct), _) => ct.as_ref(),
            (None, Some(_)) => "text/plain",
            (None, None) => {
                // A captured application's response keeps its header.
                let header = self.headers.get(header::CONTENT_TYPE)?;
                return Some(String::from_utf8_lossy(header.as_bytes()));
            }
        };
        match &self.encoding {
            Some(charset) if !base.to_ascii_lowercase().contains("charset=") => {
                Some(Cow::Owned(format!("{base}; charset={charset}")))
            }
            _ => Some(Cow::Borrowed(base)),
        }
    }

    /// Sets the content type (without charset; see [`set_encoding`](Self::set_encoding)).
    pub fn set_content_type(&mut self, content_type: impl Into<String>) {
        self.headers.remove(header::CONTENT_TYPE);
        self.content_type = Some(Cow::Owned(content_type.into()));
    }

    /// The text encoding (charset), if the content is text.
    pub fn encoding(&self) -> Option<&str> {
        self.encoding.as_deref()
    }

    /// Sets the charset appended to the content type.
    pub fn set_encoding(&mut self, encoding: impl Into<String>) {
        self.encoding = Some(Cow::Owned(encoding.into()));
    }

    /// The content.
    pub fn content(&self) -> &Content {
        &self.content
    }

    /// Replaces the content.
    pub fn set_content(&mut self, content: Content) {
        self.content = content;
    }

    /// Takes the content out, leaving it empty.
    pub fn take_content(&mut self) -> Content {
        std::mem::replace(&mut self.content, Content::Bytes(Bytes::new()))
    }

    /// Whether [`read_first_chunk`](Self::read_first_chunk) has anything
    /// to wait for: a streamed body of unknown length that did not ask for
    /// its head at once (`Body::head_at_once`), answering anything but
    /// `HEAD`.
    pub(crate) fn waits_for_first_chunk(&self, method: &Method) -> bool {
        match &self.content {
            Content::Stream(body) => {
                method != Method::HEAD
                    && body.exact_length().is_none()
                    && !body.sends_head_at_once()
            }
            Content::Bytes(_) => false,
        }
    }

    /// For a response that [waits for its first chunk](Self::waits_for_first_chunk),
    /// waits for the body's first non-empty item: an error before it
    /// becomes this call's error, which the handler renders as an error
    /// page. Other responses are left as they are (bytes cannot fail, and
    /// keep their known length; a `HEAD` answer's body is never sent).
    pub(crate) async fn read_first_chunk(mut self) -> Result<Self, Error> {
        let Content::Stream(body) = self.take_content() else {
            return Ok(self);
        };
        let mut outgoing = Outgoing::new(body, None);
        outgoing
            .read_first(None)
            .await
            .map_err(StreamError::into_error)?;
        // Ended without a byte: an empty body, of known length.
        let body = match outgoing.is_done() {
            true => Body::empty(),
            false => outgoing.into_body(),
        };
        self.content = Content::Stream(body);
        Ok(self)
    }

    /// What a plain WSGI application answered (the head given to
    /// `start_response`, legacy `write` bytes and `body`) as a response,
    /// so response middleware applies to it too.
    ///
    /// The body is read up to its first non-empty item, as the server
    /// would, so an application that calls `start_response` from its body
    /// works. A body that ends right there becomes non-streamed content
    /// (its declared `Content-Length` checked); otherwise the rest streams,
    /// in the order the server would send it.
    pub(crate) async fn capture(start_response: StartResponse, body: Body) -> Result<Self, Error> {
        // Unless the body asked for its head at once (`Body::head_at_once`).
        let head_now = body.sends_head_at_once() && start_response.is_started();
        let mut outgoing = Outgoing::new(body, Some(start_response.clone()));
        if !head_now {
            outgoing
                .read_first(None)
                .await
                .map_err(StreamError::into_error)?;
        }
        let head = start_response
            .take_head()?
            .ok_or_else(|| Error::msg("the application returned without calling start_response"))?;
        let mut response = WsgiResponse::new(head.status.code());
        if head.status.custom_reason().is_some() {
            response.set_reason(head.status.reason());
        }
        response.headers = head.headers;
        response.content = match outgoing.take_whole() {
            Some(bytes) => {
                if let Some(declared) = head.content_length {
                    let sent = bytes.len() as u64;
                    if sent > declared {
                        return Err(Error::new(StreamError::TooLong { declared }));
                    }
                    if sent < declared {
                        return Err(Error::new(StreamError::TooShort { declared, sent }));
                    }
                }
                Content::Bytes(bytes)
            }
            None if head_now => Content::Stream(outgoing.into_body().head_at_once()),
            None => Content::Stream(outgoing.into_body()),
        };
        Ok(response)
    }

    /// Whether the content is a streamed iterable (length unknown).
    pub fn is_streamed(&self) -> bool {
        matches!(self.content, Content::Stream(_))
    }

    /// The content length when known without streaming.
    pub fn length(&self) -> Option<u64> {
        match &self.content {
            Content::Bytes(bytes) => Some(bytes.len() as u64),
            Content::Stream(body) => body.exact_length(),
        }
    }

    /// Adds a cookie (`Set-Cookie`), built with the [`cookie`] crate:
    /// max-age, expires, path, domain, secure, http-only, same-site.
    #[cfg(feature = "cookies")]
    pub fn set_cookie(&mut self, cookie: Cookie<'static>) {
        self.rare_mut().cookies.push(cookie);
    }

    /// Asks the client to delete cookie `name` (on `path` and `domain`, which
    /// must match those it was set with).
    #[cfg(feature = "cookies")]
    pub fn delete_cookie(
        &mut self,
        name: impl Into<String>,
        path: Option<&str>,
        domain: Option<&str>,
    ) {
        let mut cookie = Cookie::new(name.into(), "");
        if let Some(path) = path {
            cookie.set_path(path.to_owned());
        }
        if let Some(domain) = domain {
            cookie.set_domain(domain.to_owned());
        }
        cookie.make_removal();
        self.rare_mut().cookies.push(cookie);
    }

    /// The cookies that will be set.
    #[cfg(feature = "cookies")]
    pub fn cookies(&self) -> &[Cookie<'static>] {
        self.rare.as_ref().map_or(&[], |rare| &rare.cookies)
    }

    /// Closes the response's content now (its close hooks run); it is left
    /// empty.
    pub fn close(&mut self) {
        if let Content::Stream(mut body) = self.take_content() {
            body.close(crate::body::Outcome::Aborted);
        }
    }

    /// Emits the response: calls `start_response` with the status and the
    /// final headers and returns the body, following the rules in the
    /// [type's docs](WsgiResponse).
    pub fn start(self, environ: &Environ, start_response: &StartResponse) -> Result<Body, Error> {
        let framing = Framing::of(environ.method(), self.status);
        let content_type = match (&self.content_type, &self.encoding) {
            // One of the constructors' own types: no copy.
            (Some(Cow::Borrowed(static_type)), None) => {
                Some(Ok(HeaderValue::from_static(static_type)))
            }
            (None, Some(Cow::Borrowed("utf-8"))) => {
                Some(Ok(HeaderValue::from_static("text/plain; charset=utf-8")))
            }
            (Some(Cow::Borrowed("text/html")), Some(Cow::Borrowed("utf-8"))) => {
                Some(Ok(HeaderValue::from_static("text/html; charset=utf-8")))
            }
            _ => self
                .content_type()
                .map(|content_type| HeaderValue::from_str(&content_type)),
        };
        let WsgiResponse {
            status,
            mut headers,
            content,
            rare,
            ..
        } = self;
        let Rare {
            reason,
            #[cfg(feature = "cookies")]
            cookies,
            switching,
        } = rare.map(|rare| *rare).unwrap_or_default();
        // The `101` the WebSocket API made, unless response middleware
        // changed the status (then it is an ordinary response).
        if let Some(protocol) = switching.filter(|_| status == StatusCode::SWITCHING_PROTOCOLS) {
            #[cfg(feature = "cookies")]
            set_cookie::append(&mut headers, &cookies)?;
            start_response.start_switching(headers, protocol)?;
            return Ok(Body::empty());
        }
        // Only a custom reason needs the status-line parser (and its checks).
        let status: Status = match &reason {
            Some(reason) => format!("{} {}", status.as_str(), reason).parse()?,
            None => status.into_status()?,
        };

        // Only what this function adds below: no header of the
        // application's to check.
        let built = headers.is_empty();
        if built {
            // Content type, length and the server's `Server`, without
            // growing (and rehashing) the map on the way.
            headers.reserve(4);
        }
        if let Some(content_type) = content_type {
            headers.insert(header::CONTENT_TYPE, content_type.map_err(Error::new)?);
        }
        #[cfg(feature = "cookies")]
        if status.code().as_u16() < 400 {
            set_cookie::append(&mut headers, &cookies)?;
        }
        let mut content_length = None;
        let body = match content {
            Content::Bytes(bytes) => {
                if framing.adds_length() {
                    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
                    content_length = Some(bytes.len() as u64);
                }
                if framing.sends_body() {
                    Body::from(bytes)
                } else {
                    Body::empty()
                }
            }
            // A stream is handed over as it is: the server reads no more of
            // it than it needs for the head and then closes it, so a HEAD
            // answer's headers match the GET answer's (no invented length).
            Content::Stream(body) => body,
        };
        if built {
            start_response.start_built(status, headers, content_length)?;
        } else {
            start_response.start_map(status, headers)?;
        }
        Ok(body)
    }
}

impl fmt::Debug for WsgiResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsgiResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("content", &self.content)
            .field("content_type", &self.content_type())
            .finish_non_exhaustive()
    }
}

impl Default for WsgiResponse {
    fn default() -> Self {
        WsgiResponse::new(StatusCode::OK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environ(method: &str) -> Environ {
        Environ::from_request(
            http::Request::builder()
                .method(method)
                .uri("/")
                .body(())
                .unwrap(),
        )
    }

    #[test]
    fn text_gets_length_and_charset() {
        let sr = StartResponse::new();
        let body = WsgiResponse::text("héllo")
            .start(&environ("GET"), &sr)
            .unwrap();
        let head = sr.take_head().unwrap().unwrap();
        assert_eq!(head.headers["content-length"], "6");
        assert_eq!(head.headers["content-type"], "text/plain; charset=utf-8");
        assert_eq!(body.exact_length(), Some(6));
    }

    #[test]
    fn head_keeps_length_but_drops_body() {
        let sr = StartResponse::new();
        let body = WsgiResponse::text("hello")
            .start(&environ("HEAD"), &sr)
            .unwrap();
        let head = sr.take_head().unwrap().unwrap();
        assert_eq!(head.headers["content-length"], "5");
        assert!(body.is_end());
    }

    #[test]
    fn cookies_only_on_success() {
        let mut ok = WsgiResponse::text("x");
        ok.set_cookie(
            Cookie::build(("a", "1"))
                .path("/")
                .secure(true)
                .http_only(true)
                .build(),
        );
        ok.delete_cookie("b", Some("/"), None);
        let sr = StartResponse::new();
        ok.start(&environ("GET"), &sr).unwrap();
        let head = sr.take_head().unwrap().unwrap();
        let cookies: Vec<_> = head.headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies.len(), 2);
        assert!(cookies[0].to_str().unwrap().contains("HttpOnly"));
        assert!(cookies[1].to_str().unwrap().contains("Max-Age=0"));

        let mut failed = WsgiResponse::text("x").with_status(StatusCode::BAD_REQUEST);
        failed.set_cookie(Cookie::new("a", "1"));
        let sr = StartResponse::new();
        failed.start(&environ("GET"), &sr).unwrap();
        assert!(sr
            .take_head()
            .unwrap()
            .unwrap()
            .headers
            .get("set-cookie")
            .is_none());
    }

    #[test]
    fn cookies_that_would_not_parse_back_are_refused() {
        for cookie in [
            Cookie::new("", "v"),
            Cookie::build(("a", "1"))
                .path("/; Domain=evil.example")
                .build(),
            Cookie::build(("a", "1"))
                .domain("x.example; Secure")
                .build(),
            Cookie::build(("a", "1")).path("/caf\u{e9}").build(),
            Cookie::build(("a", "1")).path("/\t").build(),
            Cookie::build(("a", "1")).domain("a b.example").build(),
        ] {
            let mut response = WsgiResponse::text("x");
            response.set_cookie(cookie.clone());
            let sr = StartResponse::new();
            assert!(
                response.start(&environ("GET"), &sr).is_err(),
                "{cookie} must be refused"
            );
            assert!(!sr.is_started());
        }
    }

    #[test]
    fn no_content_has_no_length() {
        let sr = StartResponse::new();
        WsgiResponse::new(StatusCode::NO_CONTENT)
            .start(&environ("GET"), &sr)
            .unwrap();
        assert!(sr
            .take_head()
            .unwrap()
            .unwrap()
            .headers
            .get("content-length")
            .is_none());
    }
}
