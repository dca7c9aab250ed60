//! The `tracing` subscriber [`Server::run`](super::Server::run) installs.

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};

/// The log's writer thread, alive while the server runs. Lines (access
/// lines above all) are formatted on the worker that logs them, then
/// queued to this thread, which writes them to stdout: a worker never waits
/// for the terminal, a pipe or a disk. When the queue is full (stdout far
/// slower than the server) a line is dropped and counted rather than a
/// worker blocked. Dropping it reports the count and writes what is queued.
pub(super) struct LogWriter {
    dropped: ErrorCounter,
    _guard: WorkerGuard,
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        let dropped = self.dropped.dropped_lines();
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "log lines were dropped because stdout could not keep up; send the log to a faster sink or lower log_level"
            );
        }
    }
}

/// Installs the subscriber, filtered by `RUST_LOG`, else `level`; `None`
/// when the application installed its own (which is kept).
pub(super) fn init_logging(level: &crate::config::LogLevel) -> Option<LogWriter> {
    use tracing_subscriber::EnvFilter;
    let from_env =
        std::env::var_os(EnvFilter::DEFAULT_ENV).map(|_| EnvFilter::try_from_default_env());
    // `log_level` was checked when it was parsed, so `new` keeps all of it.
    let (filter, refused) = match from_env {
        Some(Ok(filter)) => (filter, None),
        Some(Err(e)) => (EnvFilter::new(level.as_str()), Some(e)),
        None => (EnvFilter::new(level.as_str()), None),
    };
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .thread_name("wsgi-log")
        // The thread flushes whenever its queue is empty, so buffering
        // never holds a line back; under load it turns a write per line
        // into a write per batch.
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ));
    let dropped = writer.error_counter();
    // Fails only when the application installed its own subscriber: keep it.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .try_init()
        .ok()?;
    if let Some(e) = refused {
        tracing::warn!("RUST_LOG is not a valid filter ({e}); using log_level `{level}`");
    }
    Some(LogWriter {
        dropped,
        _guard: guard,
    })
}
