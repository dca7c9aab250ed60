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

mod record;
mod text;

#[cfg(feature = "server")]
pub(crate) use record::set_direct;
pub(crate) use record::AccessRecord;

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

/// What [`AccessLogFormat::render`] writes: a text, then a field (none
/// after the template's last text). One step per field rather than per
/// segment: the loop costs more than most of what it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    text: PartText,
    field: Option<Field>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PartText {
    Short(text::Short),
    Long(Box<[u8]>),
}

impl Part {
    fn new(text: &str, field: Option<Field>) -> Self {
        let text = match text::Short::new(text.as_bytes()) {
            Some(short) => PartText::Short(short),
            None => PartText::Long(text.as_bytes().into()),
        };
        Part { text, field }
    }
}

/// A parsed `access_log_format`. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogFormat {
    segments: Vec<Segment>,
    parts: Vec<Part>,
    /// The template is [`DEFAULT_FORMAT`] (written without the loop).
    is_default: bool,
    uses_headers: bool,
    uses_remote_addr: bool,
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
        let uses_remote_addr = segments.contains(&Segment::Field(Field::RemoteAddr));
        let mut format = AccessLogFormat {
            parts: parts(&segments),
            segments,
            is_default: false,
            uses_headers,
            uses_remote_addr,
        };
        format.is_default = format.to_string() == DEFAULT_FORMAT;
        Ok(format)
    }

    /// Whether the template is [`DEFAULT_FORMAT`].
    pub(crate) fn is_default(&self) -> bool {
        self.is_default
    }

    /// Whether the template shows request headers (so they must be kept
    /// until the response ends).
    pub(crate) fn uses_headers(&self) -> bool {
        self.uses_headers
    }

    /// Whether the template shows `{remote_addr}` (worked out from the
    /// forwarding headers: only then is it worth asking for).
    pub(crate) fn uses_remote_addr(&self) -> bool {
        self.uses_remote_addr
    }

    /// Appends the line to `line`, asking `value` for each placeholder.
    pub(crate) fn render(&self, line: &mut Vec<u8>, mut value: impl FnMut(Field, &mut Vec<u8>)) {
        for part in &self.parts {
            match &part.text {
                PartText::Short(text) => text.put(line),
                PartText::Long(text) => line.extend_from_slice(text),
            }
            if let Some(field) = part.field {
                value(field, line);
            }
        }
    }
}

/// The segments as [`Part`]s: each field with the text before it.
fn parts(segments: &[Segment]) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut text = "";
    for segment in segments {
        match segment {
            Segment::Text(before) => text = before,
            Segment::Field(field) => parts.push(Part::new(std::mem::take(&mut text), Some(*field))),
        }
    }
    if !text.is_empty() {
        parts.push(Part::new(text, None));
    }
    parts
}

impl Default for AccessLogFormat {
    fn default() -> Self {
        // The default template is a constant known to parse.
        AccessLogFormat::parse(DEFAULT_FORMAT).unwrap_or(AccessLogFormat {
            segments: Vec::new(),
            parts: Vec::new(),
            is_default: false,
            uses_headers: false,
            uses_remote_addr: false,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_format_parses_and_round_trips() {
        let format = AccessLogFormat::parse(DEFAULT_FORMAT).unwrap();
        assert_eq!(format.to_string(), DEFAULT_FORMAT);
        assert!(!format.uses_headers());
        assert!(format.is_default() && AccessLogFormat::default().is_default());
        assert!(!AccessLogFormat::parse("{peer}").unwrap().is_default());
    }

    #[test]
    fn braces_and_unknown_placeholders() {
        let format = AccessLogFormat::parse("{{{status}}} {user_agent}").unwrap();
        let mut line = Vec::new();
        format.render(&mut line, |field, out| match field {
            Field::Status => out.extend_from_slice(b"200"),
            _ => out.push(b'-'),
        });
        assert_eq!(line, b"{200} -");
        assert!(format.uses_headers());
        assert!(AccessLogFormat::parse("{nope}")
            .unwrap_err()
            .contains("{nope}"));
        assert!(AccessLogFormat::parse("a } b").is_err());
    }
}
