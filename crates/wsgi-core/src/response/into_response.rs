//! `IntoResponse`: whatever a handler returns, as a response.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

use super::WsgiResponse;
use crate::body::Body;
use crate::error::{Error, HttpError};

/// A value a [`#[wsgi_handler]`](crate::wsgi_handler) may return: it
/// becomes the response, or an error that is rendered as an error page by
/// the request's `Accept` (and passes through the `WsgiHandler`'s error
/// renderer and response middleware like any other error).
///
/// | returned | response |
/// |---|---|
/// | [`WsgiResponse`] | itself |
/// | `&'static str`, `String`, `Cow<'static, str>` | `200`, `text/plain; charset=utf-8` |
/// | [`Html<T>`] | `200`, `text/html; charset=utf-8` |
/// | [`Json<T>`](crate::extract::Json) | `200`, `application/json` |
/// | `Vec<u8>`, [`Bytes`], `&'static [u8]` | `200`, `application/octet-stream` |
/// | [`Body`] (a stream: `Body::from_stream`, chunks, futures) | `200`, streamed |
/// | `()` | `200`, empty |
/// | [`StatusCode`] | that status, empty |
/// | [`Redirect`] | `303`, `307` or `308` with `Location` |
/// | `(StatusCode, R)`, `(StatusCode, P, R)`, `(P, R)`, `(P1, P2, R)`, … | `R` with the status and the [parts](IntoResponseParts) `P` (headers, cookies) |
/// | `Result<R, E>` | `R`, or `E` (itself an `IntoResponse`) |
/// | [`Error`], [`HttpError`], `anyhow::Error` | an error page with the error's status (an `HttpError` inside an `anyhow::Error` keeps its own) |
///
/// Implement it for your own error type to choose its status and page:
///
/// ```
/// use wsgi_core::IntoResponse;
/// use wsgi_core::{Error, HttpError, WsgiResponse};
///
/// enum AppError {
///     NotFound(u64),
///     Database(std::io::Error),
/// }
///
/// impl IntoResponse for AppError {
///     fn into_response(self) -> Result<WsgiResponse, Error> {
///         match self {
///             // An HttpError is rendered by `Accept` (text, HTML or JSON).
///             AppError::NotFound(id) => Err(HttpError::not_found().with_message(format!("no item {id}")).into()),
///             // A 500 whose details are shown only with `debug` on.
///             AppError::Database(e) => Err(Error::new(e)),
///         }
///     }
/// }
///
/// #[wsgi_core::wsgi_handler]
/// fn item(wsgi_core::extract::Path(id): wsgi_core::extract::Path<u64>) -> Result<String, AppError> {
///     match id {
///         1 => Ok("the first item".to_owned()),
///         0 => Err(AppError::Database(std::io::Error::other("disk"))),
///         id => Err(AppError::NotFound(id)),
///     }
/// }
/// # let _ = Item;
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a handler: it does not implement `wsgi_core::IntoResponse`",
    label = "not a response",
    note = "handlers return `WsgiResponse`, `String`, `&'static str`, `Json<T>`, `Html<T>`, `Redirect`, `StatusCode`, `Body`, `(StatusCode, T)`, `Result<T, E>` with `E` an `IntoResponse` (`wsgi_core::Error`, `HttpError`, `anyhow::Error`, or your own type) or any `std::error::Error`, ...",
    note = "for a type of your own, implement `IntoResponse` for it"
)]
pub trait IntoResponse {
    /// The response, or the error to render as an error page.
    fn into_response(self) -> Result<WsgiResponse, Error>;
}

/// Part of a response that is not its body: headers, cookies. Used in
/// returned tuples such as `(StatusCode, [("x-id", "7")], body)`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a response head",
    label = "not headers or cookies",
    note = "parts are `HeaderMap`, `[(K, V); N]` of header names and values, `TypedHeader<H>`, `Cookies`, ...; the status goes first and the body last: `(StatusCode, parts…, body)`"
)]
pub trait IntoResponseParts {
    /// Adds this part to `response`; an invalid header is an error (500),
    /// never sent.
    fn into_response_parts(self, response: &mut WsgiResponse) -> Result<(), Error>;
}

