//! `WsgiService`: its overview is on the re-export in `lib.rs`.

use std::any::TypeId;
use std::cell::Cell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode, Version};

use crate::application::Application;
use crate::config::Config;
use crate::connection::Connection;
use crate::dispatch::{text_response, Dispatch, Settings};
use crate::environ::Environ;
use crate::error::BoxError;
use crate::extract::{CheckError, Provided};
use crate::handler::WsgiHandler;
use crate::input::Input;
use crate::response_body::ResponseBody;
use crate::response_future::ResponseFuture;

/// An [`Application`] as a `tower::Service`. Cheap to clone.
pub struct WsgiService<A: ?Sized> {
    app: Arc<A>,
    config: Arc<Config>,
    settings: Arc<Settings>,
}

impl<A: Application> WsgiService<A> {
    /// Serves `app` with the default configuration.
    ///
    /// # Panics
    /// As [`with_config`](Self::with_config), if the start-up check fails.
    pub fn new(app: A) -> Self {
        WsgiService::with_config(app, Config::default())
    }

    /// Serves `app` with `config` (readable as `pulsar.cfg`).
    ///
    /// # Panics
    /// If the application's [start-up check](Application::check) fails
    /// (a handler takes a `State<S>` that no `with_state` provides):
    /// a mistake in how the application is built, reported before it
    /// serves anything. [`try_with_config`](Self::try_with_config) returns
    /// it instead.
    pub fn with_config(app: A, config: Config) -> Self {
        match WsgiService::try_with_config(app, config) {
            Ok(service) => service,
            Err(error) => panic!("the application cannot be served: {error}"),
        }
    }

    /// Serves `app` with `config`, after the application's
    /// [start-up check](Application::check).
    pub fn try_with_config(app: A, config: Config) -> Result<Self, CheckError> {
        app.check(&Provided::new(&config))?;
        Ok(WsgiService::from_shared(Arc::new(app), Arc::new(config)))
    }
}

/// `app.into()`: any application, a `#[wsgi_handler]` type included, as a
/// service with the default configuration.
impl<A: Application> From<A> for WsgiService<A> {
    fn from(app: A) -> Self {
        WsgiService::new(app)
    }
}

impl<A: Application + ?Sized> WsgiService<A> {
    /// Serves an already shared application and configuration.
    pub fn from_shared(app: Arc<A>, config: Arc<Config>) -> Self {
        let settings = Arc::new(Settings::new(&config));
        WsgiService {
            app,
            config,
            settings,
        }
    }

    /// The application.
    pub fn app(&self) -> &Arc<A> {
        &self.app
    }

    /// The configuration.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Handles one request; see [`respond_with`]. The server passes the
    /// `connection` it serves the request on: it goes straight into the
    /// environ, not through the request's extensions, which would allocate
    /// a map per request.
    pub(crate) fn respond<B>(
        &self,
        request: Request<B>,
        connection: Option<Connection>,
        hosts: Option<&HostCache>,
    ) -> ResponseFuture
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        respond_with(
            Arc::clone(&self.app),
            &self.config,
            &self.settings,
            request,
            connection,
            hosts,
        )
    }
}

