//! An application's own settings, read with the server's: flags, environment
//! variables and the `[app]` table of the `--config` file.
//!
//! The settings are a `clap::Args` struct: its flags join the server's
//! command line (and `--help`), its `env` attributes name its environment
//! variables, and the file's `[app]` values go through the same value
//! parsers, as defaults that environment variables and flags override. The
//! parsed value is stored type-erased in the [`Config`](super::Config) and
//! read back typed with [`Config::app`](super::Config::app).

use std::any::Any;
use std::ffi::OsString;
use std::fmt;
use std::sync::Arc;

use super::app_parser::AppParser;
use super::{Config, ConfigError};

/// An application's own settings: a struct deriving [`clap::Args`] (flags,
/// `env` variables, `default_value`s and `--help` text come from its
/// attributes), given to [`Config::from_args_with`](super::Config::from_args_with).
///
/// Its keys in the TOML file are its field names, in an `[app]` table. The
/// [`validate`](Self::validate) hook checks what clap's parsers cannot
/// (ranges, combinations); it runs before anything is bound.
///
/// `clap` is re-exported as [`wsgi_core::clap`](crate::clap): `use
/// wsgi_core::clap;` lets `#[derive(clap::Args)]` work without adding
/// clap to your own `Cargo.toml` (or add `clap = { version = "4", features
/// = ["derive", "env"] }`).
///
/// ```
/// use wsgi_core::{clap, Config};
/// use wsgi_core::config::ConfigError;
/// use wsgi_core::config::AppSettings;
///
/// #[derive(Debug, Clone, PartialEq, clap::Args)]
/// struct TodoSettings {
///     /// SQLite database file
///     #[arg(long, env = "TODO_DATABASE", default_value = "todo.db")]
///     database: std::path::PathBuf,
///     /// Items per page
///     #[arg(long, env = "TODO_PAGE_SIZE", default_value_t = 20)]
///     page_size: u32,
/// }
///
/// impl AppSettings for TodoSettings {
///     fn validate(&self) -> Result<(), ConfigError> {
///         if !(1..=100).contains(&self.page_size) {
///             return Err(ConfigError::invalid("page_size", "use 1 to 100"));
///         }
///         Ok(())
///     }
/// }
///
/// let config = Config::try_from_args_with::<TodoSettings>(["todo", "--page-size", "50"]).unwrap();
/// let settings = config.app::<TodoSettings>().unwrap();
/// assert_eq!((settings.database.to_str(), settings.page_size), (Some("todo.db"), 50));
///
/// let err = Config::try_from_args_with::<TodoSettings>(["todo", "--page-size", "500"]).unwrap_err();
/// assert_eq!(err.to_string(), "invalid setting `page_size`: use 1 to 100");
/// ```
pub trait AppSettings: clap::Args + Clone + fmt::Debug + PartialEq + Send + Sync + 'static {
    /// Checks the parsed values; an error names the setting
    /// ([`ConfigError::invalid`]). Runs when the configuration is read and
    /// again when the server starts. Accepts everything by default.
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// The settings as stored in the configuration: any [`AppSettings`] type.
trait Erased: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
    fn validate(&self) -> Result<(), ConfigError>;
    fn equals(&self, other: &dyn Any) -> bool;
}

impl<S: AppSettings> Erased for S {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
    fn validate(&self) -> Result<(), ConfigError> {
        AppSettings::validate(self)
    }
    fn equals(&self, other: &dyn Any) -> bool {
        other.downcast_ref::<S>() == Some(self)
    }
}

impl Config {
    /// Like [`from_args`](Config::from_args), with the application's own
    /// settings `S` read too: their flags, environment variables and `[app]`
    /// keys in the `--config` file, all shown by `--help`. Read them with
    /// [`app`](Config::app). Prints the error and exits with status 2 on
    /// invalid input, before anything is bound.
    ///
    /// # Panics
    /// If a setting of `S` has the name or flag of a server setting.
    pub fn from_args_with<S: AppSettings>() -> Self {
        Config::default().update_from_args_with::<S>()
    }

