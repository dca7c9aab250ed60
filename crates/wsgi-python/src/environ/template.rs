//! The dict every request's environ starts as, learned from the first
//! request, and the Python strings of recent values.
//!
//! Building the environ dict is most of a small request's cost, and most
//! of its values repeat from one request to the next (`GET`, `HTTP/1.1`,
//! the host, the server's name and port, the client's address). So the
//! first request's dict becomes the application's template: its keys and
//! values, plus the values every request shares (`wsgi.version`,
//! `wsgi.errors`, the flags, `wsgi.file_wrapper`, `pulsar.cfg`). Each
//! request copies it with one C call (keys already hashed, table already
//! sized) and then sets only the values that differ (compared in Rust,
//! by value: an address is not even formatted when it is the last one)
//! and deletes the keys it does not have. A value that differs is made
//! a Python string once and kept for the next request.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::sync::{MutexExt, PyOnceLock};
use pyo3::types::{PyDict, PyString};
use pyo3::{intern, IntoPyObjectExt};
use wsgi_core::Config;

use super::keys::{keys, NAMES};
use crate::input::PyInput;
use crate::objects::{PyConfig, PyErrors};

/// Values longer than this are neither in the template nor kept for
/// reuse (a cookie, a token).
const KEPT_MAX: usize = 64;

/// A request differing from the template in more values than this is a
/// miss ...
const DIFFERENT: usize = 1;

/// ... and after this many misses in a row, the template is learned again
/// from the next request (the traffic changed: other clients, another
/// host name), so a template learned from unusual requests does not cost
/// every later one.
const RELEARN_AFTER: u32 = 32;

/// A request's value for one key of [`NAMES`].
#[derive(Debug)]
pub(super) enum Value<'a> {
    Text(Cow<'a, str>),
    /// Bytes that are all ASCII, so the text as it is: compared as bytes,
    /// and checked as UTF-8 only when made a Python string.
    Ascii(Cow<'a, [u8]>),
    Port(u16),
    Addr(IpAddr),
}

/// A value kept from an earlier request.
#[derive(Debug)]
enum Kept {
    Text(String),
    Port(u16),
    Addr(IpAddr),
}

impl Value<'_> {
    fn kept(&self) -> Option<Kept> {
        match self {
            Value::Text(text) if text.len() <= KEPT_MAX => Some(Kept::Text(text.to_string())),
            Value::Ascii(bytes) if bytes.len() <= KEPT_MAX => {
                Some(Kept::Text(String::from_utf8_lossy(bytes).into_owned()))
            }
            Value::Text(_) | Value::Ascii(_) => None,
            Value::Port(port) => Some(Kept::Port(*port)),
            Value::Addr(addr) => Some(Kept::Addr(*addr)),
        }
    }

    /// The same, owning its text.
    pub(super) fn into_owned(self) -> Value<'static> {
        match self {
            Value::Text(text) => Value::Text(Cow::Owned(text.into_owned())),
            Value::Ascii(bytes) => Value::Ascii(Cow::Owned(bytes.into_owned())),
            Value::Port(port) => Value::Port(port),
            Value::Addr(addr) => Value::Addr(addr),
        }
    }

    /// The value as a new Python string.
    pub(super) fn to_python<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        match self {
            Value::Text(text) => PyString::new(py, text),
            // ASCII is UTF-8 as it is: borrowed, nothing replaced.
            Value::Ascii(bytes) => PyString::new(py, &String::from_utf8_lossy(bytes)),
            // A port changes with each client connection: written on the
            // stack rather than into a new `String`.
            Value::Port(port) => PyString::new(py, port_text(*port, &mut [0; 5])),
            Value::Addr(addr) => PyString::new(py, &addr.to_string()),
        }
    }
}

impl Kept {
    // Inlined: called for each of a request's ~15 values.
    #[inline]
    fn matches(&self, value: &Value<'_>) -> bool {
        match (self, value) {
            (Kept::Text(kept), Value::Text(text)) => kept == text,
            // ASCII bytes are their UTF-8 text.
            (Kept::Text(kept), Value::Ascii(bytes)) => kept.as_bytes() == &bytes[..],
            (Kept::Port(kept), Value::Port(port)) => kept == port,
            (Kept::Addr(kept), Value::Addr(addr)) => kept == addr,
            _ => false,
        }
    }
}

/// The template dict, for one configuration (the address of its `Arc`).
#[derive(Debug)]
struct Learned {
    config: usize,
    dict: Py<PyDict>,
    /// The template's value of each key of [`NAMES`] it has.
    kept: Vec<Option<Kept>>,
    /// A bit per key of [`NAMES`] the template has.
    has: u64,
}

