//! The typed values of the settings, each parsed once, from text (a flag,
//! an environment variable, a builder call) or a TOML value, by
//! [`SettingValue`]; errors say what is accepted.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use http::HeaderValue;

use super::SecretKey;
use crate::access_log::AccessLogFormat;
use crate::forwarded::TrustedProxies;

/// How a setting's flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) enum FlagKind {
    /// `--name VALUE`.
    Value,
    /// `--name` alone means `true`; `--name=false` is accepted.
    Switch,
    /// Repeatable, and comma-separated in a variable or a file string.
    List,
}

/// A setting's type: how it is parsed from text and from the file, and
/// shown by [`Config::get`](super::Config::get).
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) trait SettingValue: Sized {
    /// How the flag takes the value.
    const KIND: FlagKind = FlagKind::Value;
    /// Whether the value is a secret: never shown, even in `--help`.
    const SECRET: bool = false;

    /// Parses the text of a flag or a variable (a list's items joined by
    /// `,`); the error says what is accepted.
    fn parse(text: &str) -> Result<Self, String>;

    /// Reads a TOML value: a string goes through [`parse`](Self::parse)
    /// (a list may also be an array of strings); numbers and booleans
    /// override this.
    #[cfg(feature = "server")]
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        match value {
            toml::Value::String(text) => Self::parse(&text),
            toml::Value::Array(items) if Self::KIND == FlagKind::List => {
                let items: Option<Vec<String>> = items
                    .into_iter()
                    .map(|item| match item {
                        toml::Value::String(text) => Some(text),
                        _ => None,
                    })
                    .collect();
                match items {
                    Some(items) => Self::parse(&items.join(",")),
                    None => Err("expected a list of strings".to_owned()),
                }
            }
            other => Err(format!("expected a string, found {}", other.type_str())),
        }
    }

    /// The value as text, as [`Config::get`](super::Config::get) gives it.
    fn show(&self) -> String;
}

macro_rules! numbers {
    ($($ty:ty),*) => {$(
        impl SettingValue for $ty {
            fn parse(text: &str) -> Result<Self, String> {
                text.trim().parse().map_err(|_| {
                    format!("`{text}` is not a whole number from 0 to {}", <$ty>::MAX)
                })
            }
            #[cfg(feature = "server")]
            fn from_toml(value: toml::Value) -> Result<Self, String> {
                match value {
                    toml::Value::Integer(n) => <$ty>::try_from(n).map_err(|_| {
                        format!("`{n}` is not a whole number from 0 to {}", <$ty>::MAX)
                    }),
                    other => Err(format!("expected a whole number, found {}", other.type_str())),
                }
            }
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
numbers!(usize, u32, u64);

impl SettingValue for bool {
    const KIND: FlagKind = FlagKind::Switch;
    fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("`{text}` is not `true` or `false`")),
        }
    }
    #[cfg(feature = "server")]
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        match value {
            toml::Value::Boolean(b) => Ok(b),
            other => Err(format!(
                "expected true or false, found {}",
                other.type_str()
            )),
        }
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

/// Durations are given and shown in seconds, fractions allowed (`2.5`).
impl SettingValue for Duration {
    fn parse(text: &str) -> Result<Self, String> {
        let value: f64 = text
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a number of seconds"))?;
        seconds(value)
    }
    #[cfg(feature = "server")]
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        match value {
            // Precision: a whole number of seconds fits an f64 exactly far
            // beyond any useful timeout.
            toml::Value::Integer(n) => seconds(n as f64),
            toml::Value::Float(x) => seconds(x),
            other => Err(format!(
                "expected a number of seconds, found {}",
                other.type_str()
            )),
        }
    }
    fn show(&self) -> String {
        self.as_secs_f64().to_string()
    }
}

fn seconds(value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("`{value}` is not a non-negative number of seconds"))
}

impl SettingValue for String {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
    fn show(&self) -> String {
        self.clone()
    }
}

