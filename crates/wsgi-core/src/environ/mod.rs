//! `environ`: the request's variables ([`Environ`], documented there).

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Extensions, Method, Uri, Version};

use crate::config::Config;
use crate::connection::Connection;
use crate::forwarded::{self, Forwarded, Proxied};
use crate::input::Input;

mod derived;
mod errors;
mod host;
mod path;
mod vars;

pub use errors::Errors;
use host::target_authority_is_the_host;
use path::strip_mount;
pub use vars::EnvironError;
use vars::{parse_flag, parse_version};

/// `environ`: the request as PEP 3333 variables.
///
/// An [`Environ`] holds the parsed request head, the body ([`Input`]), the
/// serving [`Connection`] and the server [`Config`], and derives every WSGI
/// variable from them *when it is read*: no string is built per header or
/// per variable unless an application asks for it.
///
/// Each variable is reachable by its PEP 3333 name through [`Environ::get`]
/// and through a typed accessor:
///
/// | name | accessor |
/// |---|---|
/// | `REQUEST_METHOD` | [`method`](Environ::method) |
/// | `SCRIPT_NAME` | [`script_name`](Environ::script_name) |
/// | `PATH_INFO` | [`path_info`](Environ::path_info), [`path_info_bytes`](Environ::path_info_bytes) |
/// | `QUERY_STRING` | [`query_string`](Environ::query_string) |
/// | `RAW_URI` | [`raw_uri`](Environ::raw_uri) |
/// | `CONTENT_TYPE`, `CONTENT_LENGTH` | [`content_type`](Environ::content_type), [`content_length`](Environ::content_length) |
/// | `SERVER_NAME`, `SERVER_PORT`, `SERVER_PROTOCOL`, `SERVER_SOFTWARE` | [`server_name`](Environ::server_name), [`server_port`](Environ::server_port), [`server_protocol`](Environ::server_protocol), [`server_software`](Environ::server_software) |
/// | `REMOTE_ADDR`, `REMOTE_PORT` | [`remote_addr`](Environ::remote_addr), [`remote_port`](Environ::remote_port) |
/// | `HTTPS`, `wsgi.url_scheme` | [`is_https`](Environ::is_https), [`url_scheme`](Environ::url_scheme) |
/// | `HTTP_<NAME>` | [`header`](Environ::header), [`headers`](Environ::headers) |
/// | `wsgi.version`, `wsgi.multithread`, `wsgi.multiprocess`, `wsgi.run_once` | [`wsgi_version`](Environ::wsgi_version), ... |
/// | `wsgi.input` | [`input`](Environ::input), [`take_input`](Environ::take_input), [`set_input`](Environ::set_input) |
/// | `wsgi.errors` | [`errors`](Environ::errors) |
/// | `wsgi.file_wrapper` | [`Body::from_reader`](crate::Body::from_reader) |
/// | `pulsar.connection` | [`connection`](Environ::connection) |
/// | `pulsar.cfg` | [`config`](Environ::config) |
///
/// # A WSGI dictionary
///
/// Like PEP 3333's `environ` dict, every key can be read by name, and
/// middleware can set and remove keys, as a ProxyFix does:
///
/// - [`get`](Environ::get) reads every key that has a text form: the CGI
///   variables, `HTTP_*`, `wsgi.url_scheme`, `wsgi.version` (`"1.0"`), the
///   flags `wsgi.multithread`, `wsgi.multiprocess`, `wsgi.run_once`
///   (`"true"`/`"false"`) and the keys middleware set. The object-valued
///   keys (`wsgi.input`, `wsgi.errors`, `wsgi.file_wrapper`,
///   `pulsar.connection`, `pulsar.cfg`) have accessors of their own;
///   [`contains`](Environ::contains) is true for them.
///   [`vars`](Environ::vars) lists every key `get` reads.
/// - [`set`](Environ::set) writes any key with a text form, and the typed
///   accessors read what it wrote: `wsgi.url_scheme` (and `HTTPS`) change
///   [`url_scheme`](Environ::url_scheme) and [`is_https`](Environ::is_https);
///   `REMOTE_ADDR` changes [`remote_addr`](Environ::remote_addr); `HTTP_*`,
///   `CONTENT_TYPE` and `CONTENT_LENGTH` change the request headers
///   ([`headers`](Environ::headers)); `PATH_INFO`, `SCRIPT_NAME` and
///   `REQUEST_METHOD` change [`path_info`](Environ::path_info),
///   [`script_name`](Environ::script_name) and [`method`](Environ::method).
///   A value a typed accessor could not read back (a `SERVER_PORT` that is
///   not a port, a `REMOTE_ADDR` that is not an IP address) is refused with
///   an [`EnvironError`] saying what is expected.
/// - [`remove`](Environ::remove) deletes any key PEP 3333 lets be absent
///   (`HTTP_*`, `CONTENT_*`, `HTTPS`, `REMOTE_*`, `QUERY_STRING`, ...,
///   and the keys middleware set); `SCRIPT_NAME` and `PATH_INFO` become
///   empty, as PEP 3333 allows. The keys it requires (`REQUEST_METHOD`,
///   `SERVER_NAME`, `SERVER_PORT`, `SERVER_PROTOCOL`, `wsgi.*`) can be set
///   but not removed.
///
/// Typed values of its own are added with
/// [`extensions_mut`](Environ::extensions_mut).
///
/// # Rules worth knowing
/// - `HTTP_*`: one per request header, name upper-cased with `-` turned into
///   `_`; `Content-Type` and `Content-Length` appear only as `CONTENT_TYPE`
///   and `CONTENT_LENGTH`. Repeated headers are joined with `,` (cookies with
///   `; `), except `Content-Length`, whose repeats are equal (the HTTP layer
///   refuses others) and which stays one number. Headers whose *name* contains `_` are left out of `HTTP_*`
///   (they would be indistinguishable from `-` and let a client spoof a
///   header a proxy sets); they stay readable through
///   [`headers`](Environ::headers).
/// - `PATH_INFO` is percent-decoded, with `SCRIPT_NAME` removed from its
///   front. The decoded bytes are always available, exactly, from
///   [`path_info_bytes`](Environ::path_info_bytes). As a string, valid UTF-8
///   is returned as such; bytes that are not UTF-8 are mapped one byte to
///   one character (latin-1), PEP 3333's rule for native strings, so
///   nothing panics and no byte is lost or replaced.
/// - Header values that are not ASCII are likewise decoded as latin-1.
/// - `wsgi.url_scheme` and `HTTPS` come from the connection (TLS or not)
///   and from a trusted proxy's headers (see [`forwarded`]),
///   never from the request itself: an absolute-form `https://` target or an
///   HTTP/2 `:scheme https` over a plain connection is still `http`.
/// - When the request target carries an authority (absolute form, HTTP/2's
///   `:authority`), it is the host (RFC 9112 §3.2.2): `HTTP_HOST`,
///   `SERVER_NAME` and `SERVER_PORT` all come from it, whatever a `Host`
///   header said.
/// - `SCRIPT_NAME` is the `script_name` setting, or, with
///   `forwarded_prefix`, the prefix a trusted proxy gives. A request outside
///   the configured `script_name` never reaches the application (the
///   server answers 404), so `SCRIPT_NAME + PATH_INFO` is always the path.
/// - `wsgi.multithread` is true: one application object is called on
///   several threads at once (one per worker, and tokio's blocking pool for
///   [`in_executor`](crate::middleware::in_executor) and blocking
///   [`LazyWsgi`](crate::lazy::LazyWsgi) setups, even with one worker).
///   `wsgi.multiprocess` is false (workers are threads of one process) and
///   `wsgi.run_once` is false.
///
/// The request's variables (`environ`), built lazily from the request head.
///
/// ```
/// use wsgi_core::Environ;
///
/// let request = http::Request::get("/caf%C3%A9/x?y=1")
///     .header("Host", "example.com:8080")
///     .header("X-Tag", "a")
///     .header("X-Tag", "b")
///     .body(())
///     .unwrap();
/// let environ = Environ::from_request(request);
/// assert_eq!(environ.get("REQUEST_METHOD").as_deref(), Some("GET"));
/// assert_eq!(environ.path_info(), "/café/x");
/// assert_eq!(environ.get("QUERY_STRING").as_deref(), Some("y=1"));
/// assert_eq!(environ.get("SERVER_NAME").as_deref(), Some("example.com"));
/// assert_eq!(environ.server_port(), 8080);
/// assert_eq!(environ.get("HTTP_X_TAG").as_deref(), Some("a,b"));
/// assert_eq!(environ.get("CONTENT_LENGTH"), None);
/// ```
pub struct Environ {
    head: http::request::Parts,
    input: Option<Input>,
    connection: Option<Connection>,
    config: Arc<Config>,
    https: bool,
    /// What a trusted proxy's headers said (see `forwarded/policy.rs`).
    forwarded: Option<Box<Forwarded>>,
    script_name: Cow<'static, str>,
    /// Set when middleware rewrites `PATH_INFO`; otherwise it is derived
    /// from the URI on each read.
    path_info: Option<Vec<u8>>,
    /// Keys set (`Some`) or removed (`None`) by middleware, other than
    /// those kept in the request head or in the fields above.
    vars: Vec<(String, Option<String>)>,
    /// The path is outside the configured `script_name`.
    outside_mount: bool,
}

