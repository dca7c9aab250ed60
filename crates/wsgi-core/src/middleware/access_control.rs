//! `AccessControl`: cross-origin resource sharing (CORS).
//!
//! pulsar's `AccessControl(origin, methods)` response middleware, grown to
//! the whole of what browsers need: it adds the `Access-Control-*` headers
//! to responses, and answers the preflight `OPTIONS` requests browsers send
//! before a non-simple cross-origin request.

use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use crate::environ::Environ;
use crate::error::Error;
use crate::middleware::{add_vary, RequestMiddleware, ResponseMiddleware};
use crate::response::WsgiResponse;

/// CORS for a [`WsgiHandler`](crate::WsgiHandler). It is both kinds of
/// middleware, and must be registered in **both** lists:
///
/// - as a [`RequestMiddleware`] (first in the list, before anything that may
///   refuse `OPTIONS`), it answers preflight requests (`OPTIONS` with
///   `Origin` and `Access-Control-Request-Method`) from an allowed origin
///   with `204 No Content` and `Access-Control-Allow-Origin`,
///   `-Allow-Methods`, `-Allow-Headers` (echoing the requested headers) and
///   `-Max-Age`. Other requests pass.
/// - as a [`ResponseMiddleware`], it adds `Access-Control-Allow-Origin` to
///   every response (error pages included, so scripts can read them) and
///   `Access-Control-Allow-Methods` when the request has an `Origin`.
///
/// With [`AllowOrigin::Any`] the origin header is `*`, on every response
/// (so a response cached without `Origin` still serves a cross-origin
/// request). With [`AllowOrigin::List`], an allowed request `Origin` is
/// echoed back, and every response carries `Vary: Origin` since it depends
/// on it; a request from any other origin gets no CORS headers, and the
/// browser keeps the response from the script. A response that already
/// has `Access-Control-Allow-Origin` (set by the application) is left as
/// it is.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use http::Method;
/// use wsgi_core::middleware::{AccessControl, AllowOrigin, BoxMiddleware, BoxResponseMiddleware};
/// use wsgi_core::WsgiHandler;
///
/// let cors = AccessControl::new(
///     AllowOrigin::list(["https://app.example", "https://admin.example"]),
///     [Method::GET, Method::POST, Method::DELETE],
/// )
/// .max_age(Duration::from_secs(3600));
///
/// // Builder style: the same value in both lists.
/// let handler = WsgiHandler::default()
///     .middleware(cors.clone())
///     // ... the application's own middleware ...
///     .response_middleware(cors.clone());
/// # let _ = handler;
///
/// // pulsar style: one `Arc` serves as both.
/// let cors = Arc::new(cors);
/// let handler = WsgiHandler::new(
///     vec![BoxMiddleware::new(cors.clone())],
///     vec![BoxResponseMiddleware::new(cors)],
/// );
/// # let _ = handler;
///
/// // pulsar's default: any origin.
/// let anyone = AccessControl::new(AllowOrigin::Any, [Method::GET]);
/// # let _ = anyone;
/// ```
#[derive(Debug, Clone)]
pub struct AccessControl {
    origin: AllowOrigin,
    // Made once, not per request.
    methods: Option<HeaderValue>,
    max_age: HeaderValue,
}

/// Which origins may read responses; see [`AccessControl`].
///
/// ```
/// use wsgi_core::middleware::AllowOrigin;
///
/// assert_eq!(AllowOrigin::from("*"), AllowOrigin::Any);
/// assert_eq!(
///     AllowOrigin::list(["https://app.example/"]),
///     AllowOrigin::List(vec!["https://app.example".to_owned()]),
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowOrigin {
    /// Any origin: `Access-Control-Allow-Origin: *`.
    Any,
    /// Only these origins (`scheme://host[:port]`), compared
    /// case-insensitively; each allowed request `Origin` is echoed back.
    List(Vec<String>),
}

impl AllowOrigin {
    /// The origins in `origins`. A trailing `/` is dropped (browsers never
    /// send one).
    pub fn list<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AllowOrigin::List(
            origins
                .into_iter()
                .map(|origin| {
                    let origin: String = origin.into();
                    origin.trim_end_matches('/').to_owned()
                })
                .collect(),
        )
    }

    /// The origin to answer a request from `origin` with, if it is allowed.
    fn allow<'a>(&self, origin: &'a HeaderValue) -> Option<&'a HeaderValue> {
        match self {
            AllowOrigin::Any => Some(origin),
            AllowOrigin::List(list) => {
                let origin_bytes = origin.as_bytes();
                list.iter()
                    .any(|allowed| allowed.as_bytes().eq_ignore_ascii_case(origin_bytes))
                    .then_some(origin)
            }
        }
    }
}

/// `"*"` is [`AllowOrigin::Any`] (pulsar's `origin='*'`); anything else is
/// a list of that one origin.
impl From<&str> for AllowOrigin {
    fn from(origin: &str) -> Self {
        if origin == "*" {
            AllowOrigin::Any
        } else {
            AllowOrigin::list([origin])
        }
    }
}

impl AccessControl {
    /// CORS for `origin`, allowing `methods` (an empty list allows only the
    /// CORS-safelisted `GET`, `HEAD` and `POST`), with preflight answers
    /// cached for 10 minutes (see [`max_age`](Self::max_age)).
    pub fn new(origin: impl Into<AllowOrigin>, methods: impl IntoIterator<Item = Method>) -> Self {
        let methods = methods
            .into_iter()
            .map(|m| m.as_str().to_owned())
            .collect::<Vec<_>>()
            .join(", ");
        AccessControl {
            origin: origin.into(),
            // Method names are tokens, always valid header text.
            methods: HeaderValue::from_str(&methods)
                .ok()
                .filter(|v| !v.is_empty()),
            max_age: HeaderValue::from(600_u64),
        }
    }