impl IntoResponse for WsgiResponse {
    #[inline]
    fn into_response(self) -> Result<WsgiResponse, Error> {
        Ok(self)
    }
}

impl IntoResponse for Error {
    #[inline]
    fn into_response(self) -> Result<WsgiResponse, Error> {
        Err(self)
    }
}

impl IntoResponse for HttpError {
    #[inline]
    fn into_response(self) -> Result<WsgiResponse, Error> {
        Err(self.into())
    }
}

/// An `HttpError` or `wsgi_core::Error` inside keeps its status; anything
/// else is a 500.
#[cfg(feature = "anyhow")]
impl IntoResponse for anyhow::Error {
    fn into_response(self) -> Result<WsgiResponse, Error> {
        Err(Error::from_anyhow(self))
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    #[inline]
    fn into_response(self) -> Result<WsgiResponse, Error> {
        match self {
            Ok(value) => value.into_response(),
            Err(error) => error.into_response(),
        }
    }
}

impl IntoResponse for std::convert::Infallible {
    fn into_response(self) -> Result<WsgiResponse, Error> {
        match self {}
    }
}

impl IntoResponse for &'static str {
    #[inline]
    fn into_response(self) -> Result<WsgiResponse, Error> {
        Ok(WsgiResponse::text(self))
    }
}

impl IntoResponse for String {
    #[inline]
    fn into_response(self) -> Result<WsgiResponse, Error> {
        Ok(WsgiResponse::text(self))
    }
}

impl IntoResponse for Cow<'static, str> {
    #[inline]
    fn into_response(self) -> Result<WsgiResponse, Error> {
        Ok(WsgiResponse::text(self))
    }
}

fn octets(bytes: Bytes) -> WsgiResponse {
    let mut response = WsgiResponse::bytes(bytes);
    response.set_content_type("application/octet-stream");
    response
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Result<WsgiResponse, Error> {
        Ok(octets(self))
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Result<WsgiResponse, Error> {
        Ok(octets(self.into()))
    }
}

impl IntoResponse for &'static [u8] {
    fn into_response(self) -> Result<WsgiResponse, Error> {
        Ok(octets(Bytes::from_static(self)))
    }
}

/// A streamed body: `200`, sent as its items arrive.
impl IntoResponse for Body {
    fn into_response(self) -> Result<WsgiResponse, Error> {
        Ok(WsgiResponse::stream(self))
    }
}

/// `200` with an empty body.
impl IntoResponse for () {
    fn into_response(self) -> Result<WsgiResponse, Error> {
        Ok(WsgiResponse::new(StatusCode::OK))
    }
}

/// The status with an empty body.
impl IntoResponse for StatusCode {
    fn into_response(self) -> Result<WsgiResponse, Error> {
        Ok(WsgiResponse::new(self))
    }
}

/// An HTML document: `text/html; charset=utf-8`.
///
/// ```
/// use wsgi_core::{wsgi_handler, Html};
///
/// #[wsgi_handler]
/// fn page() -> Html<&'static str> {
///     Html("<h1>Hello</h1>")
/// }
/// # let _ = Page;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Html<T>(pub T);

impl<T: Into<String>> IntoResponse for Html<T> {
    fn into_response(self) -> Result<WsgiResponse, Error> {
        Ok(WsgiResponse::html(self.0))
    }
}

/// A redirect: `303 See Other` ([`to`](Redirect::to), after a form
/// post), `307 Temporary Redirect` or `308 Permanent Redirect` (which keep
/// the method and body).
///
/// ```
/// use wsgi_core::{wsgi_handler, Redirect};
///
/// #[wsgi_handler]
/// fn old() -> Redirect {
///     Redirect::permanent("/new")
/// }
/// # let _ = Old;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    status: StatusCode,
    location: String,
}

impl Redirect {
    /// `303 See Other`: the client follows with a `GET`.
    pub fn to(location: impl Into<String>) -> Self {
        Redirect::with_status(StatusCode::SEE_OTHER, location)
    }

