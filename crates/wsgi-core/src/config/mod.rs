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
//! `--help` lists every setting with its default. Each value is parsed
//! once, where it is given, into its type ([`BindAddr`], [`TlsFiles`],
//! [`TrustedProxies`], [`AccessLogFormat`], [`LogLevel`],
//! [`ServerSoftware`], durations, numbers): an invalid value in any source
//! is a [`ConfigError`] naming the setting, where it came from and what is
//! accepted, never a silent default; [`Config::from_args`] prints it and
//! exits with status 2 before anything is bound.
//!
//! Reading the command line, the environment and files needs the `server`
//! feature (on by default); without it a `Config` is made in code, with
//! [`Config::builder`].
//!
//! ```
//! use wsgi_core::Config;
//!
//! let config = Config::try_from_args(["app", "--bind", "127.0.0.1:0", "--workers", "2"]).unwrap();
//! assert_eq!(config.bind, ["127.0.0.1:0".parse().unwrap()]);
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
//! use wsgi_core::{clap, Config};
//! use wsgi_core::config::ConfigError;
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

use std::path::PathBuf;
use std::time::Duration;

use crate::access_log::AccessLogFormat;
use crate::forwarded::TrustedProxies;

#[macro_use]
mod declare;
#[cfg(feature = "server")]
mod app_parser;
#[cfg(feature = "server")]
mod app_settings;
mod builder;
mod error;
mod secret_key;
pub(crate) mod settings;
#[cfg(feature = "server")]
mod sources;
mod values;

#[cfg(feature = "server")]
pub use app_settings::AppSettings;
#[cfg(feature = "server")]
use app_settings::StoredSettings;
pub use builder::ConfigBuilder;
pub use error::ConfigError;
pub use secret_key::SecretKey;
pub use values::{BindAddr, LogLevel, ServerSoftware, TlsFiles};
use values::{FlagKind, SettingValue};

// `Config` is public at the crate root only; the settings module declares it.
pub(crate) use settings::*;

/// Settings that were renamed, `(old, new)`: a configuration file that
/// still uses an old name is refused with the new one in the message.
#[cfg(feature = "server")]
const RENAMED: &[(&str, &str)] = &[("stream_buffer", "max_request_body")];

impl Config {
    /// Checks what no single value can: at least one `bind` address, and
    /// the application's own settings ([`AppSettings::validate`]). Every
    /// value was checked when it was parsed; the server checks this before
    /// binding.
    ///
    /// ```
    /// use wsgi_core::Config;
    /// use wsgi_core::config::ConfigError;
    ///
    /// let mut config = Config::default();
    /// config.bind.clear();
    /// let err = config.validate().unwrap_err();
    /// assert!(matches!(err, ConfigError::Invalid { setting: "bind", .. }));
    /// ```
    ///
    /// [`AppSettings::validate`]: crate::config::AppSettings::validate
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.bind.is_empty() {
            return Err(ConfigError::invalid(
                "bind",
                "no address given; use HOST:PORT, unix:PATH or fd://N",
            ));
        }
        #[cfg(feature = "server")]
        if let Some(app) = &self.app {
            app.validate()?;
        }
        Ok(())
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
    #[cfg(feature = "cookies")]
    pub fn cookie_key(&self) -> Option<&cookie::Key> {
        self.secret_key.as_ref().map(SecretKey::cookie_key)
    }
}
