//! `authorization`: the `Authorization` header as a typed environ value.
//!
//! pulsar's `authorization_middleware` parses `Authorization: Basic …` and
//! `Authorization: Digest …` into `environ['http.authorization']`. Here the
//! parsed [`Auth`] goes into [`Environ::extensions_mut`], where later
//! middleware and handlers find it with `environ.extensions().get::<Auth>()`.
//! Checking the credentials is the application's job: this only parses.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use http::header;

use crate::environ::Environ;
use crate::error::Error;
use crate::middleware::RequestMiddleware;
use crate::response::WsgiResponse;

/// Parses the request's `Authorization` header into an [`Auth`] inserted in
/// the environ's extensions; always passes.
///
/// A missing or malformed header (unknown scheme, bad base64, credentials
/// that are not UTF-8, a Digest header missing a required field, repeated
/// `Authorization` headers) inserts nothing: the request simply carries no
/// credentials, and the application answers 401 as it would without any.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use wsgi_core::middleware::{Auth, Authorization, RequestMiddleware};
/// use wsgi_core::{Environ, WsgiHandler};
///
/// let request = http::Request::get("/")
///     .header("Authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")
///     .body(())
///     .unwrap();
/// let mut environ = Environ::from_request(request);
/// assert!(Authorization.call(&mut environ).await.unwrap().is_none());
/// match environ.extensions().get::<Auth>() {
///     Some(Auth::Basic { username, password }) => {
///         assert_eq!((username.as_str(), password.as_str()), ("aladdin", "opensesame"));
///     }
///     other => panic!("expected Basic credentials, got {other:?}"),
/// }
///
/// let handler = WsgiHandler::default().middleware(Authorization);
/// # let _ = handler;
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Authorization;

impl RequestMiddleware for Authorization {
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        let mut values = environ.headers().get_all(header::AUTHORIZATION).iter();
        // Two `Authorization` headers are ambiguous: honour neither.
        let auth = match (values.next(), values.next()) {
            (Some(value), None) => Auth::parse(value.as_bytes()),
            _ => None,
        };
        if let Some(auth) = auth {
            environ.extensions_mut().insert(auth);
        }
        Ok(None)
    }
}

/// Credentials from an `Authorization` header (pulsar's
/// `environ['http.authorization']`), put in the environ's extensions by
/// [`Authorization`].
///
/// `Debug` hides the password and the digest response, so logging an
/// `Auth` leaks no secret.
///
/// ```
/// use wsgi_core::middleware::Auth;
///
/// let auth = Auth::parse(br#"Digest username="Mufasa", realm="a, b", nonce="n", uri="/", response="r""#);
/// let Some(Auth::Digest(digest)) = auth else { panic!("a Digest header") };
/// assert_eq!(digest.username, "Mufasa");
/// assert_eq!(digest.realm, "a, b");
/// assert_eq!(Auth::parse(b"Basic !!!"), None);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Basic` (RFC 7617): base64 of `username:password`.
    Basic {
        /// Everything before the first `:`.
        username: String,
        /// Everything after the first `:` (may itself contain `:`).
        password: String,
    },
    /// `Digest` (RFC 7616); boxed, being five times the size of `Basic`.
    Digest(Box<DigestAuth>),
}

/// The parameters of an `Authorization: Digest` header (RFC 7616). Values
/// are unquoted (`\"` becomes `"`); names are matched case-insensitively.
///
/// Required: `username`, `realm`, `nonce`, `uri`, `response`, and `nc` and
/// `cnonce` when `qop` is given; without them the header is ignored.
///
/// ```
/// use wsgi_core::middleware::Auth;
///
/// let header = br#"Digest username="Mufasa", realm="x", nonce="n", uri="/", response="r", qop=auth, nc=00000001, cnonce="c", userhash=false"#;
/// let Some(Auth::Digest(digest)) = Auth::parse(header) else { panic!("a Digest header") };
/// assert_eq!(digest.qop.as_deref(), Some("auth"));
/// assert_eq!(digest.opaque, None);
/// assert_eq!(digest.other["userhash"], "false");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct DigestAuth {
    /// `username` (required).
    pub username: String,
    /// `realm` (required).
    pub realm: String,
    /// `nonce` (required).
    pub nonce: String,
    /// `uri` (required): the request target the digest covers.
    pub uri: String,
    /// `response` (required): the digest itself.
    pub response: String,
    /// `qop`: `auth` or `auth-int`.
    pub qop: Option<String>,
    /// `nc`: the nonce count (required when `qop` is given).
    pub nc: Option<String>,
    /// `cnonce`: the client nonce (required when `qop` is given).
    pub cnonce: Option<String>,
    /// `opaque`, echoed from the challenge.
    pub opaque: Option<String>,
    /// `algorithm`, e.g. `MD5` or `SHA-256`.
    pub algorithm: Option<String>,
    /// Any other parameter (e.g. `userhash`), by lower-case name.
    pub other: BTreeMap<String, String>,
}

