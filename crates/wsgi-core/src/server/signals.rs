//! SIGINT and SIGTERM: what starts [`Server::run`](super::Server::run)'s
//! graceful shutdown.

/// Registers for SIGINT and SIGTERM now, and returns a future that
/// resolves on the first of them. Registering before the server announces
/// itself matters: a signal arriving before registration would take the
/// default action and kill the process without draining.
pub(super) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let signals = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        );
        async move {
            match signals {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
