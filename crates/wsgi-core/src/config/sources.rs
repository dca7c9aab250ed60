//! Where settings come from besides the code: the `--config` TOML file,
//! the `WSGI_*` environment variables and the command line, all built
//! from the one declaration of the settings (`DECLARED`), and merged in
//! that order over the code's `Config`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

use super::app_parser::{self, AppParser};
use super::{Config, ConfigError, FlagKind, Overrides, DECLARED};

/// The command line of every setting, plus `--config`. Each setting's
/// flag is `--` and its name with `-`, its variable `WSGI_` and its name in
/// upper case; its help ends with the default, read from
/// [`Config::default`].
pub(crate) fn command() -> Command {
    let defaults = Config::default();
    let config = Arg::new("config")
        .long("config")
        .env("WSGI_CONFIG")
        .value_name("PATH")
        .value_parser(clap::value_parser!(PathBuf))
        .help("TOML file of settings (keys are setting names); overrides the code's values, and is overridden by environment variables and flags");
    let mut command = Command::new(env!("CARGO_PKG_NAME"))
        .about("An asynchronous WSGI server")
        .arg(config);
    for setting in DECLARED {
        let default = match defaults.get(setting.name) {
            Some(value) if !value.is_empty() => value,
            _ => "none".to_owned(),
        };
        let mut arg = Arg::new(setting.name)
            .long(setting.name.replace('_', "-"))
            .env(format!("WSGI_{}", setting.name.to_ascii_uppercase()))
            .value_name(setting.value_name)
            .help(format!("{} [default: {default}]", setting.help))
            // Values are parsed by the setting's type (so that every source
            // gives the same errors), and secrets are never shown.
            .hide_env_values(setting.secret);
        arg = match setting.kind {
            FlagKind::Value => arg.action(ArgAction::Set),
            FlagKind::Switch => arg
                .action(ArgAction::Set)
                .num_args(0..=1)
                .default_missing_value("true"),
            FlagKind::List => arg.action(ArgAction::Append).value_delimiter(','),
        };
        command = command.arg(arg);
    }
    command
}

/// The settings the command line and the environment gave, parsed.
fn read_matches(matches: &ArgMatches) -> Result<Overrides, ConfigError> {
    let mut overrides = Overrides::default();
    for setting in DECLARED {
        let Some(values) = matches.get_many::<String>(setting.name) else {
            continue;
        };
        let text = values.map(String::as_str).collect::<Vec<_>>().join(",");
        let flag = format!("--{}", setting.name.replace('_', "-"));
        let origin = match matches.value_source(setting.name) {
            Some(ValueSource::EnvVariable) => format!(
                "WSGI_{}, the variable of {flag}",
                setting.name.to_ascii_uppercase()
            ),
            _ => flag,
        };
        if let Some(Err(message)) = overrides.set(setting.name, &text) {
            return Err(ConfigError::invalid(
                setting.name,
                format!("{message} (given by {origin})"),
            ));
        }
    }
    Ok(overrides)
}

/// clap's error for a bad value, saying so when the value came from an
/// environment variable rather than the flag clap names (as
/// [`read_matches`] says it for the server's own settings).
fn name_the_variable(command: &Command, args: &[OsString], error: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        error.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return error;
    }
    let Some(ContextValue::String(shown)) = error.get(ContextKind::InvalidArg) else {
        return error;
    };
    let from_variable = command.get_arguments().find_map(|arg| {
        let long = arg.get_long()?;
        let variable = arg.get_env()?;
        let flag = format!("--{long}");
        // clap shows the flag as `--name <VALUE>` or `--name[=<VALUE>]`.
        let named = shown == &flag
            || shown.starts_with(&format!("{flag} "))
            || shown.starts_with(&format!("{flag}["));
        let on_command_line = args.iter().any(|given| {
            given
                .to_str()
                .is_some_and(|given| given == flag || given.starts_with(&format!("{flag}=")))
        });
        (named && !on_command_line && std::env::var_os(variable).is_some())
            .then(|| format!("{}, the variable of {flag}", variable.to_string_lossy()))
    });
    let Some(origin) = from_variable else {
        return error;
    };
    let rendered = error.to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let message = first.strip_prefix("error: ").unwrap_or(first);
    clap::Error::raw(error.kind(), format!("{message} (given by {origin})\n")).with_cmd(command)
}

/// The `--config` file: the server's settings, and the `[app]` table
/// for the application's.
struct File {
    overrides: Overrides,
    app: Option<toml::Table>,
}

/// Reads and parses the TOML file at `path`: every key a setting name,
/// each value parsed by the setting's type.
fn read_file(path: &Path) -> Result<File, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|source| ConfigError::File {
        path: path.to_owned(),
        source,
    })?;
    let app = match table.remove("app") {
        Some(toml::Value::Table(app)) => Some(app),
        Some(_) => {
            return Err(ConfigError::AppFile {
                path: path.to_owned(),
                message: "`app` must be a table ([app])".to_owned(),
            })
        }
        None => None,
    };
    let mut overrides = Overrides::default();
    for (key, value) in table {
        let Some(setting) = DECLARED.iter().find(|setting| setting.name == key) else {
            return Err(ConfigError::UnknownKey {
                path: path.to_owned(),
                key,
            });
        };
        if let Some(Err(message)) = overrides.set_toml(setting.name, value) {
            return Err(ConfigError::invalid(
                setting.name,
                format!("{message} (in the file `{}`)", path.display()),
            ));
        }
    }
    Ok(File { overrides, app })
}

impl Config {
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
        T: Into<OsString> + Clone,
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
        T: Into<OsString> + Clone,
    {
        self.parse_args(args.into_iter().map(Into::into).collect(), None)
    }