#[derive(Debug, Default)]
struct State {
    learned: Option<Learned>,
    /// Requests in a row that differed from the template in more than
    /// [`DIFFERENT`] values.
    misses: u32,
    /// The last value made a Python string, for each key of [`NAMES`].
    recent: Vec<Option<(Kept, Py<PyString>)>>,
    /// Port strings by port, [`PORT_SLOTS`] of them: `REMOTE_PORT` is
    /// the client connection's, so with many connections it differs from
    /// the last request's nearly every time, but repeats on each
    /// connection.
    ports: Vec<Option<(u16, Py<PyString>)>>,
}

/// Slots of the port strings' cache (`port % PORT_SLOTS`): room for the
/// ports of a few hundred connections (the kernel hands out ephemeral
/// ports in sequence, so few collide).
const PORT_SLOTS: usize = 256;

impl State {
    /// The Python string for `value` of key `i`: the last one if equal.
    fn object(&mut self, py: Python<'_>, i: usize, value: &Value<'_>) -> Py<PyString> {
        if let Value::Port(port) = value {
            return self.port(py, *port);
        }
        if self.recent.len() != NAMES.len() {
            self.recent.resize_with(NAMES.len(), || None);
        }
        if let Some((kept, object)) = &self.recent[i] {
            if kept.matches(value) {
                return object.clone_ref(py);
            }
        }
        let object = value.to_python(py).unbind();
        if let Some(kept) = value.kept() {
            self.recent[i] = Some((kept, object.clone_ref(py)));
        }
        object
    }

    /// The Python string of `port`, from the cache when there.
    fn port(&mut self, py: Python<'_>, port: u16) -> Py<PyString> {
        if self.ports.len() != PORT_SLOTS {
            self.ports.resize_with(PORT_SLOTS, || None);
        }
        let slot = &mut self.ports[usize::from(port) % PORT_SLOTS];
        match slot {
            Some((kept, object)) if *kept == port => object.clone_ref(py),
            _ => {
                let object = Value::Port(port).to_python(py).unbind();
                *slot = Some((port, object.clone_ref(py)));
                object
            }
        }
    }
}

