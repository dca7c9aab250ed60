//! The `wsgi-rs` command: `wsgi-rs MODULE:CALLABLE [SETTINGS...]`.
//!
//! The server's settings are wsgi-core's, read by
//! [`Config::try_from_args`](wsgi_core::Config::try_from_args): flags
//! (`--bind`, `--workers`, ...), `WSGI_*` environment variables and a TOML
//! file (`--config`). The command adds the Python ones
//! ([`PythonSettings`]), as flags, environment variables or keys of the
//! file's `[app]` table:
//!
//! | flag | environment | `[app]` key | default | meaning |
//! |---|---|---|---|---|
//! | `MODULE:CALLABLE` (or `--app`) | `WSGI_APP` | `app` | (required) | the application; `module` alone means `module:application`, `module:factory()` calls a factory |
//! | `--threads N` | `WSGI_THREADS` | `threads` | `8` | Python calls running at once per process (threads mode) |
//! | `--asyncio[=BOOL]` | `WSGI_ASYNCIO` | `asyncio` | auto | run the app on the worker's asyncio loop (pulsar-style); auto: when it is a coroutine function |
//! | `--inline[=BOOL]` | `WSGI_INLINE` | `inline` | `true` | let fast synchronous calls run on the event loop's thread (no hop to the pool) |
//! | `--pythonpath DIR` | `WSGI_PYTHONPATH` (`:`-separated) | `pythonpath` (a list) | none | directories put before `sys.path` (the current directory always is) |
//!
//! The application may come first or last; other arguments go to the
//! server's settings.

use std::ffi::OsString;

use pyo3::prelude::*;
use wsgi_core::config::ConfigError;
use wsgi_core::server::Server;
use wsgi_core::Config;

use crate::app::{Options, PythonApp, DEFAULT_THREADS};
use crate::processes;
use crate::settings::PythonSettings;

/// Which program runs the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// The `wsgi-rs` console script of the Python wheel.
    Python,
    /// The `wsgi-rs` binary with Python embedded.
    Embedded,
}

/// The command's Python settings, taken out of its arguments.
#[derive(Debug, Default, PartialEq)]
pub struct PythonArgs {
    /// `MODULE:CALLABLE`.
    pub app: Option<String>,
    /// `--threads`.
    pub threads: Option<usize>,
    /// `--asyncio`.
    pub asyncio: Option<bool>,
    /// `--inline`.
    pub inline: Option<bool>,
    /// `--pythonpath` entries.
    pub pythonpath: Vec<String>,
    /// `--help` was asked for.
    pub help: bool,
    /// The server's arguments (program name first).
    pub rest: Vec<OsString>,
}

/// wsgi-core flags that take no value (others take the next argument
/// unless written `--flag=value`).
const VALUELESS: [&str; 4] = ["--debug", "--proxy-protocol", "--asyncio", "--inline"];

fn parse_bool(flag: &str, value: &str) -> Result<bool, String> {
    match value {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{flag} expects true or false, got {value:?}")),
    }
}

impl PythonArgs {
    /// Splits `argv` (program name first) into the Python flags and the
    /// server's arguments (the environment and the TOML file are read with
    /// the server's settings, as [`PythonSettings`]).
    pub fn parse(argv: Vec<OsString>) -> Result<PythonArgs, String> {
        let mut args = PythonArgs::default();
        let mut iter = argv.into_iter();
        args.rest.extend(iter.next());
        let mut previous_takes_value = false;
        let mut rest: Vec<OsString> = iter.collect();
        rest.reverse();
        while let Some(arg) = rest.pop() {
            let text = arg.to_string_lossy().into_owned();
            let (flag, inline) = match text.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (text.clone(), None),
            };
            let mut value = |name: &str| -> Result<String, String> {
                match inline.clone() {
                    Some(v) => Ok(v),
                    None => rest
                        .pop()
                        .map(|v| v.to_string_lossy().into_owned())
                        .ok_or_else(|| format!("{name} needs a value")),
                }
            };
            match flag.as_str() {
                "--threads" => {
                    let v = value("--threads")?;
                    args.threads =
                        Some(v.parse().map_err(|_| {
                            format!("--threads expects a positive number, got {v:?}")
                        })?);
                }
                "--asyncio" => {
                    args.asyncio = Some(match &inline {
                        Some(v) => parse_bool("--asyncio", v)?,
                        None => true,
                    });
                }
                "--inline" => {
                    args.inline = Some(match &inline {
                        Some(v) => parse_bool("--inline", v)?,
                        None => true,
                    });
                }
                "--pythonpath" => args.pythonpath.push(value("--pythonpath")?),
                "--help" | "-h" => args.help = true,
                _ if !text.starts_with('-') && !previous_takes_value && args.app.is_none() => {
                    args.app = Some(text);
                    previous_takes_value = false;
                    continue;
                }
                _ => {
                    previous_takes_value = text.starts_with("--")
                        && inline.is_none()
                        && !VALUELESS.contains(&flag.as_str());
                    args.rest.push(arg);
                    continue;
                }
            }
            previous_takes_value = false;
        }
        if args.threads == Some(0) {
            return Err("--threads must be at least 1".into());
        }
        Ok(args)
    }
}

