//! Request cookies, and the cookies a handler sets in return.

use std::convert::Infallible;

use cookie::{Cookie, CookieJar};
use http::header;

use super::{CheckError, FromEnviron, Provided};
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

/// A cookie jar whose cookies are signed (`SignedCookies`) or encrypted
/// (`PrivateCookies`) with the key derived from the `secret_key` setting.
macro_rules! keyed_jar {
    ($(#[$doc:meta])* $name:ident, $view:ident, $view_mut:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            jar: CookieJar,
            key: cookie::Key,
        }

        impl $name {
            #[doc = concat!("The cookie named `name` with its value ", $what, ", if it is there and was made with this key (a tampered or foreign one is `None`).")]
            pub fn get(&self, name: &str) -> Option<Cookie<'static>> {
                self.jar.$view(&self.key).get(name)
            }

            #[doc = concat!("Adds (or replaces) a cookie, its value ", $what, ": a `Set-Cookie` in the response.")]
            pub fn add(&mut self, cookie: impl Into<Cookie<'static>>) {
                self.jar.$view_mut(&self.key).add(cookie);
            }

            /// Removes a cookie: an expired `Set-Cookie` in the response.
            /// Give it the `path` (and `domain`) it was set with.
            pub fn remove(&mut self, cookie: impl Into<Cookie<'static>>) {
                self.jar.$view_mut(&self.key).remove(cookie);
            }
        }

        impl FromEnviron for $name {
            type Rejection = Error;

            async fn from_environ(environ: &mut Environ) -> Result<Self, Error> {
                let key = environ
                    .config()
                    .secret_key
                    .as_ref()
                    .map(|secret| secret.cookie_key().clone())
                    .ok_or_else(|| Error::msg(missing_key(stringify!($name))))?;
                Ok($name {
                    jar: Cookies::from_headers(environ).jar,
                    key,
                })
            }

            fn check(provided: &Provided<'_>) -> Result<(), CheckError> {
                match provided.config().secret_key {
                    Some(_) => Ok(()),
                    None => Err(CheckError::new(missing_key(stringify!($name)))),
                }
            }
        }

        /// Each cookie added or removed becomes a `Set-Cookie`.
        impl IntoResponseParts for $name {
            fn into_response_parts(self, response: &mut WsgiResponse) -> Result<(), Error> {
                for cookie in self.jar.delta() {
                    response.set_cookie(cookie.clone());
                }
                Ok(())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // Neither the key nor the sealed values are shown.
                f.debug_struct(stringify!($name))
                    .field("cookies", &self.jar.iter().map(Cookie::name).collect::<Vec<_>>())
                    .finish()
            }
        }
    };
}

fn missing_key(extractor: &str) -> String {
    format!(
        "it takes `{extractor}`, which needs a key: set the `secret_key` setting \
         (--secret-key, WSGI_SECRET_KEY or `secret_key` in the config file; at least 32 bytes, \
         e.g. from `openssl rand -base64 48`)"
    )
}

keyed_jar!(
    /// Cookies signed with the key derived from the `secret_key` setting:
    /// the client can read them but not change them (a changed one is
    /// ignored). A handler taking `SignedCookies` where no `secret_key` is
    /// configured is refused at start-up.
    ///
    /// ```
    /// use wsgi_core::extract::SignedCookies;
    /// use wsgi_core::{wsgi_handler, HttpError};
    ///
    /// #[wsgi_handler]
    /// fn whoami(cookies: SignedCookies) -> Result<String, HttpError> {
    ///     let user = cookies.get("user").ok_or_else(|| HttpError::new(http::StatusCode::UNAUTHORIZED))?;
    ///     Ok(format!("you are {}", user.value()))
    /// }
    ///
    /// #[wsgi_handler]
    /// fn login(mut cookies: SignedCookies) -> (SignedCookies, &'static str) {
    ///     cookies.add(("user", "ada"));
    ///     (cookies, "welcome")
    /// }
    /// # let _ = (Whoami, Login);
    /// ```
    SignedCookies,
    signed,
    signed_mut,
    "verified"
);

keyed_jar!(
    /// Cookies encrypted (and authenticated) with the key derived from the
    /// `secret_key` setting: the client can neither read nor change them.
    /// A handler taking `PrivateCookies` where no `secret_key` is
    /// configured is refused at start-up.
    ///
    /// ```
    /// use wsgi_core::extract::PrivateCookies;
    /// use wsgi_core::wsgi_handler;
    ///
    /// #[wsgi_handler]
    /// fn remember(mut cookies: PrivateCookies) -> (PrivateCookies, String) {
    ///     let seen = cookies.get("seen").map(|c| c.value().to_owned()).unwrap_or_default();
    ///     cookies.add(("seen", format!("{seen}x")));
    ///     (cookies, format!("seen {seen}"))
    /// }
    /// # let _ = Remember;
    /// ```
    PrivateCookies,
    private,
    private_mut,
    "decrypted"
);
