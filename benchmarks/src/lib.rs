//! The servers and tools behind `benchmarks/run.sh`: wsgi-rs, raw hyper and
//! axum serving the same workloads, plus the idle-connection client and the
//! report generator. Shared here so every server does exactly the same work:
//!
//! | path | workload |
//! |---|---|
//! | `/` | `Hello, World!`, `text/plain` |
//! | `/environ` | every environ variable (or, for the peers, the same values read from `http::Request`) as a JSON object |
//! | `/stream/small` | 1,000 chunks of 16 bytes, each produced by a future |
//! | `/stream/large` | 100 chunks of 64 KiB, each produced by a future |
//! | `POST /items/<id>` | typed handler: the id from the path and [`Item`] from the JSON body ([`ITEM_JSON`]), answered as JSON with the id set |

use std::borrow::Cow;
use std::net::SocketAddr;

use bytes::Bytes;
use clap::Parser;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

/// Command line shared by the benchmark servers.
#[derive(Debug, Parser)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8060")]
    pub bind: String,
    /// Worker threads (event loops).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Serve HTTP/2 (h2c, prior knowledge) instead of HTTP/1.1, for the
    /// peers that need choosing (raw hyper).
    #[arg(long)]
    pub h2: bool,
}

/// Builds the multi-thread runtime the peers run on.
pub fn runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
}

/// The plaintext answer.
pub const HELLO: &[u8] = b"Hello, World!";

/// `SERVER_SOFTWARE` as the peers report it.
pub const PEER_SOFTWARE: &str = "peer/1.0";

/// The request body of the typed-json workload (about 100 bytes), as
/// `benchmarks/post_item.lua` (wrk) and `benchmarks/callgrind.sh` (h2load)
/// send it.
pub const ITEM_JSON: &str = include_str!("../item.json");

/// The typed-json workload's document: read from the body, answered with
/// `id` set from the path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Replaced by the path's id.
    pub id: u64,
    /// A name.
    pub name: String,
    /// A description.
    pub description: String,
    /// A price.
    pub price: f64,
    /// Tags.
    pub tags: Vec<String>,
    /// In stock.
    pub in_stock: bool,
}

static LARGE_CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];
static SMALL_CHUNK: [u8; 16] = *b"0123456789abcdef";

/// A streamed workload: how many chunks of which bytes.
#[derive(Debug, Clone, Copy)]
pub struct StreamShape {
    /// Number of chunks.
    pub chunks: usize,
    /// Each chunk (static, so no copy is made anywhere).
    pub chunk: &'static [u8],
    /// Whether each chunk's future is pending once before it resolves
    /// (`yield_now`), as a future fed by I/O is; else ready at once.
    pub pending: bool,
}

impl StreamShape {
    /// The streamed workload served at `path`, if any.
    pub fn for_path(path: &str) -> Option<Self> {
        match path {
            "/stream/small" => Some(StreamShape {
                chunks: 1000,
                chunk: &SMALL_CHUNK,
                pending: false,
            }),
            "/stream/pending" => Some(StreamShape {
                chunks: 1000,
                chunk: &SMALL_CHUNK,
                pending: true,
            }),
            "/stream/large" => Some(StreamShape {
                chunks: 100,
                chunk: &LARGE_CHUNK[..],
                pending: false,
            }),
            _ => None,
        }
    }