fn latin1(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.is_ascii() => Cow::Borrowed(s),
        _ => Cow::Owned(bytes.iter().map(|&b| b as char).collect()),
    }
}

impl Environ {
    /// Builds an environ from a request head and body, for the given
    /// configuration and connection. The server does this for every request.
    pub fn new(
        head: http::request::Parts,
        input: Input,
        config: Arc<Config>,
        connection: Option<Connection>,
    ) -> Self {
        Environ::build(head, input, config, connection, None)
    }

    /// [`Environ::new`], told by `forwarding` whether a forwarding header
    /// is present when the caller's own pass over the headers found out.
    pub(crate) fn build(
        mut head: http::request::Parts,
        input: Input,
        config: Arc<Config>,
        connection: Option<Connection>,
        forwarding: Option<bool>,
    ) -> Self {
        target_authority_is_the_host(&mut head);
        // The scheme, the client and the mount point, as the connection
        // and a trusted proxy give them (`forwarded/policy.rs`).
        let Proxied {
            https,
            forwarded,
            script_name: proxy_prefix,
        } = forwarded::apply(connection.as_ref(), &config, &mut head, forwarding);
        let mut outside_mount = false;
        let script_name = if let Some(prefix) = proxy_prefix {
            // The proxy mounts the application there; whether it stripped
            // the prefix from the path or not, `path_info_bytes` copes.
            Cow::Owned(prefix)
        } else if config.script_name.is_empty() {
            Cow::Borrowed("")
        } else {
            let mount = config.script_name.trim_end_matches('/');
            let decoded: Cow<'_, [u8]> =
                percent_encoding::percent_decode_str(head.uri.path()).into();
            outside_mount = strip_mount(&decoded, mount.as_bytes()).is_none();
            Cow::Owned(mount.to_owned())
        };
        Environ {
            head,
            input: Some(input),
            connection,
            config,
            https,
            forwarded,
            script_name,
            path_info: None,
            vars: Vec::new(),
            outside_mount,
        }
    }

