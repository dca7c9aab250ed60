//! The server a request is addressed to: `Host` (the target's authority
//! when it has one, or what a trusted proxy forwarded), and from it
//! `SERVER_NAME` and `SERVER_PORT`; `SERVER_PROTOCOL` and
//! `SERVER_SOFTWARE`.

use std::borrow::Cow;

use http::header::{self, HeaderValue};
use http::Version;

use super::Environ;
use crate::connection::Connection;

/// Splits a `Host` value into host and optional port (`[::1]:80` too).
/// `SERVER_NAME` and `SERVER_PORT` before any override by
/// [`Environ::set`].
pub(super) struct ServerAddress<'a> {
    pub(super) name: Cow<'a, str>,
    pub(super) port: u16,
    /// `port` as the request wrote it, when that is how it formats.
    pub(super) port_text: Option<&'a str>,
}

impl<'a> ServerAddress<'a> {
    /// `SERVER_PORT`'s text.
    pub(super) fn port_text(&self) -> Cow<'a, str> {
        match self.port_text {
            Some(text) => Cow::Borrowed(text),
            None => Cow::Owned(self.port.to_string()),
        }
    }
}

pub(super) fn split_host(authority: &str) -> (&str, Option<u16>) {
    if let Some(rest) = authority.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            let port = rest[end + 1..]
                .strip_prefix(':')
                .and_then(|p| p.parse().ok());
            return (&authority[..end + 2], port);
        }
        return (authority, None);
    }
    // Bytes rather than `rsplit_once` and `parse`: every request's
    // `SERVER_NAME` and `SERVER_PORT` come through here.
    let Some(colon) = authority.bytes().rposition(|b| b == b':') else {
        return (authority, None);
    };
    let port = &authority.as_bytes()[colon + 1..];
    if port.is_empty() || !port.iter().all(u8::is_ascii_digit) {
        return (authority, None);
    }
    let value = port.iter().try_fold(0u16, |n, &d| {
        n.checked_mul(10)?.checked_add(u16::from(d - b'0'))
    });
    (&authority[..colon], value)
}

/// The host part of an authority: without any `userinfo@`.
fn without_userinfo(authority: &str) -> &str {
    match authority.bytes().rposition(|b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    }
}

/// RFC 9112 §3.2.2 (and RFC 9113 §8.3.1 for `:authority`): when the
/// target carries an authority, it is the host, and a `Host` header saying
/// otherwise is ignored. `Host` is set to it (without userinfo), so that
/// `HTTP_HOST` and `SERVER_NAME` never name two different hosts.
pub(super) fn target_authority_is_the_host(head: &mut http::request::Parts) {
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

impl Environ {
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
        self.server_address().name
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
        self.server_address().port
    }

    /// [`server_name`](Self::server_name) and
    /// [`server_port`](Self::server_port) together, from one split of the
    /// requested host (a server that reads both per request does half the
    /// work).
    ///
    /// ```
    /// use wsgi_core::http::Request;
    /// use wsgi_core::Environ;
    ///
    /// let request = Request::get("http://example.com:8080/").body(()).unwrap();
    /// let environ = Environ::from_request(request);
    /// assert_eq!(environ.server_name_and_port(), ("example.com".into(), 8080));
    /// ```
    pub fn server_name_and_port(&self) -> (Cow<'_, str>, u16) {
        let name = self.var("SERVER_NAME").flatten();
        // Checked by `set`.
        let port = self
            .var("SERVER_PORT")
            .flatten()
            .and_then(|p| p.parse().ok());
        if let (Some(name), Some(port)) = (name, port) {
            return (Cow::Borrowed(name), port);
        }
        let address = self.server_address();
        (
            name.map_or(address.name, Cow::Borrowed),
            port.unwrap_or(address.port),
        )
    }

    /// What `SERVER_NAME` and `SERVER_PORT` derive to, from one split of
    /// the authority ([`Environ::vars`] lists both).
    pub(super) fn server_address(&self) -> ServerAddress<'_> {
        let default = if self.https { 443 } else { 80 };
        if let Some(authority) = self.authority() {
            let authority = without_userinfo(authority);
            let (name, port) = split_host(authority);
            // The port's own text when it reads back the same (`08080`
            // would be `8080`), so that listing it formats nothing.
            let port_text = port.map(|_| &authority[name.len() + 1..]);
            let port_text = port_text.filter(|t| t.len() == 1 || !t.starts_with('0'));
            return ServerAddress {
                name: Cow::Borrowed(name),
                port: port.unwrap_or(default),
                port_text,
            };
        }
        let local = self.connection.as_ref().and_then(Connection::local_addr);
        ServerAddress {
            name: local.map_or(Cow::Borrowed("localhost"), |a| {
                Cow::Owned(a.ip().to_string())
            }),
            port: local.map_or(default, |a| a.port()),
            port_text: None,
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_split() {
        assert_eq!(split_host("[::1]:8080"), ("[::1]", Some(8080)));
        assert_eq!(split_host("[::1]"), ("[::1]", None));
        assert_eq!(split_host("example.com"), ("example.com", None));
        assert_eq!(split_host("example.com:"), ("example.com:", None));
    }

    #[test]
    fn a_port_is_listed_as_written_only_when_it_reads_back_the_same() {
        for (host, name, port) in [
            ("example.com:8080", "example.com", "8080"),
            ("example.com:08080", "example.com", "8080"),
            ("example.com:0", "example.com", "0"),
            ("example.com", "example.com", "80"),
            ("[::1]:443", "[::1]", "443"),
            ("user@example.com:70", "example.com", "70"),
            ("example.com:99999", "example.com", "80"),
        ] {
            let request = http::Request::builder()
                .header("host", host)
                .body(())
                .unwrap();
            let environ = Environ::from_request(request);
            let vars = environ.vars();
            let get = |k: &str| {
                vars.iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.to_string())
            };
            assert_eq!(get("SERVER_NAME").as_deref(), Some(name), "{host}");
            assert_eq!(get("SERVER_PORT").as_deref(), Some(port), "{host}");
            assert_eq!(environ.server_port().to_string(), port, "{host}");
            let (both_name, both_port) = environ.server_name_and_port();
            assert_eq!(both_name, environ.server_name(), "{host}");
            assert_eq!(both_port, environ.server_port(), "{host}");
        }
    }
}
