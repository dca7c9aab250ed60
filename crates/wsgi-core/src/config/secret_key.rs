//! `secret_key`: the secret behind signed and private cookies.

use std::fmt;

use super::ConfigError;

/// The `secret_key` setting: the application's secret, from which the keys
/// that sign and encrypt cookies are derived (the `cookie` crate's
/// [`Key::derive_from`](cookie::Key::derive_from), HKDF-SHA256).
///
/// It is at least [`MIN_LEN`](Self::MIN_LEN) bytes of the text given
/// (`--secret-key`, `WSGI_SECRET_KEY`, `secret_key` in the TOML file, or
/// [`ConfigBuilder::secret_key`](super::ConfigBuilder::secret_key)); generate
/// one with `openssl rand -base64 48`. Only the derived key is kept, and
/// neither `Debug` nor [`Config::get`](super::Config::get) shows it, so a
/// logged configuration never leaks it.
///
/// ```
/// use wsgi_core::config::SecretKey;
///
/// let key = SecretKey::new("a secret of at least thirty-two bytes!").unwrap();
/// assert_eq!(format!("{key:?}"), "SecretKey(<redacted>)");
/// let mut jar = wsgi_core::cookie::CookieJar::new();
/// jar.signed_mut(key.cookie_key()).add(("session", "ada"));
/// assert!(SecretKey::new("too short").is_err());
/// ```
#[derive(Clone, PartialEq)]
pub struct SecretKey(Derived);

/// What is kept of the secret: the derived cookie key, or, without the
/// `cookies` feature (nothing to derive it for), the secret itself.
#[cfg(feature = "cookies")]
type Derived = cookie::Key;
#[cfg(not(feature = "cookies"))]
type Derived = std::sync::Arc<[u8]>;

impl SecretKey {
    /// The fewest bytes a secret may have (256 bits).
    pub const MIN_LEN: usize = 32;

    /// Derives the cookie keys from `secret` (its bytes as given, not
    /// decoded). Shorter than [`MIN_LEN`](Self::MIN_LEN) is a
    /// [`ConfigError::Invalid`] naming `secret_key`, which never shows the
    /// secret itself.
    pub fn new(secret: impl AsRef<[u8]>) -> Result<SecretKey, ConfigError> {
        let secret = secret.as_ref();
        if secret.len() < Self::MIN_LEN {
            return Err(ConfigError::Invalid {
                setting: "secret_key",
                message: format!(
                    "{} bytes given, at least {} are needed; generate one with `openssl rand -base64 48`",
                    secret.len(),
                    Self::MIN_LEN
                ),
            });
        }
        // derive_from panics below 32 bytes; checked above.
        #[cfg(feature = "cookies")]
        return Ok(SecretKey(cookie::Key::derive_from(secret)));
        #[cfg(not(feature = "cookies"))]
        return Ok(SecretKey(secret.into()));
    }

    /// The key for `CookieJar::signed` and `CookieJar::private`.
    #[cfg(feature = "cookies")]
    pub fn cookie_key(&self) -> &cookie::Key {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused_without_showing_them() {
        let err = SecretKey::new("hunter2-hunter2").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`secret_key`"), "{text}");
        assert!(text.contains("openssl rand -base64 48"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    #[cfg(feature = "cookies")]
    fn the_same_secret_derives_the_same_key() {
        let secret = "0123456789abcdef0123456789abcdef";
        let key = SecretKey::new(secret).unwrap();
        assert_eq!(key, SecretKey::new(secret).unwrap());
        assert_ne!(key, SecretKey::new(format!("{secret}!")).unwrap());
        let mut jar = cookie::CookieJar::new();
        jar.private_mut(key.cookie_key()).add(("user", "ada"));
        let sealed = jar.get("user").unwrap().clone();
        assert_ne!(sealed.value(), "ada", "encrypted");
        let mut other = cookie::CookieJar::new();
        other.add_original(sealed);
        let again = SecretKey::new(secret).unwrap();
        let opened = other.private(again.cookie_key()).get("user").unwrap();
        assert_eq!(opened.value(), "ada");
        assert_eq!(format!("{key:?}"), "SecretKey(<redacted>)");
    }
}
