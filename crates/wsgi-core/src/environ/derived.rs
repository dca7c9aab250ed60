//! The variables the environ derives itself, the CGI names and the
//! `wsgi.*` flags with a text form: their names in PEP 3333's order and
//! how each is read. `vars.rs` lists and looks them up by name.

use std::borrow::Cow;

use http::header;

use super::vars::flag;
use super::{latin1, Environ};

/// A variable with a text form that the environ derives itself (the CGI
/// names and the `wsgi.*` flags), so that [`Environ::vars`] reads each one
/// directly instead of matching its name.
#[derive(Debug, Clone, Copy)]
pub(super) enum Derived {
    RequestMethod,
    ScriptName,
    PathInfo,
    QueryString,
    RawUri,
    ContentType,
    ContentLength,
    ServerName,
    ServerPort,
    ServerProtocol,
    ServerSoftware,
    RemoteAddr,
    RemotePort,
    Https,
    UrlScheme,
    GatewayInterface,
    WsgiVersion,
    WsgiMultithread,
    WsgiMultiprocess,
    WsgiRunOnce,
}

/// The derived variables by name: the CGI names in PEP 3333's order, then
/// the `wsgi.*` keys with a text form, as [`Environ::vars`] lists them.
pub(super) const DERIVED: [(&str, Derived); 20] = [
    ("REQUEST_METHOD", Derived::RequestMethod),
    ("SCRIPT_NAME", Derived::ScriptName),
    ("PATH_INFO", Derived::PathInfo),
    ("QUERY_STRING", Derived::QueryString),
    ("RAW_URI", Derived::RawUri),
    ("CONTENT_TYPE", Derived::ContentType),
    ("CONTENT_LENGTH", Derived::ContentLength),
    ("SERVER_NAME", Derived::ServerName),
    ("SERVER_PORT", Derived::ServerPort),
    ("SERVER_PROTOCOL", Derived::ServerProtocol),
    ("SERVER_SOFTWARE", Derived::ServerSoftware),
    ("REMOTE_ADDR", Derived::RemoteAddr),
    ("REMOTE_PORT", Derived::RemotePort),
    ("HTTPS", Derived::Https),
    ("wsgi.url_scheme", Derived::UrlScheme),
    ("GATEWAY_INTERFACE", Derived::GatewayInterface),
    ("wsgi.version", Derived::WsgiVersion),
    ("wsgi.multithread", Derived::WsgiMultithread),
    ("wsgi.multiprocess", Derived::WsgiMultiprocess),
    ("wsgi.run_once", Derived::WsgiRunOnce),
];

pub(super) fn derived(name: &str) -> Option<Derived> {
    DERIVED.iter().find(|(n, _)| *n == name).map(|&(_, d)| d)
}

impl Environ {
    /// A derived variable's value, when middleware did not set it.
    pub(super) fn derived(&self, var: Derived) -> Option<Cow<'_, str>> {
        let value = match var {
            Derived::RequestMethod => Cow::Borrowed(self.head.method.as_str()),
            Derived::ScriptName => Cow::Borrowed(self.script_name()),
            Derived::PathInfo => self.path_info(),
            Derived::QueryString => Cow::Borrowed(self.query_string()),
            Derived::RawUri => self.raw_uri(),
            Derived::ContentType => self.content_type()?,
            // One value, not a joined list: HTTP/2 (h2) lets repeated equal
            // `Content-Length` headers through, and `5,5` is not a number
            // (found while modelling h2 for the `environ` fuzz target).
            Derived::ContentLength => {
                latin1(self.head.headers.get(header::CONTENT_LENGTH)?.as_bytes())
            }
            Derived::ServerName => self.server_address().name,
            Derived::ServerPort => self.server_address().port_text(),
            Derived::ServerProtocol => Cow::Borrowed(self.server_protocol()),
            Derived::ServerSoftware => Cow::Borrowed(self.server_software()),
            Derived::RemoteAddr => match self.forwarded.as_ref().and_then(|f| f.client) {
                Some(client) => Cow::Owned(client.to_string()),
                // Formatted once per connection.
                None => Cow::Borrowed(self.connection.as_ref()?.client_ip_text()?),
            },
            Derived::RemotePort => match self.forwarded.as_ref().filter(|f| f.client.is_some()) {
                Some(forwarded) => Cow::Owned(forwarded.client_port?.to_string()),
                // Formatted once per connection, with `REMOTE_ADDR`.
                None => Cow::Borrowed(self.connection.as_ref()?.client_port_text()?),
            },
            Derived::Https => Cow::Borrowed(if self.https { "on" } else { return None }),
            Derived::GatewayInterface => Cow::Borrowed("CGI/1.1"),
            Derived::UrlScheme => Cow::Borrowed(self.url_scheme()),
            Derived::WsgiVersion => match self.wsgi_version() {
                (1, 0) => Cow::Borrowed("1.0"),
                (major, minor) => Cow::Owned(format!("{major}.{minor}")),
            },
            Derived::WsgiMultithread => flag(self.wsgi_multithread()),
            Derived::WsgiMultiprocess => flag(self.wsgi_multiprocess()),
            Derived::WsgiRunOnce => flag(self.wsgi_run_once()),
        };
        Some(value)
    }
}
