//! A worker's accept loop: accepts from every listener within
//! `max_connections`, starts a task per connection, and drains on shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::application::Application;
use crate::config::Config;
use crate::connection::{Connection, ServerState};

use super::acceptor::Tls;
use super::generation::Generation;
use super::hooks::Hooks;
use super::hyper_service::ConnService;
use super::hyper_settings::{connection_builders, Builders};
use super::listener::{Accepted, BoundAddr, Listener, StdListener};
use super::proxy_protocol;
use super::serving::Serving;
use crate::service::HostCache;

/// What one worker needs to serve.
pub(super) struct Worker<A> {
    pub(super) app: A,
    pub(super) config: Arc<Config>,
    pub(super) hooks: Arc<Hooks>,
    pub(super) tls: Option<Tls>,
    pub(super) shutdown: watch::Receiver<bool>,
    pub(super) state: Arc<ServerState>,
}

impl<A: Application + Clone> Worker<A> {
    /// The accept loop: serves connections until shutdown, then drains.
    pub(super) async fn run(mut self, listeners: Vec<StdListener>, ready: Option<Vec<BoundAddr>>) {
        let listeners = match listeners
            .into_iter()
            .map(StdListener::into_tokio)
            .collect::<io::Result<Vec<_>>>()
        {
            Ok(listeners) => listeners,
            Err(e) => {
                tracing::error!(error = %e, "worker cannot listen");
                return;
            }
        };
        if let (Some(addrs), Some(hook)) = (ready, &self.hooks.when_ready) {
            tokio::spawn(hook(addrs));
        }
        // Every listener as one stream of accepted connections; the pending
        // accepts live in the stream, so dropping out of `select!` loses none.
        let mut incoming = futures_util::stream::select_all(listeners.into_iter().map(|l| {
            Box::pin(futures_util::stream::unfold(l, |l: Listener| async move {
                let accepted = l.accept().await;
                Some((accepted, l))
            }))
        }));
        let config = Arc::clone(&self.config);
        let limit =
            (config.max_connections > 0).then(|| Arc::new(Semaphore::new(config.max_connections)));
        let builder = Arc::new(connection_builders(&config));
        let mut generation = Generation::new(self.app.clone(), &config);
        let mut retired = JoinSet::new();
        loop {
            // At the connection limit nothing is accepted: new connections
            // wait in the kernel's backlog.
            let permit = match &limit {
                Some(limit) => tokio::select! {
                    biased;
                    _ = self.shutdown.wait_for(|stop| *stop) => break,
                    permit = Arc::clone(limit).acquire_owned() => permit.ok(),
                },
                None => None,
            };
            let accepted = tokio::select! {
                biased;
                _ = self.shutdown.wait_for(|stop| *stop) => break,
                () = generation.exhausted() => {
                    let fresh = Generation::new(self.app.clone(), &config);
                    let old = std::mem::replace(&mut generation, fresh);
                    tracing::info!("max_requests reached: restarting the worker's application");
                    while retired.try_join_next().is_some() {}
                    retired.spawn(old.drain(config.shutdown_timeout));
                    continue;
                }
                accepted = incoming.next() => accepted,
            };
            match accepted {
                Some(Ok(accepted)) => self.accept(&mut generation, &builder, accepted, permit),
                Some(Err(e)) => {
                    // Out of file descriptors or a connection reset before
                    // accept: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                None => break,
            }
        }
        // Connections the kernel completed before the listeners close wait
        // in their queues, and closing a listener resets them: a client
        // (a proxy) that already sent a request on one gets no answer.
        // Serve them as closing connections. `yield_now` lets the event
        // loop see them first.
        tokio::task::yield_now().await;
        while let Some(Some(Ok(accepted))) = incoming.next().now_or_never() {
            self.accept(&mut generation, &builder, accepted, None);
        }
        drop(incoming);
        generation.drain(config.shutdown_timeout).await;
        while retired.join_next().await.is_some() {}
    }

    /// Serves a connection just accepted.
    pub(super) fn accept(
        &self,
        generation: &mut Generation<A>,
        builder: &Arc<Builders>,
        accepted: Accepted,
        permit: Option<OwnedSemaphorePermit>,
    ) {
        match accepted {
            Accepted::Tcp(stream, peer) => {
                tune(&stream, &self.config);
                let local = stream.local_addr().ok();
                self.serve(generation, builder, stream, Some(peer), local, permit);
            }
            #[cfg(unix)]
            Accepted::Unix(stream) => self.serve(generation, builder, stream, None, None, permit),
        }
    }

    /// Serves one accepted connection as a task of `generation`.
    pub(super) fn serve<IO>(
        &self,
        generation: &mut Generation<A>,
        builder: &Arc<Builders>,
        io: IO,
        peer: Option<SocketAddr>,
        local: Option<SocketAddr>,
        permit: Option<OwnedSemaphorePermit>,
    ) where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let connection = Connection::build(
            tokio::runtime::Handle::current(),
            peer,
            local,
            self.tls.is_some(),
            Some(Arc::clone(&self.state)),
            Some(Arc::clone(&generation.mark)),
        );
        let service = ConnService {
            service: generation.service.clone(),
            connection: connection.clone(),
            counter: generation.counter.clone(),
            hooks: Arc::clone(&self.hooks),
            hosts: HostCache::default(),
        };
        let serving = Serving {
            connection,
            service,
            builder: Arc::clone(builder),
            stop: generation.stop.subscribe(),
            hooks: Arc::clone(&self.hooks),
            keep_alive: self.config.http_keep_alive,
            header_timeout: self.config.header_read_timeout,
        };
        let tls = self.tls.clone();
        let proxy_protocol = self.config.proxy_protocol;
        // Reap finished connections so the set does not grow.
        while generation.connections.try_join_next().is_some() {}
        generation.connections.spawn(async move {
            // Held until the connection ends: frees a `max_connections` slot.
            let _permit = permit;
            if !proxy_protocol {
                return serving.start(tls, io).await;
            }
            match proxy_protocol::accept(io, serving.header_timeout).await {
                Ok((source, io)) => {
                    if let Some(source) = source {
                        serving.connection.set_proxied_addr(source);
                    }
                    serving.start(tls, io).await;
                }
                Err(e) => tracing::debug!(
                    error = %e,
                    peer = ?serving.connection.peer_addr(),
                    "closing a connection without a valid PROXY header"
                ),
            }
        });
    }
}

/// Applies the TCP options of `config` to an accepted connection; a
/// connection that refuses one is still served.
fn tune(stream: &tokio::net::TcpStream, config: &Config) {
    let _ = stream.set_nodelay(config.tcp_nodelay);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_accepted_connection_follows_the_tcp_nodelay_setting() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        for on in [false, true, false] {
            let config = Config::builder().tcp_nodelay(on).build().unwrap();
            tune(&server, &config);
            assert_eq!(server.nodelay().unwrap(), on);
        }
        assert!(Config::default().tcp_nodelay, "on by default");
    }
}
