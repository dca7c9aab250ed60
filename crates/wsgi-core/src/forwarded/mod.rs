//! Behind a reverse proxy: which peers are trusted, and what their
//! forwarding headers say about the client.
//!
//! A proxy in front of the server connects from its own address and tells
//! the client's in headers: `X-Forwarded-For`, `X-Forwarded-Proto`,
//! `X-Forwarded-Ssl`, `X-Forwarded-Host`, `X-Forwarded-Port`, or RFC 7239's
//! `Forwarded`. Anyone can send those headers, so the server believes them
//! only from the peers listed in the `forwarded_allow_ips` setting
//! ([`TrustedProxies`]; default `127.0.0.1,::1`, `*` for everyone). The
//! peer is the TCP peer, or the source address of a PROXY protocol header
//! (`proxy_protocol`); connections over a Unix socket are trusted unless
//! the list is empty (only local processes allowed by the file's
//! permissions can connect to it).
//!
//! From a trusted peer, the environ shows ([`Forwarded::from_headers`]):
//!
//! - `REMOTE_ADDR` (and `REMOTE_PORT` when the header gives one): the
//!   `X-Forwarded-For` list (or the `for=` of `Forwarded`) is walked from
//!   the right, skipping trusted addresses; the first untrusted hop is the
//!   client, and when all are trusted, the leftmost. A hop that is not an
//!   address (`unknown`, an obfuscated `_name`, garbage) ends the walk
//!   without a client: `REMOTE_ADDR` stays the peer.
//! - `wsgi.url_scheme` and `HTTPS`: `X-Forwarded-Proto: https|http`, else
//!   `X-Forwarded-Ssl: on|off`.
//! - `HTTP_HOST`, `SERVER_NAME`, `SERVER_PORT`: `X-Forwarded-Host` (the
//!   `Host` header is replaced with it) and `X-Forwarded-Port`.
//! - `SCRIPT_NAME`, only with the `forwarded_prefix` setting (off by
//!   default): `X-Forwarded-Prefix`, else `X-Script-Name`, the prefix the
//!   proxy mounts the application at (the nearest proxy's entry,
//!   percent-decoded, without a trailing `/`; a value that is not an
//!   absolute path, or holds `..`, `?` or `#`, is ignored). When the
//!   forwarded path still starts with it, it is removed from `PATH_INFO`,
//!   so `SCRIPT_NAME + PATH_INFO` is the path the client asked for whether
//!   the proxy strips the prefix or not. It replaces the `script_name`
//!   setting for that request.
//! - When `Forwarded` is present it is used alone, and the X-Forwarded-*
//!   family is ignored: `for=`, `proto=` and `host=` of the element the
//!   walk stopped at.
//!
//! When a proxy appends to a list (`X-Forwarded-Proto: https, http`), the
//! entry at the client's position is used when the list is as long as
//! `X-Forwarded-For`, else the rightmost (the nearest proxy's). A malformed
//! value never fails a request: it is ignored, and the peer's own values
//! stay. From untrusted peers nothing changes; the headers are still
//! readable as `HTTP_X_FORWARDED_FOR` and so on, like any header.
//!
//! Make the proxy *set* (not pass through) the headers it uses, and clear
//! `Forwarded` if it does not set it: since `Forwarded` wins, a client could
//! otherwise send its own through the proxy.
//!
//! ```
//! use http::HeaderMap;
//! use wsgi_core::forwarded::{Forwarded, TrustedProxies};
//!
//! let proxies = TrustedProxies::parse(["127.0.0.1", "10.0.0.0/8"]).unwrap();
//! let mut headers = HeaderMap::new();
//! headers.insert("x-forwarded-for", "203.0.113.9, 10.1.2.3".parse().unwrap());
//! headers.insert("x-forwarded-proto", "https".parse().unwrap());
//! let forwarded = Forwarded::from_headers(&headers, &proxies);
//! assert_eq!(forwarded.client, Some("203.0.113.9".parse().unwrap()));
//! assert_eq!(forwarded.https, Some(true));
//!
//! headers.insert("forwarded", r#"for="[2001:db8::1]:4711";proto=http"#.parse().unwrap());
//! let forwarded = Forwarded::from_headers(&headers, &proxies);
//! assert_eq!(forwarded.client, Some("2001:db8::1".parse().unwrap()));
//! assert_eq!(forwarded.client_port, Some(4711));
//! assert_eq!(forwarded.https, Some(false));
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use http::header::{HeaderMap, HeaderName, HeaderValue};

mod policy;
mod trusted;

pub(crate) use policy::{apply, Proxied};
pub use trusted::TrustedProxies;

