//! The `environ` dict a Python application receives.
//!
//! The request's variables are read from wsgi-core's [`Environ`]: from its
//! typed accessors and headers when the call runs on the event loop and no
//! middleware gave a variable a value of its own, else from
//! `Environ::vars` (as owned strings, taken without the GIL, when the dict
//! is built later on a pool thread). Values are PEP 3333 native strings:
//! each character stands for one byte (latin-1). wsgi-core already decodes
//! header values that way; `PATH_INFO` is rebuilt from its exact decoded
//! bytes (wsgi-core returns valid UTF-8 as such for Rust handlers, PEP 3333
//! wants `/caf\xc3\xa9` as `'/cafÃ©'`), and the configured `SCRIPT_NAME` is
//! UTF-8 text, so its bytes are mapped too. The dict itself starts as a
//! copy of the application's [`Template`] (see `template.rs`).

mod keys;
mod template;

use std::borrow::Cow;
use std::sync::Arc;

use http::header;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::{intern, IntoPyObjectExt};
use tokio::runtime::Handle;
use wsgi_core::{Config, Connection, Environ};

use crate::input::PyInput;
use crate::objects::PyConnection;
use keys::*;
pub(crate) use template::Template;
use template::Value;

/// Bytes as a native string: one character per byte.
pub(crate) fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Bytes as a native string's value: as they are when ASCII (nearly
/// always), one character per byte otherwise.
fn native_value(bytes: Cow<'_, [u8]>) -> Value<'_> {
    if bytes.is_ascii() {
        Value::Ascii(bytes)
    } else {
        Value::Text(Cow::Owned(latin1(&bytes)))
    }
}

/// Header bytes as a native string, borrowed when ASCII.
fn native(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.is_ascii() => Cow::Borrowed(text),
        _ => Cow::Owned(latin1(bytes)),
    }
}

/// What the dict is built from, taken out of the request's [`Environ`].
#[derive(Debug)]
pub(crate) struct Request {
    /// The variables, when the dict is built away from the `Environ`.
    vars: Option<Vars<'static>>,
    input: wsgi_core::Input,
    connection: Option<Connection>,
    config: Arc<Config>,
    handle: Handle,
}

/// The known keys' values, about 20 for a request. A `Vec`: on the
/// stack (a `SmallVec`), its ~1 KB was copied at each of its three moves,
/// which cost more than the allocation.
type Known<'a> = Vec<(usize, Value<'a>)>;

/// A request's variables: the keys of [`NAMES`] by index, the others by
/// name.
#[derive(Debug, Default)]
pub(super) struct Vars<'a> {
    known: Known<'a>,
    others: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Vars<'a> {
    /// From `(key, value)` pairs, as `Environ::vars` lists them.
    fn from_list(vars: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>) -> Self {
        let mut out = Vars {
            known: Known::with_capacity(24),
            others: Vec::new(),
        };
        for (key, value) in vars {
            let index = index(&key);
            if set_apart(index) {
                continue;
            }
            match index {
                Some(i) => out.known.push((i, Value::Text(value))),
                None => out.others.push((key, value)),
            }
        }
        out
    }

    /// `environ`'s variables: from its typed accessors and headers when
    /// no middleware gave a variable a value of its own (they say it
    /// all then, and an address or a port is compared as a number rather
    /// than formatted), else from `Environ::vars`; and the paths.
    fn read(environ: &'a Environ) -> Self {
        let mut vars = if environ.has_own_vars() {
            Vars::from_list(environ.vars())
        } else {
            Vars::from_accessors(environ)
        };
        vars.push_paths(environ);
        vars
    }

    /// `PATH_INFO` and `SCRIPT_NAME`, from their bytes (see the module
    /// docs); borrowed when ASCII.
    fn push_paths(&mut self, environ: &'a Environ) {
        self.known
            .push((PATH_INFO, native_value(environ.path_info_bytes())));
        self.known.push((
            SCRIPT_NAME,
            native_value(Cow::Borrowed(environ.script_name().as_bytes())),
        ));
    }

    /// The variables from the typed accessors and the headers.
    fn from_accessors(environ: &'a Environ) -> Self {
        let text = Value::Text;
        let mut known = Known::with_capacity(24);
        let mut others = Vec::new();
        known.push((
            REQUEST_METHOD,
            text(Cow::Borrowed(environ.method().as_str())),
        ));
        known.push((QUERY_STRING, text(Cow::Borrowed(environ.query_string()))));
        known.push((RAW_URI, text(environ.raw_uri())));
        let (server_name, server_port) = environ.server_name_and_port();
        known.push((SERVER_NAME, text(server_name)));
        known.push((SERVER_PORT, Value::Port(server_port)));
        known.push((
            SERVER_PROTOCOL,
            text(Cow::Borrowed(environ.server_protocol())),
        ));
        known.push((
            SERVER_SOFTWARE,
            text(Cow::Borrowed(environ.server_software())),
        ));
        if let Some(addr) = environ.remote_addr() {
            known.push((REMOTE_ADDR, Value::Addr(addr)));
        }
        if let Some(port) = environ.remote_port() {
            known.push((REMOTE_PORT, Value::Port(port)));
        }
        if environ.is_https() {
            known.push((HTTPS, text(Cow::Borrowed("on"))));
        }
        known.push((URL_SCHEME, text(Cow::Borrowed(environ.url_scheme()))));
        known.push((GATEWAY_INTERFACE, text(Cow::Borrowed("CGI/1.1"))));
        // One pass over the headers (each lookup by name would hash it):
        // a repeated header's values come one after the other.
        let mut has_host = false;
        let mut headers = environ.headers().iter().peekable();
        while let Some((name, first)) = headers.next() {
            let mut repeated = false;
            while headers.peek().is_some_and(|(next, _)| *next == name) {
                headers.next();
                repeated = true;
            }
            if name == header::CONTENT_TYPE || name == header::CONTENT_LENGTH {
                let (i, key) = if name == header::CONTENT_TYPE {
                    (CONTENT_TYPE, "CONTENT_TYPE")
                } else {
                    (CONTENT_LENGTH, "CONTENT_LENGTH")
                };
                if let Some(value) = environ.get(key) {
                    known.push((i, text(value)));
                }
                continue;
            }
            // A known name has no `_`: only the others are scanned for one.
            let index = header_index(name.as_str());
            if index.is_none() && name.as_str().contains('_') {
                continue;
            }
            has_host |= index == Some(HTTP_HOST);
            if repeated {
                // Joined as wsgi-core joins them.
                let key = http_key(name.as_str());
                let Some(value) = environ.get(&key) else {
                    continue;
                };
                match index {
                    Some(i) => known.push((i, text(value))),
                    None => others.push((Cow::Owned(key), value)),
                }
                continue;
            }
            match index {
                Some(i) => known.push((i, native_value(Cow::Borrowed(first.as_bytes())))),
                None => others.push((
                    Cow::Owned(http_key(name.as_str())),
                    native(first.as_bytes()),
                )),
            }
        }
        if !has_host {
            if let Some(host) = environ.get("HTTP_HOST") {
                known.push((HTTP_HOST, text(host)));
            }
        }
        Vars { known, others }
    }

    /// The same, owning its strings.
    fn into_owned(self) -> Vars<'static> {
        let owned = |text: Cow<'_, str>| Cow::Owned(text.into_owned());
        Vars {
            known: self
                .known
                .into_iter()
                .map(|(i, value)| (i, value.into_owned()))
                .collect(),
            others: self
                .others
                .into_iter()
                .map(|(k, v)| (owned(k), owned(v)))
                .collect(),
        }
    }
}

