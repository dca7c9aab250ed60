//! [`ServerHandle`]: the running server's addresses and its graceful
//! shutdown.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use crate::connection::ServerState;

use super::hooks::Hooks;
use super::listener::BoundAddr;

/// A running server. Dropping it stops the server without waiting (and
/// without running the `when_exit` hook).
#[derive(Debug)]
pub struct ServerHandle {
    pub(super) addrs: Vec<BoundAddr>,
    /// The Unix socket files the server made (not the inherited ones).
    pub(super) unix_files: Vec<std::path::PathBuf>,
    pub(super) shutdown_tx: watch::Sender<bool>,
    pub(super) done: Vec<oneshot::Receiver<()>>,
    pub(super) hooks: Arc<Hooks>,
    pub(super) state: Arc<ServerState>,
    pub(super) drain: Duration,
}

impl ServerHandle {
    /// The first bound TCP address (with the real port when the configured
    /// one was 0).
    ///
    /// # Panics
    /// When the server listens only on Unix sockets; use
    /// [`local_addrs`](Self::local_addrs) then.
    pub fn local_addr(&self) -> SocketAddr {
        match self.addrs.iter().find_map(BoundAddr::as_tcp) {
            Some(addr) => addr,
            None => panic!("the server listens on no TCP address: use local_addrs()"),
        }
    }

    /// Every bound address, in the order of the `bind` setting, with the
    /// real ports.
    ///
    /// ```
    /// use wsgi_core::server::Server;
    /// use wsgi_core::{app_fn, Config, Environ, Error, StartResponse};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut config = Config::default();
    /// config.bind = vec!["127.0.0.1:0".parse().unwrap(), "127.0.0.1:0".parse().unwrap()];
    /// config.workers = 0;
    /// let app = app_fn(|_: &mut Environ, start_response: StartResponse| {
    ///     start_response.start("204 No Content", Vec::<(String, String)>::new())?;
    ///     Ok::<_, Error>("")
    /// });
    /// let server = Server::new(app).config(config).spawn().unwrap();
    /// let ports: Vec<u16> = server
    ///     .local_addrs()
    ///     .iter()
    ///     .filter_map(|addr| addr.as_tcp())
    ///     .map(|addr| addr.port())
    ///     .collect();
    /// assert!(ports.len() == 2 && ports.iter().all(|&port| port != 0));
    /// server.shutdown().await;
    /// # }
    /// ```
    pub fn local_addrs(&self) -> &[BoundAddr] {
        &self.addrs
    }

    /// Shuts the server down gracefully, as the
    /// [graceful shutdown](super#graceful-shutdown) describes, and returns
    /// once every worker has stopped and `when_exit` has run.
    pub async fn shutdown(mut self) {
        self.state.draining.store(true, Ordering::Release);
        if !self.drain.is_zero() {
            tracing::info!(
                "draining for {:?}: readiness reports 503 while requests are still served",
                self.drain
            );
            tokio::time::sleep(self.drain).await;
        }
        let _ = self.shutdown_tx.send(true);
        for done in self.done.drain(..) {
            let _ = done.await;
        }
        for path in &self.unix_files {
            let _ = std::fs::remove_file(path);
        }
        if let Some(hook) = &self.hooks.when_exit {
            hook(()).await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}
