//! `GZip`: compress responses for clients that accept gzip.
//!
//! pulsar's `GZipMiddleware(min_length)`, with the rules users expect from
//! Django's and tower-http's: only what compresses well, only for clients
//! that asked, and a `Vary` header so caches keep the two forms apart.

use std::io::Write;

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;

use crate::environ::Environ;
use crate::error::Error;
use crate::middleware::{add_vary, ResponseMiddleware};
use crate::response::{Content, WsgiResponse};

/// A [`ResponseMiddleware`] that gzips the response body when all of these
/// hold:
///
/// - the status is `200`;
/// - the content is in memory ([`Content::Bytes`]; streamed bodies are left
///   alone so they keep streaming), at least `min_length` bytes long;
/// - the response has no `Content-Encoding` yet;
/// - the content type compresses well: `text/*`, `application/json`,
///   `application/javascript`, `application/xml`, any `+json` or `+xml`
///   type, `image/svg+xml`;
/// - the request's `Accept-Encoding` accepts `gzip` (or `*`) with `q > 0`;
///   `gzip;q=0` refuses it;
/// - the result is actually smaller.
///
/// When only `Accept-Encoding` decides (every other rule holds), the
/// response gets `Vary: Accept-Encoding` whether it is compressed or not,
/// so a cache never hands the gzip form to a client that did not ask for
/// it. A compressed response gets `Content-Encoding: gzip`, its
/// `Content-Length` is the compressed size, and a strong `ETag` becomes weak
/// (the bytes differ from the uncompressed form's).
///
/// ```
/// use wsgi_core::middleware::GZip;
/// use wsgi_core::WsgiHandler;
///
/// let handler = WsgiHandler::default().response_middleware(GZip::new(500));
/// // or, as pulsar spells it:
/// let handler = handler.response_middleware(GZip { min_length: 500 });
/// # let _ = handler;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct GZip {
    /// Bodies shorter than this (in bytes) are sent as they are: gzip's
    /// header and the CPU time are not worth it for them.
    pub min_length: usize,
}

impl GZip {
    /// Compresses bodies of at least `min_length` bytes.
    pub fn new(min_length: usize) -> Self {
        GZip { min_length }
    }
}

impl Default for GZip {
    /// `min_length` 200, pulsar's and Django's default.
    fn default() -> Self {
        GZip::new(200)
    }
}

impl ResponseMiddleware for GZip {
    async fn call(
        &self,
        environ: &mut Environ,
        mut response: WsgiResponse,
    ) -> Result<WsgiResponse, Error> {
        // A `Bytes` clone shares the buffer: no copy.
        let bytes = match response.content() {
            Content::Bytes(bytes) => bytes.clone(),
            Content::Stream(_) => return Ok(response),
        };
        if response.status() != StatusCode::OK
            || bytes.len() < self.min_length
            || response.headers().contains_key(header::CONTENT_ENCODING)
            || !response
                .content_type()
                .is_some_and(|ct| is_compressible(&ct))
        {
            return Ok(response);
        }
        add_vary(response.headers_mut(), "Accept-Encoding");
        if !accepts_gzip(environ.headers()) {
            return Ok(response);
        }
        let compressed = gzip(&bytes)?;
        if compressed.len() >= bytes.len() {
            return Ok(response);
        }
        response.set_content(Content::Bytes(Bytes::from(compressed)));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        weaken_etag(headers);
        Ok(response)
    }
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::default());
    // Writing to a `Vec` only fails when memory does.
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map_err(|e| Error::msg(format!("gzip: compressing the response failed: {e}")))
}

/// Whether a `Content-Type` value names a type worth compressing.
fn is_compressible(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    // Case-insensitive without lower-casing a copy: this runs per response.
    let has_prefix = |prefix: &str| {
        essence
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    let has_suffix = |suffix: &str| {
        essence
            .len()
            .checked_sub(suffix.len())
            .and_then(|start| essence.get(start..))
            .is_some_and(|s| s.eq_ignore_ascii_case(suffix))
    };
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    if kind.is_empty() || subtype.is_empty() {
        return false;
    }
    has_prefix("text/")
        || [
            "application/json",
            "application/javascript",
            "application/xml",
            "image/svg+xml",
        ]
        .iter()
        .any(|known| essence.eq_ignore_ascii_case(known))
        || has_suffix("+json")
        || has_suffix("+xml")
}

/// Whether `Accept-Encoding` accepts gzip (RFC 9110 §12.5.3): an explicit
/// `gzip` (or its alias `x-gzip`) entry decides by its `q`; otherwise `*`
/// does; otherwise no. Entries with a malformed `q` are ignored.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip_q: Option<f32> = None;
    let mut any_q: Option<f32> = None;
    let entries = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for entry in entries {
        let mut parts = entry.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let Some(q) = quality(parts) else {
            continue;
        };
        let slot = if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut gzip_q
        } else if coding == "*" {
            &mut any_q
        } else {
            continue;
        };
        // A coding listed twice: take the more favourable weight.
        *slot = Some(slot.map_or(q, |old| old.max(q)));
    }
    gzip_q.or(any_q).is_some_and(|q| q > 0.0)
}