/// What a trusted proxy's headers say about the client's request; `None`
/// where they say nothing usable (the connection's own value stays).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Forwarded {
    /// The client's address (`REMOTE_ADDR`).
    pub client: Option<IpAddr>,
    /// The client's port (`REMOTE_PORT`), when the header gives one.
    pub client_port: Option<u16>,
    /// Whether the client used HTTPS (`wsgi.url_scheme`, `HTTPS`).
    pub https: Option<bool>,
    /// The host the client asked for, `host` or `host:port` (`HTTP_HOST`,
    /// `SERVER_NAME`).
    pub host: Option<String>,
    /// The port the client connected to (`SERVER_PORT`).
    pub port: Option<u16>,
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_SSL: HeaderName = HeaderName::from_static("x-forwarded-ssl");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");

/// Whether any forwarding header is present (a cheap test before parsing).
pub(crate) fn any_header(headers: &HeaderMap) -> bool {
    headers.keys().any(is_forwarding_header)
}

/// `Forwarded` or an `X-Forwarded-*` header.
pub(crate) fn is_forwarding_header(name: &HeaderName) -> bool {
    name == http::header::FORWARDED || name.as_str().starts_with("x-forwarded-")
}

impl Forwarded {
    /// Reads the forwarding headers of a request that came from a trusted
    /// peer (checking that is the caller's job); `proxies` tells the
    /// trusted hops apart in the lists. See the [module docs](self).
    pub fn from_headers(headers: &HeaderMap, proxies: &TrustedProxies) -> Self {
        if headers.contains_key(http::header::FORWARDED) {
            return from_rfc7239(headers, proxies).unwrap_or_default();
        }
        from_x_forwarded(headers, proxies)
    }

    /// Whether the headers said nothing usable.
    pub fn is_empty(&self) -> bool {
        *self == Forwarded::default()
    }

    /// The `Host` the request should show: the forwarded host (else the
    /// `current` one's host part) with the forwarded port, if either was
    /// forwarded. The port is left out when it is the default of the
    /// request's scheme (`https`), as a browser sends `Host`, so that
    /// `HTTP_HOST` and the URLs built from it stay `example.com`, not
    /// `example.com:443`; `SERVER_PORT` still shows it.
    pub(crate) fn authority(&self, current: Option<&str>, https: bool) -> Option<String> {
        let host = match (&self.host, self.port) {
            (Some(host), None) => return Some(host.clone()),
            (Some(host), Some(_)) => host.as_str(),
            (None, Some(_)) => current?,
            (None, None) => return None,
        };
        let name = split_port(host).0;
        let default = if https { 443 } else { 80 };
        let authority = match self.port {
            Some(port) if port != default => format!("{name}:{port}"),
            _ => name.to_owned(),
        };
        valid_host(&authority).then_some(authority)
    }
}

impl fmt::Display for Forwarded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "client={:?} port={:?} https={:?} host={:?} server_port={:?}",
            self.client, self.client_port, self.https, self.host, self.port
        )
    }
}

/// Every value of a header as one comma-separated list; `None` when a value
/// is not visible ASCII (malformed).
fn list<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<Vec<&'a str>> {
    let mut items = Vec::new();
    for value in headers.get_all(name) {
        items.extend(value.to_str().ok()?.split(',').map(str::trim));
    }
    Some(items)
}

/// `host` and its optional `:port`, for `example.com:8080`, `[::1]:80`.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => (&authority[..=end], authority[end + 1..].strip_prefix(':')),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (authority, None),
    }
}

/// A hop's address and port, when it gives them.
type Node = (IpAddr, Option<u16>);

/// A client address in a list: `192.0.2.1`, `192.0.2.1:443`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:443`.
fn parse_node(node: &str) -> Option<Node> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some((ip, None));
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some((addr.ip(), Some(addr.port())));
    }
    let ip = node.strip_prefix('[')?.strip_suffix(']')?.parse().ok()?;
    Some((IpAddr::V6(ip), None))
}

fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && !host.contains('@')
        && host.parse::<http::uri::Authority>().is_ok()
        && HeaderValue::from_str(host).is_ok()
        && split_port(host)
            .1
            .is_none_or(|port| port.parse::<u16>().is_ok())
}

fn scheme(proto: &str) -> Option<bool> {
    if proto.eq_ignore_ascii_case("https") {
        Some(true)
    } else if proto.eq_ignore_ascii_case("http") {
        Some(false)
    } else {
        None
    }
}

/// Walks the hops from the right: the index of the first untrusted one (or
/// of the leftmost when all are trusted), and its address when it is one.
fn walk<T>(
    hops: &[T],
    address: impl Fn(&T) -> Option<Node>,
    proxies: &TrustedProxies,
) -> Option<(usize, Option<Node>)> {
    for (index, hop) in hops.iter().enumerate().rev() {
        let node = address(hop);
        match node {
            Some((ip, _)) if index > 0 && proxies.trusts(ip) => continue,
            _ => return Some((index, node)),
        }
    }
    None
}

