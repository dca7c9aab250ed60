//! A server with settings of its own (`Config::from_args_with`), for the
//! application-settings tests: `GET /` answers `GREETING xTIMES, secret
//! key: yes|no` from the typed settings the handler reads in
//! `environ.config()`.

use std::process::ExitCode;

use wsgi_core::config::AppSettings;
use wsgi_core::config::ConfigError;
use wsgi_core::server::Server;
use wsgi_core::{app_fn, clap, Body, Config, Environ, Error, StartResponse};

/// The application's settings; `wsgi_core::clap` is the re-export, so this
/// crate needs no clap dependency of its own.
#[derive(Debug, Clone, PartialEq, clap::Args)]
struct GreetSettings {
    /// The word to greet with
    #[arg(long, env = "GREET_GREETING", default_value = "Hello")]
    greeting: String,
    /// How many times to greet, 1 to 5
    #[arg(long, env = "GREET_TIMES", default_value_t = 1)]
    times: u32,
}

impl AppSettings for GreetSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=5).contains(&self.times) {
            return Err(ConfigError::invalid("times", "greet 1 to 5 times"));
        }
        Ok(())
    }
}

fn greet(environ: &mut Environ, start_response: StartResponse) -> Result<Body, Error> {
    let config = environ.config();
    let settings = config
        .app::<GreetSettings>()
        .ok_or_else(|| Error::msg("the server was started without GreetSettings"))?;
    let secret = if config.cookie_key().is_some() {
        "yes"
    } else {
        "no"
    };
    let text = format!(
        "{} x{}, secret key: {secret}",
        settings.greeting, settings.times
    );
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(Body::from(text))
}

fn main() -> ExitCode {
    let config = Config::from_args_with::<GreetSettings>();
    match Server::new(app_fn(greet)).config(config).run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