impl SettingValue for PathBuf {
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("the path is empty".to_owned());
        }
        Ok(PathBuf::from(text))
    }
    fn show(&self) -> String {
        self.display().to_string()
    }
}

/// An unset value is shown as `""`.
impl<T: SettingValue> SettingValue for Option<T> {
    const KIND: FlagKind = T::KIND;
    const SECRET: bool = T::SECRET;
    fn parse(text: &str) -> Result<Self, String> {
        T::parse(text).map(Some)
    }
    #[cfg(feature = "server")]
    fn from_toml(value: toml::Value) -> Result<Self, String> {
        T::from_toml(value).map(Some)
    }
    fn show(&self) -> String {
        match self {
            Some(value) => value.show(),
            None => String::new(),
        }
    }
}

impl SettingValue for SecretKey {
    const SECRET: bool = true;
    fn parse(text: &str) -> Result<Self, String> {
        SecretKey::new(text).map_err(|e| match e {
            super::ConfigError::Invalid { message, .. } => message,
            #[cfg(feature = "server")]
            other => other.to_string(),
        })
    }
    fn show(&self) -> String {
        "<redacted>".to_owned()
    }
}

/// Several addresses, comma-separated in a variable.
impl SettingValue for Vec<BindAddr> {
    const KIND: FlagKind = FlagKind::List;
    fn parse(text: &str) -> Result<Self, String> {
        let binds = text
            .split(',')
            .map(str::trim)
            .filter(|bind| !bind.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<BindAddr>, _>>()?;
        if binds.is_empty() {
            return Err("no address given; use HOST:PORT, unix:PATH or fd://N".to_owned());
        }
        Ok(binds)
    }
    fn show(&self) -> String {
        let shown: Vec<String> = self.iter().map(BindAddr::to_string).collect();
        shown.join(",")
    }
}

impl SettingValue for TrustedProxies {
    const KIND: FlagKind = FlagKind::List;
    fn parse(text: &str) -> Result<Self, String> {
        text.parse()
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl SettingValue for AccessLogFormat {
    fn parse(text: &str) -> Result<Self, String> {
        AccessLogFormat::parse(text)
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

macro_rules! from_str_values {
    ($($ty:ty),*) => {$(
        impl SettingValue for $ty {
            fn parse(text: &str) -> Result<Self, String> {
                text.parse()
            }
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
from_str_values!(LogLevel, ServerSoftware);

/// An address to listen on (the `bind` setting): `HOST:PORT`,
/// `unix:PATH` or `fd://N`, parsed with [`FromStr`] and shown as written.
///
/// ```
/// use wsgi_core::config::BindAddr;
///
/// let addr: BindAddr = "localhost:8000".parse().unwrap();
/// assert_eq!(addr, BindAddr::Tcp { host: "localhost".into(), port: 8000 });
/// assert_eq!("unix:/run/app.sock".parse::<BindAddr>().unwrap().to_string(), "unix:/run/app.sock");
/// assert_eq!("fd://3".parse::<BindAddr>().unwrap(), BindAddr::Fd(3));
/// let err = "localhost".parse::<BindAddr>().unwrap_err();
/// assert!(err.contains("HOST:PORT"), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BindAddr {
    /// `HOST:PORT`: a TCP address; the host is a name or an IP address
    /// (IPv6 in brackets: `[::1]:8000`, kept without them here), resolved
    /// when binding; port 0 picks a free port.
    Tcp {
        /// The host, as written.
        host: String,
        /// The port.
        port: u16,
    },
    /// `unix:PATH`: a Unix-domain socket.
    Unix(PathBuf),
    /// `fd://N`: the listening socket inherited as descriptor `N` (3 or
    /// more) through socket activation (`LISTEN_FDS`).
    Fd(u32),
}

impl Default for BindAddr {
    /// `127.0.0.1:8060`, pulsar's default.
    fn default() -> Self {
        BindAddr::Tcp {
            host: "127.0.0.1".to_owned(),
            port: 8060,
        }
    }
}

impl FromStr for BindAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(fd) = text.strip_prefix("fd://") {
            return match fd.parse::<u32>() {
                Ok(fd) if fd >= 3 => Ok(BindAddr::Fd(fd)),
                _ => Err(format!(
                    "`{text}`: use fd://N with N an inherited socket's descriptor (3 or more)"
                )),
            };
        }
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(format!("`{text}` has no path; use unix:PATH"));
            }
            if cfg!(not(unix)) {
                return Err(format!("`{text}`: Unix sockets need a Unix system"));
            }
            return Ok(BindAddr::Unix(PathBuf::from(path)));
        }
        match text.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() => match port.parse::<u16>() {
                Ok(port) => Ok(BindAddr::Tcp {
                    // `[::1]` is written with brackets, resolved without.
                    host: host
                        .strip_prefix('[')
                        .and_then(|h| h.strip_suffix(']'))
                        .unwrap_or(host)
                        .to_owned(),
                    port,
                }),
                Err(_) => Err(format!("`{text}`: the port must be 0-65535")),
            },
            _ => Err(format!(
                "`{text}` is not HOST:PORT (port 0-65535), unix:PATH or fd://N"
            )),
        }
    }
}

impl fmt::Display for BindAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindAddr::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            BindAddr::Tcp { host, port } => write!(f, "{host}:{port}"),
            BindAddr::Unix(path) => write!(f, "unix:{}", path.display()),
            BindAddr::Fd(fd) => write!(f, "fd://{fd}"),
        }
    }
}

