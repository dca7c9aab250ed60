//! [`ConfigError`]: why a configuration was refused, naming the setting
//! and what to fix.

#[cfg(feature = "server")]
use std::path::PathBuf;

/// Why the configuration could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The command line or an environment variable is invalid; the message
    /// is clap's, naming the flag and the accepted values.
    #[cfg(feature = "server")]
    Args(clap::Error),
    /// The `--config` file could not be read.
    #[cfg(feature = "server")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The `--config` file is not valid TOML or has an unknown or mistyped
    /// setting.
    #[cfg(feature = "server")]
    File {
        /// The file.
        path: PathBuf,
        /// The parser's error, with the line and column.
        source: toml::de::Error,
    },
    /// The `--config` file has a key that is not a setting's name.
    #[cfg(feature = "server")]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// A setting has a value the server cannot use.
    Invalid {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// The `--config` file's `[app]` table does not fit the application's
    /// settings ([`AppSettings`](super::AppSettings)): an unknown key, a value that does not
    /// parse, or a program that declares no settings.
    #[cfg(feature = "server")]
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
    /// [`AppSettings::validate`](super::AppSettings::validate).
    ///
    /// ```
    /// let err = wsgi_core::config::ConfigError::invalid("page_size", "use 1 to 100");
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
            #[cfg(feature = "server")]
            ConfigError::Args(e) => write!(f, "invalid configuration: {e}"),
            #[cfg(feature = "server")]
            ConfigError::Read { path, source } => write!(
                f,
                "cannot read the configuration file `{}`: {source} (check --config)",
                path.display()
            ),
            #[cfg(feature = "server")]
            ConfigError::File { path, source } => write!(
                f,
                "invalid configuration file `{}`: {source} (keys are the setting names, durations in seconds)",
                path.display()
            ),
            #[cfg(feature = "server")]
            ConfigError::UnknownKey { path, key } => match super::RENAMED
                .iter()
                .find(|(old, _)| old == key)
            {
                Some((_, new)) => write!(
                    f,
                    "invalid configuration file `{}`: the setting `{key}` is now called `{new}`",
                    path.display()
                ),
                None => write!(
                    f,
                    "invalid configuration file `{}`: unknown setting `{key}`; the settings are {}",
                    path.display(),
                    super::Config::SETTINGS.join(", ")
                ),
            },
            ConfigError::Invalid { setting, message } => {
                write!(f, "invalid setting `{setting}`: {message}")
            }
            #[cfg(feature = "server")]
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
            #[cfg(feature = "server")]
            ConfigError::Args(e) => Some(e),
            #[cfg(feature = "server")]
            ConfigError::Read { source, .. } => Some(source),
            #[cfg(feature = "server")]
            ConfigError::File { source, .. } => Some(source),
            #[cfg(feature = "server")]
            ConfigError::AppFile { .. } | ConfigError::UnknownKey { .. } => None,
            ConfigError::Invalid { .. } => None,
        }
    }
}
