//! Peer servers for the load benchmarks in `benchmarks/run.sh`: the same
//! plaintext `Hello, World!` served by raw hyper and by axum, to compare
//! wsgi-rs against in the same run.

use clap::Parser;

/// Command line shared by the peer servers.
#[derive(Debug, Parser)]
pub struct PeerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8060")]
    pub bind: String,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

/// Builds the multi-thread runtime the peers run on.
pub fn runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
}
