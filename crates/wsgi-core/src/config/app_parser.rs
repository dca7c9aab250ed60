//! [`AppParser`]: an application's settings type on the command line,
//! from its environment variables and from the `[app]` table of the
//! `--config` file, without naming the type once it is registered.

use std::ffi::OsString;
use std::path::Path;

use clap::{ArgMatches, Command};

use super::app_settings::{AppSettings, StoredSettings};
use super::ConfigError;

/// The error for an `[app]` table that cannot be read: the program
/// declares no settings (it uses `from_args`, not `from_args_with`).
pub(crate) fn undeclared(path: &Path) -> ConfigError {
    ConfigError::AppFile {
        path: path.to_owned(),
        message: "this program declares no application settings (Config::from_args_with); remove the table".into(),
    }
}

/// How to add an [`AppSettings`] type's arguments to the command line and
/// read them back, without naming the type afterwards.
#[derive(Clone, Copy)]
pub(crate) struct AppParser {
    augment: fn(Command) -> Command,
    read: fn(&ArgMatches) -> Result<StoredSettings, clap::Error>,
}

impl AppParser {
    pub(crate) fn of<S: AppSettings>() -> Self {
        AppParser {
            augment: S::augment_args,
            read: |matches| {
                <S as clap::FromArgMatches>::from_arg_matches(matches).map(StoredSettings::new)
            },
        }
    }

    /// The server's command with the application's arguments added.
    ///
    /// # Panics
    /// If an application setting has the id or the flag of a server setting
    /// (a mistake in the program, not in its configuration).
    pub(crate) fn augment(self, server: Command) -> Command {
        let app = (self.augment)(Command::new("app"));
        for arg in app.get_arguments() {
            let clash = server.get_arguments().find(|theirs| {
                theirs.get_id() == arg.get_id()
                    || (arg.get_long().is_some() && theirs.get_long() == arg.get_long())
            });
            if let Some(theirs) = clash {
                panic!(
                    "the application setting `{}` clashes with the server setting `{}`: rename it (e.g. #[arg(long = \"app-{}\")])",
                    arg.get_id(),
                    theirs.get_id(),
                    arg.get_id(),
                );
            }
        }
        (self.augment)(server)
    }

    pub(crate) fn read(self, matches: &ArgMatches) -> Result<StoredSettings, ConfigError> {
        (self.read)(matches).map_err(ConfigError::Args)
    }

    /// Makes the values of the file's `[app]` table the defaults of the
    /// matching arguments, so environment variables and flags still
    /// override them. Each value is checked by the argument's own parser
    /// first, so an error names the key and the file.
    pub(crate) fn apply_file(
        self,
        mut command: Command,
        path: &Path,
        table: toml::Table,
    ) -> Result<Command, ConfigError> {
        let error = |message: String| ConfigError::AppFile {
            path: path.to_owned(),
            message,
        };
        let app = (self.augment)(Command::new("app"));
        for (key, value) in table {
            let Some(arg) = app.get_arguments().find(|arg| arg.get_id() == key.as_str()) else {
                let known: Vec<_> = app
                    .get_arguments()
                    .map(|arg| arg.get_id().as_str())
                    .collect();
                return Err(error(format!(
                    "unknown key `{key}`; the application's settings are: {}",
                    known.join(", ")
                )));
            };
            let values = toml_values(&value).ok_or_else(|| {
                error(format!(
                    "`{key}` must be a string, a number, a boolean or a list of them"
                ))
            })?;
            // The value alone through the argument's parser and action: no
            // environment variable, no relations to other arguments.
            let mut probe = clap::Arg::new(arg.get_id().clone())
                .long(arg.get_long().unwrap_or("value").to_owned())
                .action(arg.get_action().clone())
                .value_parser(arg.get_value_parser().clone())
                .default_values(values.clone());
            if let Some(range) = arg.get_num_args() {
                probe = probe.num_args(range);
            }
            if let Err(e) = Command::new("file")
                .arg(probe)
                .try_get_matches_from(["file"])
            {
                // The parser's own words when it has them ("invalid digit
                // found in string"), else clap's (possible values, ...).
                let reason = match std::error::Error::source(&e) {
                    Some(source) => format!("invalid value {value}: {source}"),
                    None => clap_message(&e),
                };
                return Err(error(format!("`{key}`: {reason}")));
            }
            command = command.mut_arg(key.as_str(), |arg| {
                arg.required(false).default_values(values)
            });
        }
        Ok(command)
    }
}

/// A TOML value as the strings a flag would carry: a scalar as one, an
/// array of scalars as several; `None` for tables.
fn toml_values(value: &toml::Value) -> Option<Vec<OsString>> {
    let scalar = |value: &toml::Value| match value {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Integer(n) => Some(n.to_string()),
        toml::Value::Float(x) => Some(x.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(d) => Some(d.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => None,
    };
    match value {
        toml::Value::Array(items) => items
            .iter()
            .map(|v| scalar(v).map(OsString::from))
            .collect(),
        _ => scalar(value).map(|v| vec![OsString::from(v)]),
    }
}

/// clap's message without its `error: ` prefix and usage lines.
fn clap_message(error: &clap::Error) -> String {
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// The `--config` path the command line or `WSGI_CONFIG` gives, found
/// before the real parse (whose defaults depend on the file). Parse errors
/// are ignored here: the real parse reports them.
pub(crate) fn config_path(command: &Command, args: &[OsString]) -> Option<std::path::PathBuf> {
    let matches = command
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .ok()?;
    matches
        .try_get_one::<std::path::PathBuf>("config")
        .ok()
        .flatten()
        .cloned()
}
