//! `Error` and `HttpError` (documented there).

use std::fmt;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use crate::input::InputError;

/// A boxed, thread-safe error: the currency of `http-body` and `tower`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The framework's error type.
///
/// Applications return [`Error`] from [`Application::call`](crate::Application::call)
/// and from body chunks. Any `std::error::Error` converts into it with `?`, so
/// handlers can mix I/O, parsing and framework errors freely. An error carries
/// the HTTP status the server answers with when it happens before the response
/// head is sent (500 unless set otherwise).
///
/// An error raised by an application, a middleware or a response body.
///
/// Like `anyhow::Error`, it does not implement `std::error::Error` itself, so
/// that every `std::error::Error` can convert into it with `?`. Use
/// [`Error::into_boxed`] where a `std::error::Error` is needed.
///
/// ```
/// use wsgi_core::Error;
/// use http::StatusCode;
///
/// fn parse(id: &str) -> Result<u32, Error> {
///     Ok(id.parse::<u32>()?) // ParseIntError -> Error, status 500
/// }
/// assert_eq!(parse("x").unwrap_err().status(), StatusCode::INTERNAL_SERVER_ERROR);
///
/// let not_found = Error::with_status(StatusCode::NOT_FOUND, "no such item");
/// assert_eq!(not_found.status(), StatusCode::NOT_FOUND);
/// assert_eq!(not_found.to_string(), "no such item");
/// ```
pub struct Error {
    status: StatusCode,
    inner: BoxError,
}

impl Error {
    /// Wraps any error; the server answers 500 for it, unless it is an
    /// error with a status of its own: an [`HttpError`] keeps its status,
    /// a request body over the limit ([`InputError::TooLarge`]) is 413, a
    /// body that went silent ([`InputError::TimedOut`]) is 408 and a body
    /// that could not be read ([`InputError::Read`]) is 400.
    ///
    /// An `anyhow::Error` (with the `anyhow` feature) is taken apart as by
    /// [`Error::from_anyhow`], so a status inside it is kept.
    pub fn new<E: Into<BoxError> + 'static>(error: E) -> Self {
        #[cfg(feature = "anyhow")]
        {
            // `anyhow::Error` boxes into an opaque type that hides an
            // `HttpError` from `downcast_ref`; take it apart first.
            let mut slot = Some(error);
            let any: &mut dyn std::any::Any = &mut slot;
            if let Some(anyhow) = any
                .downcast_mut::<Option<anyhow::Error>>()
                .and_then(Option::take)
            {
                return Error::from_anyhow(anyhow);
            }
            match slot {
                Some(error) => Error::from_boxed(error.into()),
                None => Error::msg("the error was taken"),
            }
        }
        #[cfg(not(feature = "anyhow"))]
        Error::from_boxed(error.into())
    }

    /// An `anyhow::Error` as the framework's error, keeping the status of
    /// an [`HttpError`], [`InputError`] or `wsgi_core::Error` it carries
    /// (also under `.context(…)`); anything else is a 500. `anyhow::Error`
    /// returned from a handler goes through this.
    ///
    /// ```
    /// use wsgi_core::{Error, HttpError};
    ///
    /// let error = anyhow::Error::new(HttpError::not_found());
    /// assert_eq!(Error::from_anyhow(error).status(), 404);
    /// let error = anyhow::anyhow!("the disk is full");
    /// assert_eq!(Error::from_anyhow(error).status(), 500);
    /// ```
    #[cfg(feature = "anyhow")]
    pub fn from_anyhow(error: anyhow::Error) -> Self {
        let error = match error.downcast::<Error>() {
            Ok(error) => return error,
            Err(error) => error,
        };
        let error = match error.downcast::<HttpError>() {
            Ok(http) => return Error::from_boxed(Box::new(http)),
            Err(error) => error,
        };
        let error = match error.downcast::<InputError>() {
            Ok(input) => return Error::from_boxed(Box::new(input)),
            Err(error) => error,
        };
        Error::from_boxed(error.into())
    }

    fn from_boxed(inner: BoxError) -> Self {
        let status = if let Some(http) = inner.downcast_ref::<HttpError>() {
            http.status()
        } else if let Some(input) = inner.downcast_ref::<InputError>() {
            match input {
                InputError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                InputError::TimedOut { .. } => StatusCode::REQUEST_TIMEOUT,
                _ => StatusCode::BAD_REQUEST,
            }
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Error { status, inner }
    }

    /// An error with a plain message; the server answers 500 for it.
    pub fn msg(message: impl Into<String>) -> Self {
        Error::new(message.into())
    }

    /// An error that the server answers with `status` (for example 404).
    pub fn with_status(status: StatusCode, error: impl Into<BoxError>) -> Self {
        Error {
            status,
            inner: error.into(),
        }
    }

    /// The status the server answers with if the response head was not sent yet.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The wrapped error.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.inner
    }

    /// Returns the wrapped error if it is of type `E`.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.inner.downcast_ref::<E>()
    }

    /// Converts into a boxed `std::error::Error` (the status is dropped).
    pub fn into_boxed(self) -> BoxError {
        self.inner
    }

    /// Headers the error response must carry (`Allow` for 405, `Location`
    /// for redirects), from an [`HttpError`] inside.
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.downcast_ref::<HttpError>()
            .and_then(HttpError::headers)
    }

    /// The message followed by each `source()` in turn, joined by `": "`.
    pub fn chain(&self) -> String {
        let mut out = self.inner.to_string();
        let mut source = self.inner.source();
        while let Some(cause) = source {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            source = cause.source();
        }
        out
    }

    /// Builds an error from a caught panic payload.
    pub(crate) fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_owned()
        };
        Error::new(Panicked(message))
    }
}

