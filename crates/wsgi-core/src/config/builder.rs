//! [`ConfigBuilder`]: a [`Config`] in code, since `Config` is
//! `#[non_exhaustive]` and cannot be written as a struct literal outside
//! this crate.

use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "server")]
use super::{AppSettings, StoredSettings};
use super::{Config, ConfigError, SecretKey, SettingValue, TlsFiles, TrustedProxies};

/// Builds a [`Config`] from the defaults, one setting per method (each
/// documented on the [`Config`] field of the same name). Settings given as
/// text are parsed as the command line parses them; the first invalid
/// value is the error [`build`](Self::build) returns, naming the setting.
///
/// ```
/// use std::time::Duration;
/// use wsgi_core::Config;
///
/// let config = Config::builder()
///     .debug(true)
///     .workers(2)
///     .bind("127.0.0.1:0")
///     .http_keep_alive(Duration::from_secs(5))
///     .build()
///     .unwrap();
/// assert_eq!((config.debug, config.workers), (true, 2));
/// assert_eq!(config.bind, ["127.0.0.1:0".parse().unwrap()]);
///
/// let err = Config::builder().bind("no-port").build().unwrap_err();
/// assert!(err.to_string().contains("`bind`"));
/// ```
#[derive(Debug)]
#[must_use = "call .build() to get the Config"]
pub struct ConfigBuilder {
    config: Config,
    /// Whether `bind` was called: the first call replaces the default
    /// address, later ones add to it.
    bound: bool,
    /// The TLS files given so far (one without the other is an error
    /// from `build`).
    certfile: Option<PathBuf>,
    keyfile: Option<PathBuf>,
    /// The first invalid value given (reported by `build`).
    error: Option<ConfigError>,
}

impl Config {
    /// A [`ConfigBuilder`] starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::from(Config::default())
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {$(
        $(#[$doc])*
        #[doc = concat!("\n\nSee [`Config::", stringify!($name), "`].")]
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$name = value;
            self
        }
    )*};
}

/// Setters taking text, parsed by the setting's type.
macro_rules! parsed_setters {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[doc = concat!("\n\nSee [`Config::", stringify!($name), "`].")]
        pub fn $name(mut self, value: impl AsRef<str>) -> Self {
            if let Some(value) = self.parse(stringify!($name), value.as_ref()) {
                self.config.$name = value;
            }
            self
        }
    )*};
}

impl ConfigBuilder {
    /// `text` parsed as `setting`'s type; a failure is kept for `build`.
    fn parse<T: SettingValue>(&mut self, setting: &'static str, text: &str) -> Option<T> {
        match T::parse(text) {
            Ok(value) => Some(value),
            Err(message) => {
                self.error
                    .get_or_insert_with(|| ConfigError::invalid(setting, message));
                None
            }
        }
    }

    /// Adds an address to listen on (`HOST:PORT`, `unix:PATH` or
    /// `fd://N`); the first call replaces the default `127.0.0.1:8060`,
    /// later calls add more, as a repeated `--bind` does.
    ///
    /// See [`Config::bind`].
    pub fn bind(mut self, address: impl AsRef<str>) -> Self {
        if !self.bound {
            self.config.bind.clear();
            self.bound = true;
        }
        match address.as_ref().parse() {
            Ok(address) => self.config.bind.push(address),
            Err(message) => {
                self.error
                    .get_or_insert_with(|| ConfigError::invalid("bind", message));
            }
        }
        self
    }

    setters! {
        /// Worker event loops; `0` runs on the caller's runtime.
        workers: usize;
        /// Queue length of each listening socket.
        backlog: u32;
        /// Most connections served at once per worker; `0` = no limit.
        max_connections: usize;
        /// Requests after which a worker restarts; `0` = never.
        max_requests: u64;
        /// Idle keep-alive timeout; zero disables keep-alive.
        http_keep_alive: Duration;
        /// Time to answer and for each body item; zero = no limit.
        response_timeout: Duration;
        /// Send small TCP writes at once (`TCP_NODELAY`).
        tcp_nodelay: bool;
        /// Time to send a complete request head or TLS handshake.
        header_read_timeout: Duration;
        /// Largest request body, in bytes.
        max_request_body: u64;
        /// Largest request head, in bytes.
        max_header_size: usize;
        /// Most request headers.
        max_headers: usize;
        /// How long a graceful shutdown waits for in-flight requests.
        shutdown_timeout: Duration;
        /// How long a shutdown keeps serving while readiness reports 503.
        shutdown_drain: Duration;
        /// Largest WebSocket message, in bytes.
        websocket_max_message: usize;
        /// How long a WebSocket may stay silent; zero = no limit.
        websocket_idle_timeout: Duration;
        /// Expect a PROXY protocol header on every connection.
        proxy_protocol: bool;
        /// Take `SCRIPT_NAME` from a trusted proxy's `X-Forwarded-Prefix`.
        forwarded_prefix: bool;
        /// Show error details in 500 responses.
        debug: bool;
    }

