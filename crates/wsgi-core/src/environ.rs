//! `environ`: the request as PEP 3333 variables.
//!
//! An [`Environ`] holds the parsed request head, the body ([`Input`]), the
//! serving [`Connection`] and the server [`Config`], and derives every WSGI
//! variable from them *when it is read*: no string is built per header or
//! per variable unless an application asks for it.
//!
//! Each variable is reachable by its PEP 3333 name through [`Environ::get`]
//! and through a typed accessor:
//!
//! | name | accessor |
//! |---|---|
//! | `REQUEST_METHOD` | [`method`](Environ::method) |
//! | `SCRIPT_NAME` | [`script_name`](Environ::script_name) |
//! | `PATH_INFO` | [`path_info`](Environ::path_info), [`path_info_bytes`](Environ::path_info_bytes) |
//! | `QUERY_STRING` | [`query_string`](Environ::query_string) |
//! | `RAW_URI` | [`raw_uri`](Environ::raw_uri) |
//! | `CONTENT_TYPE`, `CONTENT_LENGTH` | [`content_type`](Environ::content_type), [`content_length`](Environ::content_length) |
//! | `SERVER_NAME`, `SERVER_PORT`, `SERVER_PROTOCOL`, `SERVER_SOFTWARE` | [`server_name`](Environ::server_name), [`server_port`](Environ::server_port), [`server_protocol`](Environ::server_protocol), [`server_software`](Environ::server_software) |
//! | `REMOTE_ADDR`, `REMOTE_PORT` | [`remote_addr`](Environ::remote_addr), [`remote_port`](Environ::remote_port) |
//! | `HTTPS`, `wsgi.url_scheme` | [`is_https`](Environ::is_https), [`url_scheme`](Environ::url_scheme) |
//! | `HTTP_<NAME>` | [`header`](Environ::header), [`headers`](Environ::headers) |
//! | `wsgi.version`, `wsgi.multithread`, `wsgi.multiprocess`, `wsgi.run_once` | [`wsgi_version`](Environ::wsgi_version), ... |
//! | `wsgi.input` | [`input`](Environ::input), [`take_input`](Environ::take_input), [`set_input`](Environ::set_input) |
//! | `wsgi.errors` | [`errors`](Environ::errors) |
//! | `wsgi.file_wrapper` | [`Body::from_reader`](crate::Body::from_reader) |
//! | `pulsar.connection` | [`connection`](Environ::connection) |
//! | `pulsar.cfg` | [`config`](Environ::config) |
//!
//! # A WSGI dictionary
//!
//! Like PEP 3333's `environ` dict, every key can be read by name, and
//! middleware can set and remove keys, as a ProxyFix does:
//!
//! - [`get`](Environ::get) reads every key that has a text form: the CGI
//!   variables, `HTTP_*`, `wsgi.url_scheme`, `wsgi.version` (`"1.0"`), the
//!   flags `wsgi.multithread`, `wsgi.multiprocess`, `wsgi.run_once`
//!   (`"true"`/`"false"`) and the keys middleware set. The object-valued
//!   keys (`wsgi.input`, `wsgi.errors`, `wsgi.file_wrapper`,
//!   `pulsar.connection`, `pulsar.cfg`) have accessors of their own;
//!   [`contains`](Environ::contains) is true for them.
//!   [`vars`](Environ::vars) lists every key `get` reads.
//! - [`set`](Environ::set) writes any key with a text form, and the typed
//!   accessors read what it wrote: `wsgi.url_scheme` (and `HTTPS`) change
//!   [`url_scheme`](Environ::url_scheme) and [`is_https`](Environ::is_https);
//!   `REMOTE_ADDR` changes [`remote_addr`](Environ::remote_addr); `HTTP_*`,
//!   `CONTENT_TYPE` and `CONTENT_LENGTH` change the request headers
//!   ([`headers`](Environ::headers)); `PATH_INFO`, `SCRIPT_NAME` and
//!   `REQUEST_METHOD` change [`path_info`](Environ::path_info),
//!   [`script_name`](Environ::script_name) and [`method`](Environ::method).
//!   A value a typed accessor could not read back (a `SERVER_PORT` that is
//!   not a port, a `REMOTE_ADDR` that is not an IP address) is refused with
//!   an [`EnvironError`] saying what is expected.
//! - [`remove`](Environ::remove) deletes any key PEP 3333 lets be absent
//!   (`HTTP_*`, `CONTENT_*`, `HTTPS`, `REMOTE_*`, `QUERY_STRING`, ...,
//!   and the keys middleware set); `SCRIPT_NAME` and `PATH_INFO` become
//!   empty, as PEP 3333 allows. The keys it requires (`REQUEST_METHOD`,
//!   `SERVER_NAME`, `SERVER_PORT`, `SERVER_PROTOCOL`, `wsgi.*`) can be set
//!   but not removed.
//!
//! Typed values of its own are added with
//! [`extensions_mut`](Environ::extensions_mut).
//!
//! # Rules worth knowing
//! - `HTTP_*`: one per request header, name upper-cased with `-` turned into
//!   `_`; `Content-Type` and `Content-Length` appear only as `CONTENT_TYPE`
//!   and `CONTENT_LENGTH`. Repeated headers are joined with `,` (cookies with
//!   `; `), except `Content-Length`, whose repeats are equal (the HTTP layer
//!   refuses others) and which stays one number. Headers whose *name* contains `_` are left out of `HTTP_*`
//!   (they would be indistinguishable from `-` and let a client spoof a
//!   header a proxy sets); they stay readable through
//!   [`headers`](Environ::headers).
//! - `PATH_INFO` is percent-decoded, with `SCRIPT_NAME` removed from its
//!   front. The decoded bytes are always available, exactly, from
//!   [`path_info_bytes`](Environ::path_info_bytes). As a string, valid UTF-8
//!   is returned as such; bytes that are not UTF-8 are mapped one byte to
//!   one character (latin-1), PEP 3333's rule for native strings, so
//!   nothing panics and no byte is lost or replaced.
//! - Header values that are not ASCII are likewise decoded as latin-1.
//! - `wsgi.url_scheme` and `HTTPS` come from the connection (TLS or not)
//!   and from a trusted proxy's headers (see [`forwarded`](crate::forwarded)),
//!   never from the request itself: an absolute-form `https://` target or an
//!   HTTP/2 `:scheme https` over a plain connection is still `http`.
//! - When the request target carries an authority (absolute form, HTTP/2's
//!   `:authority`), it is the host (RFC 9112 §3.2.2): `HTTP_HOST`,
//!   `SERVER_NAME` and `SERVER_PORT` all come from it, whatever a `Host`
//!   header said.
//! - `SCRIPT_NAME` is the `script_name` setting, or, with
//!   `forwarded_prefix`, the prefix a trusted proxy gives. A request outside
//!   the configured `script_name` never reaches the application (the
//!   server answers 404), so `SCRIPT_NAME + PATH_INFO` is always the path.
//! - `wsgi.multithread` is true: one application object is called on
//!   several threads at once (one per worker, and tokio's blocking pool for
//!   [`in_executor`](crate::middleware::in_executor) and blocking
//!   [`LazyWsgi`](crate::LazyWsgi) setups, even with one worker).
//!   `wsgi.multiprocess` is false (workers are threads of one process) and
//!   `wsgi.run_once` is false.

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

