//! The environ keys interned once per process: the CGI variables, the
//! `wsgi.*` flags and the common request headers, each with an index
//! ([`index`], [`header_index`]) that the dict builder keeps its state by.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyString;

/// Declares the keys: `NAMES[i]` and `index(name)` (a chain of
/// comparisons the compiler sorts by length, so a lookup is cheap).
macro_rules! known_keys {
    ($($name:literal),* $(,)?) => {
        /// The keys interned once per process.
        pub(super) const NAMES: &[&str] = &[$($name),*];

        /// `name`'s position in [`NAMES`].
        pub(super) fn index(name: &str) -> Option<usize> {
            let mut i = 0usize;
            $(
                if name == $name {
                    return Some(i);
                }
                i += 1;
            )*
            let _ = i;
            None
        }
    };
}

known_keys!(
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
    "wsgi.version",
    "wsgi.multithread",
    "wsgi.multiprocess",
    "wsgi.run_once",
    "HTTP_HOST",
    "HTTP_USER_AGENT",
    "HTTP_ACCEPT",
    "HTTP_ACCEPT_ENCODING",
    "HTTP_ACCEPT_LANGUAGE",
    "HTTP_CONNECTION",
    "HTTP_COOKIE",
    "HTTP_REFERER",
    "HTTP_ORIGIN",
    "HTTP_AUTHORIZATION",
    "HTTP_CACHE_CONTROL",
    "HTTP_PRAGMA",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_REAL_IP",
);

// The indexes the builder names (checked by a test).
pub(super) const REQUEST_METHOD: usize = 0;
pub(super) const SCRIPT_NAME: usize = 1;
pub(super) const PATH_INFO: usize = 2;
pub(super) const QUERY_STRING: usize = 3;
pub(super) const RAW_URI: usize = 4;
pub(super) const CONTENT_TYPE: usize = 5;
pub(super) const CONTENT_LENGTH: usize = 6;
pub(super) const SERVER_NAME: usize = 7;
pub(super) const SERVER_PORT: usize = 8;
pub(super) const SERVER_PROTOCOL: usize = 9;
pub(super) const SERVER_SOFTWARE: usize = 10;
pub(super) const REMOTE_ADDR: usize = 11;
pub(super) const REMOTE_PORT: usize = 12;
pub(super) const HTTPS: usize = 13;
pub(super) const URL_SCHEME: usize = 14;
pub(super) const GATEWAY_INTERFACE: usize = 15;
pub(super) const HTTP_HOST: usize = 20;

// The builder keeps a bit per key in a u64.
const _: () = assert!(NAMES.len() <= 64);

/// Keys the dict gets from elsewhere than `Environ::vars`: the paths (as
/// native strings from their bytes) and the `wsgi.*` values that are
/// Python objects, not text.
pub(super) fn set_apart(index: Option<usize>) -> bool {
    matches!(index, Some(SCRIPT_NAME | PATH_INFO | 16..=19))
}

/// The index of header `name` (lower case, as `http` keeps it) among the
/// `HTTP_*` keys of [`NAMES`].
pub(super) fn header_index(name: &str) -> Option<usize> {
    Some(match name {
        "host" => HTTP_HOST,
        "user-agent" => 21,
        "accept" => 22,
        "accept-encoding" => 23,
        "accept-language" => 24,
        "connection" => 25,
        "cookie" => 26,
        "referer" => 27,
        "origin" => 28,
        "authorization" => 29,
        "cache-control" => 30,
        "pragma" => 31,
        "if-none-match" => 32,
        "if-modified-since" => 33,
        "x-forwarded-for" => 34,
        "x-forwarded-proto" => 35,
        "x-forwarded-host" => 36,
        "x-real-ip" => 37,
        _ => return None,
    })
}

/// `HTTP_<NAME>` for a header name, as wsgi-core names it.
pub(super) fn http_key(name: &str) -> String {
    let mut key = String::with_capacity(5 + name.len());
    key.push_str("HTTP_");
    key.extend(name.bytes().map(|b| match b {
        b'-' => '_',
        b => char::from(b.to_ascii_uppercase()),
    }));
    key
}

static KEYS: PyOnceLock<Vec<Py<PyString>>> = PyOnceLock::new();

/// The interned key strings, index by index with [`NAMES`].
pub(super) fn keys(py: Python<'_>) -> &[Py<PyString>] {
    KEYS.get_or_init(py, || {
        NAMES
            .iter()
            .map(|name| PyString::intern(py, name).unbind())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_has_its_index_and_the_named_indexes_are_right() {
        for (i, name) in NAMES.iter().enumerate() {
            assert_eq!(index(name), Some(i), "{name}");
        }
        assert_eq!(index("HTTP_X_UNKNOWN"), None);
        for (i, name) in [
            (REQUEST_METHOD, "REQUEST_METHOD"),
            (SCRIPT_NAME, "SCRIPT_NAME"),
            (PATH_INFO, "PATH_INFO"),
            (QUERY_STRING, "QUERY_STRING"),
            (RAW_URI, "RAW_URI"),
            (CONTENT_TYPE, "CONTENT_TYPE"),
            (CONTENT_LENGTH, "CONTENT_LENGTH"),
            (SERVER_NAME, "SERVER_NAME"),
            (SERVER_PORT, "SERVER_PORT"),
            (SERVER_PROTOCOL, "SERVER_PROTOCOL"),
            (SERVER_SOFTWARE, "SERVER_SOFTWARE"),
            (REMOTE_ADDR, "REMOTE_ADDR"),
            (REMOTE_PORT, "REMOTE_PORT"),
            (HTTPS, "HTTPS"),
            (URL_SCHEME, "wsgi.url_scheme"),
            (GATEWAY_INTERFACE, "GATEWAY_INTERFACE"),
            (HTTP_HOST, "HTTP_HOST"),
        ] {
            assert_eq!(NAMES[i], name);
        }
        let apart: Vec<&str> = NAMES
            .iter()
            .copied()
            .filter(|n| set_apart(index(n)))
            .collect();
        assert_eq!(
            apart,
            [
                "SCRIPT_NAME",
                "PATH_INFO",
                "wsgi.version",
                "wsgi.multithread",
                "wsgi.multiprocess",
                "wsgi.run_once"
            ]
        );
    }

    #[test]
    fn every_http_key_is_found_from_its_header_name() {
        for name in NAMES.iter().filter(|n| n.starts_with("HTTP_")) {
            let header = name["HTTP_".len()..].to_ascii_lowercase().replace('_', "-");
            assert_eq!(http_key(&header), *name);
            assert_eq!(header_index(&header), index(name), "{header}");
        }
        assert_eq!(header_index("x-unknown"), None);
    }
}
