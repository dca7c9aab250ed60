//! The environ as a WSGI dictionary: every key by its PEP 3333 name
//! ([`Environ::get`], [`Environ::vars`], [`Environ::set`],
//! [`Environ::remove`], [`Environ::contains`]), the `HTTP_<NAME>` naming
//! rule, and [`EnvironError`]. The typed accessors in `mod.rs` read what
//! is set here.

use std::borrow::Cow;
use std::fmt;

use http::header::{self, HeaderValue};

use super::derived::{derived, Derived, DERIVED};
use super::*;

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

pub(super) fn invalid(name: &str, expected: &'static str) -> EnvironError {
    EnvironError::Invalid {
        name: name.to_owned(),
        expected,
    }
}

/// A flag's text form, as `get` shows it.
pub(super) fn flag(value: bool) -> Cow<'static, str> {
    Cow::Borrowed(if value { "true" } else { "false" })
}

pub(super) fn parse_flag(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "on" | "yes" => Some(true),
        "false" | "0" | "off" | "no" | "" => Some(false),
        _ => None,
    }
}

pub(super) fn parse_version(text: &str) -> Option<(u8, u8)> {
    let (major, minor) = text.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The header an `HTTP_<SUFFIX>` key names: lower case, `_` turned into `-`.
pub(super) fn header_for(name: &str, suffix: &str) -> Result<header::HeaderName, EnvironError> {
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

impl std::error::Error for EnvironError {}

/// `HTTP_<NAME>` for a header name (lower case, as `http` stores it):
/// static for the headers most requests carry, so listing the environ
/// allocates a name only for unusual headers.
pub(super) fn http_name(key: &str) -> Cow<'static, str> {
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
pub(super) fn header_matches(key: &str, suffix: &str) -> bool {
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
    /// Reads a variable by its PEP 3333 name, in its text form (see the
    /// [type's docs](crate::Environ)).
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
        self.derived(derived(name)?)
    }

    /// What middleware did to `name`: `Some(Some(value))` set,
    /// `Some(None)` removed, `None` untouched.
    pub(super) fn var(&self, name: &str) -> Option<Option<&str>> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_deref())
    }

    /// Whether [`set`](Self::set) or [`remove`](Self::remove) gave a
    /// variable a value of its own (a key of the application's, or one
    /// such as `REMOTE_ADDR` that overrides what the connection says).
    /// When not, every variable is what the typed accessors and the headers
    /// say, so a server that turns the environ into another language's
    /// dict (wsgi-python) may read those directly instead of
    /// [`vars`](Self::vars).
    ///
    /// ```
    /// let mut environ = wsgi_core::Environ::from_request(http::Request::new(()));
    /// assert!(!environ.has_own_vars());
    /// environ.set("HTTP_HOST", "example.org").unwrap(); // a header: no own value
    /// assert!(!environ.has_own_vars());
    /// environ.set("myapp.user", "ada").unwrap();
    /// assert!(environ.has_own_vars());
    /// ```
    pub fn has_own_vars(&self) -> bool {
        !self.vars.is_empty()
    }

    pub(super) fn put_var(&mut self, name: String, value: Option<String>) {
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

    pub(super) fn http_var(&self, suffix: &str) -> Option<Cow<'_, str>> {
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

    pub(super) fn joined(
        &self,
        key: &header::HeaderName,
        separator: &[u8],
    ) -> Option<Cow<'_, str>> {
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

    pub(super) fn header_str(&self, name: &header::HeaderName) -> Option<Cow<'_, str>> {
        self.joined(name, b",")
    }

    /// Every variable [`get`](Self::get) reads, with its value: the CGI
    /// variables that are present, `wsgi.url_scheme`, `wsgi.version` and the
    /// `wsgi.*` flags, one `HTTP_*` per header, and the keys middleware set.
    /// This allocates; prefer [`get`](Self::get) or the accessors.
    pub fn vars(&self) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
        // `+ 1`: `HTTP_HOST` from an absolute-form target.
        let mut out =
            Vec::with_capacity(DERIVED.len() + 1 + self.head.headers.keys_len() + self.vars.len());
        // `SERVER_NAME` and `SERVER_PORT` from one split of the host.
        let mut server = None;
        for (name, var) in DERIVED {
            let value = match (self.var(name), var) {
                (Some(set), _) => set.map(Cow::Borrowed),
                (None, Derived::ServerName) => Some(std::mem::take(
                    &mut server.get_or_insert_with(|| self.server_address()).name,
                )),
                (None, Derived::ServerPort) => Some(
                    server
                        .get_or_insert_with(|| self.server_address())
                        .port_text(),
                ),
                (None, var) => self.derived(var),
            };
            if let Some(value) = value {
                out.push((Cow::Borrowed(name), value));
            }
        }
        if !self.head.headers.contains_key(header::HOST) {
            if let Some(host) = self.http_var("HOST") {
                out.push((Cow::Borrowed("HTTP_HOST"), host));
            }
        }
        // One pass in the map's order, which yields a name's values one
        // after the other: no hashed lookup per name.
        let mut headers = self.head.headers.iter().peekable();
        while let Some((key, first)) = headers.next() {
            let repeated = headers.peek().is_some_and(|(next, _)| *next == key);
            if key == header::CONTENT_TYPE
                || key == header::CONTENT_LENGTH
                || key.as_str().contains('_')
            {
                while headers.next_if(|(next, _)| *next == key).is_some() {}
                continue;
            }
            let value = if repeated {
                let separator: &[u8] = if key == header::COOKIE { b"; " } else { b"," };
                let mut all = first.as_bytes().to_vec();
                while let Some((_, value)) = headers.next_if(|(next, _)| *next == key) {
                    all.extend_from_slice(separator);
                    all.extend_from_slice(value.as_bytes());
                }
                Cow::Owned(latin1(&all).into_owned())
            } else {
                latin1(first.as_bytes())
            };
            out.push((http_name(key.as_str()), value));
        }
        for (k, v) in &self.vars {
            if let Some(v) = v {
                if derived(k).is_none() {
                    out.push((Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())));
                }
            }
        }
        out
    }

    /// Sets a variable, as `environ[name] = value` does in Python: any key
    /// with a text form, the server's own included, and the typed accessors
    /// read the new value (see the [type's docs](crate::Environ)).
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
    /// [type's docs](crate::Environ)).
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
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn underscore_headers_are_not_http_vars() {
        let e = Environ::from_request(
            http::Request::get("/")
                .header("x_user", "evil")
                .header("Cookie", "a=1")
                .header("Cookie", "b=2")
                .body(())
                .unwrap(),
        );
        assert_eq!(e.get("HTTP_X_USER"), None);
        assert_eq!(e.get("HTTP_COOKIE").as_deref(), Some("a=1; b=2"));
        assert!(e.vars().iter().all(|(k, _)| k != "HTTP_X_USER"));
    }
}
