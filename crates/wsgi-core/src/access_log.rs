//! The access-log line template (`access_log_format`).
//!
//! A template is text with `{placeholder}`s, replaced for each response:
//!
//! | placeholder | value |
//! |---|---|
//! | `{peer}` | the connection's peer `IP:PORT`, or the PROXY protocol source (`-` on a Unix socket) |
//! | `{remote_addr}` | the environ's `REMOTE_ADDR`: the client named by a trusted proxy's forwarding headers, else the peer's address (`-` when unknown) |
//! | `{method}` | the request method |
//! | `{uri}` | the request target as sent (path and query) |
//! | `{path}` | the path of the request target |
//! | `{query}` | the query string (empty when absent) |
//! | `{version}` | `HTTP/1.0`, `HTTP/1.1`, `HTTP/2` |
//! | `{status}` | the response status code |
//! | `{bytes}` | body bytes sent |
//! | `{duration_ms}` | milliseconds from the request to the end of its body |
//! | `{outcome}` | `completed`, `failed` or `aborted` (the client went away) |
//! | `{user_agent}`, `{referer}` | those request headers, `-` when absent |
//!
//! `{{` and `}}` write a literal brace. The default is
//! `{peer} "{method} {uri} {version}" {status} {bytes} {duration_ms}ms`.
//! An unknown placeholder is a configuration error, reported at start-up.
//!
//! ```
//! use wsgi_core::access_log::AccessLogFormat;
//!
//! assert!(AccessLogFormat::parse("{method} {path} {status}").is_ok());
//! let err = AccessLogFormat::parse("{methd}").unwrap_err();
//! assert!(err.contains("methd"));
//! ```

use std::fmt::{self, Write};
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Method, StatusCode, Version};

use crate::body::Outcome;
use crate::environ::Environ;

/// The default `access_log_format`.
pub const DEFAULT_FORMAT: &str =
    r#"{peer} "{method} {uri} {version}" {status} {bytes} {duration_ms}ms"#;

/// One value a template can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    /// `{peer}`
    Peer,
    /// `{remote_addr}`
    RemoteAddr,
    /// `{method}`
    Method,
    /// `{uri}`
    Uri,
    /// `{path}`
    Path,
    /// `{query}`
    Query,
    /// `{version}`
    Version,
    /// `{status}`
    Status,
    /// `{bytes}`
    Bytes,
    /// `{duration_ms}`
    DurationMs,
    /// `{outcome}`
    Outcome,
    /// `{user_agent}`
    UserAgent,
    /// `{referer}`
    Referer,
}

const FIELDS: &[(&str, Field)] = &[
    ("peer", Field::Peer),
    ("remote_addr", Field::RemoteAddr),
    ("method", Field::Method),
    ("uri", Field::Uri),
    ("path", Field::Path),
    ("query", Field::Query),
    ("version", Field::Version),
    ("status", Field::Status),
    ("bytes", Field::Bytes),
    ("duration_ms", Field::DurationMs),
    ("outcome", Field::Outcome),
    ("user_agent", Field::UserAgent),
    ("referer", Field::Referer),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Field(Field),
}

/// A parsed `access_log_format`. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogFormat {
    segments: Vec<Segment>,
    uses_headers: bool,
}

impl AccessLogFormat {
    /// Parses a template; the error names the offending placeholder.
    pub fn parse(template: &str) -> Result<Self, String> {
        let mut segments = Vec::new();
        let mut text = String::new();
        let mut chars = template.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    let field = FIELDS
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, f)| *f)
                        .ok_or_else(|| {
                            let known: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
                            format!(
                                "unknown placeholder `{{{name}}}`; use one of {{{}}} (write `{{{{` for a literal brace)",
                                known.join("}, {")
                            )
                        })?;
                    if !text.is_empty() {
                        segments.push(Segment::Text(std::mem::take(&mut text)));
                    }
                    segments.push(Segment::Field(field));
                }
                '}' => return Err("a lone `}`: write `}}` for a literal brace".to_owned()),
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            segments.push(Segment::Text(text));
        }
        let uses_headers = segments.iter().any(|s| {
            matches!(
                s,
                Segment::Field(Field::UserAgent) | Segment::Field(Field::Referer)
            )
        });
        Ok(AccessLogFormat {
            segments,
            uses_headers,
        })
    }

    /// Whether the template shows request headers (so they must be kept
    /// until the response ends).
    pub(crate) fn uses_headers(&self) -> bool {
        self.uses_headers
    }

    /// Writes the line, asking `value` for each placeholder.
    pub(crate) fn render(&self, mut value: impl FnMut(Field, &mut String)) -> String {
        let mut line = String::with_capacity(96);
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => line.push_str(text),
                Segment::Field(field) => value(*field, &mut line),
            }
        }
        line
    }
}

