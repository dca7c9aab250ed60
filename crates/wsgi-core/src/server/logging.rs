//! The `tracing` subscriber [`Server::run`](super::Server::run) installs.

use std::io::IsTerminal;

pub(super) use super::log_writer::LogWriter;
use super::log_writer::{self, ToLog};

/// Installs the subscriber, filtered by `RUST_LOG`, else `level`, writing
/// through the [log writer](super::log_writer) and coloured only on a
/// terminal; starts the writer thread, which the returned value stops
/// once every line is written. `None` when the application installed its
/// own subscriber (which is kept).
pub(super) fn init_logging(level: &crate::config::LogLevel) -> Option<LogWriter> {
    use tracing_subscriber::EnvFilter;
    if !log_writer::installed() {
        let from_env =
            std::env::var_os(EnvFilter::DEFAULT_ENV).map(|_| EnvFilter::try_from_default_env());
        // `log_level` was checked when it was parsed, so `new` keeps all of it.
        let (filter, refused) = match from_env {
            Some(Ok(filter)) => (filter, None),
            Some(Err(e)) => (EnvFilter::new(level.as_str()), Some(e)),
            None => (EnvFilter::new(level.as_str()), None),
        };
        let colour = log_writer::use_colour(
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        );
        log_writer::set_colour(colour);
        // Fails only when the application installed its own subscriber: keep it.
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(colour)
            .with_writer(|| ToLog)
            .try_init()
            .ok()?;
        log_writer::mark_installed();
        // Access lines skip the `fmt` layer (its formatting was most of a
        // logged request's cost) and go to the same buffers.
        // Span-dependent directives (`target[span]=level`) are the only
        // ones whose answer for `wsgi::access` can change.
        let fixed_filter = std::env::var(EnvFilter::DEFAULT_ENV).map_or(true, |d| !d.contains('['));
        crate::access_log::set_direct(log_writer::access_line, fixed_filter);
        if let Some(e) = refused {
            tracing::warn!("RUST_LOG is not a valid filter ({e}); using log_level `{level}`");
        }
    }
    // Without a thread, lines are written as they come: nothing is lost.
    LogWriter::start().ok()
}
