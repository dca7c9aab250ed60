//! `pulsar.cfg`: the server's configuration.
//!
//! One [`Config`] is shared by the server and every request (handlers read it
//! as `environ.config()`, pulsar's `environ['pulsar.cfg']`, typed or by name
//! with [`Config::get`]).
//!
//! # Where settings come from
//! Four sources, each overriding the one before (later wins):
//! 1. **code**: the `Config` value the program starts from
//!    (`Config::default()` with fields changed);
//! 2. **a TOML file** given with `--config PATH` (or `WSGI_CONFIG`), whose
//!    keys are the setting names (`workers = 4`, `bind = ["127.0.0.1:8000",
//!    "unix:/run/app.sock"]`, durations in seconds);
//! 3. **environment variables** `WSGI_<SETTING>` (`WSGI_HTTP_KEEP_ALIVE=30`;
//!    several `bind` addresses are separated by commas);
//! 4. **command-line flags** named after the settings
//!    (`--http-keep-alive 30`; `--bind` may be repeated).
//!
//! `--help` lists every setting with its default. An invalid value in any
//! source is a [`ConfigError`] naming the setting; [`Config::from_args`]
//! prints it and exits with status 2 before anything is bound.
//!
//! ```
//! use wsgi_core::Config;
//!
//! let config = Config::try_from_args(["app", "--bind", "127.0.0.1:0", "--workers", "2"]).unwrap();
//! assert_eq!(config.bind, ["127.0.0.1:0"]);
//! assert_eq!(config.workers, 2);
//! assert_eq!(config.get("workers").as_deref(), Some("2"));
//! ```
//!
//! In code, [`Config::builder`] sets any setting and validates the result
//! (`Config` is `#[non_exhaustive]`, so it has no struct literal outside
//! this crate):
//!
//! ```
//! let config = wsgi_core::Config::builder().debug(true).workers(2).bind("127.0.0.1:0").build().unwrap();
//! assert!(config.debug);
//! ```
//!
//! # Your application's own settings
//! An application declares its settings as a struct deriving `clap::Args`
//! and implementing [`AppSettings`], and reads the configuration with
//! [`Config::from_args_with`] instead of [`Config::from_args`]. Its settings
//! then come from the same places as the server's, in the same order: the
//! fields' `default_value`s (the code), the file's `[app]` table (keys are
//! the field names; unknown keys are refused), the fields' `env` variables,
//! and their flags. `--help` lists them after the server's, and a value
//! that does not parse, or that [`AppSettings::validate`] refuses, is an
//! error naming the setting, before anything is bound. Handlers read them
//! typed with [`Config::app`]: `environ.config().app::<TodoSettings>()`.
//! ([`Config::get`] knows only the server's settings.)
//!
//! clap is re-exported: with `use wsgi_core::clap;` the derive works without
//! a clap dependency of your own (or add `clap = { version = "4", features
//! = ["derive", "env"] }`).
//!
//! ```
//! use std::path::PathBuf;
//! use wsgi_core::config::AppSettings;
//! use wsgi_core::{clap, Config, ConfigError};
//!
//! #[derive(Debug, Clone, PartialEq, clap::Args)]
//! struct TodoSettings {
//!     /// SQLite database file
//!     #[arg(long, env = "TODO_DATABASE", default_value = "todo.db")]
//!     database: PathBuf,
//!     /// Most items in one list
//!     #[arg(long, env = "TODO_MAX_ITEMS", default_value_t = 1000)]
//!     max_items: u32,
//! }
//!
//! impl AppSettings for TodoSettings {
//!     fn validate(&self) -> Result<(), ConfigError> {
//!         if self.max_items == 0 {
//!             return Err(ConfigError::invalid("max_items", "use 1 or more"));
//!         }
//!         Ok(())
//!     }
//! }
//!
//! // In main: `let config = Config::from_args_with::<TodoSettings>();`
//! // here, an explicit command line and a file:
//! let path = std::env::temp_dir().join(format!("todo-{}.toml", std::process::id()));
//! std::fs::write(&path, "workers = 4\n\n[app]\ndatabase = \"/var/lib/todo.db\"\n").unwrap();
//! let args = ["todo", "--config", path.to_str().unwrap(), "--max-items", "50"];
//! let config = Config::try_from_args_with::<TodoSettings>(args).unwrap();
//! let settings: &TodoSettings = config.app::<TodoSettings>().unwrap();
//! assert_eq!(settings.database, PathBuf::from("/var/lib/todo.db"));
//! assert_eq!((config.workers, settings.max_items), (4, 50));
//!
//! let err = Config::try_from_args_with::<TodoSettings>(["todo", "--max-items", "0"]).unwrap_err();
//! assert_eq!(err.to_string(), "invalid setting `max_items`: use 1 or more");
//! # std::fs::remove_file(&path).unwrap();
//! ```
//!
//! # Signed and private cookies
//! The `secret_key` setting (`--secret-key`, `WSGI_SECRET_KEY`) is the
//! secret they are made with; [`Config::cookie_key`] gives the derived
//! `cookie::Key`. See [`SecretKey`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use serde::Deserialize;

use crate::access_log::AccessLogFormat;
use crate::forwarded::TrustedProxies;

mod app_settings;
mod builder;
mod secret_key;

pub use app_settings::AppSettings;
use app_settings::{AppParser, StoredSettings};
pub use builder::ConfigBuilder;
pub use secret_key::SecretKey;