    /// Total body length.
    pub fn len(&self) -> usize {
        self.chunks * self.chunk.len()
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The chunks as a stream, each one produced by a future (ready at
    /// once, or pending once first), as an asynchronous WSGI iterable of
    /// futures would.
    pub fn stream(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        futures_util::stream::iter(0..self.chunks).then(move |_| async move {
            if self.pending {
                tokio::task::yield_now().await;
            }
            Ok(Bytes::from_static(self.chunk))
        })
    }
}

/// The environ variables the peers derive from a request, with the same
/// names and values wsgi-rs gives (no `SCRIPT_NAME` mount, plain HTTP).
pub fn peer_vars<'a>(
    head: &'a http::request::Parts,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
    let mut vars: Vec<(Cow<'a, str>, Cow<'a, str>)> =
        Vec::with_capacity(16 + head.headers.keys_len());
    let uri = &head.uri;
    let path: Cow<'a, str> = percent_encoding::percent_decode_str(uri.path()).decode_utf8_lossy();
    let host = head
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let (server_name, server_port): (Cow<'a, str>, Cow<'a, str>) = match host {
        Some(host) => match host.rsplit_once(':') {
            Some((name, port)) => (Cow::Borrowed(name), Cow::Borrowed(port)),
            None => (Cow::Borrowed(host), Cow::Borrowed("80")),
        },
        None => match local {
            Some(local) => (
                Cow::Owned(local.ip().to_string()),
                Cow::Owned(local.port().to_string()),
            ),
            None => (Cow::Borrowed("localhost"), Cow::Borrowed("80")),
        },
    };
    let protocol = match head.version {
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2",
        _ => "HTTP/1.1",
    };
    vars.push(("REQUEST_METHOD".into(), head.method.as_str().into()));
    vars.push(("SCRIPT_NAME".into(), "".into()));
    vars.push(("PATH_INFO".into(), path));
    vars.push(("QUERY_STRING".into(), uri.query().unwrap_or("").into()));
    vars.push((
        "RAW_URI".into(),
        uri.path_and_query().map_or("*", |pq| pq.as_str()).into(),
    ));
    for (name, header) in [
        ("CONTENT_TYPE", http::header::CONTENT_TYPE),
        ("CONTENT_LENGTH", http::header::CONTENT_LENGTH),
    ] {
        if let Some(value) = head.headers.get(header).and_then(|v| v.to_str().ok()) {
            vars.push((name.into(), value.into()));
        }
    }
    vars.push(("SERVER_NAME".into(), server_name));
    vars.push(("SERVER_PORT".into(), server_port));
    vars.push(("SERVER_PROTOCOL".into(), protocol.into()));
    vars.push(("SERVER_SOFTWARE".into(), PEER_SOFTWARE.into()));
    if let Some(peer) = peer {
        vars.push(("REMOTE_ADDR".into(), peer.ip().to_string().into()));
        vars.push(("REMOTE_PORT".into(), peer.port().to_string().into()));
    }
    vars.push(("wsgi.url_scheme".into(), "http".into()));
    vars.push(("GATEWAY_INTERFACE".into(), "CGI/1.1".into()));
    for key in head.headers.keys() {
        if key == http::header::CONTENT_TYPE || key == http::header::CONTENT_LENGTH {
            continue;
        }
        let mut joined = Vec::new();
        for (i, value) in head.headers.get_all(key).iter().enumerate() {
            if i > 0 {
                joined.push(b',');
            }
            joined.extend_from_slice(value.as_bytes());
        }
        let name: String = "HTTP_"
            .chars()
            .chain(key.as_str().chars().map(|c| match c {
                '-' => '_',
                c => c.to_ascii_uppercase(),
            }))
            .collect();
        vars.push((
            name.into(),
            String::from_utf8_lossy(&joined).into_owned().into(),
        ));
    }
    vars
}

/// The environ workload's answer: `{"NAME": "value", ...}` in the given
/// order, written the same way for every server.
pub fn json_object<K: AsRef<str>, V: AsRef<str>>(vars: &[(K, V)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * vars.len());
    out.push(b'{');
    for (i, (name, value)) in vars.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, name.as_ref());
        out.push(b':');
        let _ = serde_json::to_writer(&mut out, value.as_ref());
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::{Item, ITEM_JSON};

    #[test]
    fn the_item_body_fits_item_and_is_about_100_bytes() {
        let item: Item = serde_json::from_str(ITEM_JSON).unwrap();
        assert_eq!(item.name, "Widget");
        assert!((90..=120).contains(&ITEM_JSON.trim_end().len()));
    }
}