/// Handles one request with `app`. The `connection` given, else a
/// [`Connection`] in the request's extensions, becomes `pulsar.connection`,
/// and the request counts as in flight on it until its response body is
/// done. For a response known in full, the application's call, which
/// holds the environ, is the one future allocated (`response_future.rs`).
/// `hosts`, the connection's last valid `Host`, spares re-checking the
/// same one.
pub(crate) fn respond_with<A, B>(
    app: Arc<A>,
    config: &Arc<Config>,
    settings: &Arc<Settings>,
    request: Request<B>,
    connection: Option<Connection>,
    hosts: Option<&HostCache>,
) -> ResponseFuture
where
    A: Application + ?Sized,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (mut head, body) = request.into_parts();
    let version = head.version;
    let connection = connection.or_else(|| head.extensions.remove::<Connection>());
    let in_flight = connection.as_ref().map(Connection::start_request);
    let limit = config.max_request_body;
    let checked = RequestChecks::scan(&head.headers);
    let too_large = checked
        .content_length
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > limit);
    // `100-continue` is the only expectation HTTP defines; hyper answers it
    // when the application first reads the body. Anything else gets 417
    // (RFC 9110 §10.1.1) without running the application.
    let unmet_expectation = checked
        .expect
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    // Only checked for requests off the wire (those with a `Connection`):
    // a request built in code or by another server is its caller's business.
    let bad_host = connection
        .as_ref()
        .and_then(|_| host_problem(head.version, checked.host, checked.hosts, hosts));
    if bad_host.is_some() || too_large || unmet_expectation {
        let (status, text) = if let Some(problem) = bad_host {
            (StatusCode::BAD_REQUEST, format!("{problem}\n"))
        } else if unmet_expectation {
            (
                StatusCode::EXPECTATION_FAILED,
                "Unsupported Expect header: only `Expect: 100-continue` is understood.\n"
                    .to_owned(),
            )
        } else {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body is larger than the {limit}-byte limit.\n"),
            )
        };
        let mut response = text_response(status, text, &head.method, settings);
        if version < Version::HTTP_2 {
            // The unread body would be taken as the next request.
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        return ResponseFuture::answered(response, in_flight, version);
    }
    let accept = checked.accept.cloned();
    let forwarding = checked.forwarding;
    // Boxed: the application's call then holds it as a pointer, not as
    // several hundred bytes that every move of the call's future copies.
    let environ = Box::new(Environ::build(
        head,
        // A silent client must not hold the request forever: between body
        // bytes, the same patience as for a request head.
        Input::new(body, limit).with_idle_timeout(config.header_read_timeout),
        Arc::clone(config),
        connection,
        Some(forwarding),
    ));
    if environ.is_outside_mount() {
        // No `SCRIPT_NAME` + `PATH_INFO` split rebuilds this path: it is
        // not the application's (see `Config::script_name`).
        let text = format!(
            "Not Found: this server serves only paths under {}\n",
            environ.script_name()
        );
        let response = text_response(StatusCode::NOT_FOUND, text, environ.method(), settings);
        return ResponseFuture::answered(response, in_flight, version);
    }
    // One `Arc` clone per request: the answer must be `'static`.
    let dispatch = Dispatch::new(app, environ, accept, Arc::clone(settings));
    ResponseFuture::dispatching(dispatch, in_flight, version)
}

/// The request headers `respond_with` looks at, found in one pass over
/// the map rather than one hashed lookup each (every request pays this).
struct RequestChecks<'a> {
    content_length: Option<&'a http::HeaderValue>,
    expect: Option<&'a http::HeaderValue>,
    /// For the format of an error page.
    accept: Option<&'a http::HeaderValue>,
    /// The first `Host`, and how many there are.
    host: Option<&'a http::HeaderValue>,
    hosts: usize,
    /// A forwarding header (`Forwarded`, `X-Forwarded-*`) is present: only
    /// then does the environ look for a trusted proxy's headers.
    forwarding: bool,
}

impl<'a> RequestChecks<'a> {
    fn scan(headers: &'a http::HeaderMap) -> Self {
        let mut checks = RequestChecks {
            content_length: None,
            expect: None,
            accept: None,
            host: None,
            hosts: 0,
            forwarding: false,
        };
        for (name, value) in headers {
            if name == http::header::HOST {
                checks.host = checks.host.or(Some(value));
                checks.hosts += 1;
            } else if name == http::header::CONTENT_LENGTH {
                checks.content_length = checks.content_length.or(Some(value));
            } else if name == http::header::EXPECT {
                checks.expect = checks.expect.or(Some(value));
            } else if name == http::header::ACCEPT {
                checks.accept = checks.accept.or(Some(value));
            } else if !checks.forwarding {
                checks.forwarding = crate::forwarded::is_forwarding_header(name);
            }
        }
        checks
    }
}