/// The server's settings. Every field is public and documented with its
/// default; [`Config::get`] reads one by its setting name.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// Addresses to listen on: `HOST:PORT` (port 0 picks a free port) or
    /// `unix:PATH` (a Unix-domain socket), or `fd://N`: the listening socket
    /// inherited as descriptor `N` through socket activation (`LISTEN_FDS`,
    /// see [`server`](crate::server)). Default `["127.0.0.1:8060"]`, like
    /// pulsar.
    pub bind: Vec<String>,
    /// Worker event loops, each on its own thread with its own clone of the
    /// application. `0` runs on the caller's tokio runtime. Default 1.
    pub workers: usize,
    /// Length of each listening socket's queue of connections not yet
    /// accepted. Default 2048.
    pub backlog: u32,
    /// Most connections one worker serves at once; more wait in the
    /// backlog until one closes. `0` means no limit. Default 0.
    pub max_connections: usize,
    /// Requests after which a worker stops accepting, finishes what it
    /// serves and starts again with a fresh clone of the application (to
    /// bound leaks). `0` means never. Default 0.
    pub max_requests: u64,
    /// How long an idle keep-alive connection waits for its next request.
    /// Default 15 s. Zero disables keep-alive.
    pub http_keep_alive: Duration,
    /// How long the application may take to answer, and then to produce
    /// each item of its body (each await, as pulsar bounds them); a miss is
    /// a 504 before the head is sent and an aborted response after. Zero
    /// disables it (endless event streams need that). Default 0.
    pub response_timeout: Duration,
    /// How long a client may take to send a complete request head
    /// (slowloris protection), and to finish a TLS handshake. Default 10 s.
    pub header_read_timeout: Duration,
    /// Largest request body `wsgi.input` accepts, in bytes; a larger
    /// declared `Content-Length` is answered 413. Default 16 MiB.
    pub stream_buffer: u64,
    /// Largest request head (request line and headers), in bytes; larger
    /// gets 431. Default 64 KiB.
    pub max_header_size: usize,
    /// Most request headers accepted; more gets 431. Default 100.
    pub max_headers: usize,
    /// How long a graceful shutdown waits for in-flight requests. Default 30 s.
    pub shutdown_timeout: Duration,
    /// How long, once a shutdown begins, the server keeps accepting and
    /// serving normally while [`Connection::is_draining`] is true (so the
    /// [`HealthCheck`] readiness probe answers 503 and a load balancer
    /// stops sending new clients), before it stops accepting and drains
    /// within `shutdown_timeout`. Default 0 s.
    ///
    /// [`Connection::is_draining`]: crate::Connection::is_draining
    /// [`HealthCheck`]: crate::middleware::HealthCheck
    pub shutdown_drain: Duration,
    /// Largest WebSocket message (and frame) accepted, in bytes; a larger
    /// one closes the socket with `1009`. Default 16 MiB.
    pub websocket_max_message: usize,
    /// How long a WebSocket may stay silent: it is pinged after half of
    /// this, closed with `1001` after all of it. Zero disables both.
    /// Default 60 s.
    pub websocket_idle_timeout: Duration,
    /// PEM file with the TLS certificate chain; with `keyfile`, every
    /// address is served over TLS. Default none (plain HTTP).
    pub certfile: Option<PathBuf>,
    /// PEM file with the TLS private key. Default none.
    pub keyfile: Option<PathBuf>,
    /// Every connection starts with a PROXY protocol header (v1 or v2, as
    /// HAProxy and cloud load balancers send), whose source address
    /// becomes the client's; a connection without a valid one, or that
    /// sends it slower than `header_read_timeout`, is closed. See
    /// [`server`](crate::server). Default off.
    pub proxy_protocol: bool,
    /// Peers whose forwarding headers (`X-Forwarded-For`, `-Proto`,
    /// `-Host`, `-Port`, `-Ssl`, `Forwarded`) are believed: addresses,
    /// CIDR ranges (`10.0.0.0/8`, `fd00::/8`) or `*` for all; see
    /// [`forwarded`](crate::forwarded). Default `["127.0.0.1", "::1"]`.
    pub forwarded_allow_ips: Vec<String>,
    /// Believe `X-Forwarded-Prefix` (else `X-Script-Name`) from the peers
    /// of `forwarded_allow_ips` as `SCRIPT_NAME`: the prefix a proxy
    /// mounts the application at; see [`forwarded`](crate::forwarded).
    /// Default off.
    pub forwarded_prefix: bool,
    /// Show error details (the error chain) in 500 responses. Default off.
    pub debug: bool,
    /// `SERVER_SOFTWARE` and the `Server` header. Default `wsgi-rs/<version>`.
    pub server_software: String,
    /// `SCRIPT_NAME`: the URL prefix the application is mounted at; it is
    /// removed from `PATH_INFO`. A request whose path is outside it (`/other`
    /// for `/app`) is answered 404 without calling the application, since
    /// no `SCRIPT_NAME` + `PATH_INFO` split could rebuild its path. Default
    /// empty.
    pub script_name: String,
    /// Log filter used by [`Server::run`](crate::server::Server::run) when no
    /// `tracing` subscriber is installed (`info`, `debug`, `wsgi=trace`, ...).
    /// Default `info`.
    pub log_level: String,
    /// Template of the access-log line; see [`access_log`](crate::access_log)
    /// for the placeholders. Default
    /// `{peer} "{method} {uri} {version}" {status} {bytes} {duration_ms}ms`.
    pub access_log_format: String,
    /// The secret signed and private cookies are made with: at least 32
    /// bytes (generate one with `openssl rand -base64 48`); never shown by
    /// `Debug` or [`Config::get`]. Read it with
    /// [`cookie_key`](Self::cookie_key). Default none.
    pub secret_key: Option<SecretKey>,
    /// The application's own settings ([`AppSettings`]), read with
    /// [`app`](Self::app).
    pub(crate) app: Option<StoredSettings>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: vec!["127.0.0.1:8060".to_owned()],
            workers: 1,
            backlog: 2048,
            max_connections: 0,
            max_requests: 0,
            http_keep_alive: Duration::from_secs(15),
            response_timeout: Duration::ZERO,
            header_read_timeout: Duration::from_secs(10),
            stream_buffer: 16 * 1024 * 1024,
            max_header_size: 64 * 1024,
            max_headers: 100,
            shutdown_timeout: Duration::from_secs(30),
            shutdown_drain: Duration::ZERO,
            websocket_max_message: 16 * 1024 * 1024,
            websocket_idle_timeout: Duration::from_secs(60),
            certfile: None,
            keyfile: None,
            proxy_protocol: false,
            forwarded_allow_ips: vec!["127.0.0.1".to_owned(), "::1".to_owned()],
            forwarded_prefix: false,
            debug: false,
            server_software: concat!("wsgi-rs/", env!("CARGO_PKG_VERSION")).to_owned(),
            script_name: String::new(),
            log_level: "info".to_owned(),
            access_log_format: crate::access_log::DEFAULT_FORMAT.to_owned(),
            secret_key: None,
            app: None,
        }
    }
}