    /// Whether the path lies outside the configured `script_name`, so that
    /// no `SCRIPT_NAME` + `PATH_INFO` split rebuilds it; the server answers
    /// such a request 404 without calling the application.
    pub(crate) fn is_outside_mount(&self) -> bool {
        self.outside_mount
    }

    /// An environ for a bodiless request with the default configuration and
    /// no connection: handy in unit tests.
    pub fn from_request<T>(request: http::Request<T>) -> Self {
        let (head, _) = request.into_parts();
        Environ::new(head, Input::empty(), Arc::new(Config::default()), None)
    }

    /// `REQUEST_METHOD`.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// The request URI as parsed.
    pub fn uri(&self) -> &Uri {
        &self.head.uri
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// The request headers, for middleware that rewrites them.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.head.headers
    }

    /// The first value of a request header.
    pub fn header(&self, name: impl header::AsHeaderName) -> Option<&HeaderValue> {
        self.head.headers.get(name)
    }

    /// `CONTENT_TYPE`, absent when the header is.
    pub fn content_type(&self) -> Option<Cow<'_, str>> {
        self.header_str(&header::CONTENT_TYPE)
    }

    /// `CONTENT_LENGTH` as a number, absent when the header is (or invalid).
    pub fn content_length(&self) -> Option<u64> {
        self.head
            .headers
            .get(header::CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// `REMOTE_ADDR`, when the connection is known: the client a trusted
    /// proxy names (see [`forwarded`]), else the
    /// connection's [`client_addr`](Connection::client_addr).
    pub fn remote_addr(&self) -> Option<IpAddr> {
        if let Some(set) = self.var("REMOTE_ADDR") {
            return set.and_then(|a| a.parse().ok());
        }
        if let Some(client) = self.forwarded.as_ref().and_then(|f| f.client) {
            return Some(client);
        }
        self.connection.as_ref()?.client_addr().map(|a| a.ip())
    }

    /// `REMOTE_PORT`, when known (a proxy that names the client without
    /// its port leaves it unknown).
    pub fn remote_port(&self) -> Option<u16> {
        if let Some(set) = self.var("REMOTE_PORT") {
            return set.and_then(|p| p.parse().ok());
        }
        if let Some(forwarded) = self.forwarded.as_ref().filter(|f| f.client.is_some()) {
            return forwarded.client_port;
        }
        self.connection.as_ref()?.client_addr().map(|a| a.port())
    }

    /// `HTTPS == "on"`: the request came over TLS (or a trusted proxy, or
    /// middleware, says the client used HTTPS).
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// `wsgi.url_scheme`: `http` or `https`. It is what the connection is
    /// (TLS or not), or what a trusted proxy or middleware says; never what
    /// the request target claims.
    pub fn url_scheme(&self) -> &'static str {
        if self.https {
            "https"
        } else {
            "http"
        }
    }

    /// `wsgi.version`: `(1, 0)`.
    pub fn wsgi_version(&self) -> (u8, u8) {
        self.var("wsgi.version")
            .flatten()
            .and_then(parse_version)
            .unwrap_or((1, 0))
    }

    fn flag_var(&self, name: &str, default: bool) -> bool {
        self.var(name)
            .flatten()
            .and_then(parse_flag)
            .unwrap_or(default)
    }

    /// `wsgi.multithread`: true. The application object may be called on
    /// another thread while a call is in progress: each worker is a thread
    /// serving the same application (clones share what they hold in
    /// `Arc`s), and even one worker runs blocking work
    /// ([`in_executor`](crate::middleware::in_executor), `LazyWsgi` setups)
    /// on tokio's blocking pool.
    pub fn wsgi_multithread(&self) -> bool {
        self.flag_var("wsgi.multithread", true)
    }

    /// `wsgi.multiprocess`: false; workers are threads of one process, so
    /// process-wide state (statics, `Arc`s) is shared by all of them.
    pub fn wsgi_multiprocess(&self) -> bool {
        self.flag_var("wsgi.multiprocess", false)
    }

    /// `wsgi.run_once`: false; the process serves many requests.
    pub fn wsgi_run_once(&self) -> bool {
        self.flag_var("wsgi.run_once", false)
    }

    /// `wsgi.input`: the request body. After [`take_input`](Self::take_input)
    /// this is an empty input.
    pub fn input(&mut self) -> &mut Input {
        self.input.get_or_insert_with(Input::empty)
    }

    /// Takes `wsgi.input` out, to read the body inside a streamed response.
    pub fn take_input(&mut self) -> Input {
        self.input.take().unwrap_or_else(Input::empty)
    }

    /// Replaces `wsgi.input`, as pulsar's `wait_for_body_middleware` does
    /// with `environ['wsgi.input'] = BytesIO(body)`: middleware that has read
    /// (or transformed) the body puts an input back for those after it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), wsgi_core::InputError> {
    /// use wsgi_core::{Environ, Input};
    ///
    /// let mut environ = Environ::from_request(http::Request::post("/").body(()).unwrap());
    /// environ.set_input(Input::from_bytes("a=1&b=2"));
    /// assert_eq!(environ.input().read_all().await?, "a=1&b=2");
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_input(&mut self, input: Input) {
        self.input = Some(input);
    }

    /// A bodiless `GET /` environ sharing this one's configuration, to stand
    /// in while the real one is moved elsewhere (to the blocking pool, say).
    /// Allocates nothing.
    pub(crate) fn placeholder(&self) -> Environ {
        let (head, ()) = http::Request::new(()).into_parts();
        Environ {
            head,
            input: None,
            connection: None,
            config: Arc::clone(&self.config),
            https: false,
            forwarded: None,
            script_name: Cow::Borrowed(""),
            path_info: None,
            vars: Vec::new(),
            outside_mount: false,
        }
    }

    /// `wsgi.errors`: an error stream that writes to `tracing`.
    pub fn errors(&self) -> Errors {
        Errors { _priv: () }
    }

    /// `pulsar.connection`: the connection serving this request (absent when
    /// the application runs outside the server, e.g. in a unit test).
    pub fn connection(&self) -> Option<&Connection> {
        self.connection.as_ref()
    }

    /// `pulsar.cfg`: the server configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `pulsar.cfg`, shared: what the `Arc<Config>` extractor clones.
    pub(crate) fn shared_config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The request head, for adapters that rebuild an `http::Request`.
    pub(crate) fn head(&self) -> &http::request::Parts {
        &self.head
    }

    /// Typed values added by the server and by middleware.
    pub fn extensions(&self) -> &Extensions {
        &self.head.extensions
    }

    /// Typed values, for middleware to add its own (an auth result, say).
    ///
    /// ```
    /// # let mut environ = wsgi_core::Environ::from_request(http::Request::new(()));
    /// #[derive(Clone)]
    /// struct User(String);
    /// environ.extensions_mut().insert(User("ada".into()));
    /// assert_eq!(environ.extensions().get::<User>().map(|u| u.0.as_str()), Some("ada"));
    /// ```
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.head.extensions
    }
}

impl fmt::Debug for Environ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environ")
            .field("method", &self.head.method)
            .field("uri", &self.head.uri)
            .field("version", &self.head.version)
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An environ for `req`, mounted at `script_name` (also used by the
    /// tests of `path.rs`).
    pub(super) fn environ(req: http::Request<()>, script_name: &str) -> Environ {
        let (head, _) = req.into_parts();
        let config = Config {
            script_name: script_name.into(),
            ..Config::default()
        };
        Environ::new(head, Input::empty(), Arc::new(config), None)
    }

    #[test]
    fn repeated_equal_content_lengths_give_one_number() {
        let e = environ(
            http::Request::post("/")
                .version(http::Version::HTTP_2)
                .header("Content-Length", "5")
                .header("Content-Length", "5")
                .body(())
                .unwrap(),
            "",
        );
        assert_eq!(e.get("CONTENT_LENGTH").as_deref(), Some("5"));
        assert_eq!(e.content_length(), Some(5));
        assert!(e
            .vars()
            .iter()
            .any(|(k, v)| k == "CONTENT_LENGTH" && v == "5"));
    }
}