impl Auth {
    /// Parses an `Authorization` header value; `None` when it is not a
    /// well-formed `Basic` or `Digest` credential (see [`Authorization`]).
    /// Never panics, whatever the bytes.
    pub fn parse(value: &[u8]) -> Option<Auth> {
        let value = std::str::from_utf8(value).ok()?.trim();
        let (scheme, rest) = value.split_once([' ', '\t'])?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            parse_basic(rest)
        } else if scheme.eq_ignore_ascii_case("digest") {
            parse_digest(rest).map(|digest| Auth::Digest(Box::new(digest)))
        } else {
            None
        }
    }

    /// The user name, whichever the scheme.
    pub fn username(&self) -> &str {
        match self {
            Auth::Basic { username, .. } => username,
            Auth::Digest(digest) => &digest.username,
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<hidden>")
                .finish(),
            Auth::Digest(digest) => f.debug_tuple("Digest").field(digest).finish(),
        }
    }
}

impl fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestAuth")
            .field("username", &self.username)
            .field("realm", &self.realm)
            .field("nonce", &self.nonce)
            .field("uri", &self.uri)
            .field("response", &"<hidden>")
            .field("qop", &self.qop)
            .field("nc", &self.nc)
            .field("cnonce", &self.cnonce)
            .field("opaque", &self.opaque)
            .field("algorithm", &self.algorithm)
            .field("other", &self.other)
            .finish()
    }
}

fn parse_basic(token: &str) -> Option<Auth> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()?;
    // Credentials in another charset are refused rather than guessed:
    // decoding them wrongly could name a different user.
    let decoded = String::from_utf8(decoded).ok()?;
    let (username, password) = decoded.split_once(':')?;
    Some(Auth::Basic {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

fn parse_digest(params: &str) -> Option<DigestAuth> {
    let mut map = parse_params(params)?;
    let mut take = |name: &str| map.remove(name);
    let digest = DigestAuth {
        username: take("username")?,
        realm: take("realm")?,
        nonce: take("nonce")?,
        uri: take("uri")?,
        response: take("response")?,
        qop: take("qop"),
        nc: take("nc"),
        cnonce: take("cnonce"),
        opaque: take("opaque"),
        algorithm: take("algorithm"),
        other: BTreeMap::new(),
    };
    // With `qop`, the digest is computed over `nc` and `cnonce`: without
    // them it cannot be checked.
    if digest.qop.is_some() && (digest.nc.is_none() || digest.cnonce.is_none()) {
        return None;
    }
    Some(DigestAuth {
        other: map,
        ..digest
    })
}

/// Parses `name=token, name="quoted, \"value\"", ...` (RFC 9110 auth-params)
/// into lower-case names and unquoted values. `None` on anything malformed:
/// an unterminated quote, a missing `=`, an empty name, a repeated name,
/// junk between parameters.
fn parse_params(input: &str) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    let mut rest = input.trim_start();
    while !rest.is_empty() {
        let (name, after_name) = rest.split_once('=')?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return None;
        }
        let after_name = after_name.trim_start();
        let (value, after_value) = if let Some(quoted) = after_name.strip_prefix('"') {
            unquote(quoted)?
        } else {
            let end = after_name
                .find(|c: char| c == ',' || c.is_ascii_whitespace())
                .unwrap_or(after_name.len());
            let token = &after_name[..end];
            if token.is_empty() || !token.bytes().all(is_token_byte) {
                return None;
            }
            (token.to_owned(), &after_name[end..])
        };
        if params.insert(name.to_ascii_lowercase(), value).is_some() {
            return None; // RFC 7616: each parameter at most once.
        }
        // Then a comma (or the end); empty list elements are allowed.
        rest = after_value.trim_start();
        if rest.is_empty() {
            break;
        }
        rest = rest.strip_prefix(',')?.trim_start();
        while let Some(more) = rest.strip_prefix(',') {
            rest = more.trim_start();
        }
    }
    Some(params)
}

