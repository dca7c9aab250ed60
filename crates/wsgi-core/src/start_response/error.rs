//! [`StartResponseError`]: why a `start_response` call was refused.

use std::fmt;

/// Why a `start_response` call was refused. Each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartResponseError {
    /// The status line is not three digits, optionally a space and a reason.
    InvalidStatus(String),
    /// 1xx statuses are interim responses that the server, not the
    /// application, sends.
    InformationalStatus(u16),
    /// The header name is not an HTTP token.
    InvalidHeaderName(String),
    /// The header value holds CR, LF, NUL or another control character.
    InvalidHeaderValue(String),
    /// A hop-by-hop header, which only the server may set.
    HopByHopHeader(String),
    /// `Content-Length` is not a non-negative integer, or appears twice with
    /// different values.
    InvalidContentLength(String),
    /// `start` was called again without `exc_info`.
    AlreadyStarted,
}

impl fmt::Display for StartResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidStatus(s) => write!(
                f,
                "invalid status {s:?}: expected three digits, a space and a reason, like \"200 OK\""
            ),
            Self::InformationalStatus(code) => write!(
                f,
                "status {code} is informational (1xx); the server sends interim responses, an application must give a final status"
            ),
            Self::InvalidHeaderName(name) => write!(
                f,
                "header name {name:?} is not a valid HTTP token (letters, digits and !#$%&'*+-.^_`|~ only)"
            ),
            Self::InvalidHeaderValue(name) => write!(
                f,
                "header value for `{name}` contains a line break or another control character"
            ),
            Self::HopByHopHeader(name) => write!(
                f,
                "`{name}` is a hop-by-hop header; the server manages connection framing, remove it"
            ),
            Self::InvalidContentLength(v) => write!(
                f,
                "Content-Length {v:?} is not a single non-negative integer"
            ),
            Self::AlreadyStarted => write!(
                f,
                "start_response was already called; call it again only with exc_info to replace the head of an error response"
            ),
        }
    }
}

impl std::error::Error for StartResponseError {}
