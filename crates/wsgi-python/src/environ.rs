//! The `environ` dict a Python application receives.
//!
//! The request's variables are read from wsgi-core's [`Environ`]: borrowed
//! when the call runs inline on the event loop, or taken as owned strings
//! (no GIL) when the dict is built later on a pool thread. Values are PEP
//! 3333 native strings: each character stands for one byte (latin-1).
//! wsgi-core already decodes header values that way; `PATH_INFO` is
//! rebuilt from its exact decoded bytes (wsgi-core returns valid UTF-8 as
//! such for Rust handlers, PEP 3333 wants `/caf\xc3\xa9` as `'/cafÃ©'`),
//! and the configured `SCRIPT_NAME` is UTF-8 text, so its bytes are mapped
//! too.
//!
//! Building the dict is most of a small request's cost, so it is built
//! from a per-application [`Template`]: a dict holding the values every
//! request shares (`wsgi.version`, `wsgi.errors`, the flags,
//! `wsgi.file_wrapper`, `pulsar.cfg`) and every key every request sets,
//! copied with one C call (already sized, so the request's keys need no
//! regrowth); the keys of the CGI variables and common headers are
//! interned strings made once per process (their hashes cached), and the
//! last value seen for each such key is kept, so a repeated value (`GET`,
//! `HTTP/1.1`, the host) is the same Python string again, not a new one.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use http::header;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};
use pyo3::{intern, IntoPyObjectExt};
use tokio::runtime::Handle;
use wsgi_core::{Config, Connection, Environ};

use crate::input::PyInput;
use crate::objects::{PyConfig, PyConnection, PyErrors};

