//! The command's Python settings as wsgi-core application settings: the
//! same keys as flags, `WSGI_*` environment variables and the `[app]`
//! table of the `--config` TOML file, where the server's settings are.
//!
//! ```toml
//! bind = ["0.0.0.0:8000"]
//! workers = 2
//!
//! [app]
//! app = "mysite.wsgi:application"
//! threads = 16
//! inline = false
//! pythonpath = ["src"]
//! ```
//!
//! A flag wins over the environment, which wins over the file.

use wsgi_core::clap;
use wsgi_core::config::{AppSettings, ConfigError};

/// `wsgi-rs`'s own settings (see the [module](self)); read with
/// `Config::try_update_from_args_with::<PythonSettings>`.
///
/// ```
/// use wsgi_core::Config;
/// use wsgi_python::settings::PythonSettings;
///
/// let config =
///     Config::try_from_args_with::<PythonSettings>(["wsgi-rs", "--app", "app:app", "--threads", "4"])
///         .unwrap();
/// let settings = config.app::<PythonSettings>().unwrap();
/// assert_eq!(settings.app.as_deref(), Some("app:app"));
/// assert_eq!(settings.threads, Some(4));
/// ```
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
#[command(about = None, long_about = None, next_help_heading = "Python options")]
pub struct PythonSettings {
    /// The application, MODULE:CALLABLE (e.g. app:app or mysite.wsgi:application); also the first positional argument
    #[arg(long = "app", env = "WSGI_APP", value_name = "MODULE:CALLABLE")]
    pub app: Option<String>,
    /// Python calls running at once per process, threads mode [default: 8]
    #[arg(long, env = "WSGI_THREADS", value_name = "N")]
    pub threads: Option<usize>,
    /// Run the app on the worker's asyncio loop, pulsar-style [default: when the app is a coroutine function]
    #[arg(long, env = "WSGI_ASYNCIO", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true", require_equals = true,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub asyncio: Option<bool>,
    /// Let fast synchronous calls run on the event loop's thread, without a hop to the thread pool [default: true]
    #[arg(long, env = "WSGI_INLINE", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true", require_equals = true,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub inline: Option<bool>,
    /// Directories to put first on sys.path (repeatable; `:`-separated in the environment)
    #[arg(
        long,
        env = "WSGI_PYTHONPATH",
        value_name = "DIR",
        value_delimiter = ':'
    )]
    pub pythonpath: Vec<String>,
}

impl AppSettings for PythonSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.threads == Some(0) {
            return Err(ConfigError::invalid("threads", "use 1 or more"));
        }
        Ok(())
    }
}