/// The CGI names, in PEP 3333's order, that [`Environ::vars`] lists.
const CGI_NAMES: [&str; 16] = [
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "RAW_URI",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SERVER_SOFTWARE",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "HTTPS",
    "wsgi.url_scheme",
    "GATEWAY_INTERFACE",
];

/// The `wsgi.*` keys with a text form, listed by [`Environ::vars`].
const WSGI_NAMES: [&str; 4] = [
    "wsgi.version",
    "wsgi.multithread",
    "wsgi.multiprocess",
    "wsgi.run_once",
];

/// The keys whose values are objects, reached through their accessors.
const OBJECT_NAMES: [&str; 5] = [
    "wsgi.input",
    "wsgi.errors",
    "wsgi.file_wrapper",
    "pulsar.connection",
    "pulsar.cfg",
];

/// The keys PEP 3333 requires: they can be set, not removed.
const REQUIRED_NAMES: [&str; 9] = [
    "REQUEST_METHOD",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "wsgi.url_scheme",
    "wsgi.version",
    "wsgi.multithread",
    "wsgi.multiprocess",
    "wsgi.run_once",
];

/// Why [`Environ::set`] or [`Environ::remove`] refused a key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvironError {
    /// The key's value is an object, not text (`wsgi.input`, `wsgi.errors`,
    /// `wsgi.file_wrapper`, `pulsar.connection`, `pulsar.cfg`); use its
    /// accessor (`set_input`, `take_input`, ...).
    Reserved(String),
    /// The value is not one the key's typed accessor can read back.
    Invalid {
        /// The key.
        name: String,
        /// What the key accepts.
        expected: &'static str,
    },
    /// PEP 3333 requires the key; it can be set but not removed.
    Required(String),
}

