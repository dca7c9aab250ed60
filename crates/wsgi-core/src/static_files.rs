//! `StaticFiles`: serve a directory under a URL prefix.
//!
//! pulsar's `StaticFiles`: `GET /media/css/site.css` answers with the file
//! `<root>/css/site.css`. The rules:
//!
//! - the content type comes from the extension (`mime_guess`),
//!   `application/octet-stream` when unknown;
//! - every file answer carries `ETag`, `Last-Modified` and
//!   `Accept-Ranges: bytes`; `If-None-Match` (or, without it,
//!   `If-Modified-Since`) that still holds is answered `304 Not Modified`
//!   with no body;
//! - a single `Range: bytes=…` is answered `206 Partial Content` with
//!   `Content-Range`, an unsatisfiable one `416` with `Content-Range:
//!   bytes */<size>`; several ranges, or an `If-Range` that no longer
//!   matches, get the whole file (RFC 9110 allows both);
//! - the file is streamed in chunks ([`Body::from_reader`]), never read
//!   whole;
//! - `..` segments (also sent as `%2e%2e`), backslashes, NUL bytes, paths
//!   that are not UTF-8, and files that resolve (through symlinks) outside
//!   the root are `404 Not Found`, as if they did not exist: the request
//!   path is joined segment by segment, canonicalized, and must stay under
//!   the canonical root;
//! - a directory is served through its index file when one is set
//!   ([`StaticFiles::index`]), else it is 404;
//! - methods other than `GET` and `HEAD` are `405` with `Allow`;
//! - paths outside the prefix pass to the next middleware.
//!
//! ```no_run
//! use wsgi_core::static_files::StaticFiles;
//! use wsgi_core::WsgiHandler;
//!
//! let handler = WsgiHandler::default()
//!     .middleware(StaticFiles::new("/media", "./media").index("index.html"));
//! # let _ = handler;
//! ```

use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::body::Body;
use crate::environ::Environ;
use crate::error::{Error, HttpError};
use crate::middleware::RequestMiddleware;
use crate::response::{Content, WsgiResponse};

/// Serves files under a directory at a URL prefix. See the
/// [module docs](self).
#[derive(Debug, Clone)]
pub struct StaticFiles {
    prefix: String,
    root: PathBuf,
    index: Option<String>,
    chunk_size: usize,
}

impl StaticFiles {
    /// Serves `root` at `prefix` (such as `/media`; a trailing `/` is
    /// ignored, and `/` serves the whole site).
    pub fn new(prefix: impl Into<String>, root: impl Into<PathBuf>) -> Self {
        let prefix = prefix.into().trim_end_matches('/').to_owned();
        StaticFiles {
            prefix,
            root: root.into(),
            index: None,
            chunk_size: 64 * 1024,
        }
    }

    /// Serves directories through this file (e.g. `index.html`).
    pub fn index(mut self, file_name: impl Into<String>) -> Self {
        self.index = Some(file_name.into());
        self
    }

    /// The size of the chunks the file is streamed in (64 KiB by default).
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes.max(1);
        self
    }

    /// The request path below the prefix, or `None` when the request is not
    /// for this router.
    fn relative<'a>(&self, path: &'a [u8]) -> Option<&'a [u8]> {
        let rest = path.strip_prefix(self.prefix.as_bytes())?;
        (rest.is_empty() || rest.starts_with(b"/")).then_some(rest)
    }

    /// The canonical file for `relative`, or `None` (answered 404) when it
    /// does not exist or is not allowed.
    async fn resolve(&self, relative: &[u8]) -> Option<(PathBuf, std::fs::Metadata)> {
        let relative = std::str::from_utf8(relative).ok()?;
        let root = tokio::fs::canonicalize(&self.root).await.ok()?;
        let mut candidate = root.clone();
        for segment in relative.split('/').filter(|s| !s.is_empty() && *s != ".") {
            // `..` could climb out; `\` and NUL mean other things to
            // filesystems; a segment must be one plain name.
            if segment == ".."
                || segment.contains('\\')
                || segment.contains('\0')
                || !matches!(
                    Path::new(segment).components().next(),
                    Some(Component::Normal(_))
                )
            {
                return None;
            }
            candidate.push(segment);
        }
        let mut file = within(&root, &candidate).await?;
        let mut metadata = tokio::fs::metadata(&file).await.ok()?;
        if metadata.is_dir() {
            let index = self.index.as_ref()?;
            file = within(&root, &file.join(index)).await?;
            metadata = tokio::fs::metadata(&file).await.ok()?;
        }
        metadata.is_file().then_some((file, metadata))
    }
}

/// `path` canonicalized (symlinks resolved), if it stays under `root`.
async fn within(root: &Path, path: &Path) -> Option<PathBuf> {
    let canonical = tokio::fs::canonicalize(path).await.ok()?;
    canonical.starts_with(root).then_some(canonical)
}

/// A strong validator from the size and modification time: it changes
/// whenever the file is rewritten.
fn etag(size: u64, modified: Option<SystemTime>) -> String {
    let nanos = modified
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("\"{size:x}-{nanos:x}\"")
}

/// Whether an `If-None-Match` list names `etag` (weak comparison, as
/// RFC 9110 asks for this header).
fn none_match(header: &str, etag: &str) -> bool {
    let bare = etag.trim_start_matches("W/");
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == bare)
}