impl<E> From<E> for Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Error::new(error)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("status", &self.status)
            .field("inner", &self.inner)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

/// An error that *is* an HTTP answer: a status, an optional message for the
/// client, and headers such as `Allow` or `Location`.
///
/// Return it from handlers and middleware (`?` converts it into [`Error`]
/// with its status kept); the handler renders it as text, HTML or JSON by
/// the request's `Accept`.
///
/// ```
/// use wsgi_core::{Error, HttpError};
/// use http::{Method, StatusCode};
///
/// let e: Error = HttpError::not_found().into();
/// assert_eq!(e.status(), StatusCode::NOT_FOUND);
///
/// let e: Error = HttpError::method_not_allowed(&[Method::GET, Method::HEAD]).into();
/// assert_eq!(e.headers().unwrap()["allow"], "GET, HEAD");
///
/// let e: Error = HttpError::redirect("/login?next=%2F").into();
/// assert_eq!(e.status(), StatusCode::FOUND);
/// ```
#[derive(Debug, Clone)]
pub struct HttpError {
    status: StatusCode,
    message: Option<String>,
    // Boxed and optional: most errors carry no header, and a small error
    // keeps `Result<T, HttpError>` cheap to return.
    headers: Option<Box<HeaderMap>>,
}

impl HttpError {
    /// An error answered with `status` and its canonical reason.
    pub fn new(status: StatusCode) -> Self {
        HttpError {
            status,
            message: None,
            headers: None,
        }
    }

    /// 404 Not Found (pulsar's `Http404`).
    pub fn not_found() -> Self {
        HttpError::new(StatusCode::NOT_FOUND)
    }

    /// 400 Bad Request with a message for the client.
    pub fn bad_request(message: impl Into<String>) -> Self {
        HttpError::new(StatusCode::BAD_REQUEST).with_message(message)
    }

    /// 405 Method Not Allowed with the `Allow` header listing `allowed`.
    pub fn method_not_allowed(allowed: &[Method]) -> Self {
        let allow = allowed
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let mut error = HttpError::new(StatusCode::METHOD_NOT_ALLOWED);
        if let Ok(value) = HeaderValue::from_str(&allow) {
            error.headers_mut().insert(header::ALLOW, value);
        }
        error
    }

    /// 302 Found to `location`.
    pub fn redirect(location: &str) -> Self {
        HttpError::redirect_with(StatusCode::FOUND, location)
    }

    /// 301 Moved Permanently to `location`.
    pub fn permanent_redirect(location: &str) -> Self {
        HttpError::redirect_with(StatusCode::MOVED_PERMANENTLY, location)
    }

    /// A redirect with any 3xx `status`. A `location` that is not a valid
    /// header value (a line break, say) is percent-encoded, never sent raw.
    pub fn redirect_with(status: StatusCode, location: &str) -> Self {
        let mut error = HttpError::new(status);
        let value = HeaderValue::from_str(location).unwrap_or_else(|_| {
            let encoded =
                percent_encoding::utf8_percent_encode(location, percent_encoding::CONTROLS)
                    .to_string();
            HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static("/"))
        });
        error.headers_mut().insert(header::LOCATION, value);
        error
    }

    /// Sets the message shown to the client.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Adds a header to the error response.
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers_mut().append(name, value);
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The client message, if one was set.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Headers for the error response.
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.headers.as_deref()
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        self.headers.get_or_insert_with(Default::default)
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(message) => f.write_str(message),
            None => f.write_str(self.status.canonical_reason().unwrap_or("HTTP error")),
        }
    }
}

impl std::error::Error for HttpError {}

/// A request body that could not be read, as an answer: 413 past the
/// `max_request_body` limit, 408 when the client went silent, 400 otherwise,
/// each with a message that says what to do.
impl From<InputError> for HttpError {
    fn from(error: InputError) -> Self {
        match error {
            InputError::TooLarge { limit } => HttpError::new(StatusCode::PAYLOAD_TOO_LARGE)
                .with_message(format!(
                    "The request body is larger than the {limit}-byte limit; send less, or raise the server's `max_request_body` setting."
                )),
            InputError::Read(e) => HttpError::bad_request(format!(
                "The request body could not be read ({e}); resend the request with a complete body."
            )),
            timed_out @ InputError::TimedOut { .. } => {
                HttpError::new(StatusCode::REQUEST_TIMEOUT).with_message(format!("{timed_out}."))
            }
        }
    }
}

/// The application panicked; the message is the panic's.
#[derive(Debug)]
pub(crate) struct Panicked(String);

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the application panicked: {}", self.0)
    }
}

impl std::error::Error for Panicked {}