impl fmt::Display for EnvironError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvironError::Reserved(name) => write!(
                f,
                "`{name}` holds an object, not text; use its accessor (set_input/take_input for wsgi.input)"
            ),
            EnvironError::Invalid { name, expected } => {
                write!(f, "`{name}` must be {expected}")
            }
            EnvironError::Required(name) => write!(
                f,
                "`{name}` is required by PEP 3333 and cannot be removed; set it to another value instead"
            ),
        }
    }
}

fn invalid(name: &str, expected: &'static str) -> EnvironError {
    EnvironError::Invalid {
        name: name.to_owned(),
        expected,
    }
}

/// A flag's text form, as `get` shows it.
fn flag(value: bool) -> Cow<'static, str> {
    Cow::Borrowed(if value { "true" } else { "false" })
}

fn parse_flag(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "on" | "yes" => Some(true),
        "false" | "0" | "off" | "no" | "" => Some(false),
        _ => None,
    }
}

fn parse_version(text: &str) -> Option<(u8, u8)> {
    let (major, minor) = text.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The header an `HTTP_<SUFFIX>` key names: lower case, `_` turned into `-`.
fn header_for(name: &str, suffix: &str) -> Result<header::HeaderName, EnvironError> {
    if suffix == "CONTENT_TYPE" || suffix == "CONTENT_LENGTH" {
        return Err(invalid(
            name,
            "set as CONTENT_TYPE or CONTENT_LENGTH (CGI has no HTTP_ form of them)",
        ));
    }
    let lower: String = suffix
        .bytes()
        .map(|b| match b {
            b'_' => '-',
            b => char::from(b.to_ascii_lowercase()),
        })
        .collect();
    header::HeaderName::from_bytes(lower.as_bytes()).map_err(|_| {
        invalid(
            name,
            "HTTP_ followed by a header name (letters, digits, `_`)",
        )
    })
}

/// The decoded path with `prefix` removed when it is a whole leading
/// segment run (`/app` from `/app` or `/app/x`, not from `/apple`).
fn strip_mount<'a>(decoded: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let rest = decoded.strip_prefix(prefix)?;
    (rest.is_empty() || rest[0] == b'/').then_some(rest)
}

impl std::error::Error for EnvironError {}

fn latin1(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.is_ascii() => Cow::Borrowed(s),
        _ => Cow::Owned(bytes.iter().map(|&b| b as char).collect()),
    }
}

fn utf8_or_latin1(bytes: Cow<'_, [u8]>) -> Cow<'_, str> {
    match bytes {
        Cow::Borrowed(b) => match std::str::from_utf8(b) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => Cow::Owned(b.iter().map(|&c| c as char).collect()),
        },
        Cow::Owned(v) => match String::from_utf8(v) {
            Ok(s) => Cow::Owned(s),
            Err(e) => Cow::Owned(e.into_bytes().iter().map(|&c| c as char).collect()),
        },
    }
}

/// Splits a `Host` value into host and optional port (`[::1]:80` too).
fn split_host(authority: &str) -> (&str, Option<u16>) {
    if let Some(rest) = authority.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            let port = rest[end + 1..]
                .strip_prefix(':')
                .and_then(|p| p.parse().ok());
            return (&authority[..end + 2], port);
        }
        return (authority, None);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (host, port.parse().ok())
        }
        _ => (authority, None),
    }
}

/// RFC 9112 §3.2.2 (and RFC 9113 §8.3.1 for `:authority`): when the
/// target carries an authority, it is the host, and a `Host` header saying
/// otherwise is ignored. `Host` is set to it (without userinfo), so that
/// `HTTP_HOST` and `SERVER_NAME` never name two different hosts.
fn target_authority_is_the_host(head: &mut http::request::Parts) {
    let Some(authority) = head.uri.authority() else {
        return;
    };
    let host = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, host)| host);
    if head.headers.get(header::HOST).map(HeaderValue::as_bytes) == Some(host.as_bytes()) {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(host) {
        head.headers.insert(header::HOST, value);
    }
}