    parsed_setters! {
        /// `SERVER_SOFTWARE` and the `Server` header.
        server_software;
        /// Log filter when no `tracing` subscriber is installed.
        log_level;
        /// Template of the access-log line.
        access_log_format;
    }

    /// `SCRIPT_NAME`: the URL prefix the application is mounted at.
    ///
    /// See [`Config::script_name`].
    pub fn script_name(mut self, prefix: impl Into<String>) -> Self {
        self.config.script_name = prefix.into();
        self
    }

    /// PEM file with the TLS certificate chain (with [`keyfile`](Self::keyfile)).
    ///
    /// See [`Config::tls`].
    pub fn certfile(mut self, path: impl Into<PathBuf>) -> Self {
        self.certfile = Some(path.into());
        self
    }

    /// PEM file with the TLS private key (with [`certfile`](Self::certfile)).
    ///
    /// See [`Config::tls`].
    pub fn keyfile(mut self, path: impl Into<PathBuf>) -> Self {
        self.keyfile = Some(path.into());
        self
    }

    /// Peers whose forwarding headers are believed (addresses, CIDR
    /// ranges, `*`); replaces the default list.
    ///
    /// See [`Config::forwarded_allow_ips`].
    pub fn forwarded_allow_ips<I, S>(mut self, peers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        match TrustedProxies::parse(peers) {
            Ok(proxies) => self.config.forwarded_allow_ips = proxies,
            Err(message) => {
                self.error
                    .get_or_insert_with(|| ConfigError::invalid("forwarded_allow_ips", message));
            }
        }
        self
    }

