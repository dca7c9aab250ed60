//! The `tracing` subscriber [`Server::run`](super::Server::run) installs.

pub(super) fn init_logging(level: &crate::config::LogLevel) {
    use tracing_subscriber::EnvFilter;
    let from_env =
        std::env::var_os(EnvFilter::DEFAULT_ENV).map(|_| EnvFilter::try_from_default_env());
    // `log_level` was checked when it was parsed, so `new` keeps all of it.
    let (filter, refused) = match from_env {
        Some(Ok(filter)) => (filter, None),
        Some(Err(e)) => (EnvFilter::new(level.as_str()), Some(e)),
        None => (EnvFilter::new(level.as_str()), None),
    };
    // Fails only when the application installed its own subscriber: keep it.
    let installed = tracing_subscriber::fmt().with_env_filter(filter).try_init();
    if let (Ok(()), Some(e)) = (installed, refused) {
        tracing::warn!("RUST_LOG is not a valid filter ({e}); using log_level `{level}`");
    }
}
