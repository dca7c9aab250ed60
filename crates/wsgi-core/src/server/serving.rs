//! One connection's task: the TLS handshake, the protocol sniffed from the
//! first bytes, hyper's HTTP/1 or HTTP/2 connection, a WebSocket after a
//! `101`, and what a shutdown does to each.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::application::Application;
use crate::connection::Connection;

use super::acceptor::Tls;
use super::hooks::Hooks;
use super::hyper_service::ConnService;
use super::hyper_settings::Builders;
use super::protocol::{self, Protocol, Rewind};
use super::timeouts::TimedIo;
use super::when_woken::WhenWoken;

/// One connection, ready to be served once its stream is (after the TLS
/// handshake, if any).
pub(super) struct Serving<A: ?Sized> {
    pub(super) connection: Connection,
    pub(super) service: ConnService<A>,
    pub(super) builder: Arc<Builders>,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) hooks: Arc<Hooks>,
    pub(super) keep_alive: Duration,
    pub(super) header_timeout: Duration,
}

/// Runs what a connection became after a `101` (a WebSocket) within the
/// connection's task; a shutdown meanwhile marks the connection closing,
/// which the socket answers (a WebSocket sends close 1001).
pub(super) async fn run_upgraded(
    upgraded: crate::connection::UpgradeTask,
    connection: &Connection,
    stop: &mut watch::Receiver<bool>,
) {
    tokio::pin!(upgraded);
    tokio::select! {
        biased;
        () = upgraded.as_mut() => return,
        () = WhenWoken::new(stopped(stop)) => connection.begin_closing(),
    }
    upgraded.await;
}

/// Resolves once the server stops (or is dropped). The `watch` borrow is
/// released before returning, never held across an await.
pub(super) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

impl<A: Application + ?Sized> Serving<A> {
    /// Serves the connection, after the TLS handshake if any.
    pub(super) async fn start<IO>(self, tls: Option<Tls>, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        match tls {
            None => self.run(io).await,
            #[cfg(feature = "tls")]
            // Boxed: a task's memory is the size of its largest state, and
            // the TLS session's would be paid by every plaintext connection,
            // idle ones included.
            Some(acceptor) => {
                Box::pin(async move {
                    let handshake =
                        tokio::time::timeout(self.header_timeout, acceptor.0.accept(io)).await;
                    match handshake {
                        Ok(Ok(stream)) => self.run(stream).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake not finished in time"),
                    }
                })
                .await
            }
            #[cfg(not(feature = "tls"))]
            Some(never) => match never {},
        }
    }

    pub(super) async fn run<IO>(self, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Serving {
            connection,
            service,
            builder,
            mut stop,
            hooks,
            keep_alive,
            header_timeout,
        } = self;
        if let Some(hook) = &hooks.connection_made {
            hook(connection.clone()).await;
        }
        let mut io = TimedIo::new(io, connection.clone(), keep_alive, header_timeout);
        // The protocol, from the first bytes (within the head deadline, like
        // the rest of the first request). A shutdown meanwhile marks the
        // connection closing: `TimedIo` ends it once quiet unless a request
        // begins to arrive, which is then served.
        let sniffed = {
            let sniff = protocol::sniff(&mut io);
            tokio::pin!(sniff);
            tokio::select! {
                biased;
                () = WhenWoken::new(stopped(&mut stop)) => {
                    connection.begin_closing();
                    sniff.await
                }
                sniffed = sniff.as_mut() => sniffed,
            }
        };
        // Shutdown (or the server dropped), once serving. HTTP/2: GOAWAY,
        // then the open streams finish. HTTP/1: not hyper's graceful
        // shutdown, which closes a connection between requests at once, even
        // with the next request already in the socket. Instead responses
        // made from now on say `Connection: close` (`respond_with`), and an
        // idle connection ends once quiet (`TimedIo`). The stop is polled
        // first: a connection accepted during the shutdown must be closing
        // before its first request is read.
        let served: Result<(), crate::error::BoxError> = match sniffed {
            Ok((protocol, prefix, len)) => {
                let io = TokioIo::new(Rewind::new(io, prefix, len));
                match protocol {
                    Protocol::Http1 => {
                        // With upgrades: after a `101` hyper hands the
                        // socket to the task the application left on the
                        // connection (a WebSocket), which runs below.
                        let conn = builder.http1.serve_connection(io, service).with_upgrades();
                        tokio::pin!(conn);
                        // A response that ends during this poll starts the
                        // idle deadline without waking the task again
                        // (`Connection::poll_watching_ends`).
                        let mut conn =
                            poll_fn(|cx| connection.poll_watching_ends(conn.as_mut(), cx));
                        let served = tokio::select! {
                            biased;
                            () = WhenWoken::new(stopped(&mut stop)) => {
                                connection.begin_closing();
                                conn.await
                            }
                            result = &mut conn => result,
                        };
                        if let Some(upgraded) = connection.take_upgrade() {
                            run_upgraded(upgraded, &connection, &mut stop).await;
                        }
                        served.map_err(Into::into)
                    }
                    // Boxed for the same reason as TLS: HTTP/1 connections
                    // should not carry the size of an HTTP/2 one.
                    Protocol::Http2 => {
                        connection.mark_http2();
                        let closing = connection.clone();
                        Box::pin(async move {
                            let conn = builder.http2.serve_connection(io, service);
                            tokio::pin!(conn);
                            tokio::select! {
                                biased;
                                () = WhenWoken::new(stopped(&mut stop)) => {
                                    closing.begin_closing();
                                    conn.as_mut().graceful_shutdown();
                                    conn.await
                                }
                                result = conn.as_mut() => result,
                            }
                        })
                        .await
                        .map_err(Into::into)
                    }
                }
            }
            Err(e) => Err(e.into()),
        };
        if let Err(e) = served {
            tracing::debug!(error = %e, connection = connection.id(), "connection ended with an error");
        }
        if let Some(hook) = &hooks.connection_lost {
            hook(connection).await;
        }
    }
}