    /// Like [`update_from_args`](Config::update_from_args), with the
    /// application's settings `S` (see [`from_args_with`](Config::from_args_with)).
    /// The code's values for `S` are the `default_value`s of its fields.
    pub fn update_from_args_with<S: AppSettings>(self) -> Self {
        super::sources::exit_on_error(self.try_update_from_args_with::<S>(std::env::args_os()))
    }

    /// Like [`from_args_with`](Config::from_args_with) with an explicit
    /// argument list (the first item is the program name), returning
    /// errors instead of exiting.
    pub fn try_from_args_with<S: AppSettings>(
        args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    ) -> Result<Self, ConfigError> {
        Config::default().try_update_from_args_with::<S>(args)
    }

    /// Like [`try_update_from_args`](Config::try_update_from_args), with the
    /// application's settings `S`: precedence is the same (their
    /// `default_value`s, then the file's `[app]` table, then their `env`
    /// variables, then their flags), and [`AppSettings::validate`] runs
    /// with the server's checks.
    ///
    /// # Panics
    /// As [`from_args_with`](Config::from_args_with): if a setting of `S`
    /// has the name or flag of a server setting.
    ///
    /// ```
    /// use wsgi_core::{clap, Config};
    ///
    /// #[derive(Debug, Clone, PartialEq, clap::Args)]
    /// struct Greeting {
    ///     /// The word to greet with
    ///     #[arg(long, default_value = "Hello")]
    ///     greeting: String,
    /// }
    /// impl wsgi_core::config::AppSettings for Greeting {}
    ///
    /// let path = std::env::temp_dir().join(format!("wsgi-doc-app-{}.toml", std::process::id()));
    /// std::fs::write(&path, "workers = 2\n[app]\ngreeting = \"Hi\"\n").unwrap();
    /// let args = ["app", "--config", path.to_str().unwrap()];
    /// let config = Config::default().try_update_from_args_with::<Greeting>(args).unwrap();
    /// assert_eq!(config.workers, 2);
    /// assert_eq!(config.app::<Greeting>().unwrap().greeting, "Hi");
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn try_update_from_args_with<S: AppSettings>(
        self,
        args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    ) -> Result<Self, ConfigError> {
        self.parse_args(
            args.into_iter().map(Into::into).collect(),
            Some(AppParser::of::<S>()),
        )
    }

    /// The application's own settings, if they are of type `S` (read with
    /// [`from_args_with`](Config::from_args_with) or given with
    /// [`ConfigBuilder::app`](super::ConfigBuilder::app)). A handler reads
    /// them as `environ.config().app::<S>()`.
    pub fn app<S: AppSettings>(&self) -> Option<&S> {
        self.app.as_ref()?.get()
    }

    /// The `--help` text with the application's settings `S` after the
    /// server's.
    pub fn help_with<S: AppSettings>() -> String {
        AppParser::of::<S>()
            .augment(super::sources::command())
            .render_help()
            .to_string()
    }
}

/// An application's settings behind an `Arc`, so cloning the configuration
/// for each worker does not clone them.
#[derive(Clone)]
pub(crate) struct StoredSettings(Arc<dyn Erased>);

impl StoredSettings {
    pub(crate) fn new<S: AppSettings>(settings: S) -> Self {
        StoredSettings(Arc::new(settings))
    }

    pub(crate) fn get<S: AppSettings>(&self) -> Option<&S> {
        self.0.as_any().downcast_ref()
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.0.validate()
    }
}

impl fmt::Debug for StoredSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug(f)
    }
}