/// The TLS certificate chain and private key (the `certfile` and
/// `keyfile` settings), both PEM files: one value, since either alone
/// cannot serve TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsFiles {
    /// PEM file with the certificate chain.
    pub certfile: PathBuf,
    /// PEM file with the private key.
    pub keyfile: PathBuf,
}

impl TlsFiles {
    /// The certificate chain and key files.
    ///
    /// ```
    /// let tls = wsgi_core::config::TlsFiles::new("cert.pem", "key.pem");
    /// assert_eq!(tls.keyfile, std::path::PathBuf::from("key.pem"));
    /// ```
    pub fn new(certfile: impl Into<PathBuf>, keyfile: impl Into<PathBuf>) -> Self {
        TlsFiles {
            certfile: certfile.into(),
            keyfile: keyfile.into(),
        }
    }

    /// `current` with the files a source gave replaced; an error when
    /// the result has one file without the other.
    pub(crate) fn merge(
        current: Option<TlsFiles>,
        certfile: Option<PathBuf>,
        keyfile: Option<PathBuf>,
    ) -> Result<Option<TlsFiles>, super::ConfigError> {
        let (old_cert, old_key) = match current {
            Some(tls) => (Some(tls.certfile), Some(tls.keyfile)),
            None => (None, None),
        };
        match (certfile.or(old_cert), keyfile.or(old_key)) {
            (Some(certfile), Some(keyfile)) => Ok(Some(TlsFiles { certfile, keyfile })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(super::ConfigError::invalid(
                "keyfile",
                "certfile is set: give the private key too",
            )),
            (None, Some(_)) => Err(super::ConfigError::invalid(
                "certfile",
                "keyfile is set: give the certificate too",
            )),
        }
    }
}

/// The `log_level` setting: a `tracing` filter (`info`, `debug`,
/// `wsgi=trace,hyper=warn`, ...), the `RUST_LOG` syntax. With the
/// `server` feature (which sets up logging) it is checked when parsed.
///
/// ```
/// use wsgi_core::config::LogLevel;
///
/// let level: LogLevel = "wsgi=debug,info".parse().unwrap();
/// assert_eq!(level.as_str(), "wsgi=debug,info");
/// # #[cfg(feature = "server")]
/// assert!("info,,==".parse::<LogLevel>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLevel(String);

impl LogLevel {
    /// The filter's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for LogLevel {
    /// `info`.
    fn default() -> Self {
        LogLevel("info".to_owned())
    }
}

impl FromStr for LogLevel {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        #[cfg(feature = "server")]
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(text) {
            return Err(format!("`{text}`: {e} (use info, debug, wsgi=trace, ...)"));
        }
        Ok(LogLevel(text.to_owned()))
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `server_software` setting: `SERVER_SOFTWARE` and the `Server`
/// header, so it must be a valid header value.
///
/// ```
/// use wsgi_core::config::ServerSoftware;
///
/// let software: ServerSoftware = "shop/2.1".parse().unwrap();
/// assert_eq!(software.as_str(), "shop/2.1");
/// assert!("bad\r\nX-Injected: 1".parse::<ServerSoftware>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSoftware {
    text: String,
    header: HeaderValue,
}

impl ServerSoftware {
    /// The text (`SERVER_SOFTWARE`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The `Server` header's value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.header
    }
}

