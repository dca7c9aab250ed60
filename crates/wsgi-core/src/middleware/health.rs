//! `health`: liveness and readiness probes for load balancers and
//! orchestrators.
//!
//! [`HealthCheck`] answers two paths itself, before the application:
//!
//! - **liveness** (`/healthz`): `200 ok` whenever the server answers at
//!   all; a failing liveness probe means "restart me".
//! - **readiness** (`/readyz`): `200 ready`, or `503 shutting down` once
//!   the server has begun a graceful shutdown
//!   ([`Connection::is_draining`]), or `503 not ready` while the
//!   [`ready_when`](HealthCheck::ready_when) check says no; a failing
//!   readiness probe means "send me no new clients".
//!
//! With the `shutdown_drain` setting a server told to stop keeps serving
//! while readiness answers 503: see the
//! [graceful shutdown](crate::server#graceful-shutdown).

use std::fmt;
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

use crate::connection::Connection;
use crate::environ::Environ;
use crate::error::Error;
use crate::middleware::RequestMiddleware;
use crate::response::WsgiResponse;

/// Answers `GET`/`HEAD` on the liveness and readiness paths (matched
/// against `PATH_INFO`); passes every other request.
///
/// - **liveness** (`/healthz`): `200 ok` whenever the server answers at
///   all; a failing liveness probe means "restart me".
/// - **readiness** (`/readyz`): `200 ready`; `503 shutting down` once the
///   server has begun a graceful shutdown ([`Connection::is_draining`]);
///   `503 not ready` while the [`ready_when`](Self::ready_when) check says
///   no. A failing readiness probe means "send me no new clients".
///
/// Answers carry `Cache-Control: no-store`. For `shutdown_drain`, see the
/// [graceful shutdown](crate::server#graceful-shutdown).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use wsgi_core::middleware::{HealthCheck, RequestMiddleware};
/// use wsgi_core::{Environ, WsgiHandler};
///
/// let warm = Arc::new(AtomicBool::new(false));
/// let flag = Arc::clone(&warm);
/// let health = HealthCheck::new()
///     .readiness_path("/ready")
///     .ready_when(move || flag.load(Ordering::Relaxed));
/// let get = |path: &str| Environ::from_request(http::Request::get(path).body(()).unwrap());
///
/// let live = health.call(&mut get("/healthz")).await.unwrap().unwrap();
/// assert_eq!(live.status(), 200);
/// let ready = health.call(&mut get("/ready")).await.unwrap().unwrap();
/// assert_eq!(ready.status(), 503, "not warm yet");
/// warm.store(true, Ordering::Relaxed);
/// let ready = health.call(&mut get("/ready")).await.unwrap().unwrap();
/// assert_eq!(ready.status(), 200);
/// assert!(health.call(&mut get("/other")).await.unwrap().is_none());
///
/// // Usually the first middleware of a handler:
/// let handler = WsgiHandler::default().middleware(health);
/// # let _ = handler;
/// # }
/// ```
#[derive(Clone)]
pub struct HealthCheck {
    liveness: String,
    readiness: String,
    ready_when: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck::new()
    }
}

impl fmt::Debug for HealthCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthCheck")
            .field("liveness", &self.liveness)
            .field("readiness", &self.readiness)
            .field("ready_when", &self.ready_when.is_some())
            .finish()
    }
}

impl HealthCheck {
    /// Probes on `/healthz` (liveness) and `/readyz` (readiness).
    pub fn new() -> Self {
        HealthCheck {
            liveness: "/healthz".to_owned(),
            readiness: "/readyz".to_owned(),
            ready_when: None,
        }
    }

    /// Moves the liveness probe (matched against `PATH_INFO`).
    pub fn liveness_path(mut self, path: impl Into<String>) -> Self {
        self.liveness = path.into();
        self
    }

    /// Moves the readiness probe (matched against `PATH_INFO`).
    pub fn readiness_path(mut self, path: impl Into<String>) -> Self {
        self.readiness = path.into();
        self
    }

    /// Readiness also requires `check()` to be true (a warmed cache, a
    /// reachable database...). It runs on the event loop for each probe:
    /// keep it quick and non-blocking (read a flag another task keeps).
    pub fn ready_when(mut self, check: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.ready_when = Some(Arc::new(check));
        self
    }

    fn answer(status: StatusCode, text: &str) -> WsgiResponse {
        let mut response = WsgiResponse::text(text).with_status(status);
        // A cached probe answer would hide a change of state.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl RequestMiddleware for HealthCheck {
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        if environ.method() != Method::GET && environ.method() != Method::HEAD {
            return Ok(None);
        }
        let path = environ.path_info();
        if path == self.liveness.as_str() {
            return Ok(Some(Self::answer(StatusCode::OK, "ok")));
        }
        if path != self.readiness.as_str() {
            return Ok(None);
        }
        let response = if environ.connection().is_some_and(Connection::is_draining) {
            Self::answer(StatusCode::SERVICE_UNAVAILABLE, "shutting down")
        } else if self.ready_when.as_ref().is_some_and(|ready| !ready()) {
            Self::answer(StatusCode::SERVICE_UNAVAILABLE, "not ready")
        } else {
            Self::answer(StatusCode::OK, "ready")
        };
        Ok(Some(response))
    }
}