/// Why the request's `Host` is unacceptable, if it is. RFC 9112 §3.2: a
/// server answers 400 to an HTTP/1.1 request without `Host`, and to any
/// request with more than one `Host` or an invalid one. HTTP/1.0 may omit
/// it; HTTP/2 carries `:authority` instead.
fn host_problem(
    version: Version,
    host: Option<&http::HeaderValue>,
    hosts: usize,
    cache: Option<&HostCache>,
) -> Option<&'static str> {
    match host {
        None if version == Version::HTTP_11 => Some("HTTP/1.1 requests must carry a Host header."),
        Some(_) if hosts > 1 => Some("A request may carry only one Host header."),
        Some(host) => {
            let host = host.as_bytes();
            if cache.is_some_and(|cache| cache.holds(host)) {
                return None;
            }
            if !valid_host(host) {
                return Some("The Host header is not a valid host[:port].");
            }
            if let Some(cache) = cache {
                cache.keep(host);
            }
            None
        }
        _ => None,
    }
}

/// The last `Host` value found valid on one connection, whose requests
/// nearly always carry the same one: comparing bytes costs less than
/// checking each against the grammar again. Per connection (not shared
/// between threads), and a copy, so no request's buffer is kept alive.
#[derive(Default)]
pub(crate) struct HostCache {
    bytes: Cell<[u8; HostCache::MAX]>,
    /// 0: nothing kept (an empty `Host` is checked at once anyway).
    len: Cell<u8>,
}

impl HostCache {
    /// Longer values are checked every time.
    const MAX: usize = 32;

    fn holds(&self, host: &[u8]) -> bool {
        let len = usize::from(self.len.get());
        len != 0 && len == host.len() && self.bytes.get()[..len] == *host
    }

    fn keep(&self, host: &[u8]) {
        if let Some(len) = u8::try_from(host.len())
            .ok()
            .filter(|_| host.len() <= Self::MAX)
        {
            let mut bytes = [0; Self::MAX];
            bytes[..host.len()].copy_from_slice(host);
            self.bytes.set(bytes);
            self.len.set(len);
        }
    }
}

/// `uri-host [ ":" port ]` (RFC 9110 §7.2), or empty (allowed when the
/// target has no authority). No userinfo, no path, no spaces.
/// The bytes of a reg-name (RFC 3986 §3.2.2): unreserved, pct-encoded and
/// sub-delims characters. A table, as every request's `Host` is checked.
const REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        b += 1;
    }
    table
};

fn valid_host(host: &[u8]) -> bool {
    let port = if let Some(literal) = host.strip_prefix(b"[") {
        // An IP literal: `[` IPv6 or IPvFuture `]`.
        let Some(end) = literal.iter().position(|&b| b == b']') else {
            return false;
        };
        let (inside, rest) = (&literal[..end], &literal[end + 1..]);
        if inside.is_empty()
            || !inside
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.'))
        {
            return false;
        }
        match rest {
            [] => None,
            [b':', port @ ..] => Some(port),
            _ => return false,
        }
    } else {
        // One pass: the first byte that is not part of a reg-name must be
        // the `:` before the port.
        match host.iter().position(|&b| !REG_NAME[usize::from(b)]) {
            None => None,
            Some(i) if host[i] == b':' => Some(&host[i + 1..]),
            Some(_) => return false,
        }
    };
    port.is_none_or(|p| p.len() <= 5 && p.iter().all(u8::is_ascii_digit))
}

impl<A: ?Sized> Clone for WsgiService<A> {
    fn clone(&self) -> Self {
        WsgiService {
            app: Arc::clone(&self.app),
            config: Arc::clone(&self.config),
            settings: Arc::clone(&self.settings),
        }
    }
}

impl<A: ?Sized> fmt::Debug for WsgiService<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsgiService")
            .field("app", &std::any::type_name::<A>())
            .field("config", &self.config)
            .finish()
    }
}