    /// The command line (with the application's arguments when `app` is
    /// given) and the `--config` file over this configuration, validated.
    pub(super) fn parse_args(
        self,
        args: Vec<OsString>,
        app: Option<AppParser>,
    ) -> Result<Self, ConfigError> {
        let mut command = command();
        let mut file = None;
        if let Some(app) = app {
            command = app.augment(command);
            // The file's [app] values become the defaults of the
            // application's arguments, so the file is read before the parse.
            if let Some(path) = app_parser::config_path(&command, &args) {
                let mut read = read_file(&path)?;
                if let Some(table) = read.app.take() {
                    command = app.apply_file(command, &path, table)?;
                }
                file = Some(read);
            }
        }
        let matches = match command.try_get_matches_from_mut(&args) {
            Ok(matches) => matches,
            Err(error) => return Err(ConfigError::Args(name_the_variable(&command, &args, error))),
        };
        let mut overrides = Overrides::default();
        if let Some(path) = matches.get_one::<PathBuf>("config") {
            let read = match file {
                Some(read) => read,
                None => read_file(path)?,
            };
            if read.app.is_some() {
                return Err(app_parser::undeclared(path));
            }
            overrides = read.overrides;
        }
        let overrides = overrides.then(read_matches(&matches)?);
        let mut config = self;
        if let Some(app) = app {
            config.app = Some(app.read(&matches)?);
        }
        overrides.apply(&mut config)?;
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
    pub fn try_update_from_file(mut self, path: &Path) -> Result<Self, ConfigError> {
        let file = read_file(path)?;
        if file.app.is_some() {
            return Err(app_parser::undeclared(path));
        }
        file.overrides.apply(&mut self)?;
        Ok(self)
    }

    /// The `--help` text: every setting's flag, environment variable and
    /// default.
    ///
    /// ```
    /// let help = wsgi_core::Config::help();
    /// assert!(help.contains("--max-requests") && help.contains("WSGI_MAX_REQUESTS"));
    /// ```
    pub fn help() -> String {
        command().render_help().to_string()
    }
}

/// The configuration, or its error printed and the process ended with
/// status 2 (help and version are printed with status 0), as command-line
/// tools do.
pub(super) fn exit_on_error(result: Result<Config, ConfigError>) -> Config {
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
    use std::time::Duration;

    use super::super::{BindAddr, SecretKey};
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
        assert_eq!(
            config.bind,
            [
                BindAddr::Tcp {
                    host: "127.0.0.1".into(),
                    port: 0
                },
                BindAddr::Unix("/tmp/x.sock".into())
            ]
        );
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
        assert_eq!(config.get("bind").as_deref(), Some("127.0.0.1:9"));
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
    fn typed_errors_name_the_setting_where_it_came_from_and_what_to_fix() {
        let max = usize::MAX;
        for (args, expected) in [
            (
                &["--workers", "many"][..],
                format!("invalid setting `workers`: `many` is not a whole number from 0 to {max} (given by --workers)"),
            ),
            (
                &["--debug=maybe"],
                "invalid setting `debug`: `maybe` is not `true` or `false` (given by --debug)".to_owned(),
            ),
            (
                &["--bind", "127.0.0.1:0", "--bind", "h:99999"],
                "invalid setting `bind`: `h:99999`: the port must be 0-65535 (given by --bind)".to_owned(),
            ),
            (
                &["--keyfile", ""],
                "invalid setting `keyfile`: the path is empty (given by --keyfile)".to_owned(),
            ),
            (
                &["--server-software", "a\tb"],
                "invalid setting `server_software`: `a\\tb` must be non-empty printable ASCII (no line breaks or control characters) (given by --server-software)".to_owned(),
            ),
        ] {
            let args = std::iter::once("app").chain(args.iter().copied());
            let err = Config::try_from_args(args).unwrap_err();
            assert_eq!(err.to_string(), expected);
        }

        let path = temp_file(
            "typed",
            "bind = 8000
",
        );
        let err = Config::default().try_update_from_file(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid setting `bind`: expected a string, found integer (in the file `{}`)",
                path.display()
            )
        );
        std::fs::write(&path, "proxy_protocol = \"yes\"\n").unwrap();
        let err = Config::default().try_update_from_file(&path).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "invalid setting `proxy_protocol`: expected true or false, found string"
            ),
            "{err}"
        );
        std::fs::write(&path, "wrokers = 2\n").unwrap();
        let err = Config::default().try_update_from_file(&path).unwrap_err();
        assert!(matches!(&err, ConfigError::UnknownKey { key, .. } if key == "wrokers"));
        assert!(
            err.to_string().contains("the settings are bind, workers"),
            "{err}"
        );
        std::fs::remove_file(&path).unwrap();

        let path = temp_file("renamed", "stream_buffer = 1000\n");
        let err = Config::default().try_update_from_file(&path).unwrap_err();
        assert!(
            err.to_string()
                .contains("`stream_buffer` is now called `max_request_body`"),
            "{err}"
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn certfile_and_keyfile_may_come_from_different_sources() {
        let path = temp_file("tls", "certfile = \"cert.pem\"\n");
        let file = path.to_str().unwrap();
        let config =
            Config::try_from_args(["app", "--config", file, "--keyfile", "key.pem"]).unwrap();
        assert_eq!(
            config.tls,
            Some(super::super::TlsFiles::new("cert.pem", "key.pem"))
        );
        let err = Config::try_from_args(["app", "--config", file]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid setting `keyfile`: certfile is set: give the private key too"
        );
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