/// Why the configuration could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The command line or an environment variable is invalid; the message
    /// is clap's, naming the flag and the accepted values.
    Args(clap::Error),
    /// The `--config` file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The `--config` file is not valid TOML or has an unknown or mistyped
    /// setting.
    File {
        /// The file.
        path: PathBuf,
        /// The parser's error, with the line and column.
        source: toml::de::Error,
    },
    /// A setting has a value the server cannot use.
    Invalid {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// The `--config` file's `[app]` table does not fit the application's
    /// settings ([`AppSettings`]): an unknown key, a value that does not
    /// parse, or a program that declares no settings.
    AppFile {
        /// The file.
        path: PathBuf,
        /// Which key and what is wrong.
        message: String,
    },
}

impl ConfigError {
    /// A [`ConfigError::Invalid`]: `setting` has a value that cannot be
    /// used, and `message` says what is accepted. For
    /// [`AppSettings::validate`].
    ///
    /// ```
    /// let err = wsgi_core::ConfigError::invalid("page_size", "use 1 to 100");
    /// assert_eq!(err.to_string(), "invalid setting `page_size`: use 1 to 100");
    /// ```
    pub fn invalid(setting: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            setting,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Args(e) => write!(f, "invalid configuration: {e}"),
            ConfigError::Read { path, source } => write!(
                f,
                "cannot read the configuration file `{}`: {source} (check --config)",
                path.display()
            ),
            ConfigError::File { path, source } => write!(
                f,
                "invalid configuration file `{}`: {source} (keys are the setting names, durations in seconds)",
                path.display()
            ),
            ConfigError::Invalid { setting, message } => {
                write!(f, "invalid setting `{setting}`: {message}")
            }
            ConfigError::AppFile { path, message } => write!(
                f,
                "invalid [app] table in the configuration file `{}`: {message}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Args(e) => Some(e),
            ConfigError::Read { source, .. } => Some(source),
            ConfigError::File { source, .. } => Some(source),
            ConfigError::Invalid { .. } | ConfigError::AppFile { .. } => None,
        }
    }
}

fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("`{text}` is not a non-negative number of seconds"))
}

