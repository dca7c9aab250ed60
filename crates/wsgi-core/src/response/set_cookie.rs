//! `Set-Cookie` headers from a [`WsgiResponse`](super::WsgiResponse)'s
//! cookies, refusing those that would not parse back to themselves.

use std::fmt;

use cookie::Cookie;
use http::header::{self, HeaderMap, HeaderValue};

use crate::error::Error;

/// Appends one `Set-Cookie` per cookie, after checking each.
pub(super) fn append(headers: &mut HeaderMap, cookies: &[Cookie<'static>]) -> Result<(), Error> {
    for cookie in cookies {
        check_cookie(cookie)?;
        let value = HeaderValue::from_str(&cookie.encoded().to_string()).map_err(Error::new)?;
        headers.append(header::SET_COOKIE, value);
    }
    Ok(())
}

/// A cookie that cannot be sent as one well-formed `Set-Cookie`.
#[derive(Debug)]
enum CookieError {
    /// `=value`: clients drop a cookie without a name.
    EmptyName,
    /// `Path` and `Domain` are written as they are (the cookie's encoding
    /// covers only its name and value), so they are held to RFC 6265
    /// §4.1.1: a path to visible ASCII without `;` (which would end the
    /// attribute and start another: `Path=/; Domain=evil.example`), a
    /// domain to a host name. Other characters are read differently by
    /// different clients.
    Attribute {
        cookie: String,
        attribute: &'static str,
    },
}

impl fmt::Display for CookieError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CookieError::EmptyName => {
                f.write_str("a cookie needs a non-empty name; give the cookie a name")
            }
            CookieError::Attribute { cookie, attribute } => write!(
                f,
                "the {attribute} of cookie `{cookie}` has a character that cannot be sent (a path is visible ASCII without `;`, a domain a host name); percent-encode or remove it"
            ),
        }
    }
}

impl std::error::Error for CookieError {}

/// Refuses cookies whose `Set-Cookie` would not parse back to them (found
/// by fuzzing: an empty name; `;`, control or non-ASCII characters in a
/// path or domain, which the `cookie` crate writes out unescaped).
fn check_cookie(cookie: &Cookie<'_>) -> Result<(), Error> {
    if cookie.name().is_empty() {
        return Err(Error::new(CookieError::EmptyName));
    }
    let in_path = |b: u8| (b' '..=b'~').contains(&b) && b != b';';
    let in_domain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
    for (attribute, value, allowed) in [
        ("path", cookie.path(), in_path as fn(u8) -> bool),
        ("domain", cookie.domain(), in_domain),
    ] {
        if value.is_some_and(|v| !v.bytes().all(allowed)) {
            return Err(Error::new(CookieError::Attribute {
                cookie: cookie.name().to_owned(),
                attribute,
            }));
        }
    }
    Ok(())
}
