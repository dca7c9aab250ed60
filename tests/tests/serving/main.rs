//! The server: connections and shutdown, the access log, the command line and
//! configuration, TLS, trusted proxies and the PROXY protocol, socket
//! activation, signals and graceful restarts, and deployment behind nginx.

mod access_log;
mod cli;
mod deployment;
mod nginx;
mod proxy_headers;
mod proxy_protocol;
mod restart;
mod server;
mod signals;
mod socket_activation;
mod tls;