/// The command line; each flag overrides the setting of the same name.
#[derive(Debug, Parser)]
#[command(about = "An asynchronous WSGI server", long_about = None)]
struct Args {
    /// TOML file of settings (keys are setting names); overrides the code's
    /// values, and is overridden by environment variables and flags
    #[arg(long, env = "WSGI_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// Address to listen on, HOST:PORT, unix:PATH or fd://N; repeat for several
    /// [default: 127.0.0.1:8060]
    #[arg(long, env = "WSGI_BIND", value_name = "ADDRESS", value_delimiter = ',', action = ArgAction::Append)]
    bind: Vec<String>,
    /// Worker event loops; 0 = the caller's runtime [default: 1]
    #[arg(long, env = "WSGI_WORKERS")]
    workers: Option<usize>,
    /// Queue length of each listening socket [default: 2048]
    #[arg(long, env = "WSGI_BACKLOG")]
    backlog: Option<u32>,
    /// Most connections served at once per worker; 0 = no limit [default: 0]
    #[arg(long, env = "WSGI_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Requests after which a worker restarts with a fresh app; 0 = never [default: 0]
    #[arg(long, env = "WSGI_MAX_REQUESTS")]
    max_requests: Option<u64>,
    /// Idle keep-alive timeout in seconds; 0 disables keep-alive [default: 15]
    #[arg(long, env = "WSGI_HTTP_KEEP_ALIVE", value_name = "SECONDS", value_parser = seconds)]
    http_keep_alive: Option<Duration>,
    /// Seconds the app may take to answer and for each body item; 0 = no limit [default: 0]
    #[arg(long, env = "WSGI_RESPONSE_TIMEOUT", value_name = "SECONDS", value_parser = seconds)]
    response_timeout: Option<Duration>,
    /// Seconds allowed to send a complete request head or TLS handshake [default: 10]
    #[arg(long, env = "WSGI_HEADER_READ_TIMEOUT", value_name = "SECONDS", value_parser = seconds)]
    header_read_timeout: Option<Duration>,
    /// Largest request body in bytes [default: 16777216]
    #[arg(long, env = "WSGI_STREAM_BUFFER", value_name = "BYTES")]
    stream_buffer: Option<u64>,
    /// Largest request head in bytes [default: 65536]
    #[arg(long, env = "WSGI_MAX_HEADER_SIZE", value_name = "BYTES")]
    max_header_size: Option<usize>,
    /// Most request headers [default: 100]
    #[arg(long, env = "WSGI_MAX_HEADERS")]
    max_headers: Option<usize>,
    /// Seconds a graceful shutdown waits for in-flight requests [default: 30]
    #[arg(long, env = "WSGI_SHUTDOWN_TIMEOUT", value_name = "SECONDS", value_parser = seconds)]
    shutdown_timeout: Option<Duration>,
    /// Seconds a shutdown keeps serving while readiness reports 503, before
    /// it stops accepting [default: 0]
    #[arg(long, env = "WSGI_SHUTDOWN_DRAIN", value_name = "SECONDS", value_parser = seconds)]
    shutdown_drain: Option<Duration>,
    /// Largest WebSocket message in bytes [default: 16777216]
    #[arg(long, env = "WSGI_WEBSOCKET_MAX_MESSAGE", value_name = "BYTES")]
    websocket_max_message: Option<usize>,
    /// Seconds a WebSocket may stay silent (pinged at half); 0 = no limit [default: 60]
    #[arg(long, env = "WSGI_WEBSOCKET_IDLE_TIMEOUT", value_name = "SECONDS", value_parser = seconds)]
    websocket_idle_timeout: Option<Duration>,
    /// PEM certificate chain; with --keyfile, serve TLS [default: none]
    #[arg(long, env = "WSGI_CERTFILE", value_name = "PATH")]
    certfile: Option<PathBuf>,
    /// PEM private key for --certfile [default: none]
    #[arg(long, env = "WSGI_KEYFILE", value_name = "PATH")]
    keyfile: Option<PathBuf>,
    /// Expect a PROXY protocol v1/v2 header on every connection
    /// (--proxy-protocol or --proxy-protocol=false) [default: false]
    #[arg(long, env = "WSGI_PROXY_PROTOCOL", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    proxy_protocol: Option<bool>,
    /// Believe X-Forwarded-Prefix/X-Script-Name from trusted proxies as
    /// SCRIPT_NAME (--forwarded-prefix or --forwarded-prefix=false)
    /// [default: false]
    #[arg(long, env = "WSGI_FORWARDED_PREFIX", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    forwarded_prefix: Option<bool>,
    /// Peers whose X-Forwarded-*/Forwarded headers are believed: IPs,
    /// CIDR ranges or *, comma-separated [default: 127.0.0.1,::1]
    #[arg(long, env = "WSGI_FORWARDED_ALLOW_IPS", value_name = "IPS", value_delimiter = ',', action = ArgAction::Append)]
    forwarded_allow_ips: Vec<String>,
    /// Show error details in 500 responses (--debug or --debug=false) [default: false]
    #[arg(long, env = "WSGI_DEBUG", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    debug: Option<bool>,
    /// SERVER_SOFTWARE and the Server header [default: wsgi-rs/VERSION]
    #[arg(long, env = "WSGI_SERVER_SOFTWARE")]
    server_software: Option<String>,
    /// URL prefix the application is mounted at (SCRIPT_NAME) [default: ""]
    #[arg(long, env = "WSGI_SCRIPT_NAME")]
    script_name: Option<String>,
    /// Log filter when no tracing subscriber is installed [default: info]
    #[arg(long, env = "WSGI_LOG_LEVEL")]
    log_level: Option<String>,
    /// Access-log line template with {peer} {remote_addr} {method} {uri} {path} {query}
    /// {version} {status} {bytes} {duration_ms} {outcome} {user_agent}
    /// {referer} [default: {peer} "{method} {uri} {version}" {status} {bytes} {duration_ms}ms]
    #[arg(long, env = "WSGI_ACCESS_LOG_FORMAT", value_name = "TEMPLATE")]
    access_log_format: Option<String>,
    /// Secret for signed and private cookies, at least 32 bytes (generate
    /// one with `openssl rand -base64 48`) [default: none]
    // Parsed as text and checked afterwards, so that no error, and no
    // `--help` (hide_env_values), ever prints it.
    #[arg(
        long,
        env = "WSGI_SECRET_KEY",
        value_name = "SECRET",
        hide_env_values = true
    )]
    secret_key: Option<String>,
}