impl<A, B> tower_service::Service<Request<B>> for WsgiService<A>
where
    A: Application + ?Sized,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.respond(request, None, None)
    }
}

/// A [`WsgiHandler`] is a tower `Service` itself, with its
/// [`service_config`](WsgiHandler::service_config).
impl<B> tower_service::Service<Request<B>> for WsgiHandler
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (app, config, settings) = self.service_parts();
        respond_with(app, config, settings, request, None, None)
    }
}

/// A generated handler type served as a tower `Service` directly, with the
/// default configuration (what `#[wsgi_handler]` types' `Service` impls
/// call).
#[doc(hidden)]
pub fn serve<A, B>(app: A, request: Request<B>) -> ResponseFuture
where
    A: Application,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    static DEFAULTS: OnceLock<(Arc<Config>, Arc<Settings>)> = OnceLock::new();
    let (config, settings) = DEFAULTS.get_or_init(|| {
        let config = Config::default();
        let settings = Arc::new(Settings::new(&config));
        (Arc::new(config), settings)
    });
    if let Some(message) = check_once(&app, config) {
        let response = text_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            message.to_string(),
            request.method(),
            settings,
        );
        return ResponseFuture::answered(response, None, Version::HTTP_11);
    }
    respond_with(Arc::new(app), config, settings, request, None, None)
}

/// The [start-up check](Application::check) of a handler type served by
/// [`serve`], which has no construction point to run it at: run on the
/// type's first request, logged once, and remembered. `None` when it
/// passed, else what every request of that type is answered.
fn check_once<A: Application>(app: &A, config: &Config) -> Option<Arc<str>> {
    type Outcomes = RwLock<HashMap<TypeId, Option<Arc<str>>>>;
    static OUTCOMES: OnceLock<Outcomes> = OnceLock::new();
    let outcomes = OUTCOMES.get_or_init(Outcomes::default);
    let id = TypeId::of::<A>();
    if let Some(outcome) = outcomes
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&id)
    {
        return outcome.clone();
    }
    let mut outcomes = outcomes.write().unwrap_or_else(PoisonError::into_inner);
    outcomes
        .entry(id)
        .or_insert_with(|| {
            let error = app.check(&Provided::new(config)).err()?;
            let message = format!(
                "the application cannot be served: {error}; serve it in a `WsgiHandler` or \
                 `Router` that provides it, or build a `WsgiService::try_with_config` to \
                 have this reported at start-up"
            );
            tracing::error!("{message}");
            Some(Arc::from(message))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::{host_problem, valid_host, HostCache};
    use http::{HeaderValue, Version};

    #[test]
    fn a_kept_host_spares_only_the_same_bytes() {
        let cache = HostCache::default();
        let check = |host: &str| {
            let host = HeaderValue::from_str(host).unwrap();
            host_problem(Version::HTTP_11, Some(&host), 1, Some(&cache))
        };
        assert_eq!(check("example.com:8080"), None);
        assert!(cache.holds(b"example.com:8080"));
        assert!(check("example.com:8080x").is_some());
        assert!(check("example.com:808").is_none());
        assert!(check("a b").is_some());
        // Too long to keep: checked each time, still answered right.
        let long = format!("{}.example", "a".repeat(40));
        assert_eq!(check(&long), None);
        assert!(!cache.holds(long.as_bytes()));
    }

    #[test]
    fn valid_hosts() {
        for host in [
            "",
            "h",
            "h:8080",
            "example.com",
            "a-b.c_d",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "h:",
        ] {
            assert!(valid_host(host.as_bytes()), "{host:?} was refused");
        }
    }

    #[test]
    fn invalid_hosts() {
        for host in [
            "a b",
            "a/b",
            "user@evil",
            "a:port",
            "a:1:2",
            "[::1",
            "[]",
            "[::1]x",
            "a:123456",
            "a\tb",
        ] {
            assert!(!valid_host(host.as_bytes()), "{host:?} was accepted");
        }
    }
}