/// `HTTP_<NAME>` for a header name (lower case, as `http` stores it):
/// static for the headers most requests carry, so listing the environ
/// allocates a name only for unusual headers.
fn http_name(key: &str) -> Cow<'static, str> {
    let known = match key {
        "host" => "HTTP_HOST",
        "user-agent" => "HTTP_USER_AGENT",
        "accept" => "HTTP_ACCEPT",
        "accept-encoding" => "HTTP_ACCEPT_ENCODING",
        "accept-language" => "HTTP_ACCEPT_LANGUAGE",
        "connection" => "HTTP_CONNECTION",
        "cookie" => "HTTP_COOKIE",
        "referer" => "HTTP_REFERER",
        "origin" => "HTTP_ORIGIN",
        "authorization" => "HTTP_AUTHORIZATION",
        "cache-control" => "HTTP_CACHE_CONTROL",
        "pragma" => "HTTP_PRAGMA",
        "if-none-match" => "HTTP_IF_NONE_MATCH",
        "if-modified-since" => "HTTP_IF_MODIFIED_SINCE",
        "range" => "HTTP_RANGE",
        "upgrade-insecure-requests" => "HTTP_UPGRADE_INSECURE_REQUESTS",
        "x-forwarded-for" => "HTTP_X_FORWARDED_FOR",
        "x-forwarded-proto" => "HTTP_X_FORWARDED_PROTO",
        "x-forwarded-host" => "HTTP_X_FORWARDED_HOST",
        "x-real-ip" => "HTTP_X_REAL_IP",
        "x-requested-with" => "HTTP_X_REQUESTED_WITH",
        _ => {
            let mut name = String::with_capacity(5 + key.len());
            name.push_str("HTTP_");
            name.extend(key.bytes().map(|b| match b {
                b'-' => '_',
                b => char::from(b.to_ascii_uppercase()),
            }));
            return Cow::Owned(name);
        }
    };
    Cow::Borrowed(known)
}

/// Whether header `key` (lower case, as `http` stores it) is the one that
/// `HTTP_<suffix>` names.
fn header_matches(key: &str, suffix: &str) -> bool {
    key.len() == suffix.len()
        && key.bytes().zip(suffix.bytes()).all(|(k, s)| {
            if k == b'-' {
                s == b'_'
            } else {
                k.to_ascii_uppercase() == s
            }
        })
}

impl Environ {
    /// Builds an environ from a request head and body, for the given
    /// configuration and connection. The server does this for every request.
    pub fn new(
        mut head: http::request::Parts,
        input: Input,
        config: Arc<Config>,
        connection: Option<Connection>,
    ) -> Self {
        target_authority_is_the_host(&mut head);
        // The scheme, the client and the mount point, as the connection
        // and a trusted proxy give them (`forwarded/policy.rs`).
        let Proxied {
            https,
            forwarded,
            script_name: proxy_prefix,
        } = forwarded::apply(connection.as_ref(), &config, &mut head);
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

    /// Reads a variable by its PEP 3333 name, in its text form (see the
    /// [module docs](self)).
    ///
    /// Returns `None` for variables that are absent for this request
    /// (`CONTENT_TYPE` without the header, `HTTPS` over plain HTTP, a key
    /// middleware removed, ...) and for the object-valued ones
    /// (`wsgi.input`, `pulsar.cfg`, ...), which have accessors of their own.
    ///
    /// ```
    /// # let environ = wsgi_core::Environ::from_request(http::Request::new(()));
    /// assert_eq!(environ.get("wsgi.version").as_deref(), Some("1.0"));
    /// assert_eq!(environ.get("wsgi.multithread").as_deref(), Some("true"));
    /// assert_eq!(environ.get("wsgi.url_scheme").as_deref(), Some("http"));
    /// assert_eq!(environ.get("wsgi.input"), None);
    /// assert!(environ.contains("wsgi.input"));
    /// ```
    pub fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        if let Some(suffix) = name.strip_prefix("HTTP_") {
            return self.http_var(suffix);
        }
        if let Some(set) = self.var(name) {
            return set.map(Cow::Borrowed);
        }
        let value = match name {
            "REQUEST_METHOD" => Cow::Borrowed(self.head.method.as_str()),
            "SCRIPT_NAME" => Cow::Borrowed(self.script_name()),
            "PATH_INFO" => self.path_info(),
            "QUERY_STRING" => Cow::Borrowed(self.query_string()),
            "RAW_URI" => self.raw_uri(),
            "CONTENT_TYPE" => self.content_type()?,
            // One value, not a joined list: HTTP/2 (h2) lets repeated equal
            // `Content-Length` headers through, and `5,5` is not a number
            // (found while modelling h2 for the `environ` fuzz target).
            "CONTENT_LENGTH" => latin1(self.head.headers.get(header::CONTENT_LENGTH)?.as_bytes()),
            "SERVER_NAME" => self.server_name(),
            "SERVER_PORT" => Cow::Owned(self.server_port().to_string()),
            "SERVER_PROTOCOL" => Cow::Borrowed(self.server_protocol()),
            "SERVER_SOFTWARE" => Cow::Borrowed(self.server_software()),
            "REMOTE_ADDR" => Cow::Owned(self.remote_addr()?.to_string()),
            "REMOTE_PORT" => Cow::Owned(self.remote_port()?.to_string()),
            "HTTPS" => Cow::Borrowed(if self.https { "on" } else { return None }),
            "GATEWAY_INTERFACE" => Cow::Borrowed("CGI/1.1"),
            "wsgi.url_scheme" => Cow::Borrowed(self.url_scheme()),
            "wsgi.version" => {
                let (major, minor) = self.wsgi_version();
                Cow::Owned(format!("{major}.{minor}"))
            }
            "wsgi.multithread" => flag(self.wsgi_multithread()),
            "wsgi.multiprocess" => flag(self.wsgi_multiprocess()),
            "wsgi.run_once" => flag(self.wsgi_run_once()),
            _ => return None,
        };
        Some(value)
    }