/// `bind` in a file: one address or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// The `--config` file: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    bind: Option<OneOrMany>,
    workers: Option<usize>,
    backlog: Option<u32>,
    max_connections: Option<usize>,
    max_requests: Option<u64>,
    http_keep_alive: Option<f64>,
    response_timeout: Option<f64>,
    header_read_timeout: Option<f64>,
    stream_buffer: Option<u64>,
    max_header_size: Option<usize>,
    max_headers: Option<usize>,
    shutdown_timeout: Option<f64>,
    shutdown_drain: Option<f64>,
    websocket_max_message: Option<usize>,
    websocket_idle_timeout: Option<f64>,
    certfile: Option<PathBuf>,
    keyfile: Option<PathBuf>,
    proxy_protocol: Option<bool>,
    forwarded_prefix: Option<bool>,
    forwarded_allow_ips: Option<OneOrMany>,
    debug: Option<bool>,
    server_software: Option<String>,
    script_name: Option<String>,
    log_level: Option<String>,
    access_log_format: Option<String>,
    secret_key: Option<String>,
    /// The application's settings ([`AppSettings`]).
    app: Option<toml::Table>,
}

fn file_seconds(setting: &'static str, value: f64) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(value).map_err(|_| ConfigError::Invalid {
        setting,
        message: format!("`{value}` is not a non-negative number of seconds"),
    })
}

