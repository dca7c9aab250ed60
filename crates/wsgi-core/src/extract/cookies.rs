//! Request cookies, and the cookies a handler sets in return.

use std::convert::Infallible;

use cookie::{Cookie, CookieJar};
use http::header;

use super::FromEnviron;
use crate::environ::Environ;
use crate::error::Error;
use crate::response::{IntoResponseParts, WsgiResponse};

/// The request's cookies (every `Cookie` header), and the changes a
/// handler makes to them: return the jar in a tuple (`(cookies, body)`)
/// and each cookie added or removed becomes a `Set-Cookie`. Cookies that
/// do not parse are skipped.
///
/// ```
/// use wsgi_core::cookie::Cookie;
/// use wsgi_core::extract::Cookies;
/// use wsgi_core::wsgi_handler;
///
/// #[wsgi_handler]
/// fn visit(mut cookies: Cookies) -> (Cookies, String) {
///     let visits: u32 = cookies.get("visits").and_then(|c| c.value().parse().ok()).unwrap_or(0);
///     cookies.add(Cookie::build(("visits", (visits + 1).to_string())).path("/").http_only(true));
///     (cookies, format!("visit number {}", visits + 1))
/// }
/// # let _ = Visit;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Cookies {
    jar: CookieJar,
}

impl Cookies {
    /// The cookie named `name`, as sent or as added since.
    pub fn get(&self, name: &str) -> Option<&Cookie<'static>> {
        self.jar.get(name)
    }

    /// Every cookie, as sent and as changed since.
    pub fn iter(&self) -> impl Iterator<Item = &Cookie<'static>> {
        self.jar.iter()
    }

    /// Adds (or replaces) a cookie: a `Set-Cookie` in the response.
    pub fn add(&mut self, cookie: impl Into<Cookie<'static>>) {
        self.jar.add(cookie);
    }

    /// Removes a cookie: an expired `Set-Cookie` in the response. Give it
    /// the `path` (and `domain`) it was set with.
    pub fn remove(&mut self, cookie: impl Into<Cookie<'static>>) {
        self.jar.remove(cookie);
    }

    /// The underlying `cookie::CookieJar`.
    pub fn jar(&self) -> &CookieJar {
        &self.jar
    }

    /// The underlying jar, mutably.
    pub fn jar_mut(&mut self) -> &mut CookieJar {
        &mut self.jar
    }

    /// The jar of `environ`'s cookies.
    pub(crate) fn from_headers(environ: &Environ) -> Self {
        let mut jar = CookieJar::new();
        for value in environ.headers().get_all(header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            for part in value.split(';') {
                if let Ok(cookie) = Cookie::parse_encoded(part.trim().to_owned()) {
                    jar.add_original(cookie);
                }
            }
        }
        Cookies { jar }
    }
}

impl FromEnviron for Cookies {
    type Rejection = Infallible;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Infallible> {
        Ok(Cookies::from_headers(environ))
    }
}

/// Each cookie added or removed becomes a `Set-Cookie`.
impl IntoResponseParts for Cookies {
    fn into_response_parts(self, response: &mut WsgiResponse) -> Result<(), Error> {
        for cookie in self.jar.delta() {
            response.set_cookie(cookie.clone());
        }
        Ok(())
    }
}
