//! `pulsar.cfg`: the server's configuration.
//!
//! One [`Config`] is shared by the server and every request (handlers read it
//! as `environ.config()`, pulsar's `environ['pulsar.cfg']`). It is set from
//! code, then overridden by environment variables (`WSGI_<SETTING>`), then by
//! command-line flags named after the settings (`--http-keep-alive 30`):
//! later sources win.
//!
//! ```
//! use wsgi_core::Config;
//!
//! let config = Config::try_from_args(["app", "--bind", "127.0.0.1:0", "--workers", "2"]).unwrap();
//! assert_eq!(config.bind, "127.0.0.1:0");
//! assert_eq!(config.workers, 2);
//! assert_eq!(config.get("workers").as_deref(), Some("2"));
//! ```

use std::time::Duration;

use clap::Parser;

/// The server's settings. Every field is public and documented with its
/// default; [`Config::get`] reads one by its setting name.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// Address to listen on, `HOST:PORT` (port 0 picks a free port).
    /// Default `127.0.0.1:8060`, like pulsar.
    pub bind: String,
    /// Worker event loops, each with its own clone of the application.
    /// `0` runs on the caller's tokio runtime. Default 1.
    pub workers: usize,
    /// How long an idle keep-alive connection waits for its next request.
    /// Default 15 s. Zero disables keep-alive.
    pub http_keep_alive: Duration,
    /// How long a client may take to send a complete request head
    /// (slowloris protection). Default 10 s.
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
    /// Show error details (the error chain) in 500 responses. Default off.
    pub debug: bool,
    /// `SERVER_SOFTWARE` and the `Server` header. Default `wsgi-rs/<version>`.
    pub server_software: String,
    /// `SCRIPT_NAME`: the URL prefix the application is mounted at; it is
    /// removed from `PATH_INFO`. Default empty.
    pub script_name: String,
    /// Log filter used by [`Server::run`](crate::server::Server::run) when no
    /// `tracing` subscriber is installed (`info`, `debug`, `wsgi=trace`, ...).
    /// Default `info`.
    pub log_level: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8060".to_owned(),
            workers: 1,
            http_keep_alive: Duration::from_secs(15),
            header_read_timeout: Duration::from_secs(10),
            stream_buffer: 16 * 1024 * 1024,
            max_header_size: 64 * 1024,
            max_headers: 100,
            shutdown_timeout: Duration::from_secs(30),
            debug: false,
            server_software: concat!("wsgi-rs/", env!("CARGO_PKG_VERSION")).to_owned(),
            script_name: String::new(),
            log_level: "info".to_owned(),
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
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Args(e) => write!(f, "invalid configuration: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Args(e) => Some(e),
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
    /// Address to listen on, HOST:PORT [default: 127.0.0.1:8060]
    #[arg(long, env = "WSGI_BIND", value_name = "HOST:PORT")]
    bind: Option<String>,
    /// Worker event loops; 0 = the caller's runtime [default: 1]
    #[arg(long, env = "WSGI_WORKERS")]
    workers: Option<usize>,
    /// Idle keep-alive timeout in seconds; 0 disables keep-alive [default: 15]
    #[arg(long, env = "WSGI_HTTP_KEEP_ALIVE", value_name = "SECONDS", value_parser = seconds)]
    http_keep_alive: Option<Duration>,
    /// Seconds allowed to send a complete request head [default: 10]
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
    /// Show error details in 500 responses
    #[arg(long, env = "WSGI_DEBUG")]
    debug: bool,
    /// SERVER_SOFTWARE and the Server header [default: wsgi-rs/VERSION]
    #[arg(long, env = "WSGI_SERVER_SOFTWARE")]
    server_software: Option<String>,
    /// URL prefix the application is mounted at (SCRIPT_NAME) [default: ""]
    #[arg(long, env = "WSGI_SCRIPT_NAME")]
    script_name: Option<String>,
    /// Log filter when no tracing subscriber is installed [default: info]
    #[arg(long, env = "WSGI_LOG_LEVEL")]
    log_level: Option<String>,
}

impl Config {
    /// The defaults, overridden by `WSGI_*` environment variables and the
    /// process's command line. Prints the error and exits with status 2 on
    /// invalid input (and prints help for `--help`), as command-line tools do.
    pub fn from_args() -> Self {
        Config::default().merge_args(Args::parse())
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

    /// Applies environment variables and `args` on top of this configuration.
    pub fn try_update_from_args<I, T>(self, args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let args = Args::try_parse_from(args).map_err(ConfigError::Args)?;
        Ok(self.merge_args(args))
    }

    fn merge_args(mut self, args: Args) -> Self {
        macro_rules! take {
            ($($field:ident),*) => {$(
                if let Some(value) = args.$field { self.$field = value; }
            )*};
        }
        take!(
            bind,
            workers,
            http_keep_alive,
            header_read_timeout,
            stream_buffer,
            max_header_size,
            max_headers,
            shutdown_timeout,
            server_software,
            script_name,
            log_level
        );
        self.debug |= args.debug;
        self
    }

    /// Reads a setting by name (`"bind"`, `"http_keep_alive"`, ...), as
    /// pulsar's `cfg.get(name)`. Durations are given in seconds.
    pub fn get(&self, name: &str) -> Option<String> {
        let secs = |d: Duration| d.as_secs_f64().to_string();
        Some(match name {
            "bind" => self.bind.clone(),
            "workers" => self.workers.to_string(),
            "http_keep_alive" => secs(self.http_keep_alive),
            "header_read_timeout" => secs(self.header_read_timeout),
            "stream_buffer" => self.stream_buffer.to_string(),
            "max_header_size" => self.max_header_size.to_string(),
            "max_headers" => self.max_headers.to_string(),
            "shutdown_timeout" => secs(self.shutdown_timeout),
            "debug" => self.debug.to_string(),
            "server_software" => self.server_software.clone(),
            "script_name" => self.script_name.clone(),
            "log_level" => self.log_level.clone(),
            _ => return None,
        })
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
    }

    #[test]
    fn invalid_values_are_reported() {
        let err = Config::try_from_args(["app", "--workers", "many"]).unwrap_err();
        assert!(err.to_string().contains("--workers"), "{err}");
        let err = Config::try_from_args(["app", "--http-keep-alive=-1"]).unwrap_err();
        assert!(err.to_string().contains("seconds"), "{err}");
    }
}