/// The `q` weight among an entry's parameters: 1 when absent, `None` when
/// malformed (RFC 9110: `0` to `1` with at most three decimals).
fn quality<'a>(params: impl Iterator<Item = &'a str>) -> Option<f32> {
    let mut q = 1.0;
    for param in params {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("q") {
            continue;
        }
        let value = value.trim();
        let well_formed = match value.split_once('.') {
            Some((int, frac)) => {
                (int == "0" || int == "1")
                    && frac.len() <= 3
                    && frac.bytes().all(|b| b.is_ascii_digit())
            }
            None => value == "0" || value == "1",
        };
        if !well_formed {
            return None;
        }
        q = value.parse::<f32>().ok().filter(|q| *q <= 1.0)?;
    }
    Some(q)
}

/// `ETag: "x"` becomes `W/"x"`: a strong validator promises identical
/// bytes, which the compressed form no longer has.
fn weaken_etag(headers: &mut HeaderMap) {
    let Some(etag) = headers.get(header::ETAG) else {
        return;
    };
    if etag.as_bytes().starts_with(b"W/") {
        return;
    }
    let mut weak = Vec::with_capacity(etag.len() + 2);
    weak.extend_from_slice(b"W/");
    weak.extend_from_slice(etag.as_bytes());
    if let Ok(weak) = HeaderValue::from_bytes(&weak) {
        headers.insert(header::ETAG, weak);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_headers(accept_encoding: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in accept_encoding {
            headers.append(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn accept_encoding_rules() {
        let yes = [
            &["gzip"][..],
            &["deflate, gzip;q=0.5"],
            &["GZIP"],
            &["x-gzip"],
            &["*"],
            &["br", "gzip"],
            &["gzip;q=0, gzip;q=0.1"],
            &["gzip; Q=1.000"],
            &["identity;q=0, *;q=0.2"],
        ];
        for value in yes {
            assert!(accepts_gzip(&request_headers(value)), "{value:?}");
        }
        let no = [
            &[][..],
            &["gzip;q=0"],
            &["gzip;q=0.000"],
            &["deflate, br"],
            &["*;q=0"],
            &["*, gzip;q=0"],
            &["gzip;q=abc"],
            &["gzip;q=1.5"],
            &["gzip;q=0.0001"],
            &["gzipx"],
            &["identity"],
        ];
        for value in no {
            assert!(!accepts_gzip(&request_headers(value)), "{value:?}");
        }
    }

    #[test]
    fn compressible_types() {
        for ct in [
            "text/plain; charset=utf-8",
            "TEXT/HTML",
            "application/json",
            "application/javascript",
            "application/xml",
            "application/problem+json",
            "application/atom+xml; charset=utf-8",
            "image/svg+xml",
        ] {
            assert!(is_compressible(ct), "{ct}");
        }
        for ct in [
            "image/png",
            "application/octet-stream",
            "application/zip",
            "video/mp4",
            "+json",
            "text/",
            "/x+json",
            "",
        ] {
            assert!(!is_compressible(ct), "{ct}");
        }
    }

    #[test]
    fn strong_etags_become_weak() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, HeaderValue::from_static("\"abc\""));
        weaken_etag(&mut headers);
        assert_eq!(headers[header::ETAG], "W/\"abc\"");
        weaken_etag(&mut headers);
        assert_eq!(headers[header::ETAG], "W/\"abc\"");
    }

    #[tokio::test]
    async fn output_that_would_grow_is_sent_as_is() {
        let mut environ = Environ::from_request(
            http::Request::get("/")
                .header("accept-encoding", "gzip")
                .body(())
                .unwrap(),
        );
        // gzip's own header and trailer are 18 bytes: "ab" can only grow.
        let response = GZip::new(1)
            .call(&mut environ, WsgiResponse::text("ab"))
            .await
            .unwrap();
        assert!(!response.headers().contains_key(header::CONTENT_ENCODING));
        assert!(matches!(response.content(), Content::Bytes(b) if b == "ab"));
        assert_eq!(response.headers()[header::VARY], "Accept-Encoding");
    }
}