/// `port` in decimal, written into `buf`.
fn port_text(port: u16, buf: &mut [u8; 5]) -> &str {
    let mut start = buf.len();
    let mut rest = port;
    loop {
        start -= 1;
        // A digit: `rest % 10` is below 10.
        buf[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[start..]).unwrap_or_default()
}

/// Per-application state for building environ dicts.
#[derive(Debug, Default)]
pub(crate) struct Template {
    state: Mutex<State>,
}

impl Template {
    /// A request's dict: `known` values by key index, `others` by name;
    /// `wsgi.input` and `pulsar.connection` are the caller's to set.
    pub(super) fn build<'py>(
        &self,
        py: Python<'py>,
        config: &Arc<Config>,
        multiprocess: bool,
        known: &[(usize, Value<'_>)],
        others: &[(Cow<'_, str>, Cow<'_, str>)],
    ) -> PyResult<Bound<'py, PyDict>> {
        let keys = keys(py);
        // Waited for detached from the interpreter: a thread holding the
        // lock may need the GIL back (a collection triggered by an
        // allocation here can run Python code and switch threads), and
        // waiting for it while attached would deadlock the two.
        let mut state = self
            .state
            .lock_py_attached(py)
            .unwrap_or_else(|p| p.into_inner());
        let address = Arc::as_ptr(config) as usize;
        let learned = match state.learned.take() {
            Some(learned) if learned.config == address && state.misses < RELEARN_AFTER => learned,
            _ => {
                state.misses = 0;
                learn(py, &mut state, config, multiprocess, known)?
            }
        };
        let dict = learned.dict.bind(py).copy();
        let mut seen: u64 = 0;
        let mut different = 0;
        let result = dict.and_then(|dict| {
            for (i, value) in known {
                seen |= 1 << i;
                if learned.kept[*i].as_ref().is_some_and(|k| k.matches(value)) {
                    continue;
                }
                different += 1;
                dict.set_item(keys[*i].bind(py), state.object(py, *i, value))?;
            }
            // The template's keys this request lacks, bit by bit.
            let mut missing = learned.has & !seen;
            while missing != 0 {
                let i = missing.trailing_zeros() as usize;
                missing &= missing - 1;
                different += 1;
                dict.del_item(keys[i].bind(py))?;
            }
            for (key, value) in others {
                dict.set_item(PyString::new(py, key), PyString::new(py, value))?;
            }
            Ok(dict)
        });
        if different > DIFFERENT {
            state.misses += 1;
        } else {
            state.misses = 0;
        }
        state.learned = Some(learned);
        result
    }
}

/// The template from a request's values.
fn learn(
    py: Python<'_>,
    state: &mut State,
    config: &Arc<Config>,
    multiprocess: bool,
    known: &[(usize, Value<'_>)],
) -> PyResult<Learned> {
    let keys = keys(py);
    let dict = PyDict::new(py);
    let mut kept: Vec<Option<Kept>> = (0..NAMES.len()).map(|_| None).collect();
    let mut has = 0;
    for (i, value) in known {
        if let Some(k) = value.kept() {
            dict.set_item(keys[*i].bind(py), state.object(py, *i, value))?;
            kept[*i] = Some(k);
            has |= 1 << i;
        }
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
    // The body of a request without one (see `PyInput::empty`); a request
    // with a body replaces it.
    dict.set_item(intern!(py, "wsgi.input"), PyInput::empty(py)?)?;
    // A placeholder the request replaces, so the copy needs no regrowth.
    dict.set_item(intern!(py, "pulsar.connection"), py.None())?;
    Ok(Learned {
        config: Arc::as_ptr(config) as usize,
        dict: dict.unbind(),
        kept,
        has,
    })
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

    fn request(host: &'static str, port: u16) -> Vec<(usize, Value<'static>)> {
        vec![
            (0, Value::Text(Cow::Borrowed("GET"))),
            (7, Value::Text(Cow::Borrowed(host))),
            (8, Value::Port(port)),
            (11, Value::Addr(IpAddr::from([10, 0, 0, 1]))),
            (20, Value::Text(Cow::Borrowed(host))),
            (21, Value::Text(Cow::Borrowed(host))),
        ]
    }

    fn get(dict: &Bound<'_, PyDict>, key: &str) -> Option<String> {
        dict.get_item(key).unwrap().map(|v| v.to_string())
    }

    #[test]
    fn ports_are_written_in_decimal() {
        for port in [0, 7, 10, 80, 443, 8080, 65535] {
            assert_eq!(port_text(port, &mut [0; 5]), port.to_string());
        }
    }

    #[test]
    fn each_port_gets_its_own_string_even_when_cache_slots_collide() {
        Python::attach(|py| {
            let config = Arc::new(Config::default());
            let template = Template::default();
            let ports = [40000, 40000 + PORT_SLOTS as u16, 40002, 40000, 80, 65535];
            for round in 0..2 {
                for port in ports {
                    let mut known = request("a.example", 80);
                    known.push((12, Value::Port(port)));
                    let dict = template.build(py, &config, false, &known, &[]).unwrap();
                    let expected = port.to_string();
                    assert_eq!(get(&dict, "REMOTE_PORT"), Some(expected), "{round}");
                    assert_eq!(get(&dict, "SERVER_PORT").as_deref(), Some("80"));
                }
            }
        });
    }

    #[test]
    fn values_that_differ_are_set_missing_keys_deleted_and_a_changed_traffic_relearned() {
        Python::attach(|py| {
            let config = Arc::new(Config::default());
            let template = Template::default();
            let first = template
                .build(py, &config, false, &request("a.example", 80), &[])
                .unwrap();
            assert_eq!(get(&first, "SERVER_PORT").as_deref(), Some("80"));
            let mut other = request("b.example", 8080);
            other.pop(); // no HTTP_USER_AGENT
            let others = [(Cow::Borrowed("HTTP_X_ONE"), Cow::Borrowed("1"))];
            for round in 0..RELEARN_AFTER {
                let dict = template.build(py, &config, false, &other, &others).unwrap();
                assert_eq!(get(&dict, "SERVER_NAME").as_deref(), Some("b.example"));
                assert_eq!(get(&dict, "SERVER_PORT").as_deref(), Some("8080"));
                assert_eq!(get(&dict, "REMOTE_ADDR").as_deref(), Some("10.0.0.1"));
                assert_eq!(get(&dict, "HTTP_USER_AGENT"), None);
                assert_eq!(get(&dict, "HTTP_X_ONE").as_deref(), Some("1"));
                assert_eq!(get(&dict, "wsgi.version").as_deref(), Some("(1, 0)"));
                let misses = template.state.lock().unwrap().misses;
                assert_eq!(misses, round + 1, "each one differs in more than one value");
            }
            // Learned again from the next one, which matches it then.
            let relearned = template.build(py, &config, false, &other, &[]).unwrap();
            assert_eq!(get(&relearned, "HTTP_X_ONE"), None);
            assert_eq!(template.state.lock().unwrap().misses, 0);
            template.build(py, &config, false, &other, &[]).unwrap();
            assert_eq!(template.state.lock().unwrap().misses, 0);
            // The first kind of request is still served right.
            let again = template
                .build(py, &config, false, &request("a.example", 80), &[])
                .unwrap();
            assert_eq!(get(&again, "HTTP_USER_AGENT").as_deref(), Some("a.example"));
            assert_eq!(get(&again, "HTTP_X_ONE"), None);
        });
    }
}