fn from_x_forwarded(headers: &HeaderMap, proxies: &TrustedProxies) -> Forwarded {
    let mut forwarded = Forwarded::default();
    let hops = list(headers, &X_FORWARDED_FOR).unwrap_or_default();
    let chosen = walk(&hops, |hop| parse_node(hop), proxies);
    if let Some((_, Some((ip, port)))) = chosen {
        forwarded.client = Some(ip);
        forwarded.client_port = port;
    }
    // The entry at the client's position, else the nearest proxy's.
    let pick = |name: &HeaderName| -> Option<&str> {
        let mut values = list(headers, name)?;
        match chosen {
            Some((index, _)) if values.len() == hops.len() => Some(values.swap_remove(index)),
            _ => values.pop(),
        }
    };
    forwarded.https = match pick(&X_FORWARDED_PROTO) {
        Some(proto) => scheme(proto),
        None => pick(&X_FORWARDED_SSL).and_then(|ssl| {
            if ssl.eq_ignore_ascii_case("on") {
                Some(true)
            } else if ssl.eq_ignore_ascii_case("off") {
                Some(false)
            } else {
                None
            }
        }),
    };
    forwarded.host = pick(&X_FORWARDED_HOST)
        .filter(|host| valid_host(host))
        .map(str::to_owned);
    forwarded.port = pick(&X_FORWARDED_PORT).and_then(|port| port.parse().ok());
    forwarded
}

/// One element of a `Forwarded` list.
#[derive(Debug, Default)]
struct Element {
    node: Option<String>,
    proto: Option<String>,
    host: Option<String>,
}

/// Splits `text` at `separator` outside quoted strings.
fn split_unquoted(text: &str, separator: char) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (index, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            parts.push(&text[start..index]);
            start = index + 1;
        }
    }
    if quoted {
        return None;
    }
    parts.push(&text[start..]);
    Some(parts)
}

/// A `token` or `quoted-string` value.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~:[]".contains(c);
        return (!value.is_empty() && value.chars().all(token)).then(|| value.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(out)
}

/// The `Forwarded` elements, or `None` if any is malformed.
fn parse_rfc7239(headers: &HeaderMap) -> Option<Vec<Element>> {
    let mut elements = Vec::new();
    for value in headers.get_all(http::header::FORWARDED) {
        for element in split_unquoted(value.to_str().ok()?, ',')? {
            let mut parsed = Element::default();
            for pair in split_unquoted(element, ';')? {
                let pair = pair.trim();
                if pair.is_empty() {
                    continue;
                }
                let (name, value) = pair.split_once('=')?;
                let value = unquote(value.trim())?;
                let slot = match name.trim().to_ascii_lowercase().as_str() {
                    "for" => &mut parsed.node,
                    "proto" => &mut parsed.proto,
                    "host" => &mut parsed.host,
                    _ => continue,
                };
                if slot.replace(value).is_some() {
                    // A parameter may appear once per element (RFC 7239 §4).
                    return None;
                }
            }
            elements.push(parsed);
        }
    }
    Some(elements)
}