impl Config {
    /// Every setting's name, as [`get`](Self::get), the file's keys, the
    /// flags (`_` → `-`) and the environment variables (`WSGI_` + upper
    /// case) spell them.
    pub const SETTINGS: &'static [&'static str] = &[
        "bind",
        "workers",
        "backlog",
        "max_connections",
        "max_requests",
        "http_keep_alive",
        "response_timeout",
        "header_read_timeout",
        "stream_buffer",
        "max_header_size",
        "max_headers",
        "shutdown_timeout",
        "shutdown_drain",
        "websocket_max_message",
        "websocket_idle_timeout",
        "certfile",
        "keyfile",
        "proxy_protocol",
        "forwarded_allow_ips",
        "forwarded_prefix",
        "debug",
        "server_software",
        "script_name",
        "log_level",
        "access_log_format",
        "secret_key",
    ];

    /// The defaults, overridden by the `--config` file, `WSGI_*`
    /// environment variables and the process's command line. See
    /// [`update_from_args`](Self::update_from_args).
    pub fn from_args() -> Self {
        Config::default().update_from_args()
    }

    /// This configuration (the code's values), overridden by the
    /// `--config` file, `WSGI_*` environment variables and the process's
    /// command line, in that order. Prints the error and exits with status 2
    /// on invalid input (and prints help for `--help`), as command-line
    /// tools do.
    pub fn update_from_args(self) -> Self {
        exit_on_error(self.try_update_from_args(std::env::args_os()))
    }

    /// Like [`from_args`](Self::from_args) with an explicit argument list
    /// (the first item is the program name), returning errors instead of
    /// exiting.
    pub fn try_from_args<I, T>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Config::default().try_update_from_args(args)
    }

    /// Applies the `--config` file, environment variables and `args` on top
    /// of this configuration, then [validates](Self::validate) the result.
    ///
    /// ```
    /// use wsgi_core::Config;
    ///
    /// let mut code = Config::default();
    /// code.workers = 4;
    /// let config = code.try_update_from_args(["app", "--max-requests", "1000"]).unwrap();
    /// assert_eq!((config.workers, config.max_requests), (4, 1000));
    /// assert!(Config::try_from_args(["app", "--bind", "no-port"]).is_err());
    /// ```
    pub fn try_update_from_args<I, T>(self, args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        self.parse_args(args.into_iter().map(Into::into).collect(), None)
    }

    /// The command line (with the application's arguments when `app` is
    /// given) and the `--config` file over this configuration, validated.
    fn parse_args(self, args: Vec<OsString>, app: Option<AppParser>) -> Result<Self, ConfigError> {
        let mut command = Args::command();
        let mut file = None;
        if let Some(app) = app {
            command = app.augment(command);
            // The file's [app] values become the defaults of the
            // application's arguments, so the file is read before the parse.
            if let Some(path) = app_settings::config_path(&command, &args) {
                let mut settings = read_file(&path)?;
                if let Some(table) = settings.app.take() {
                    command = app.apply_file(command, &path, table)?;
                }
                file = Some(settings);
            }
        }
        let matches = command
            .try_get_matches_from(args)
            .map_err(ConfigError::Args)?;
        let mut parsed = Args::from_arg_matches(&matches).map_err(ConfigError::Args)?;
        let mut config = self;
        if let Some(path) = parsed.config.take() {
            let settings = match file {
                Some(settings) => settings,
                None => read_file(&path)?,
            };
            if settings.app.is_some() {
                return Err(app_settings::undeclared(&path));
            }
            config = config.merge_file(settings)?;
        }
        if let Some(app) = app {
            config.app = Some(app.read(&matches)?);
        }
        let config = config.merge_args(parsed)?;
        config.validate()?;
        Ok(config)
    }

    /// Applies the settings in the TOML file at `path` (keys are the setting
    /// names; durations in seconds) on top of this configuration.
    ///
    /// ```
    /// use wsgi_core::Config;
    ///
    /// let path = std::env::temp_dir().join(format!("wsgi-doc-{}.toml", std::process::id()));
    /// std::fs::write(&path, "workers = 3\nbind = [\"127.0.0.1:0\", \"127.0.0.1:0\"]\n").unwrap();
    /// let config = Config::default().try_update_from_file(&path).unwrap();
    /// assert_eq!(config.workers, 3);
    /// assert_eq!(config.bind.len(), 2);
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    ///
    /// An `[app]` table is refused here: the application's settings are
    /// read with [`try_update_from_args_with`](Self::try_update_from_args_with).
    pub fn try_update_from_file(self, path: &Path) -> Result<Self, ConfigError> {
        let file = read_file(path)?;
        if file.app.is_some() {
            return Err(app_settings::undeclared(path));
        }
        self.merge_file(file)
    }

    fn merge_file(mut self, file: FileSettings) -> Result<Self, ConfigError> {
        macro_rules! take {
            ($($field:ident),*) => {$(
                if let Some(value) = file.$field { self.$field = value; }
            )*};
        }
        take!(
            workers,
            backlog,
            max_connections,
            max_requests,
            stream_buffer,
            max_header_size,
            max_headers,
            websocket_max_message,
            debug,
            proxy_protocol,
            forwarded_prefix,
            server_software,
            script_name,
            log_level,
            access_log_format
        );
        macro_rules! take_seconds {
            ($($field:ident),*) => {$(
                if let Some(value) = file.$field {
                    self.$field = file_seconds(stringify!($field), value)?;
                }
            )*};
        }
        take_seconds!(
            http_keep_alive,
            response_timeout,
            header_read_timeout,
            shutdown_timeout,
            shutdown_drain,
            websocket_idle_timeout
        );
        match file.forwarded_allow_ips {
            Some(OneOrMany::One(ips)) => {
                self.forwarded_allow_ips = ips.split(',').map(str::to_owned).collect();
            }
            Some(OneOrMany::Many(ips)) => self.forwarded_allow_ips = ips,
            None => {}
        }
        match file.bind {
            Some(OneOrMany::One(bind)) => self.bind = vec![bind],
            Some(OneOrMany::Many(binds)) => self.bind = binds,
            None => {}
        }
        if file.certfile.is_some() {
            self.certfile = file.certfile;
        }
        if file.keyfile.is_some() {
            self.keyfile = file.keyfile;
        }
        if let Some(secret) = file.secret_key {
            self.secret_key = Some(SecretKey::new(secret)?);
        }
        Ok(self)
    }

    fn merge_args(mut self, args: Args) -> Result<Self, ConfigError> {
        macro_rules! take {
            ($($field:ident),*) => {$(
                if let Some(value) = args.$field { self.$field = value; }
            )*};
        }
        take!(
            workers,
            backlog,
            max_connections,
            max_requests,
            http_keep_alive,
            response_timeout,
            header_read_timeout,
            stream_buffer,
            max_header_size,
            max_headers,
            shutdown_timeout,
            shutdown_drain,
            websocket_max_message,
            websocket_idle_timeout,
            debug,
            proxy_protocol,
            forwarded_prefix,
            server_software,
            script_name,
            log_level,
            access_log_format
        );
        if !args.bind.is_empty() {
            self.bind = args.bind;
        }
        if !args.forwarded_allow_ips.is_empty() {
            self.forwarded_allow_ips = args.forwarded_allow_ips;
        }
        if args.certfile.is_some() {
            self.certfile = args.certfile;
        }
        if args.keyfile.is_some() {
            self.keyfile = args.keyfile;
        }
        if let Some(secret) = args.secret_key {
            self.secret_key = Some(SecretKey::new(secret)?);
        }
        Ok(self)
    }

    /// Checks the values the server cannot use: an empty or malformed
    /// `bind`, `certfile` without `keyfile` (or the reverse), a bad
    /// `forwarded_allow_ips` entry, a bad `access_log_format`, `log_level`
    /// or `server_software`. The server
    /// checks this before binding.
    ///
    /// ```
    /// use wsgi_core::{Config, ConfigError};
    ///
    /// let mut config = Config::default();
    /// config.certfile = Some("cert.pem".into());
    /// let err = config.validate().unwrap_err();
    /// assert!(matches!(err, ConfigError::Invalid { setting: "keyfile", .. }));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid =
            |setting: &'static str, message: String| Err(ConfigError::Invalid { setting, message });
        if self.bind.is_empty() {
            return invalid(
                "bind",
                "no address given; use HOST:PORT or unix:PATH".into(),
            );
        }
        for bind in &self.bind {
            if let Some(fd) = bind.strip_prefix("fd://") {
                if !fd.parse::<u32>().is_ok_and(|fd| fd >= 3) {
                    return invalid(
                        "bind",
                        format!("`{bind}`: use fd://N with N an inherited socket's descriptor (3 or more)"),
                    );
                }
            } else if let Some(path) = bind.strip_prefix("unix:") {
                if path.is_empty() {
                    return invalid("bind", format!("`{bind}` has no path; use unix:PATH"));
                }
                if cfg!(not(unix)) {
                    return invalid("bind", format!("`{bind}`: Unix sockets need a Unix system"));
                }
            } else {
                let port = bind
                    .rsplit_once(':')
                    .map(|(host, port)| (host, port.parse::<u16>()));
                if !matches!(port, Some((host, Ok(_))) if !host.is_empty()) {
                    return invalid(
                        "bind",
                        format!("`{bind}` is not HOST:PORT (port 0-65535) or unix:PATH"),
                    );
                }
            }
        }
        match (&self.certfile, &self.keyfile) {
            (Some(_), None) => {
                return invalid(
                    "keyfile",
                    "certfile is set: give the private key too".into(),
                )
            }
            (None, Some(_)) => {
                return invalid(
                    "certfile",
                    "keyfile is set: give the certificate too".into(),
                )
            }
            _ => {}
        }
        if let Err(message) = TrustedProxies::parse(&self.forwarded_allow_ips) {
            return invalid("forwarded_allow_ips", message);
        }
        if let Err(message) = AccessLogFormat::parse(&self.access_log_format) {
            return invalid("access_log_format", message);
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            return invalid(
                "log_level",
                format!(
                    "`{}`: {e} (use info, debug, wsgi=trace, ...)",
                    self.log_level
                ),
            );
        }
        if http::HeaderValue::from_str(&self.server_software).is_err() {
            return invalid(
                "server_software",
                "must be a valid header value (no line breaks or control characters)".into(),
            );
        }
        if let Some(app) = &self.app {
            app.validate()?;
        }
        Ok(())
    }

    /// Reads a setting by name (any of [`SETTINGS`](Self::SETTINGS)), as
    /// pulsar's `cfg.get(name)`. Durations are given in seconds, several
    /// `bind` addresses joined with `,`, an unset file as `""`, a set
    /// `secret_key` as `"<redacted>"`; `None` for an unknown name, and for
    /// the application's own settings (read those typed, with
    /// [`app`](Self::app)).
    pub fn get(&self, name: &str) -> Option<String> {
        let secs = |d: Duration| d.as_secs_f64().to_string();
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        Some(match name {
            "bind" => self.bind.join(","),
            "workers" => self.workers.to_string(),
            "backlog" => self.backlog.to_string(),
            "max_connections" => self.max_connections.to_string(),
            "max_requests" => self.max_requests.to_string(),
            "http_keep_alive" => secs(self.http_keep_alive),
            "response_timeout" => secs(self.response_timeout),
            "header_read_timeout" => secs(self.header_read_timeout),
            "stream_buffer" => self.stream_buffer.to_string(),
            "max_header_size" => self.max_header_size.to_string(),
            "max_headers" => self.max_headers.to_string(),
            "shutdown_timeout" => secs(self.shutdown_timeout),
            "shutdown_drain" => secs(self.shutdown_drain),
            "websocket_max_message" => self.websocket_max_message.to_string(),
            "websocket_idle_timeout" => secs(self.websocket_idle_timeout),
            "certfile" => path(&self.certfile),
            "keyfile" => path(&self.keyfile),
            "proxy_protocol" => self.proxy_protocol.to_string(),
            "forwarded_allow_ips" => self.forwarded_allow_ips.join(","),
            "forwarded_prefix" => self.forwarded_prefix.to_string(),
            "debug" => self.debug.to_string(),
            "server_software" => self.server_software.clone(),
            "script_name" => self.script_name.clone(),
            "log_level" => self.log_level.clone(),
            "access_log_format" => self.access_log_format.clone(),
            "secret_key" => match self.secret_key {
                Some(_) => "<redacted>".to_owned(),
                None => String::new(),
            },
            _ => return None,
        })
    }

    /// The `--help` text: every setting's flag, environment variable and
    /// default.
    ///
    /// ```
    /// let help = wsgi_core::Config::help();
    /// assert!(help.contains("--max-requests") && help.contains("WSGI_MAX_REQUESTS"));
    /// ```
    pub fn help() -> String {
        Args::command().render_help().to_string()
    }

    /// The key signed and private cookies are made with, derived from the
    /// [`secret_key`](Self::secret_key) setting; `None` when it is not set.
    ///
    /// ```
    /// let config = wsgi_core::Config::builder()
    ///     .secret_key("use `openssl rand -base64 48` for a real one")
    ///     .build()
    ///     .unwrap();
    /// let mut jar = wsgi_core::cookie::CookieJar::new();
    /// jar.signed_mut(config.cookie_key().unwrap()).add(("user", "ada"));
    /// assert!(wsgi_core::Config::default().cookie_key().is_none());
    /// ```
    pub fn cookie_key(&self) -> Option<&cookie::Key> {
        self.secret_key.as_ref().map(SecretKey::cookie_key)
    }
}