impl Default for ServerSoftware {
    /// `wsgi-rs/<version>`.
    fn default() -> Self {
        const DEFAULT: &str = concat!("wsgi-rs/", env!("CARGO_PKG_VERSION"));
        ServerSoftware {
            text: DEFAULT.to_owned(),
            header: HeaderValue::from_static(DEFAULT),
        }
    }
}

impl FromStr for ServerSoftware {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        // Visible ASCII and spaces only, so that the text and the header
        // say the same thing.
        if text.is_empty() || !text.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
            return Err(format!(
                "`{}` must be non-empty printable ASCII (no line breaks or control characters)",
                text.escape_debug()
            ));
        }
        let header = HeaderValue::from_str(text).map_err(|e| e.to_string())?;
        Ok(ServerSoftware {
            text: text.to_owned(),
            header,
        })
    }
}

impl fmt::Display for ServerSoftware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_addresses_parse_and_show_as_written() {
        for text in ["127.0.0.1:0", "[::1]:8000", "unix:/tmp/a.sock", "fd://3"] {
            let addr: BindAddr = text.parse().unwrap();
            assert_eq!(addr.to_string(), text);
        }
        for (text, needle) in [
            ("localhost", "HOST:PORT"),
            ("h:99999", "0-65535"),
            (":80", "HOST:PORT"),
            ("unix:", "unix:PATH"),
            ("fd://1", "3 or more"),
            ("fd://x", "fd://N"),
        ] {
            let err = text.parse::<BindAddr>().unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
        assert!(<Vec<BindAddr>>::parse(" , ")
            .unwrap_err()
            .contains("no address"));
    }

    #[test]
    fn numbers_durations_and_switches_say_what_is_accepted() {
        assert!(usize::parse("many").unwrap_err().contains("whole number"));
        assert!(u64::parse("-3").unwrap_err().contains("whole number"));
        assert_eq!(Duration::parse("2.5").unwrap(), Duration::from_millis(2500));
        assert!(Duration::parse("-1").unwrap_err().contains("non-negative"));
        assert!(Duration::parse("soon").unwrap_err().contains("seconds"));
        assert!(bool::parse("yes")
            .unwrap_err()
            .contains("`true` or `false`"));
        assert!(PathBuf::parse("").unwrap_err().contains("empty"));
    }

    #[test]
    fn tls_files_come_in_pairs() {
        let both = TlsFiles::merge(None, Some("c".into()), Some("k".into())).unwrap();
        assert_eq!(both, Some(TlsFiles::new("c", "k")));
        let replaced = TlsFiles::merge(both, None, Some("k2".into())).unwrap();
        assert_eq!(replaced, Some(TlsFiles::new("c", "k2")));
        let err = TlsFiles::merge(None, Some("c".into()), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid setting `keyfile`: certfile is set: give the private key too"
        );
        assert!(TlsFiles::merge(None, None, None).unwrap().is_none());
    }

    #[test]
    fn server_software_must_be_a_header_value() {
        assert!("a\nb"
            .parse::<ServerSoftware>()
            .unwrap_err()
            .contains("line breaks"));
        assert!("".parse::<ServerSoftware>().is_err());
        assert_eq!(
            ServerSoftware::default().header_value(),
            ServerSoftware::default().as_str()
        );
    }
}
