//! Extractors for what the request head and the server already hold:
//! they never reject, but for a `Connection` outside the server and
//! `RouteParams` outside a router.

use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderMap, Method, Uri, Version};

use super::FromEnviron;
use crate::config::Config;
use crate::connection::Connection;
use crate::environ::Environ;
use crate::error::Error;
use crate::router::RouteParams;

/// `REQUEST_METHOD`.
impl FromEnviron for Method {
    type Rejection = Infallible;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Infallible> {
        Ok(environ.method().clone())
    }
}

/// The request target, as parsed (`RAW_URI` is its text).
impl FromEnviron for Uri {
    type Rejection = Infallible;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Infallible> {
        Ok(environ.uri().clone())
    }
}

/// The HTTP version (`SERVER_PROTOCOL`).
impl FromEnviron for Version {
    type Rejection = Infallible;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Infallible> {
        Ok(environ.version())
    }
}

/// A copy of the request headers (as middleware left them).
impl FromEnviron for HeaderMap {
    type Rejection = Infallible;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Infallible> {
        Ok(environ.headers().clone())
    }
}

/// `pulsar.cfg`.
impl FromEnviron for Arc<Config> {
    type Rejection = Infallible;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Infallible> {
        Ok(Arc::clone(environ.shared_config()))
    }
}

/// `pulsar.connection`; a 500 when the request did not come from the
/// server (an `Environ` built by hand, the in-process `TestClient`): take
/// `Option<Connection>` where that can happen.
impl FromEnviron for Connection {
    type Rejection = Error;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Error> {
        environ.connection().cloned().ok_or_else(|| {
            Error::msg("no connection: this request did not come from the server; take `Option<Connection>` to serve both")
        })
    }
}

/// The matched route's parameters; a 500 outside a [`Router`](crate::router::Router).
impl FromEnviron for RouteParams {
    type Rejection = Error;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Error> {
        environ
            .extensions()
            .get::<RouteParams>()
            .cloned()
            .ok_or_else(|| {
                Error::msg("no route parameters: this handler is not served by a Router")
            })
    }
}