    /// What middleware did to `name`: `Some(Some(value))` set,
    /// `Some(None)` removed, `None` untouched.
    fn var(&self, name: &str) -> Option<Option<&str>> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_deref())
    }

    fn put_var(&mut self, name: String, value: Option<String>) {
        match self.vars.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name, value)),
        }
    }

    /// Whether the environ has `name`: any key [`get`](Self::get) reads,
    /// and the object-valued ones (`wsgi.input`, `pulsar.cfg`, ...).
    pub fn contains(&self, name: &str) -> bool {
        OBJECT_NAMES.contains(&name) || self.get(name).is_some()
    }

    fn http_var(&self, suffix: &str) -> Option<Cow<'_, str>> {
        if suffix == "CONTENT_TYPE" || suffix == "CONTENT_LENGTH" {
            return None;
        }
        if suffix == "HOST" && !self.head.headers.contains_key(header::HOST) {
            // HTTP/2 carries the host in `:authority`, not a Host header.
            return self.head.uri.authority().map(|a| Cow::Borrowed(a.as_str()));
        }
        let key = self
            .head
            .headers
            .keys()
            .find(|k| !k.as_str().contains('_') && header_matches(k.as_str(), suffix))?;
        let separator: &[u8] = if key == header::COOKIE { b"; " } else { b"," };
        self.joined(key, separator)
    }

    fn joined(&self, key: &header::HeaderName, separator: &[u8]) -> Option<Cow<'_, str>> {
        let mut values = self.head.headers.get_all(key).iter();
        let first = values.next()?;
        let Some(second) = values.next() else {
            return Some(latin1(first.as_bytes()));
        };
        let mut all = Vec::with_capacity(first.len() + second.len() + 2);
        all.extend_from_slice(first.as_bytes());
        for value in std::iter::once(second).chain(values) {
            all.extend_from_slice(separator);
            all.extend_from_slice(value.as_bytes());
        }
        Some(Cow::Owned(latin1(&all).into_owned()))
    }

    fn header_str(&self, name: &header::HeaderName) -> Option<Cow<'_, str>> {
        self.joined(name, b",")
    }

    /// Every variable [`get`](Self::get) reads, with its value: the CGI
    /// variables that are present, `wsgi.url_scheme`, `wsgi.version` and the
    /// `wsgi.*` flags, one `HTTP_*` per header, and the keys middleware set.
    /// This allocates; prefer [`get`](Self::get) or the accessors.
    pub fn vars(&self) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
        let mut out =
            Vec::with_capacity(CGI_NAMES.len() + self.head.headers.keys_len() + self.vars.len());
        for name in CGI_NAMES.into_iter().chain(WSGI_NAMES) {
            if let Some(value) = self.get(name) {
                out.push((Cow::Borrowed(name), value));
            }
        }
        if !self.head.headers.contains_key(header::HOST) {
            if let Some(host) = self.http_var("HOST") {
                out.push((Cow::Borrowed("HTTP_HOST"), host));
            }
        }
        for key in self.head.headers.keys() {
            if key == header::CONTENT_TYPE
                || key == header::CONTENT_LENGTH
                || key.as_str().contains('_')
            {
                continue;
            }
            let separator: &[u8] = if key == header::COOKIE { b"; " } else { b"," };
            if let Some(value) = self.joined(key, separator) {
                out.push((http_name(key.as_str()), value));
            }
        }
        for (k, v) in &self.vars {
            if let Some(v) = v {
                if !CGI_NAMES.contains(&k.as_str()) && !WSGI_NAMES.contains(&k.as_str()) {
                    out.push((Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())));
                }
            }
        }
        out
    }

    /// Sets a variable, as `environ[name] = value` does in Python: any key
    /// with a text form, the server's own included, and the typed accessors
    /// read the new value (see the [module docs](self)).
    ///
    /// ```
    /// # let mut environ = wsgi_core::Environ::from_request(http::Request::new(()));
    /// environ.set("myapp.user", "ada").unwrap();
    /// assert_eq!(environ.get("myapp.user").as_deref(), Some("ada"));
    /// // A ProxyFix: what the proxy said becomes what the application sees.
    /// environ.set("wsgi.url_scheme", "https").unwrap();
    /// environ.set("REMOTE_ADDR", "203.0.113.7").unwrap();
    /// environ.set("HTTP_HOST", "public.example").unwrap();
    /// assert!(environ.is_https());
    /// assert_eq!(environ.remote_addr(), Some("203.0.113.7".parse().unwrap()));
    /// assert_eq!(environ.headers()["host"], "public.example");
    /// // What a typed accessor could not read back is refused.
    /// assert!(environ.set("SERVER_PORT", "eighty").is_err());
    /// assert!(environ.set("wsgi.input", "x").is_err());
    /// ```
    pub fn set(
        &mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), EnvironError> {
        let name = name.into();
        let value = value.into();
        if let Some(suffix) = name.strip_prefix("HTTP_") {
            let key = header_for(&name, suffix)?;
            let value = HeaderValue::from_str(&value).map_err(|_| {
                invalid(
                    &name,
                    "a header value (no line breaks or control characters)",
                )
            })?;
            self.head.headers.insert(key, value);
            return Ok(());
        }
        match name.as_str() {
            "REQUEST_METHOD" => {
                self.head.method = Method::from_bytes(value.as_bytes())
                    .map_err(|_| invalid(&name, "an HTTP method token (GET, POST, ...)"))?;
            }
            "SCRIPT_NAME" => self.set_script_name(value),
            "PATH_INFO" => self.set_path_info(value.into_bytes()),
            "CONTENT_TYPE" => {
                let value = HeaderValue::from_str(&value).map_err(|_| {
                    invalid(
                        &name,
                        "a header value (no line breaks or control characters)",
                    )
                })?;
                self.head.headers.insert(header::CONTENT_TYPE, value);
            }
            "CONTENT_LENGTH" => {
                let length: u64 = value
                    .trim()
                    .parse()
                    .map_err(|_| invalid(&name, "a non-negative integer"))?;
                self.head
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            }
            "HTTPS" => {
                self.https = parse_flag(&value).ok_or_else(|| invalid(&name, "`on` or `off`"))?;
            }
            "wsgi.url_scheme" => {
                self.https = match value.to_ascii_lowercase().as_str() {
                    "https" => true,
                    "http" => false,
                    _ => return Err(invalid(&name, "`http` or `https`")),
                };
            }
            "SERVER_PORT" | "REMOTE_PORT" => {
                value
                    .parse::<u16>()
                    .map_err(|_| invalid(&name, "a port number (0-65535)"))?;
                self.put_var(name, Some(value));
            }
            "REMOTE_ADDR" => {
                value
                    .parse::<IpAddr>()
                    .map_err(|_| invalid(&name, "an IP address"))?;
                self.put_var(name, Some(value));
            }
            "wsgi.version" => {
                parse_version(&value).ok_or_else(|| invalid(&name, "`major.minor`, like `1.0`"))?;
                self.put_var(name, Some(value));
            }
            "wsgi.multithread" | "wsgi.multiprocess" | "wsgi.run_once" => {
                parse_flag(&value).ok_or_else(|| invalid(&name, "`true` or `false`"))?;
                self.put_var(name, Some(value));
            }
            _ if OBJECT_NAMES.contains(&name.as_str()) => {
                return Err(EnvironError::Reserved(name));
            }
            _ => self.put_var(name, Some(value)),
        }
        Ok(())
    }

    /// Removes a variable, as `del environ[name]` does in Python, and
    /// returns its value. Keys PEP 3333 requires cannot be removed;
    /// `SCRIPT_NAME` and `PATH_INFO` become empty (see the
    /// [module docs](self)).
    ///
    /// ```
    /// let request = http::Request::get("/").header("X-Real-IP", "10.0.0.1").body(()).unwrap();
    /// let mut environ = wsgi_core::Environ::from_request(request);
    /// assert_eq!(environ.remove("HTTP_X_REAL_IP").unwrap().as_deref(), Some("10.0.0.1"));
    /// assert_eq!(environ.get("HTTP_X_REAL_IP"), None);
    /// assert!(environ.headers().get("x-real-ip").is_none());
    /// assert!(environ.remove("REQUEST_METHOD").is_err());
    /// ```
    pub fn remove(&mut self, name: &str) -> Result<Option<String>, EnvironError> {
        if REQUIRED_NAMES.contains(&name) {
            return Err(EnvironError::Required(name.to_owned()));
        }
        if OBJECT_NAMES.contains(&name) {
            return Err(EnvironError::Reserved(name.to_owned()));
        }
        let old = self.get(name).map(Cow::into_owned);
        if let Some(suffix) = name.strip_prefix("HTTP_") {
            self.head.headers.remove(header_for(name, suffix)?);
            return Ok(old);
        }
        match name {
            "SCRIPT_NAME" => self.set_script_name(""),
            "PATH_INFO" => self.set_path_info(Vec::new()),
            "CONTENT_TYPE" => drop(self.head.headers.remove(header::CONTENT_TYPE)),
            "CONTENT_LENGTH" => drop(self.head.headers.remove(header::CONTENT_LENGTH)),
            "HTTPS" => self.https = false,
            _ => self.put_var(name.to_owned(), None),
        }
        Ok(old)
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

    /// `SCRIPT_NAME`: where the application is mounted (no trailing `/`).
    pub fn script_name(&self) -> &str {
        &self.script_name
    }

    /// Moves the mount point, as routers do when they consume a prefix.
    pub fn set_script_name(&mut self, script_name: impl Into<String>) {
        self.script_name = Cow::Owned(script_name.into());
    }

    /// `PATH_INFO` as exact bytes: percent-decoded, `SCRIPT_NAME` removed.
    pub fn path_info_bytes(&self) -> Cow<'_, [u8]> {
        if let Some(path) = &self.path_info {
            return Cow::Borrowed(path);
        }
        let decoded: Cow<'_, [u8]> =
            percent_encoding::percent_decode_str(self.head.uri.path()).into();
        let prefix = self.script_name.as_bytes();
        if prefix.is_empty() || !decoded.starts_with(prefix) {
            return decoded;
        }
        let rest_is_segment = decoded.len() == prefix.len() || decoded[prefix.len()] == b'/';
        if !rest_is_segment {
            return decoded;
        }
        match decoded {
            Cow::Borrowed(b) => Cow::Borrowed(&b[prefix.len()..]),
            Cow::Owned(mut v) => {
                v.drain(..prefix.len());
                Cow::Owned(v)
            }
        }
    }

    /// `PATH_INFO` as a string: UTF-8 when the decoded bytes are UTF-8,
    /// latin-1 otherwise (see the [module docs](self)).
    pub fn path_info(&self) -> Cow<'_, str> {
        utf8_or_latin1(self.path_info_bytes())
    }

    /// Replaces `PATH_INFO` (decoded bytes), as routers do.
    pub fn set_path_info(&mut self, path: impl Into<Vec<u8>>) {
        self.path_info = Some(path.into());
    }

    /// `QUERY_STRING`, raw (not decoded); empty when absent.
    pub fn query_string(&self) -> &str {
        if let Some(set) = self.var("QUERY_STRING") {
            return set.unwrap_or("");
        }
        self.head.uri.query().unwrap_or("")
    }

    /// `RAW_URI`: the request target as the client sent it (for HTTP/2, the
    /// `:path`).
    pub fn raw_uri(&self) -> Cow<'_, str> {
        if let Some(set) = self.var("RAW_URI") {
            return Cow::Borrowed(set.unwrap_or(""));
        }
        let uri = &self.head.uri;
        if uri.scheme().is_some() && self.head.version < Version::HTTP_2 {
            return Cow::Owned(uri.to_string());
        }
        match uri.path_and_query() {
            Some(pq) => Cow::Borrowed(pq.as_str()),
            None => Cow::Borrowed("*"),
        }
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

    fn authority(&self) -> Option<&str> {
        if let Some(host) = self.forwarded.as_ref().and_then(|f| f.host.as_deref()) {
            return Some(host);
        }
        if let Some(authority) = self.head.uri.authority() {
            return Some(authority.as_str());
        }
        self.head
            .headers
            .get(header::HOST)?
            .to_str()
            .ok()
            .filter(|h| !h.is_empty())
    }

    /// `SERVER_NAME`: the host the client asked for (absolute-form target,
    /// else `Host`), else the local address.
    pub fn server_name(&self) -> Cow<'_, str> {
        if let Some(Some(set)) = self.var("SERVER_NAME") {
            return Cow::Borrowed(set);
        }
        if let Some(authority) = self.authority() {
            let authority = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            return Cow::Borrowed(split_host(authority).0);
        }
        match self.connection.as_ref().and_then(Connection::local_addr) {
            Some(addr) => Cow::Owned(addr.ip().to_string()),
            None => Cow::Borrowed("localhost"),
        }
    }

    /// `SERVER_PORT`: the port in the requested host, else the scheme's
    /// default when a host was given, else the local port.
    pub fn server_port(&self) -> u16 {
        // Checked by `set`.
        if let Some(port) = self
            .var("SERVER_PORT")
            .flatten()
            .and_then(|p| p.parse().ok())
        {
            return port;
        }
        let default = if self.https { 443 } else { 80 };
        if let Some(authority) = self.authority() {
            let authority = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            return split_host(authority).1.unwrap_or(default);
        }
        self.connection
            .as_ref()
            .and_then(Connection::local_addr)
            .map_or(default, |a| a.port())
    }

    /// `SERVER_PROTOCOL`: `HTTP/1.0`, `HTTP/1.1`, `HTTP/2`, ...
    pub fn server_protocol(&self) -> &str {
        if let Some(Some(set)) = self.var("SERVER_PROTOCOL") {
            return set;
        }
        match self.head.version {
            Version::HTTP_09 => "HTTP/0.9",
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_2 => "HTTP/2",
            Version::HTTP_3 => "HTTP/3",
            _ => "HTTP/1.1",
        }
    }

    /// `SERVER_SOFTWARE`.
    pub fn server_software(&self) -> &str {
        if let Some(set) = self.var("SERVER_SOFTWARE") {
            return set.unwrap_or("");
        }
        self.config.server_software.as_str()
    }

    /// `REMOTE_ADDR`, when the connection is known: the client a trusted
    /// proxy names (see [`forwarded`](crate::forwarded)), else the
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

