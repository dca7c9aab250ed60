//! A WebSocket echo load client: `--connections` sockets, each sending a
//! binary message of `--size` bytes and waiting for its echo, in a loop,
//! for `--seconds`. Prints one line: `messages_per_second <n>` (round
//! trips completed by all sockets, per second). Used by
//! `benchmarks/websocket.sh` against wsgi-rs and axum alike.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
struct Args {
    /// `HOST:PORT` of the server; the socket is opened at `/ws`.
    #[arg(long)]
    addr: String,
    /// Sockets open at once.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Bytes per message.
    #[arg(long, default_value_t = 16)]
    size: usize,
    /// How long to measure (after every socket is open).
    #[arg(long, default_value_t = 4.0)]
    seconds: f64,
    /// Client threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let runtime = wsgi_benchmarks::runtime(args.threads)?;
    runtime.block_on(async move {
        let done = Arc::new(AtomicU64::new(0));
        let measuring = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let payload = bytes::Bytes::from(vec![b'x'; args.size]);
        let url = format!("ws://{}/ws", args.addr);
        let mut sockets = Vec::with_capacity(args.connections);
        for _ in 0..args.connections {
            let stream = tokio::net::TcpStream::connect(&args.addr).await?;
            stream.set_nodelay(true)?;
            let config = WebSocketConfig::default().max_message_size(None);
            let (socket, _) =
                tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(config))
                    .await?;
            sockets.push(socket);
        }
        let tasks: Vec<_> = sockets
            .into_iter()
            .map(|mut socket| {
                let (done, measuring, stop) =
                    (Arc::clone(&done), Arc::clone(&measuring), Arc::clone(&stop));
                let payload = payload.clone();
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        if socket.send(Message::Binary(payload.clone())).await.is_err() {
                            return Err("send failed");
                        }
                        match socket.next().await {
                            Some(Ok(Message::Binary(echo))) if echo.len() == payload.len() => {}
                            _ => return Err("no echo"),
                        }
                        if measuring.load(Ordering::Relaxed) {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    let _ = socket.close(None).await;
                    Ok(())
                })
            })
            .collect();
        // A short warm-up, then the measured window.
        tokio::time::sleep(Duration::from_millis(300)).await;
        measuring.store(true, Ordering::Relaxed);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
        let count = done.load(Ordering::Relaxed);
        let elapsed = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await??;
        }
        println!("messages_per_second {:.0}", count as f64 / elapsed);
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
