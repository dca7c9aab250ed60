//! hyper's HTTP/1 and HTTP/2 connection settings, made once per worker
//! from the [`Config`].

use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::config::Config;

/// hyper's default (and cheapest) `max_headers` for HTTP/1.
pub(super) const HYPER_MAX_HEADERS: usize = 100;

/// hyper's default `max_buf_size`: how much response body it queues
/// before writing (and the largest request head it reads).
pub(super) const HYPER_MAX_BUF_SIZE: usize = 8192 + 4096 * 100;

/// The HTTP/1 and HTTP/2 connection settings, made once per worker.
pub(super) struct Builders {
    pub(super) http1: http1::Builder,
    pub(super) http2: http2::Builder<TokioExecutor>,
}

pub(super) fn connection_builders(config: &Config) -> Builders {
    let mut http1 = http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        // `TimedIo` keeps the head and idle deadlines (see `timeouts`).
        .header_read_timeout(None)
        .keep_alive(!config.http_keep_alive.is_zero())
        .max_header_size(config.max_header_size);
    // The buffer also bounds the head hyper reads; the head limit itself is
    // `max_header_size`, so keep hyper's larger default, which lets several
    // body chunks go out in one write.
    if config.max_header_size > HYPER_MAX_BUF_SIZE {
        http1.max_buf_size(config.max_header_size);
    }
    // hyper's own limit is 100 headers, checked with arrays on the stack;
    // setting any limit makes it fill two heap arrays on every request.
    if config.max_headers != HYPER_MAX_HEADERS {
        http1.max_headers(config.max_headers);
    }
    let mut http2 = http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(config.max_header_size).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(config.http_keep_alive.max(Duration::from_secs(1))))
        .keep_alive_timeout(Duration::from_secs(20));
    // RFC 8441: WebSockets over HTTP/2 (`SETTINGS_ENABLE_CONNECT_PROTOCOL`),
    // answered by `WebSocketUpgrade` like an HTTP/1.1 upgrade.
    #[cfg(feature = "ws")]
    http2.enable_connect_protocol();
    Builders { http1, http2 }
}