/// `wsgi.errors`: text written here is logged through `tracing` at error
/// level, target `wsgi.errors`.
#[derive(Debug, Clone, Copy)]
pub struct Errors {
    _priv: (),
}

impl Errors {
    /// Logs one message.
    pub fn write(&self, message: &str) {
        let message = message.trim_end_matches('\n');
        if !message.is_empty() {
            tracing::error!(target: "wsgi.errors", "{message}");
        }
    }
}

impl fmt::Write for Errors {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Errors::write(self, s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_names_static_or_built_match_the_rule() {
        for key in [
            "host",
            "user-agent",
            "x-forwarded-for",
            "x-custom-thing",
            "dnt",
            "a1-b",
        ] {
            let built: String = "HTTP_"
                .chars()
                .chain(key.chars().map(|c| {
                    if c == '-' {
                        '_'
                    } else {
                        c.to_ascii_uppercase()
                    }
                }))
                .collect();
            assert_eq!(super::http_name(key), built);
        }
    }

    use super::*;

    fn environ(req: http::Request<()>, script_name: &str) -> Environ {
        let (head, _) = req.into_parts();
        let config = Config {
            script_name: script_name.into(),
            ..Config::default()
        };
        Environ::new(head, Input::empty(), Arc::new(config), None)
    }

    #[test]
    fn non_utf8_paths_keep_their_bytes() {
        let e = environ(http::Request::get("/a%FFb%20c").body(()).unwrap(), "");
        assert_eq!(&*e.path_info_bytes(), b"/a\xffb c");
        assert_eq!(e.path_info(), "/a\u{ff}b c");
    }

    #[test]
    fn script_name_is_removed_on_a_segment_boundary() {
        let e = environ(http::Request::get("/app/x").body(()).unwrap(), "/app/");
        assert_eq!(e.script_name(), "/app");
        assert_eq!(e.path_info(), "/x");
        let e = environ(http::Request::get("/apple").body(()).unwrap(), "/app");
        assert_eq!(e.path_info(), "/apple");
    }

    #[test]
    fn hosts_are_split() {
        assert_eq!(split_host("[::1]:8080"), ("[::1]", Some(8080)));
        assert_eq!(split_host("[::1]"), ("[::1]", None));
        assert_eq!(split_host("example.com"), ("example.com", None));
        assert_eq!(split_host("example.com:"), ("example.com:", None));
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

    #[test]
    fn underscore_headers_are_not_http_vars() {
        let e = environ(
            http::Request::get("/")
                .header("x_user", "evil")
                .header("Cookie", "a=1")
                .header("Cookie", "b=2")
                .body(())
                .unwrap(),
            "",
        );
        assert_eq!(e.get("HTTP_X_USER"), None);
        assert_eq!(e.get("HTTP_COOKIE").as_deref(), Some("a=1; b=2"));
        assert!(e.vars().iter().all(|(k, _)| k != "HTTP_X_USER"));
    }
}
