//! The framework's error type.
//!
//! Applications return [`Error`] from [`Application::call`](crate::Application::call)
//! and from body chunks. Any `std::error::Error` converts into it with `?`, so
//! handlers can mix I/O, parsing and framework errors freely. An error carries
//! the HTTP status the server answers with when it happens before the response
//! head is sent (500 unless set otherwise).

use std::fmt;

use http::StatusCode;

/// A boxed, thread-safe error: the currency of `http-body` and `tower`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    /// Wraps any error; the server answers 500 for it.
    pub fn new(error: impl Into<BoxError>) -> Self {
        Error {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            inner: error.into(),
        }
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

/// The application panicked; the message is the panic's.
#[derive(Debug)]
pub(crate) struct Panicked(String);

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the application panicked: {}", self.0)
    }
}

impl std::error::Error for Panicked {}