/// Declares the keys with an interned Python string: `NAMES[i]` and
/// `index(name)` (a `match`, so a lookup costs a few comparisons).
macro_rules! known_keys {
    ($($name:literal),* $(,)?) => {
        /// The keys interned once per process.
        const NAMES: &[&str] = &[$($name),*];

        /// `name`'s position in [`NAMES`].
        fn index(name: &str) -> Option<usize> {
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

/// Keys the dict gets from elsewhere than the variables' text: the paths
/// (as native strings from their bytes) and the `wsgi.*` values that are
/// Python objects, not text.
fn set_apart(index: Option<usize>) -> bool {
    matches!(index, Some(1 | 2 | 16..=19))
}

/// The keys every request has, in the template as placeholders: required
/// by PEP 3333 (wsgi-core refuses to remove them), or set here.
const ALWAYS: [&str; 8] = [
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "wsgi.url_scheme",
    "wsgi.input",
];

/// Values longer than this are not kept for reuse (a cookie, a token).
const REUSED_VALUE_MAX: usize = 64;

static KEYS: PyOnceLock<Vec<Py<PyString>>> = PyOnceLock::new();

/// The interned key strings, index by index with [`NAMES`].
fn keys(py: Python<'_>) -> &[Py<PyString>] {
    KEYS.get_or_init(py, || {
        NAMES
            .iter()
            .map(|name| PyString::intern(py, name).unbind())
            .collect()
    })
}

/// Per-application state for building environ dicts.
#[derive(Debug, Default)]
pub(crate) struct Template {
    /// The dict every request's starts as, for one configuration (the
    /// address of its `Arc`).
    dict: Mutex<Option<(usize, Py<PyDict>)>>,
    /// The last values seen.
    recent: Mutex<Recent>,
}

/// The last value seen for each key of [`NAMES`], and the last address
/// and ports (kept by value, so a repeated one is not even formatted).
#[derive(Debug, Default)]
struct Recent {
    texts: Vec<Option<(String, Py<PyString>)>>,
    remote_addr: Option<(IpAddr, Py<PyString>)>,
    server_port: Option<(u16, Py<PyString>)>,
    remote_port: Option<(u16, Py<PyString>)>,
}

impl Recent {
    /// The Python string for `value` of key `i`: the last one if equal.
    fn text(&mut self, py: Python<'_>, i: usize, value: &str) -> Py<PyString> {
        if self.texts.len() != NAMES.len() {
            self.texts.resize_with(NAMES.len(), || None);
        }
        if let Some((seen, object)) = &self.texts[i] {
            if seen == value {
                return object.clone_ref(py);
            }
        }
        let object = PyString::new(py, value).unbind();
        if value.len() <= REUSED_VALUE_MAX {
            self.texts[i] = Some((value.to_owned(), object.clone_ref(py)));
        }
        object
    }
}

/// The Python string for `value` (formatted only when not the last one).
fn by_value<T: PartialEq + Copy + std::fmt::Display>(
    py: Python<'_>,
    slot: &mut Option<(T, Py<PyString>)>,
    value: T,
) -> Py<PyString> {
    if let Some((seen, object)) = slot {
        if *seen == value {
            return object.clone_ref(py);
        }
    }
    let object = PyString::new(py, &value.to_string()).unbind();
    *slot = Some((value, object.clone_ref(py)));
    object
}

/// The key index of header `name` (lower case, as `http` keeps it), for
/// the headers of [`NAMES`].
fn header_index(name: &str) -> Option<usize> {
    Some(match name {
        "host" => 20,
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
fn http_key(name: &str) -> String {
    let mut key = String::with_capacity(5 + name.len());
    key.push_str("HTTP_");
    key.extend(name.bytes().map(|b| match b {
        b'-' => '_',
        b => char::from(b.to_ascii_uppercase()),
    }));
    key
}

/// Header bytes as a native string, borrowed when ASCII.
fn native(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.is_ascii() => Cow::Borrowed(text),
        _ => Cow::Owned(latin1(bytes)),
    }
}

impl Template {
    /// A fresh copy of the template dict for `config`.
    fn copy<'py>(
        &self,
        py: Python<'py>,
        config: &Arc<Config>,
        multiprocess: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let address = Arc::as_ptr(config) as usize;
        let mut cached = self.dict.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, dict)) = &*cached {
            if *seen == address {
                return dict.bind(py).copy();
            }
        }
        let dict = PyDict::new(py);
        for header in [
            "host",
            "user-agent",
            "accept",
            "accept-encoding",
            "accept-language",
            "connection",
            "cookie",
            "referer",
            "origin",
            "authorization",
            "cache-control",
            "pragma",
            "if-none-match",
            "if-modified-since",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
            "x-real-ip",
        ] {
            assert_eq!(header_index(header), index(&http_key(header)), "{header}");
        }
        assert_eq!(NAMES.len(), 38, "a new key needs its header_index arm");
        for name in ALWAYS {
            dict.set_item(name, py.None())?;
        }
        dict.set_item(intern!(py, "wsgi.version"), (1, 0))?;
        dict.set_item(intern!(py, "wsgi.errors"), errors(py)?)?;
        dict.set_item(intern!(py, "wsgi.multithread"), true)?;
        dict.set_item(intern!(py, "wsgi.multiprocess"), multiprocess)?;
        dict.set_item(intern!(py, "wsgi.run_once"), false)?;
        // gunicorn's and mod_wsgi's extension: the body ends where the
        // request's does, so `read()` without a size is safe.
        dict.set_item(intern!(py, "wsgi.input_terminated"), true)?;
        dict.set_item(intern!(py, "wsgi.file_wrapper"), file_wrapper(py)?)?;
        dict.set_item(
            intern!(py, "pulsar.cfg"),
            PyConfig::new(Arc::clone(config)).into_py_any(py)?,
        )?;
        let copy = dict.copy();
        *cached = Some((address, dict.unbind()));
        copy
    }
}

/// What the dict is built from, taken out of the request's [`Environ`].
#[derive(Debug)]
pub(crate) struct Request {
    /// The variables, when the dict is built away from the `Environ`.
    vars: Vec<(String, String)>,
    path_info: String,
    script_name: String,
    input: wsgi_core::Input,
    connection: Option<Connection>,
    config: Arc<Config>,
    handle: Handle,
}

/// Bytes as a native string: one character per byte.
pub(crate) fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

impl Request {
    /// Takes the body and what the dict needs besides the variables out
    /// of `environ` (read them with `Environ::vars`, or
    /// [`take_vars`](Self::take_vars)).
    pub(crate) fn capture(environ: &mut Environ, config: Arc<Config>, handle: Handle) -> Self {
        Request {
            vars: Vec::new(),
            path_info: latin1(&environ.path_info_bytes()),
            script_name: latin1(environ.script_name().as_bytes()),
            input: environ.take_input(),
            connection: environ.connection().cloned(),
            config,
            handle,
        }
    }

    /// Copies the variables out of `environ`, for a dict built on another
    /// thread.
    pub(crate) fn take_vars(&mut self, environ: &Environ) {
        self.vars = environ
            .vars()
            .into_iter()
            .filter(|(k, _)| !set_apart(index(k)))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    }

    /// Whether body bytes may still have to arrive from the client.
    pub(crate) fn body_pending(&self) -> bool {
        !http_body::Body::is_end_stream(&self.input)
    }

    /// The environ dict, with the variables taken by
    /// [`take_vars`](Self::take_vars).
    pub(crate) fn into_dict<'py>(
        mut self,
        py: Python<'py>,
        template: &Template,
        multiprocess: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let vars = std::mem::take(&mut self.vars);
        self.into_dict_with(
            py,
            template,
            multiprocess,
            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }

    /// The environ dict, with `vars` (as `Environ::vars` lists them).
    pub(crate) fn into_dict_with<'py, 'a>(
        self,
        py: Python<'py>,
        template: &Template,
        multiprocess: bool,
        vars: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let dict = template.copy(py, &self.config, multiprocess)?;
        {
            let keys = keys(py);
            let mut recent = template.recent.lock().unwrap_or_else(|p| p.into_inner());
            for (key, value) in vars {
                let index = index(key);
                if set_apart(index) {
                    continue;
                }
                match index {
                    Some(i) => dict.set_item(keys[i].bind(py), recent.text(py, i, value))?,
                    None => dict.set_item(PyString::new(py, key), PyString::new(py, value))?,
                }
            }
        }
        self.finish(py, template, dict)
    }

    /// The environ dict, read from `environ`'s typed accessors and headers
    /// when no middleware gave a variable a value of its own (else as
    /// [`into_dict_with`](Self::into_dict_with) with `Environ::vars`).
    pub(crate) fn into_dict_from<'py>(
        self,
        py: Python<'py>,
        template: &Template,
        multiprocess: bool,
        environ: &Environ,
    ) -> PyResult<Bound<'py, PyDict>> {
        if environ.has_own_vars() {
            let vars = environ.vars();
            return self.into_dict_with(
                py,
                template,
                multiprocess,
                vars.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
            );
        }
        let dict = template.copy(py, &self.config, multiprocess)?;
        {
            let keys = keys(py);
            let mut recent = template.recent.lock().unwrap_or_else(|p| p.into_inner());
            let recent = &mut *recent;
            let mut text =
                |i: usize, value: &str| dict.set_item(keys[i].bind(py), recent.text(py, i, value));
            text(0, environ.method().as_str())?;
            text(3, environ.query_string())?;
            text(4, &environ.raw_uri())?;
            let headers = environ.headers();
            for (i, name, key) in [
                (5, "CONTENT_TYPE", header::CONTENT_TYPE),
                (6, "CONTENT_LENGTH", header::CONTENT_LENGTH),
            ] {
                if headers.contains_key(&key) {
                    if let Some(value) = environ.get(name) {
                        text(i, &value)?;
                    }
                }
            }
            text(7, &environ.server_name())?;
            text(9, environ.server_protocol())?;
            text(10, environ.server_software())?;
            if environ.is_https() {
                text(13, "on")?;
            }
            text(14, environ.url_scheme())?;
            text(15, "CGI/1.1")?;
            if !headers.contains_key(header::HOST) {
                if let Some(host) = environ.get("HTTP_HOST") {
                    text(20, &host)?;
                }
            }
            for name in headers.keys() {
                if name == header::CONTENT_TYPE
                    || name == header::CONTENT_LENGTH
                    || name.as_str().contains('_')
                {
                    continue;
                }
                let mut values = headers.get_all(name).iter();
                let Some(first) = values.next() else {
                    continue;
                };
                let index = header_index(name.as_str());
                let joined;
                let value = if values.next().is_none() {
                    native(first.as_bytes())
                } else {
                    // Repeated: joined as wsgi-core joins them.
                    joined = environ.get(&http_key(name.as_str()));
                    match &joined {
                        Some(value) => Cow::Borrowed(value.as_ref()),
                        None => continue,
                    }
                };
                match index {
                    Some(i) => text(i, &value)?,
                    None => dict.set_item(
                        PyString::new(py, &http_key(name.as_str())),
                        PyString::new(py, &value),
                    )?,
                }
            }
            dict.set_item(
                keys[8].bind(py),
                by_value(py, &mut recent.server_port, environ.server_port()),
            )?;
            if let Some(addr) = environ.remote_addr() {
                dict.set_item(
                    keys[11].bind(py),
                    by_value(py, &mut recent.remote_addr, addr),
                )?;
            }
            if let Some(port) = environ.remote_port() {
                dict.set_item(
                    keys[12].bind(py),
                    by_value(py, &mut recent.remote_port, port),
                )?;
            }
        }
        self.finish(py, template, dict)
    }

    /// Sets what every dict gets besides the variables.
    fn finish<'py>(
        self,
        py: Python<'py>,
        template: &Template,
        dict: Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let keys = keys(py);
        dict.set_item(
            keys[2].bind(py),
            path_string(py, template, 2, &self.path_info),
        )?;
        dict.set_item(
            keys[1].bind(py),
            path_string(py, template, 1, &self.script_name),
        )?;
        dict.set_item(
            intern!(py, "wsgi.input"),
            PyInput::new(self.input, self.handle).into_py_any(py)?,
        )?;
        if let Some(connection) = self.connection {
            dict.set_item(
                intern!(py, "pulsar.connection"),
                PyConnection::new(connection).into_py_any(py)?,
            )?;
        }
        Ok(dict)
    }
}