impl Request {
    /// Takes the body and what the dict needs besides the variables out
    /// of `environ` (read them with [`into_dict_from`](Self::into_dict_from)
    /// or [`take_vars`](Self::take_vars)).
    pub(crate) fn capture(environ: &mut Environ, config: Arc<Config>, handle: Handle) -> Self {
        Request {
            vars: None,
            input: environ.take_input(),
            connection: environ.connection().cloned(),
            config,
            handle,
        }
    }

    /// Copies the variables out of `environ`, for a dict built on another
    /// thread.
    pub(crate) fn take_vars(&mut self, environ: &Environ) {
        self.vars = Some(Vars::read(environ).into_owned());
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
        let vars = self.vars.take().unwrap_or_default();
        self.finish(py, template, multiprocess, vars)
    }

    /// The environ dict, with `environ`'s variables.
    pub(crate) fn into_dict_from<'py>(
        self,
        py: Python<'py>,
        template: &Template,
        multiprocess: bool,
        environ: &Environ,
    ) -> PyResult<Bound<'py, PyDict>> {
        self.finish(py, template, multiprocess, Vars::read(environ))
    }

    /// The dict from the template, with the paths and the request's
    /// objects.
    fn finish<'py>(
        self,
        py: Python<'py>,
        template: &Template,
        multiprocess: bool,
        vars: Vars<'_>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let Vars { known, others } = vars;
        let dict = template.build(py, &self.config, multiprocess, &known, &others)?;
        drop(known);
        // Without a body, the template's shared empty `wsgi.input` serves.
        if !http_body::Body::is_end_stream(&self.input) {
            dict.set_item(
                intern!(py, "wsgi.input"),
                PyInput::new(self.input, self.handle).into_py_any(py)?,
            )?;
        }
        match self.connection {
            Some(connection) => dict.set_item(
                intern!(py, "pulsar.connection"),
                PyConnection::new(connection).into_py_any(py)?,
            )?,
            None => dict.del_item(intern!(py, "pulsar.connection"))?,
        }
        Ok(dict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_native_strings_one_character_per_byte() {
        Python::attach(|py| {
            let text = |bytes: &[u8]| native_value(Cow::Borrowed(bytes)).to_python(py).to_string();
            assert_eq!(text(b"/caf%C3%A9"), "/caf%C3%A9");
            assert_eq!(
                text("/café".as_bytes()),
                "/caf\u{c3}\u{a9}",
                "UTF-8 bytes, one char each"
            );
            assert_eq!(text(b""), "");
            assert!(matches!(
                native_value(Cow::Borrowed(b"/x")),
                Value::Ascii(Cow::Borrowed(_))
            ));
        });
    }

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
            // The one under test learns from the first request, then
            // copies, sets and deletes; the other is fresh each time.
            let template = Template::default();
            // Twice: the second time, the values reused from the first.
            for _ in 0..2 {
                for (one, other) in requests().into_iter().zip(requests()) {
                    let mut fast = environ(one, &config, &handle);
                    let mut slow = environ(other, &config, &handle);
                    let mut vars = Vars::from_list(slow.vars());
                    vars.push_paths(&slow);
                    let vars = vars.into_owned();
                    let by_vars = Request::capture(&mut slow, Arc::clone(&config), handle.clone())
                        .finish(py, &Template::default(), false, vars)
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
}