    /// How long browsers may cache a preflight answer
    /// (`Access-Control-Max-Age`, whole seconds; browsers cap it, Chrome at
    /// two hours).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = HeaderValue::from(max_age.as_secs());
        self
    }

    /// `Access-Control-Allow-Origin`'s value for this request, if allowed.
    fn allow_origin<'a>(&self, environ: &'a Environ) -> Option<&'a HeaderValue> {
        let origin = environ.header(header::ORIGIN)?;
        self.origin.allow(origin)
    }

    fn add_methods(&self, headers: &mut HeaderMap) {
        if let Some(methods) = &self.methods {
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods.clone());
        }
    }
}

fn any() -> HeaderValue {
    HeaderValue::from_static("*")
}

impl RequestMiddleware for AccessControl {
    /// Answers a preflight from an allowed origin; passes anything else
    /// (a preflight from another origin too, so a later middleware may
    /// still answer it).
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        if environ.method() != Method::OPTIONS
            || !environ
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return Ok(None);
        }
        let Some(origin) = self.allow_origin(environ) else {
            return Ok(None);
        };
        let mut response = WsgiResponse::new(StatusCode::NO_CONTENT);
        let headers = response.headers_mut();
        let allow_origin = match self.origin {
            AllowOrigin::Any => any(),
            AllowOrigin::List(_) => {
                add_vary(headers, "Origin");
                origin.clone()
            }
        };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        self.add_methods(headers);
        let requested = environ
            .headers()
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS);
        for value in requested {
            headers.append(header::ACCESS_CONTROL_ALLOW_HEADERS, value.clone());
        }
        add_vary(headers, "Access-Control-Request-Headers");
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        Ok(Some(response))
    }
}

impl ResponseMiddleware for AccessControl {
    async fn call(
        &self,
        environ: &mut Environ,
        mut response: WsgiResponse,
    ) -> Result<WsgiResponse, Error> {
        let has_origin = environ.headers().contains_key(header::ORIGIN);
        let headers = response.headers_mut();
        if headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
            return Ok(response);
        }
        match self.origin {
            AllowOrigin::Any => {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, any());
            }
            AllowOrigin::List(_) => {
                add_vary(headers, "Origin");
                let Some(origin) = self.allow_origin(environ) else {
                    return Ok(response);
                };
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            }
        }
        if has_origin {
            self.add_methods(headers);
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environ(method: Method, headers: &[(&'static str, &'static str)]) -> Environ {
        let mut request = http::Request::builder().method(method).uri("/");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Environ::from_request(request.body(()).unwrap())
    }

    fn cors() -> AccessControl {
        AccessControl::new(
            AllowOrigin::list(["https://App.example/"]),
            [Method::GET, Method::PUT],
        )
    }

    #[tokio::test]
    async fn allowed_origin_is_echoed_case_insensitively() {
        let mut e = environ(Method::GET, &[("origin", "https://app.example")]);
        let response = ResponseMiddleware::call(&cors(), &mut e, WsgiResponse::text("x"))
            .await
            .unwrap();
        let h = response.headers();
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example"
        );
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], "GET, PUT");
        assert_eq!(h[header::VARY], "Origin");
    }

    #[tokio::test]
    async fn listed_origins_vary_even_without_origin() {
        let mut e = environ(Method::GET, &[]);
        let response = ResponseMiddleware::call(&cors(), &mut e, WsgiResponse::text("x"))
            .await
            .unwrap();
        assert!(!response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
        assert_eq!(response.headers()[header::VARY], "Origin");
    }

    #[tokio::test]
    async fn star_from_str_means_any() {
        let cors = AccessControl::new("*", []);
        let mut e = environ(Method::GET, &[("origin", "https://x.example")]);
        let response = ResponseMiddleware::call(&cors, &mut e, WsgiResponse::text("x"))
            .await
            .unwrap();
        assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(!response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_METHODS));
        assert!(!response.headers().contains_key(header::VARY));
    }

    #[tokio::test]
    async fn application_cors_headers_are_kept() {
        let mut e = environ(Method::GET, &[("origin", "https://app.example")]);
        let mut own = WsgiResponse::text("x");
        own.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("https://mine.example"),
        );
        let response = ResponseMiddleware::call(&cors(), &mut e, own)
            .await
            .unwrap();
        assert_eq!(
            response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://mine.example"
        );
    }

    #[tokio::test]
    async fn preflight_rules() {
        let preflight = |origin| {
            environ(
                Method::OPTIONS,
                &[
                    ("origin", origin),
                    ("access-control-request-method", "PUT"),
                    ("access-control-request-headers", "x-token, content-type"),
                ],
            )
        };
        let response = RequestMiddleware::call(&cors(), &mut preflight("https://app.example"))
            .await
            .unwrap()
            .expect("answered");
        let h = response.headers();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "x-token, content-type"
        );
        assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], "600");
        assert!(
            RequestMiddleware::call(&cors(), &mut preflight("https://evil.example"))
                .await
                .unwrap()
                .is_none()
        );
        // A plain OPTIONS is not a preflight.
        let mut plain = environ(Method::OPTIONS, &[("origin", "https://app.example")]);
        assert!(RequestMiddleware::call(&cors(), &mut plain)
            .await
            .unwrap()
            .is_none());
    }
}