    /// `307 Temporary Redirect`: same method and body, this time.
    pub fn temporary(location: impl Into<String>) -> Self {
        Redirect::with_status(StatusCode::TEMPORARY_REDIRECT, location)
    }

    /// `308 Permanent Redirect`: same method and body, from now on.
    pub fn permanent(location: impl Into<String>) -> Self {
        Redirect::with_status(StatusCode::PERMANENT_REDIRECT, location)
    }

    fn with_status(status: StatusCode, location: impl Into<String>) -> Self {
        Redirect {
            status,
            location: location.into(),
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Where to.
    pub fn location(&self) -> &str {
        &self.location
    }
}

/// A `location` that is not a valid header value (a line break) is an
/// error, never sent.
impl IntoResponse for Redirect {
    fn into_response(self) -> Result<WsgiResponse, Error> {
        let location = HeaderValue::try_from(self.location).map_err(|_| {
            Error::msg("the redirect's location is not a valid header value (a line break or a control character)")
        })?;
        let mut response = WsgiResponse::new(self.status);
        response
            .headers_mut()
            .insert(http::header::LOCATION, location);
        Ok(response)
    }
}

impl IntoResponseParts for HeaderMap {
    fn into_response_parts(self, response: &mut WsgiResponse) -> Result<(), Error> {
        let headers = response.headers_mut();
        let mut last = None;
        for (name, value) in self {
            // `HeaderMap`'s iterator names only the first of repeated values.
            let name = match name {
                Some(name) => {
                    last = Some(name.clone());
                    name
                }
                None => match &last {
                    Some(name) => name.clone(),
                    None => continue,
                },
            };
            headers.append(name, value);
        }
        Ok(())
    }
}

/// `[("x-request-id", "7"), ("cache-control", "no-store")]`: names and
/// values are checked, and a bad one is a 500, never sent.
impl<K, V, const N: usize> IntoResponseParts for [(K, V); N]
where
    K: TryInto<HeaderName>,
    V: TryInto<HeaderValue>,
{
    fn into_response_parts(self, response: &mut WsgiResponse) -> Result<(), Error> {
        for (name, value) in self {
            let name = name
                .try_into()
                .map_err(|_| Error::msg("a returned header name is not a valid token"))?;
            let value = value.try_into().map_err(|_| {
                Error::msg(format!(
                    "the returned value of header `{name}` is not valid (a line break or a control character)"
                ))
            })?;
            response.headers_mut().append(name, value);
        }
        Ok(())
    }
}

/// The response of `R` with `status`; an error from `R` stays an error.
impl<R: IntoResponse> IntoResponse for (StatusCode, R) {
    fn into_response(self) -> Result<WsgiResponse, Error> {
        let (status, body) = self;
        let mut response = body.into_response()?;
        response.set_status(status);
        Ok(response)
    }
}

macro_rules! tuple_responses {
    ($($part:ident),+) => {
        /// The response of `R` with these parts added.
        impl<$($part: IntoResponseParts,)+ R: IntoResponse> IntoResponse for ($($part,)+ R) {
            #[allow(non_snake_case)]
            fn into_response(self) -> Result<WsgiResponse, Error> {
                let ($($part,)+ body) = self;
                let mut response = body.into_response()?;
                $($part.into_response_parts(&mut response)?;)+
                Ok(response)
            }
        }

        /// The response of `R` with `status` and these parts.
        impl<$($part: IntoResponseParts,)+ R: IntoResponse> IntoResponse for (StatusCode, $($part,)+ R) {
            #[allow(non_snake_case)]
            fn into_response(self) -> Result<WsgiResponse, Error> {
                let (status, $($part,)+ body) = self;
                let mut response = body.into_response()?;
                response.set_status(status);
                $($part.into_response_parts(&mut response)?;)+
                Ok(response)
            }
        }
    };
}

tuple_responses!(P1);
tuple_responses!(P1, P2);
tuple_responses!(P1, P2, P3);
tuple_responses!(P1, P2, P3, P4);