fn from_rfc7239(headers: &HeaderMap, proxies: &TrustedProxies) -> Option<Forwarded> {
    let elements = parse_rfc7239(headers)?;
    let (index, node) = walk(
        &elements,
        |element| element.node.as_deref().and_then(parse_node),
        proxies,
    )?;
    let element = &elements[index];
    Some(Forwarded {
        client: node.map(|(ip, _)| ip),
        client_port: node.and_then(|(_, port)| port),
        https: element.proto.as_deref().and_then(scheme),
        host: element.host.clone().filter(|host| valid_host(host)),
        port: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn local() -> TrustedProxies {
        TrustedProxies::parse(["127.0.0.1", "::1", "10.0.0.0/8"]).unwrap()
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn x_forwarded_for_walks_from_the_right() {
        let f = Forwarded::from_headers(
            &headers(&[("x-forwarded-for", "1.1.1.1, 2.2.2.2, 10.0.0.1")]),
            &local(),
        );
        assert_eq!(f.client, ip("2.2.2.2"), "first untrusted from the right");
        let f = Forwarded::from_headers(
            &headers(&[
                ("x-forwarded-for", "10.0.0.9"),
                ("x-forwarded-for", "10.0.0.1"),
            ]),
            &local(),
        );
        assert_eq!(f.client, ip("10.0.0.9"), "all trusted: the leftmost");
        let f = Forwarded::from_headers(
            &headers(&[("x-forwarded-for", "1.1.1.1, 2.2.2.2")]),
            &TrustedProxies::parse(["*"]).unwrap(),
        );
        assert_eq!(f.client, ip("1.1.1.1"));
        let f = Forwarded::from_headers(
            &headers(&[("x-forwarded-for", "[2001:db8::5]:99, 10.0.0.1")]),
            &local(),
        );
        assert_eq!((f.client, f.client_port), (ip("2001:db8::5"), Some(99)));
    }

    #[test]
    fn malformed_values_are_ignored() {
        for value in ["garbage", "1.1.1.1, nonsense", "unknown", ""] {
            let f = Forwarded::from_headers(&headers(&[("x-forwarded-for", value)]), &local());
            assert_eq!(f.client, None, "{value:?}");
        }
        let f = Forwarded::from_headers(
            &headers(&[
                ("x-forwarded-proto", "gopher"),
                ("x-forwarded-host", "a b"),
                ("x-forwarded-port", "99999"),
            ]),
            &local(),
        );
        assert!(f.is_empty(), "{f}");
        for value in [
            "for=\"1.1.1.1",
            "for",
            "for=1.1.1.1;for=2.2.2.2",
            "for=a b",
            "for=\"x\\",
        ] {
            let f = Forwarded::from_headers(
                &headers(&[("forwarded", value), ("x-forwarded-for", "3.3.3.3")]),
                &local(),
            );
            assert!(f.is_empty(), "{value:?}: {f}");
        }
    }

    #[test]
    fn scheme_host_and_port() {
        let f = Forwarded::from_headers(
            &headers(&[
                ("x-forwarded-proto", "HTTPS"),
                ("x-forwarded-host", "example.com"),
                ("x-forwarded-port", "8443"),
            ]),
            &local(),
        );
        assert_eq!(f.https, Some(true));
        assert_eq!(f.authority(None, true).as_deref(), Some("example.com:8443"));
        // The scheme's default port is not written into Host.
        let f = Forwarded::from_headers(
            &headers(&[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "example.com:8080"),
                ("x-forwarded-port", "443"),
            ]),
            &local(),
        );
        assert_eq!(f.authority(None, true).as_deref(), Some("example.com"));
        assert_eq!(f.authority(None, false).as_deref(), Some("example.com:443"));
        let f = Forwarded::from_headers(&headers(&[("x-forwarded-ssl", "on")]), &local());
        assert_eq!(f.https, Some(true));
        let f = Forwarded::from_headers(&headers(&[("x-forwarded-port", "81")]), &local());
        assert_eq!(
            f.authority(Some("[::1]:80"), false).as_deref(),
            Some("[::1]:81")
        );
        assert_eq!(f.authority(None, false), None);
        // Lists as long as X-Forwarded-For: the client's entry.
        let f = Forwarded::from_headers(
            &headers(&[
                ("x-forwarded-for", "1.1.1.1, 10.0.0.1"),
                ("x-forwarded-proto", "https, http"),
            ]),
            &local(),
        );
        assert_eq!(f.https, Some(true));
        let f =
            Forwarded::from_headers(&headers(&[("x-forwarded-proto", "https, http")]), &local());
        assert_eq!(f.https, Some(false), "else the nearest proxy's");
    }

    #[test]
    fn rfc7239_wins_and_is_walked() {
        let f = Forwarded::from_headers(
            &headers(&[
                (
                    "forwarded",
                    "for=192.0.2.60;proto=https;host=\"shop.example\", for=10.0.0.2;proto=http",
                ),
                ("x-forwarded-for", "7.7.7.7"),
                ("x-forwarded-host", "other.example"),
            ]),
            &local(),
        );
        assert_eq!(f.client, ip("192.0.2.60"));
        assert_eq!(f.https, Some(true), "the client's element");
        assert_eq!(f.host.as_deref(), Some("shop.example"));
        let f = Forwarded::from_headers(
            &headers(&[("forwarded", "For=\"[2001:db8:cafe::17]:4711\"")]),
            &local(),
        );
        assert_eq!(
            (f.client, f.client_port),
            (ip("2001:db8:cafe::17"), Some(4711))
        );
        for hidden in ["for=unknown", "for=_hidden", "for=\"_x:_y\"", "proto=https"] {
            let value = format!("{hidden}, for=10.0.0.1");
            let f = Forwarded::from_headers(&headers(&[("forwarded", &value)]), &local());
            assert_eq!(f.client, None, "{hidden}");
        }
        let f = Forwarded::from_headers(&headers(&[("forwarded", "proto=https")]), &local());
        assert_eq!((f.client, f.https), (None, Some(true)));
    }
}