/// The `--help` text.
pub fn help() -> String {
    let server =
        Config::help_with::<PythonSettings>().replacen("Usage: wsgi-core [OPTIONS]\n\n", "", 1);
    // The server's `--workers` line describes the library's default (an
    // event loop per core); this command starts one process unless told.
    let server: Vec<String> = server
        .lines()
        .map(|line| match line.trim_start().starts_with("Worker event loops") {
            true => format!(
                "{}Worker processes, each a Python interpreter with its own event loop [default: 1] [env: WSGI_WORKERS=]",
                &line[..line.len() - line.trim_start().len()]
            ),
            false => line.to_owned(),
        })
        .collect();
    format!(
        "Serve a Python WSGI application (pulsar's asynchronous ones included).\n\n\
         Usage: wsgi-rs MODULE:CALLABLE [OPTIONS]\n\n\
         The application and the Python options may also be set in the environment\n\
         or in the [app] table of the --config file (as app, threads, asyncio,\n\
         inline, pythonpath).\n\n{}",
        server.join("\n")
    )
}

/// The embedded binary's entry point: runs the command with the process's
/// arguments and returns the exit status.
pub fn main() -> i32 {
    Python::attach(|py| run(py, std::env::args_os().collect(), Host::Embedded))
}

/// Runs the command with `argv` (program name first); returns the exit
/// status. Blocks until the server stops (SIGINT or SIGTERM), with the GIL
/// released.
pub fn run(py: Python<'_>, argv: Vec<OsString>, host: Host) -> i32 {
    let command_args: Vec<OsString> = argv.iter().skip(1).cloned().collect();
    let args = match PythonArgs::parse(argv) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}\n\nSee `wsgi-rs --help`.");
            return 2;
        }
    };
    if args.help {
        println!("{}", help());
        return 0;
    }
    // One process unless `--workers` says otherwise, as gunicorn: each
    // worker process is a Python interpreter (the library's default of one
    // event loop per core is for threads).
    let mut base = Config::default();
    base.workers = 1;
    let mut config = match base.try_update_from_args_with::<PythonSettings>(args.rest.clone()) {
        Ok(config) => config,
        Err(ConfigError::Args(e)) => {
            let _ = e.print();
            return e.exit_code();
        }
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    // Flags win; the environment and the file come through the settings.
    let settings = config.app::<PythonSettings>().cloned().unwrap_or_default();
    let args = PythonArgs {
        app: args.app.or(settings.app),
        threads: args.threads.or(settings.threads),
        asyncio: args.asyncio.or(settings.asyncio),
        inline: args.inline.or(settings.inline),
        pythonpath: args
            .pythonpath
            .into_iter()
            .chain(settings.pythonpath)
            .collect(),
        ..args
    };
    let Some(spec) = args.app.clone() else {
        eprintln!("error: no application given: pass MODULE:CALLABLE (like `app:app`), set WSGI_APP or `app` in the [app] table of the --config file\n\nSee `wsgi-rs --help`.");
        return 2;
    };
    // `--workers N` is N processes (the GIL runs one Python thread per
    // process at a time); the parent binds and supervises, each worker
    // serves with one event loop.
    let worker = processes::is_worker();
    let supervise = !worker && config.workers > 1 && cfg!(unix);
    if worker {
        config.workers = 1;
    }
    let options = Options {
        threads: args.threads.unwrap_or(DEFAULT_THREADS),
        asyncio: args.asyncio,
        multiprocess: worker || supervise,
        inline: args.inline.unwrap_or(true),
    };
    let app = match prepare_path(py, &args.pythonpath)
        .and_then(|()| PythonApp::load(py, &spec, options))
    {
        Ok(app) => app,
        Err(e) => {
            eprintln!(
                "error: {}",
                crate::error::PythonError::new(py, &e).summary()
            );
            return 2;
        }
    };
    if supervise {
        // The app imported above: a broken one fails here, once, rather
        // than in a restart loop of workers.
        drop(app);
        let launcher = match launcher(py, host, command_args) {
            Ok(launcher) => launcher,
            Err(e) => {
                eprintln!(
                    "error: {}",
                    crate::error::PythonError::new(py, &e).summary()
                );
                return 2;
            }
        };
        return py.detach(move || processes::supervise(&config, &launcher));
    }
    let server = Server::new(app).config(config);
    match py.detach(move || server.run()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// How to start a worker process running this same command.
fn launcher(py: Python<'_>, host: Host, args: Vec<OsString>) -> PyResult<processes::Launcher> {
    let program = match host {
        Host::Embedded => vec![std::env::current_exe()?.into_os_string()],
        Host::Python => {
            let python: String = py.import("sys")?.getattr("executable")?.extract()?;
            vec![
                python.into(),
                "-c".into(),
                "import sys, wsgi_rs; sys.exit(wsgi_rs.main(sys.argv[1:]))".into(),
            ]
        }
    };
    Ok(processes::Launcher { program, args })
}

/// Puts the current directory, then each `--pythonpath`, first on
/// `sys.path`, as gunicorn does, so `app:app` imports `./app.py`.
fn prepare_path(py: Python<'_>, extra: &[String]) -> PyResult<()> {
    let path = py.import("sys")?.getattr("path")?;
    let cwd = py.import("os")?.call_method0("getcwd")?;
    path.call_method1("insert", (0, cwd))?;
    for (index, dir) in extra.iter().enumerate() {
        path.call_method1("insert", (index, dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn help_gives_the_commands_own_default_of_one_worker_process() {
        let help = help();
        let workers = help
            .lines()
            .skip_while(|line| !line.contains("--workers"))
            .nth(1)
            .unwrap_or_default();
        assert!(
            workers.contains("Worker processes") && workers.contains("[default: 1]"),
            "{workers}"
        );
        assert!(!help.contains("Worker event loops"), "{help}");
    }

    use super::*;

    fn parse(args: &[&str]) -> PythonArgs {
        let mut argv = vec![OsString::from("wsgi-rs")];
        argv.extend(args.iter().map(OsString::from));
        PythonArgs::parse(argv).unwrap()
    }

    #[test]
    fn the_app_may_come_first_or_after_the_flags() {
        let first = parse(&["app:app", "--bind", "127.0.0.1:0", "--workers", "2"]);
        assert_eq!(first.app.as_deref(), Some("app:app"));
        assert_eq!(
            first.rest,
            ["wsgi-rs", "--bind", "127.0.0.1:0", "--workers", "2"]
        );
        let last = parse(&["--bind", "127.0.0.1:0", "--debug", "app:app"]);
        assert_eq!(last.app.as_deref(), Some("app:app"));
        assert_eq!(last.rest, ["wsgi-rs", "--bind", "127.0.0.1:0", "--debug"]);
    }

    #[test]
    fn python_flags_are_taken_out() {
        let args = parse(&[
            "--threads",
            "3",
            "--asyncio",
            "--inline=false",
            "--pythonpath=src",
            "m:f()",
            "--workers=2",
        ]);
        assert_eq!(args.threads, Some(3));
        assert_eq!(args.asyncio, Some(true));
        assert_eq!(args.inline, Some(false));
        assert_eq!(args.pythonpath, ["src"]);
        assert_eq!(args.app.as_deref(), Some("m:f()"));
        assert_eq!(args.rest, ["wsgi-rs", "--workers=2"]);
    }
}