/// Reads and parses the TOML file at `path`.
fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::File {
        path: path.to_owned(),
        source,
    })
}

/// The configuration, or its error printed and the process ended with
/// status 2 (help and version are printed with status 0), as command-line
/// tools do.
fn exit_on_error(result: Result<Config, ConfigError>) -> Config {
    match result {
        Ok(config) => config,
        Err(ConfigError::Args(e)) => e.exit(),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_code_settings() {
        let base = Config {
            workers: 4,
            ..Config::default()
        };
        let config = base
            .try_update_from_args(["app", "--http-keep-alive", "2.5", "--debug"])
            .unwrap();
        assert_eq!(config.workers, 4);
        assert_eq!(config.http_keep_alive, Duration::from_millis(2500));
        assert!(config.debug);
        assert_eq!(config.get("http_keep_alive").as_deref(), Some("2.5"));
        let config = config
            .try_update_from_args(["app", "--debug=false"])
            .unwrap();
        assert!(!config.debug);
    }

    #[test]
    fn invalid_values_are_reported() {
        let err = Config::try_from_args(["app", "--workers", "many"]).unwrap_err();
        assert!(err.to_string().contains("--workers"), "{err}");
        let err = Config::try_from_args(["app", "--http-keep-alive=-1"]).unwrap_err();
        assert!(err.to_string().contains("seconds"), "{err}");
        for (flags, setting) in [
            (&["--bind", "localhost"][..], "`bind`"),
            (&["--bind", "h:99999"], "`bind`"),
            (&["--bind", "unix:"], "`bind`"),
            (&["--certfile", "c.pem"], "`keyfile`"),
            (&["--access-log-format", "{nope}"], "`access_log_format`"),
            (&["--log-level", "info,,=="], "`log_level`"),
            (
                &["--forwarded-allow-ips", "10.0.0.0/8,proxy.local"],
                "`forwarded_allow_ips`",
            ),
        ] {
            let args = std::iter::once("app").chain(flags.iter().copied());
            let err = Config::try_from_args(args).unwrap_err();
            assert!(err.to_string().contains(setting), "{flags:?}: {err}");
        }
    }

    #[test]
    fn bind_is_repeatable() {
        let config =
            Config::try_from_args(["app", "--bind", "127.0.0.1:0", "--bind", "unix:/tmp/x.sock"])
                .unwrap();
        assert_eq!(config.bind, ["127.0.0.1:0", "unix:/tmp/x.sock"]);
        assert_eq!(
            config.get("bind").as_deref(),
            Some("127.0.0.1:0,unix:/tmp/x.sock")
        );
    }

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("wsgi-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn file_overrides_code_and_flags_override_file() {
        let path = temp_file(
            "precedence",
            "workers = 3\nbacklog = 10\nhttp_keep_alive = 2\nbind = \"127.0.0.1:9\"\n",
        );
        let code = Config {
            workers: 7,
            max_requests: 5,
            ..Config::default()
        };
        let file = path.to_str().unwrap();
        let config = code
            .try_update_from_args(["app", "--config", file, "--backlog", "20"])
            .unwrap();
        assert_eq!(config.max_requests, 5, "code value kept");
        assert_eq!(config.workers, 3, "file beats code");
        assert_eq!(config.backlog, 20, "flag beats file");
        assert_eq!(config.http_keep_alive, Duration::from_secs(2));
        assert_eq!(config.bind, ["127.0.0.1:9"]);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn bad_files_are_reported_with_the_setting() {
        let path = temp_file("unknown", "wrokers = 3\n");
        let err = Config::default().try_update_from_file(&path).unwrap_err();
        assert!(err.to_string().contains("wrokers"), "{err}");
        std::fs::write(&path, "workers = \"three\"\n").unwrap();
        let err = Config::default().try_update_from_file(&path).unwrap_err();
        assert!(err.to_string().contains("workers"), "{err}");
        std::fs::write(&path, "shutdown_timeout = -1\n").unwrap();
        let err = Config::default().try_update_from_file(&path).unwrap_err();
        assert!(err.to_string().contains("shutdown_timeout"), "{err}");
        std::fs::remove_file(&path).unwrap();
        let err = Config::default().try_update_from_file(&path).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    }

    #[test]
    fn secret_key_comes_from_flag_variable_or_file_and_is_never_shown() {
        let secret = "flag-secret-flag-secret-flag-secret";
        let config = Config::try_from_args(["app", "--secret-key", secret]).unwrap();
        assert_eq!(config.secret_key, Some(SecretKey::new(secret).unwrap()));
        assert!(config.cookie_key().is_some());
        assert_eq!(config.get("secret_key").as_deref(), Some("<redacted>"));
        assert!(!format!("{config:?}").contains(secret), "{config:?}");
        assert_eq!(Config::default().get("secret_key").as_deref(), Some(""));

        let err = Config::try_from_args(["app", "--secret-key", "tiny-secret"]).unwrap_err();
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
        assert!(!err.to_string().contains("tiny-secret"), "{err}");

        let path = temp_file(
            "secret",
            "secret_key = \"file-secret-file-secret-file-secret\"\n",
        );
        let file = path.to_str().unwrap();
        let config = Config::try_from_args(["app", "--config", file]).unwrap();
        let from_file = SecretKey::new("file-secret-file-secret-file-secret").unwrap();
        assert_eq!(config.secret_key.as_ref(), Some(&from_file));
        std::fs::write(&path, "secret_key = \"short\"\n").unwrap();
        let err = Config::try_from_args(["app", "--config", file]).unwrap_err();
        assert!(err.to_string().contains("openssl rand"), "{err}");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn every_setting_has_a_flag_a_variable_a_default_and_a_name() {
        let help = Config::help();
        let config = Config::default();
        for name in Config::SETTINGS {
            let flag = format!("--{}", name.replace('_', "-"));
            let var = format!("WSGI_{}", name.to_ascii_uppercase());
            let line = help
                .split("\n  -")
                .find(|entry| entry.starts_with(&flag[1..]) || entry.contains(&format!(" {flag}")))
                .unwrap_or_else(|| panic!("{flag} missing from --help:\n{help}"));
            assert!(line.contains(&var), "{var} missing for {flag}: {line}");
            assert!(line.contains("[default:"), "no default for {flag}: {line}");
            assert!(config.get(name).is_some(), "get({name:?})");
        }
        assert_eq!(config.get("nope"), None);
    }
}