impl Default for AccessLogFormat {
    fn default() -> Self {
        // The default template is a constant known to parse.
        AccessLogFormat::parse(DEFAULT_FORMAT).unwrap_or(AccessLogFormat {
            segments: Vec::new(),
            uses_headers: false,
        })
    }
}

impl fmt::Display for AccessLogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => f.write_str(&text.replace('{', "{{").replace('}', "}}"))?,
                Segment::Field(field) => {
                    let name = FIELDS
                        .iter()
                        .find(|(_, f)| f == field)
                        .map_or("?", |(n, _)| n);
                    f.write_char('{')?;
                    f.write_str(name)?;
                    f.write_char('}')?;
                }
            }
        }
        Ok(())
    }
}

/// What one request's access line shows, captured when the request
/// arrives and written when its response body ends.
pub(crate) struct AccessRecord {
    // One `Arc` clone per logged request: the line is rendered when the
    // body ends, after the service's settings may be out of reach.
    format: Arc<AccessLogFormat>,
    method: Method,
    uri: http::Uri,
    version: Version,
    peer: Option<std::net::SocketAddr>,
    remote_addr: Option<std::net::IpAddr>,
    user_agent: Option<HeaderValue>,
    referer: Option<HeaderValue>,
    status: StatusCode,
    started: Instant,
}

impl AccessRecord {
    /// The record of `environ`'s request, when access lines are logged.
    /// Boxed: a response carries it to its end, and most responses are
    /// moved several times on the way while logging is off.
    pub(crate) fn capture(environ: &Environ, format: &Arc<AccessLogFormat>) -> Option<Box<Self>> {
        if !tracing::enabled!(target: "wsgi::access", tracing::Level::INFO) {
            return None;
        }
        let header = |name| {
            format
                .uses_headers()
                .then(|| environ.headers().get(name).cloned())
                .flatten()
        };
        Some(Box::new(AccessRecord {
            user_agent: header(header::USER_AGENT),
            referer: header(header::REFERER),
            method: environ.method().clone(),
            uri: environ.uri().clone(),
            version: environ.version(),
            peer: environ.connection().and_then(|c| c.client_addr()),
            remote_addr: environ.remote_addr(),
            status: StatusCode::OK,
            started: Instant::now(),
            format: Arc::clone(format),
        }))
    }

    /// The status the response was answered with.
    pub(crate) fn set_status(&mut self, status: StatusCode) {
        self.status = status;
    }

    /// Writes the line: `bytes` body bytes were sent and the body ended
    /// with `outcome`.
    pub(crate) fn write(&self, bytes: u64, outcome: Outcome) {
        let elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let line = self.format.render(|field, out| {
            let _ = match field {
                Field::Peer => match self.peer {
                    Some(peer) => write!(out, "{peer}"),
                    None => write!(out, "-"),
                },
                Field::RemoteAddr => match self.remote_addr {
                    Some(addr) => write!(out, "{addr}"),
                    None => write!(out, "-"),
                },
                Field::Method => write!(out, "{}", self.method),
                Field::Uri => write!(out, "{}", self.uri),
                Field::Path => write!(out, "{}", self.uri.path()),
                Field::Query => write!(out, "{}", self.uri.query().unwrap_or("")),
                Field::Version => write!(out, "{}", version_text(self.version)),
                Field::Status => write!(out, "{}", self.status.as_u16()),
                Field::Bytes => write!(out, "{bytes}"),
                Field::DurationMs => write!(out, "{elapsed_ms:.3}"),
                Field::Outcome => write!(
                    out,
                    "{}",
                    match outcome {
                        Outcome::Completed => "completed",
                        Outcome::Failed => "failed",
                        _ => "aborted",
                    }
                ),
                Field::UserAgent | Field::Referer => {
                    let value = if field == Field::UserAgent {
                        &self.user_agent
                    } else {
                        &self.referer
                    };
                    let text = value.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-");
                    write!(out, "{text}")
                }
            };
        });
        tracing::info!(
            target: "wsgi::access",
            status = self.status.as_u16(),
            bytes,
            elapsed_ms,
            "{line}"
        );
    }
}

fn version_text(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_format_parses_and_round_trips() {
        let format = AccessLogFormat::parse(DEFAULT_FORMAT).unwrap();
        assert_eq!(format.to_string(), DEFAULT_FORMAT);
        assert!(!format.uses_headers());
    }

    #[test]
    fn braces_and_unknown_placeholders() {
        let format = AccessLogFormat::parse("{{{status}}} {user_agent}").unwrap();
        let line = format.render(|field, out| match field {
            Field::Status => out.push_str("200"),
            _ => out.push('-'),
        });
        assert_eq!(line, "{200} -");
        assert!(format.uses_headers());
        assert!(AccessLogFormat::parse("{nope}")
            .unwrap_err()
            .contains("{nope}"));
        assert!(AccessLogFormat::parse("a } b").is_err());
    }
}