    /// The secret for signed and private cookies, at least 32 bytes;
    /// shorter is an error from [`build`](Self::build).
    ///
    /// See [`Config::secret_key`].
    pub fn secret_key(mut self, secret: impl AsRef<[u8]>) -> Self {
        match SecretKey::new(secret) {
            Ok(key) => self.config.secret_key = Some(key),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// The application's own settings, read back with [`Config::app`]
    /// (instead of parsing them with [`Config::from_args_with`]: in tests,
    /// say).
    ///
    /// ```
    /// use wsgi_core::{clap, Config};
    ///
    /// #[derive(Debug, Clone, PartialEq, clap::Args)]
    /// struct Limits {
    ///     #[arg(long, default_value_t = 10)]
    ///     per_page: u32,
    /// }
    /// impl wsgi_core::config::AppSettings for Limits {}
    ///
    /// let config = Config::builder().app(Limits { per_page: 3 }).build().unwrap();
    /// assert_eq!(config.app::<Limits>(), Some(&Limits { per_page: 3 }));
    /// ```
    #[cfg(feature = "server")]
    pub fn app<S: AppSettings>(mut self, settings: S) -> Self {
        self.config.app = Some(StoredSettings::new(settings));
        self
    }

    /// The configuration, after [`Config::validate`] (which also runs the
    /// application settings' [`AppSettings::validate`]).
    pub fn build(mut self) -> Result<Config, ConfigError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        self.config.tls = TlsFiles::merge(self.config.tls.take(), self.certfile, self.keyfile)?;
        self.config.validate()?;
        Ok(self.config)
    }
}

impl From<Config> for ConfigBuilder {
    /// A builder starting from `config` (its `bind` is replaced by the
    /// first [`bind`](ConfigBuilder::bind) call, and its `tls` files by
    /// [`certfile`](ConfigBuilder::certfile) and
    /// [`keyfile`](ConfigBuilder::keyfile)).
    fn from(config: Config) -> Self {
        ConfigBuilder {
            config,
            bound: false,
            certfile: None,
            keyfile: None,
            error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_sets_every_setting() {
        let config = Config::builder()
            .bind("127.0.0.1:0")
            .bind("unix:/tmp/wsgi-builder.sock")
            .workers(3)
            .backlog(9)
            .max_connections(8)
            .max_requests(7)
            .http_keep_alive(Duration::from_secs(6))
            .response_timeout(Duration::from_secs(5))
            .tcp_nodelay(false)
            .header_read_timeout(Duration::from_secs(4))
            .max_request_body(1000)
            .max_header_size(2000)
            .max_headers(30)
            .shutdown_timeout(Duration::from_secs(3))
            .shutdown_drain(Duration::from_secs(2))
            .websocket_max_message(4096)
            .websocket_idle_timeout(Duration::from_secs(9))
            .certfile("cert.pem")
            .keyfile("key.pem")
            .proxy_protocol(true)
            .forwarded_prefix(true)
            .forwarded_allow_ips(["10.0.0.0/8"])
            .debug(true)
            .server_software("me/1")
            .script_name("/app")
            .log_level("debug")
            .access_log_format("{status}")
            .secret_key([7u8; 32])
            .build()
            .unwrap();
        let expected = [
            ("bind", "127.0.0.1:0,unix:/tmp/wsgi-builder.sock"),
            ("workers", "3"),
            ("backlog", "9"),
            ("max_connections", "8"),
            ("max_requests", "7"),
            ("http_keep_alive", "6"),
            ("response_timeout", "5"),
            ("tcp_nodelay", "false"),
            ("header_read_timeout", "4"),
            ("max_request_body", "1000"),
            ("max_header_size", "2000"),
            ("max_headers", "30"),
            ("shutdown_timeout", "3"),
            ("shutdown_drain", "2"),
            ("websocket_max_message", "4096"),
            ("websocket_idle_timeout", "9"),
            ("certfile", "cert.pem"),
            ("keyfile", "key.pem"),
            ("proxy_protocol", "true"),
            ("forwarded_prefix", "true"),
            ("forwarded_allow_ips", "10.0.0.0/8"),
            ("debug", "true"),
            ("server_software", "me/1"),
            ("script_name", "/app"),
            ("log_level", "debug"),
            ("access_log_format", "{status}"),
            ("secret_key", "<redacted>"),
        ];
        let defaults = Config::default();
        for (name, value) in expected {
            assert_eq!(config.get(name).as_deref(), Some(value), "{name}");
            assert_ne!(
                defaults.get(name).as_deref(),
                Some(value),
                "{name}: not the default"
            );
        }
        assert_eq!(
            expected.len(),
            Config::SETTINGS.len(),
            "a setting without a builder method"
        );
    }

    #[test]
    fn the_builder_reports_invalid_values() {
        let err = Config::builder().secret_key("short").build().unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    setting: "secret_key",
                    ..
                }
            ),
            "{err}"
        );
        let err = Config::builder().certfile("c.pem").build().unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    setting: "keyfile",
                    ..
                }
            ),
            "{err}"
        );
        let config = ConfigBuilder::from(Config::builder().workers(5).build().unwrap())
            .debug(true)
            .build()
            .unwrap();
        assert_eq!((config.workers, config.debug), (5, true));
        assert_eq!(config.bind, Config::default().bind);
    }

    #[test]
    fn text_settings_are_parsed_and_errors_name_them() {
        for (builder, setting, needle) in [
            (Config::builder().bind("no-port"), "bind", "HOST:PORT"),
            (
                Config::builder().forwarded_allow_ips(["10.0.0.0/99"]),
                "forwarded_allow_ips",
                "0-32",
            ),
            (
                Config::builder().access_log_format("{nope}"),
                "access_log_format",
                "unknown placeholder",
            ),
            (
                Config::builder().log_level("info,,=="),
                "log_level",
                "info, debug",
            ),
            (
                Config::builder().server_software("a\r\nb"),
                "server_software",
                "line breaks",
            ),
            (
                Config::builder().keyfile("k.pem"),
                "certfile",
                "give the certificate",
            ),
        ] {
            let err = builder.build().unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("invalid setting `{setting}`: "))
                    && text.contains(needle),
                "{setting}: {text}"
            );
        }
    }
}