impl PartialEq for StoredSettings {
    fn eq(&self, other: &Self) -> bool {
        self.0.equals(other.0.as_any())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[derive(Debug, Clone, PartialEq, clap::Args)]
    struct Todo {
        /// SQLite database file
        #[arg(long, env = "WSGI_UNIT_TODO_DATABASE", default_value = "todo.db")]
        database: PathBuf,
        /// Items per page
        #[arg(long, env = "WSGI_UNIT_TODO_PAGE_SIZE", default_value_t = 20)]
        page_size: u32,
        /// Tags shown on every page
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Read-only mode
        #[arg(long)]
        read_only: bool,
    }

    impl AppSettings for Todo {
        fn validate(&self) -> Result<(), ConfigError> {
            if self.page_size == 0 {
                return Err(ConfigError::invalid("page_size", "use 1 or more"));
            }
            Ok(())
        }
    }

    #[derive(Debug, Clone, PartialEq, clap::Args)]
    struct Required {
        #[arg(long, required = true)]
        token: String,
    }
    impl AppSettings for Required {}

    #[derive(Debug, Clone, PartialEq, clap::Args)]
    struct Clashing {
        #[arg(long)]
        workers: u32,
    }
    impl AppSettings for Clashing {}

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("wsgi-app-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn todo(config: &Config) -> &Todo {
        config.app::<Todo>().expect("the settings are stored")
    }

    #[test]
    fn app_settings_take_defaults_and_flags_next_to_the_server_settings() {
        let config = Config::try_from_args_with::<Todo>([
            "app",
            "--workers",
            "3",
            "--tag",
            "a",
            "--tag",
            "b",
            "--read-only",
        ])
        .unwrap();
        assert_eq!(config.workers, 3);
        let settings = todo(&config);
        assert_eq!(settings.database, PathBuf::from("todo.db"));
        assert_eq!(settings.page_size, 20);
        assert_eq!(settings.tags, ["a", "b"]);
        assert!(settings.read_only);
        assert_eq!(config.get("page_size"), None, "app settings are read typed");
        assert!(
            format!("{config:?}").contains("page_size: 20"),
            "{config:?}"
        );
        assert_eq!(config.app::<Required>(), None, "another type");
        assert_eq!(Config::default().app::<Todo>(), None);
    }

    #[test]
    fn file_beats_defaults_environment_beats_file_flags_beat_environment() {
        let path = temp_file(
            "precedence",
            "workers = 2\n[app]\ndatabase = \"file.db\"\npage_size = 30\ntags = [\"x\", \"y\"]\nread_only = true\n",
        );
        let file = path.to_str().unwrap();
        let config = Config::try_from_args_with::<Todo>(["app", "--config", file]).unwrap();
        assert_eq!(config.workers, 2);
        assert_eq!(
            todo(&config),
            &Todo {
                database: "file.db".into(),
                page_size: 30,
                tags: vec!["x".into(), "y".into()],
                read_only: true,
            }
        );
        // A variable no other test sets.
        std::env::set_var("WSGI_UNIT_TODO_DATABASE", "env.db");
        let config =
            Config::try_from_args_with::<Todo>(["app", "--config", file, "--page-size", "40"]);
        let flagged =
            Config::try_from_args_with::<Todo>(["app", "--config", file, "--database", "flag.db"]);
        std::env::remove_var("WSGI_UNIT_TODO_DATABASE");
        let config = config.unwrap();
        assert_eq!(
            todo(&config).database,
            PathBuf::from("env.db"),
            "env beats file"
        );
        assert_eq!(todo(&config).page_size, 40, "flag beats file");
        assert_eq!(todo(&flagged.unwrap()).database, PathBuf::from("flag.db"));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_bad_value_from_a_variable_names_the_variable() {
        // A variable no other test sets.
        std::env::set_var("WSGI_UNIT_TODO_PAGE_SIZE", "many");
        let from_variable = Config::try_from_args_with::<Todo>(["app"]);
        let from_flag = Config::try_from_args_with::<Todo>(["app", "--page-size", "lots"]);
        std::env::remove_var("WSGI_UNIT_TODO_PAGE_SIZE");
        let err = from_variable.unwrap_err().to_string();
        assert!(
            err.contains("'many'")
                && err.contains("(given by WSGI_UNIT_TODO_PAGE_SIZE, the variable of --page-size)"),
            "{err}"
        );
        let err = from_flag.unwrap_err().to_string();
        assert!(
            err.contains("'lots'") && !err.contains("WSGI_UNIT_TODO_PAGE_SIZE"),
            "{err}"
        );
    }

    #[test]
    fn a_required_setting_can_come_from_the_file() {
        let err = Config::try_from_args_with::<Required>(["app"]).unwrap_err();
        assert!(err.to_string().contains("--token"), "{err}");
        let path = temp_file("required", "[app]\ntoken = \"t0k3n\"\n");
        let config =
            Config::try_from_args_with::<Required>(["app", "--config", path.to_str().unwrap()])
                .unwrap();
        assert_eq!(config.app::<Required>().unwrap().token, "t0k3n");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn bad_app_values_are_refused_naming_the_setting() {
        let err = Config::try_from_args_with::<Todo>(["app", "--page-size", "many"]).unwrap_err();
        assert!(err.to_string().contains("--page-size"), "{err}");
        let err = Config::try_from_args_with::<Todo>(["app", "--page-size", "0"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid setting `page_size`: use 1 or more"
        );
        let err = Config::builder()
            .app(Todo {
                database: "x.db".into(),
                page_size: 0,
                tags: vec![],
                read_only: false,
            })
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    setting: "page_size",
                    ..
                }
            ),
            "{err}"
        );

        for (text, needles) in [
            (
                "[app]\npage_sise = 3\n",
                &["page_sise", "database, page_size"][..],
            ),
            ("[app]\npage_size = \"many\"\n", &["`page_size`", "many"]),
            ("[app]\npage_size = -1\n", &["`page_size`", "-1"]),
            (
                "[app]\ndatabase = { path = \"x\" }\n",
                &["`database`", "string"],
            ),
            ("[app]\npage_size = 0\n", &["`page_size`", "1 or more"]),
            ("wrokers = 1\n[app]\n", &["wrokers"]),
        ] {
            let path = temp_file("bad", text);
            let file = path.to_str().unwrap();
            let err = Config::try_from_args_with::<Todo>(["app", "--config", file]).unwrap_err();
            for needle in needles {
                assert!(err.to_string().contains(needle), "{text:?}: {err}");
            }
            std::fs::remove_file(path).unwrap();
        }
    }

    #[test]
    fn an_app_table_without_app_settings_is_refused() {
        let path = temp_file("undeclared", "workers = 2\n[app]\ndatabase = \"x\"\n");
        let file = path.to_str().unwrap();
        let err = Config::try_from_args(["app", "--config", file]).unwrap_err();
        assert!(matches!(err, ConfigError::AppFile { .. }), "{err}");
        assert!(err.to_string().contains("from_args_with"), "{err}");
        let err = Config::default().try_update_from_file(&path).unwrap_err();
        assert!(matches!(err, ConfigError::AppFile { .. }), "{err}");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn help_lists_the_app_settings_after_the_server_settings() {
        let help = Config::help_with::<Todo>();
        for needle in [
            "--workers",
            "--database <DATABASE>",
            "SQLite database file",
            "WSGI_UNIT_TODO_DATABASE",
            "[default: todo.db]",
            "--read-only",
        ] {
            assert!(help.contains(needle), "{needle} missing:\n{help}");
        }
        assert!(!Config::help().contains("--database"));
    }

    #[test]
    #[should_panic(expected = "clashes with the server setting `workers`")]
    fn a_setting_named_like_a_server_setting_is_a_programming_error() {
        let _ = Config::try_from_args_with::<Clashing>(["app"]);
    }

    #[test]
    fn configs_compare_their_app_settings_by_value() {
        let a = Config::try_from_args_with::<Todo>(["app"]).unwrap();
        let b = Config::try_from_args_with::<Todo>(["app"]).unwrap();
        let c = Config::try_from_args_with::<Todo>(["app", "--page-size", "2"]).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, Config::default());
        assert_eq!(a.clone(), a);
    }
}