/// Whether the client's copy is current: `If-None-Match` when present,
/// else `If-Modified-Since`.
fn not_modified(headers: &HeaderMap, etag: &str, modified: Option<SystemTime>) -> bool {
    if let Some(value) = headers.get(header::IF_NONE_MATCH) {
        return value.to_str().is_ok_and(|v| none_match(v, etag));
    }
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    match (since, modified) {
        // HTTP dates have whole seconds: compare at that precision.
        (Some(since), Some(modified)) => {
            let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            secs(modified) <= secs(since)
        }
        _ => false,
    }
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    /// Serve the whole file (no range, or one this router does not honour).
    Full,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// No byte of the range exists: 416.
    Unsatisfiable,
}

fn parse_range(value: &str, size: u64) -> RangeRequest {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        // `bytes=-N`: the last N bytes.
        (true, false) => match parse(last) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(n) if size > 0 => RangeRequest::Part {
                start: size.saturating_sub(n),
                end: size - 1,
            },
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Full,
        },
        // `bytes=N-`: from N to the end.
        (false, true) => match parse(first) {
            Some(start) if start < size => RangeRequest::Part {
                start,
                end: size - 1,
            },
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Full,
        },
        (false, false) => match (parse(first), parse(last)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= size {
                    RangeRequest::Unsatisfiable
                } else {
                    RangeRequest::Part {
                        start,
                        end: end.min(size - 1),
                    }
                }
            }
            _ => RangeRequest::Full,
        },
        (true, true) => RangeRequest::Full,
    }
}

fn header_value(value: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(value).map_err(Error::new)
}

impl RequestMiddleware for StaticFiles {
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        let path = environ.path_info_bytes();
        let Some(relative) = self.relative(&path) else {
            return Ok(None);
        };
        let relative = relative.to_vec();
        drop(path);
        let method = environ.method();
        if method != Method::GET && method != Method::HEAD {
            return Err(HttpError::method_not_allowed(&[Method::GET, Method::HEAD]).into());
        }
        let Some((file_path, metadata)) = self.resolve(&relative).await else {
            return Err(HttpError::not_found().into());
        };
        let size = metadata.len();
        let modified = metadata.modified().ok();
        let etag = etag(size, modified);
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, header_value(&etag)?);
        if let Some(modified) = modified {
            headers.insert(
                header::LAST_MODIFIED,
                header_value(&httpdate::fmt_http_date(modified))?,
            );
        }
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));

        if not_modified(environ.headers(), &etag, modified) {
            let mut response = WsgiResponse::new(StatusCode::NOT_MODIFIED);
            *response.headers_mut() = headers;
            return Ok(Some(response));
        }

        let content_type = mime_guess::from_path(&file_path)
            .first_or_octet_stream()
            .essence_str()
            .to_owned();
        let if_range_holds = environ
            .headers()
            .get(header::IF_RANGE)
            .map(|v| {
                v.as_bytes() == etag.as_bytes()
                    || headers
                        .get(header::LAST_MODIFIED)
                        .is_some_and(|lm| lm.as_bytes() == v.as_bytes())
            })
            .unwrap_or(true);
        let range = match environ.headers().get(header::RANGE) {
            Some(value) if if_range_holds && method == Method::GET => value
                .to_str()
                .map_or(RangeRequest::Full, |v| parse_range(v, size)),
            _ => RangeRequest::Full,
        };

        let (status, start, length) = match range {
            RangeRequest::Full => (StatusCode::OK, 0, size),
            RangeRequest::Part { start, end } => {
                headers.insert(
                    header::CONTENT_RANGE,
                    header_value(&format!("bytes {start}-{end}/{size}"))?,
                );
                (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
            }
            RangeRequest::Unsatisfiable => {
                headers.insert(
                    header::CONTENT_RANGE,
                    header_value(&format!("bytes */{size}"))?,
                );
                let mut response = WsgiResponse::text(format!(
                    "The requested range is outside the file's {size} bytes."
                ))
                .with_status(StatusCode::RANGE_NOT_SATISFIABLE);
                response.headers_mut().extend(headers);
                return Ok(Some(response));
            }
        };

        let mut file = tokio::fs::File::open(&file_path).await.map_err(|e| {
            Error::with_status(
                StatusCode::NOT_FOUND,
                format!("cannot open {}: {e}", file_path.display()),
            )
        })?;
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start)).await?;
        }
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        let mut response = WsgiResponse::new(status);
        response.set_content_type(content_type);
        response.headers_mut().extend(headers);
        // `take` stops at the range's end even if the file grows meanwhile;
        // the declared length makes a file that shrank an error, not a
        // silently short answer.
        response.set_content(Content::Stream(Body::from_reader(
            file.take(length),
            self.chunk_size,
        )));
        Ok(Some(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_parsed_as_rfc_9110_says() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-4", 10), Part { start: 0, end: 4 });
        assert_eq!(parse_range("bytes=5-", 10), Part { start: 5, end: 9 });
        assert_eq!(parse_range("bytes=-3", 10), Part { start: 7, end: 9 });
        assert_eq!(parse_range("bytes=-30", 10), Part { start: 0, end: 9 });
        assert_eq!(parse_range("bytes=8-100", 10), Part { start: 8, end: 9 });
        assert_eq!(parse_range("bytes=10-", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=10-12", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,3-4", 10), Full);
        assert_eq!(parse_range("items=0-1", 10), Full);
        assert_eq!(parse_range("bytes=4-2", 10), Full);
    }

    #[test]
    fn if_none_match_compares_weakly() {
        assert!(none_match("\"a\", W/\"b\"", "\"b\""));
        assert!(none_match("*", "\"x\""));
        assert!(!none_match("\"c\"", "\"b\""));
    }
}
