//! Opens `--connections` keep-alive connections to a server on loopback,
//! sends one request on each and reads its response, then keeps them all
//! idle until `--hold` has passed (or stdin closes), so the server's
//! resident memory can be read with that many idle connections open.
//!
//! ```text
//! idle_clients --addr 127.0.0.1:18090 --connections 10000 --hold 30
//! ```
//!
//! Prints `ready N` on stdout once every connection has its response.

use std::io::Write;
use std::time::Duration;

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
struct Args {
    /// The server's address (loopback).
    #[arg(long)]
    addr: std::net::SocketAddr,
    /// How many connections to open.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Seconds to keep the connections open after they are ready.
    #[arg(long, default_value_t = 30)]
    hold: u64,
}

/// Connects, sends one keep-alive request, reads until the end of its
/// (small, `Content-Length`) response.
async fn open(addr: std::net::SocketAddr) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        .await?;
    let mut buf = Vec::with_capacity(512);
    loop {
        let mut chunk = [0u8; 512];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other("closed before the response"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.ends_with(wsgi_benchmarks::HELLO) {
            return Ok(stream);
        }
    }
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let mut open_streams = Vec::with_capacity(args.connections);
            // In batches, so the server's accept backlog is not overrun.
            let batch = 500;
            let mut failed = 0usize;
            for start in (0..args.connections).step_by(batch) {
                let end = (start + batch).min(args.connections);
                let tasks: Vec<_> = (start..end)
                    .map(|_| tokio::spawn(open(args.addr)))
                    .collect();
                for task in tasks {
                    match task.await {
                        Ok(Ok(stream)) => open_streams.push(stream),
                        _ => failed += 1,
                    }
                }
            }
            println!("ready {} failed {failed}", open_streams.len());
            std::io::stdout().flush()?;
            tokio::time::sleep(Duration::from_secs(args.hold)).await;
            drop(open_streams);
            Ok(())
        })
}
