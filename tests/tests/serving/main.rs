//! The server: connections and shutdown, the command line and
//! configuration, TLS, trusted proxies and the PROXY protocol, socket
//! activation, signals and graceful restarts, deployment behind nginx,
//! WebSocket and Server-Sent Events.

mod cli;
mod deployment;
mod nginx;
mod proxy_headers;
mod proxy_protocol;
mod restart;
mod server;
mod signals;
mod socket_activation;
mod sse;
mod tls;
mod websocket;
mod websocket_clients;
