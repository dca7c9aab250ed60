//! The forwarding policy: what the connection and a trusted proxy's
//! headers change about a request before its environ is built (the
//! scheme, `Host`, the client, and with `forwarded_prefix` the mount
//! point). The headers themselves are read by [`Forwarded`]; whom to
//! believe is [`TrustedProxies`](super::TrustedProxies).

use http::header::{self, HeaderMap, HeaderValue};

use super::Forwarded;
use crate::config::Config;
use crate::connection::Connection;

/// What the connection and a trusted proxy say about a request.
#[derive(Debug)]
pub(crate) struct Proxied {
    /// Whether the request came over HTTPS.
    pub(crate) https: bool,
    /// What a trusted proxy's headers said (client, host, port).
    pub(crate) forwarded: Option<Box<Forwarded>>,
    /// The prefix a trusted proxy mounts the application at
    /// (`SCRIPT_NAME`), with `forwarded_prefix` on.
    pub(crate) script_name: Option<String>,
}

/// Applies the policy to the request head: the scheme is the
/// connection's (TLS or not), never the client's word (an absolute-form
/// `https://` target or an h2c `:scheme https` on a plain connection does
/// not make the request secure); only a peer of `forwarded_allow_ips` may
/// say otherwise, and change `Host` and, with `forwarded_prefix`, the
/// mount point.
// Inlined into `Environ::build`: without a forwarding header it is a few
// tests, cheaper than the call and its by-pointer result.
#[inline]
pub(crate) fn apply(
    connection: Option<&Connection>,
    config: &Config,
    head: &mut http::request::Parts,
    forwarding: Option<bool>,
) -> Proxied {
    let mut https = connection.is_some_and(Connection::is_tls);
    let forwarded = connection.and_then(|c| apply_forwarded(c, head, &mut https, forwarding));
    let script_name = connection
        .filter(|c| config.forwarded_prefix && c.is_trusted_proxy())
        .and_then(|_| forwarded_prefix(&head.headers));
    Proxied {
        https,
        forwarded,
        script_name,
    }
}

/// Applies a trusted proxy's forwarding headers to the request: the
/// scheme, and the `Host` header (the forwarded authority, also kept in the
/// result's `host` for absolute-form and HTTP/2 requests).
fn apply_forwarded(
    connection: &Connection,
    head: &mut http::request::Parts,
    https: &mut bool,
    forwarding: Option<bool>,
) -> Option<Box<Forwarded>> {
    let mut forwarded = connection.forwarded(&head.headers, forwarding)?;
    if let Some(forwarded_https) = forwarded.https {
        *https = forwarded_https;
    }
    let current = match head.uri.authority() {
        Some(authority) => Some(authority.as_str()),
        None => head.headers.get(header::HOST).and_then(|h| h.to_str().ok()),
    };
    forwarded.host = forwarded.authority(current, *https);
    if let Some(host) = &forwarded.host {
        if let Ok(value) = HeaderValue::from_str(host) {
            head.headers.insert(header::HOST, value);
        }
    }
    Some(Box::new(forwarded))
}

/// `X-Forwarded-Prefix` (else `X-Script-Name`) of a trusted proxy: the
/// nearest proxy's (rightmost) entry, percent-decoded, without a trailing
/// `/`. A value that is not an absolute path is ignored.
fn forwarded_prefix(headers: &HeaderMap) -> Option<String> {
    let value = ["x-forwarded-prefix", "x-script-name"]
        .iter()
        .find_map(|name| headers.get_all(*name).iter().next_back())?;
    let entry = value.to_str().ok()?.rsplit(',').next()?.trim();
    let decoded = percent_encoding::percent_decode_str(entry)
        .decode_utf8()
        .ok()?;
    let valid = decoded.starts_with('/')
        && !decoded.contains(['?', '#'])
        && !decoded.chars().any(char::is_control)
        && !decoded.split('/').any(|segment| segment == "..");
    valid.then(|| decoded.trim_end_matches('/').to_owned())
}