/// Reads a quoted-string body (after the opening `"`): the unescaped value
/// and what follows the closing `"`.
fn unquote(quoted: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &quoted[i + 1..])),
            '\\' => value.push(chars.next()?.1),
            c => value.push(c),
        }
    }
    None // no closing quote
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(value: &str) -> Option<DigestAuth> {
        match Auth::parse(value.as_bytes())? {
            Auth::Digest(d) => Some(*d),
            Auth::Basic { .. } => panic!("{value:?} parsed as Basic"),
        }
    }

    const RFC_EXAMPLE: &str = r#"Digest username="Mufasa",
        realm="http-auth@example.org",
        uri="/dir/index.html",
        algorithm=MD5,
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        nc=00000001,
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        qop=auth,
        response="8ca523f5e9506fed4657c9700eebdbec",
        opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;

    #[test]
    fn basic_credentials() {
        assert_eq!(
            Auth::parse(b"Basic YWxhZGRpbjpvcGVuc2VzYW1l"),
            Some(Auth::Basic {
                username: "aladdin".into(),
                password: "opensesame".into()
            })
        );
        // Scheme case-insensitive; password keeps its colons; empty parts.
        assert_eq!(
            Auth::parse(b"bAsIc   dTpwOnc6"),
            Some(Auth::Basic {
                username: "u".into(),
                password: "p:w:".into()
            })
        );
        assert_eq!(
            Auth::parse(b"Basic Og=="),
            Some(Auth::Basic {
                username: String::new(),
                password: String::new()
            })
        );
    }

    #[test]
    fn bad_basic_credentials_are_none() {
        for value in [
            &b"Basic"[..],
            b"Basic ",
            b"Basic !!!notbase64",
            b"Basic dXNlcg==",    // "user": no colon
            b"Basic /w==",        // 0xFF: not UTF-8 once decoded
            b"Basic YWxh ZGRp",   // space inside the token
            b"Bearer abc.def",    // another scheme
            b"Basic\xff\xfe abc", // not UTF-8 at all
            b"",
        ] {
            assert_eq!(
                Auth::parse(value),
                None,
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn rfc_7616_example_parses() {
        let d = digest(RFC_EXAMPLE).expect("the RFC example parses");
        assert_eq!(d.username, "Mufasa");
        assert_eq!(d.realm, "http-auth@example.org");
        assert_eq!(d.uri, "/dir/index.html");
        assert_eq!(d.algorithm.as_deref(), Some("MD5"));
        assert_eq!(d.nc.as_deref(), Some("00000001"));
        assert_eq!(d.qop.as_deref(), Some("auth"));
        assert_eq!(d.response, "8ca523f5e9506fed4657c9700eebdbec");
        assert!(d.opaque.is_some() && d.cnonce.is_some());
        assert!(d.other.is_empty());
    }

    #[test]
    fn quoted_commas_escapes_and_other_params() {
        let d = digest(
            r#"DIGEST Username="a \"b\", c\\", REALM="x,y=z", nonce=abc,, uri="/p?q=1,2", response="", userhash=false"#,
        )
        .expect("parses");
        assert_eq!(d.username, r#"a "b", c\"#);
        assert_eq!(d.realm, "x,y=z");
        assert_eq!(d.nonce, "abc");
        assert_eq!(d.uri, "/p?q=1,2");
        assert_eq!(d.response, "");
        assert_eq!(d.other.get("userhash").map(String::as_str), Some("false"));
    }

    #[test]
    fn malformed_digest_is_none() {
        for value in [
            r#"Digest username="a", realm="r", nonce="n", uri="/""#, // no response
            r#"Digest username="a, realm="r", nonce="n", uri="/", response="x"#, // unterminated
            r#"Digest username="a" realm="r", nonce="n", uri="/", response="x""#, // no comma
            r#"Digest username, realm="r", nonce="n", uri="/", response="x""#, // no value
            r#"Digest ="a", username="a", realm="r", nonce="n", uri="/", response="x""#,
            r#"Digest username="a", username="b", realm="r", nonce="n", uri="/", response="x""#,
            r#"Digest username="a", realm="r", nonce="n", uri="/", response="x", qop=auth"#, // qop without nc/cnonce
            r#"Digest username=a b, realm="r", nonce="n", uri="/", response="x""#,
            r#"Digest username="a\"#,
            "Digest ",
            "Digest",
        ] {
            assert_eq!(digest(value), None, "{value:?}");
        }
    }

    #[test]
    fn non_utf8_digest_is_none() {
        let mut value = br#"Digest username="caf"#.to_vec();
        value.push(0xE9); // latin-1 'é'
        value.extend_from_slice(br#"", realm="r", nonce="n", uri="/", response="x""#);
        assert_eq!(Auth::parse(&value), None);
    }

    #[test]
    fn debug_hides_secrets() {
        let basic = Auth::parse(b"Basic YWxhZGRpbjpvcGVuc2VzYW1l").unwrap();
        assert!(!format!("{basic:?}").contains("opensesame"));
        let d = Auth::parse(RFC_EXAMPLE.as_bytes()).unwrap();
        assert!(!format!("{d:?}").contains("8ca523f5"));
        assert_eq!(d.username(), "Mufasa");
    }
}