/// `PATH_INFO` or `SCRIPT_NAME`: the last one again when equal.
fn path_string(py: Python<'_>, template: &Template, i: usize, text: &str) -> Py<PyString> {
    template
        .recent
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .text(py, i, text)
}

static ERRORS: PyOnceLock<Py<PyErrors>> = PyOnceLock::new();
static FILE_WRAPPER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// One `wsgi.errors` stream for every request: it keeps no request state.
fn errors(py: Python<'_>) -> PyResult<&Py<PyErrors>> {
    ERRORS.get_or_try_init(py, || Py::new(py, PyErrors::default()))
}

/// `wsgi.file_wrapper`: the standard library's `wsgiref.util.FileWrapper`,
/// iterated like any body (its `close()` closes the file).
fn file_wrapper(py: Python<'_>) -> PyResult<&Py<PyAny>> {
    FILE_WRAPPER.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("wsgiref.util")?.getattr("FileWrapper")?.unbind())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An environ as the server builds it, with a connection.
    fn environ(request: http::Request<()>, config: &Arc<Config>, handle: &Handle) -> Environ {
        let (head, ()) = request.into_parts();
        let connection = Connection::new(
            handle.clone(),
            Some("10.1.2.3:40000".parse().unwrap()),
            Some("127.0.0.1:8000".parse().unwrap()),
        );
        Environ::new(
            head,
            wsgi_core::Input::empty(),
            Arc::clone(config),
            Some(connection),
        )
    }

    /// The dict without its per-request objects, as `(key, repr)` pairs.
    fn comparable(dict: &Bound<'_, PyDict>) -> Vec<(String, String)> {
        let mut items: Vec<(String, String)> = dict
            .iter()
            .map(|(k, v)| (k.to_string(), v.repr().unwrap().to_string()))
            .filter(|(k, _)| k != "wsgi.input" && k != "pulsar.connection" && k != "pulsar.cfg")
            .collect();
        items.sort();
        items
    }

    #[test]
    fn the_dict_read_from_the_accessors_equals_the_one_from_vars() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime.handle().clone();
        let config = Arc::new(Config::default());
        let requests = || {
            vec![
                http::Request::get("/")
                    .header("host", "example.com")
                    .body(())
                    .unwrap(),
                http::Request::post("http://other.example:8080/caf%C3%A9/x?q=1&r")
                    .header("host", "example.com:81")
                    .header("content-type", "text/plain")
                    .header("content-length", "3")
                    .header("cookie", "a=1")
                    .header("cookie", "b=2")
                    .header("x-tag", "a")
                    .header("x-tag", "b")
                    .header(
                        "x-latin",
                        http::HeaderValue::from_bytes(b"\xe9t\xe9").unwrap(),
                    )
                    .header("user-agent", "test/1")
                    .header("x_underscore", "dropped")
                    .body(())
                    .unwrap(),
                http::Request::get("/h2")
                    .version(http::Version::HTTP_2)
                    .uri("https://h2.example/h2")
                    .body(())
                    .unwrap(),
                http::Request::get("/x")
                    .version(http::Version::HTTP_10)
                    .body(())
                    .unwrap(),
            ]
        };
        Python::attach(|py| {
            let template = Template::default();
            // Twice: the second time, the values reused from the first.
            for _ in 0..2 {
                for (one, other) in requests().into_iter().zip(requests()) {
                    let mut fast = environ(one, &config, &handle);
                    let mut slow = environ(other, &config, &handle);
                    let vars = slow
                        .vars()
                        .into_iter()
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect::<Vec<_>>();
                    let by_vars = Request::capture(&mut slow, Arc::clone(&config), handle.clone())
                        .into_dict_with(
                            py,
                            &template,
                            false,
                            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                        )
                        .unwrap();
                    let by_accessors =
                        Request::capture(&mut fast, Arc::clone(&config), handle.clone())
                            .into_dict_from(py, &template, false, &fast)
                            .unwrap();
                    let items = comparable(&by_accessors);
                    assert!(items.iter().any(|(k, _)| k == "REMOTE_ADDR"), "{items:?}");
                    assert_eq!(items, comparable(&by_vars));
                }
            }
        });
    }

    #[test]
    fn every_name_has_its_index_and_the_set_apart_ones_are_the_right_ones() {
        for (i, name) in NAMES.iter().enumerate() {
            assert_eq!(index(name), Some(i), "{name}");
        }
        assert_eq!(index("HTTP_X_UNKNOWN"), None);
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
        for header in [
            "host",
            "user-agent",
            "accept",
            "accept-encoding",
            "accept-language",
            "connection",
            "cookie",
            "referer",
            "origin",
            "authorization",
            "cache-control",
            "pragma",
            "if-none-match",
            "if-modified-since",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
            "x-real-ip",
        ] {
            assert_eq!(header_index(header), index(&http_key(header)), "{header}");
        }
        assert_eq!(NAMES.len(), 38, "a new key needs its header_index arm");
        for name in ALWAYS {
            assert!(name == "wsgi.input" || index(name).is_some(), "{name}");
        }
    }
}
