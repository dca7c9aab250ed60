//! Why the server could not start or run.

use std::fmt;
use std::io;

#[cfg(feature = "tls")]
use super::tls::TlsError;
use crate::config::ConfigError;
use crate::extract::CheckError;

/// Why the server could not start or run.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid (see [`Config::validate`](crate::Config::validate)).
    Config(ConfigError),
    /// An address could not be bound (in use, not local, malformed...).
    Bind {
        /// The configured address.
        addr: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// An event loop or worker thread could not be started.
    Runtime(io::Error),
    /// The application needs something it is not given (a handler takes
    /// a `State<S>` that no `with_state` provides); see
    /// [`Application::check`](crate::Application::check).
    Check(CheckError),
    /// The TLS certificate or key cannot be used.
    #[cfg(feature = "tls")]
    Tls(TlsError),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Config(e) => e.fmt(f),
            ServerError::Bind { addr, source } => write!(
                f,
                "cannot listen on `{addr}`: {source} (check --bind: HOST:PORT, unix:PATH or fd://N, a local address, a free port)"
            ),
            ServerError::Runtime(e) => write!(f, "cannot start the server's event loop: {e}"),
            ServerError::Check(e) => write!(f, "the application cannot be served: {e}"),
            #[cfg(feature = "tls")]
            ServerError::Tls(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Config(e) => Some(e),
            ServerError::Bind { source, .. } => Some(source),
            ServerError::Runtime(e) => Some(e),
            ServerError::Check(e) => Some(e),
            #[cfg(feature = "tls")]
            ServerError::Tls(e) => Some(e),
        }
    }
}
