//! [`Status`]: a validated status line, and what converts into one.

use std::fmt;

use bytes::Bytes;
use http::StatusCode;

use super::StartResponseError;

/// A validated response status: a code and an optional custom reason phrase.
///
/// ```
/// use wsgi_core::Status;
/// let status: Status = "404 Not Here".parse().unwrap();
/// assert_eq!(status.code().as_u16(), 404);
/// assert_eq!(status.reason(), "Not Here");
/// assert!("20 OK".parse::<Status>().is_err());
/// assert!("200 OK\r\nX-Evil: 1".parse::<Status>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub(super) code: StatusCode,
    /// `Some` only when the reason differs from the canonical one.
    pub(super) reason: Option<Bytes>,
}

impl Status {
    /// The status code.
    pub fn code(&self) -> StatusCode {
        self.code
    }

    /// The reason phrase: the custom one if set, else the canonical one.
    pub fn reason(&self) -> &str {
        match &self.reason {
            // Validated as visible ASCII, space or tab in `parse_status_line`.
            Some(reason) => std::str::from_utf8(reason).unwrap_or(""),
            None => self.code.canonical_reason().unwrap_or(""),
        }
    }

    pub(crate) fn custom_reason(&self) -> Option<&Bytes> {
        self.reason.as_ref()
    }

    fn from_code(code: StatusCode) -> Result<Self, StartResponseError> {
        if code.is_informational() {
            return Err(StartResponseError::InformationalStatus(code.as_u16()));
        }
        Ok(Status { code, reason: None })
    }
}

impl std::str::FromStr for Status {
    type Err = StartResponseError;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        // The line nearly every response starts with.
        if line == "200 OK" {
            return Ok(Status {
                code: StatusCode::OK,
                reason: None,
            });
        }
        let bytes = line.as_bytes();
        let bad = || StartResponseError::InvalidStatus(line.to_owned());
        if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let code = StatusCode::from_bytes(&bytes[..3]).map_err(|_| bad())?;
        let reason = match &bytes[3..] {
            [] => None,
            [b' ', reason @ ..] => Some(reason),
            _ => return Err(bad()),
        };
        let mut status = Status::from_code(code)?;
        if let Some(reason) = reason {
            if reason
                .iter()
                .any(|&b| !(b == b'\t' || b == b' ' || b.is_ascii_graphic()))
            {
                return Err(bad());
            }
            // An empty reason for a code without a canonical one is no
            // custom reason: `Display` prints such a status as `"999 "`,
            // which must parse back to the same status (found by fuzzing).
            let canonical = code.canonical_reason().unwrap_or("").as_bytes();
            if canonical != reason {
                status.reason = Some(Bytes::copy_from_slice(reason));
            }
        }
        Ok(status)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code.as_str(), self.reason())
    }
}

/// Anything `start_response` accepts as a status.
///
/// Implemented for WSGI status lines (`&str`, `String`), [`StatusCode`],
/// `u16` and [`Status`].
pub trait IntoStatus {
    /// Validates and converts.
    fn into_status(self) -> Result<Status, StartResponseError>;
}

impl IntoStatus for Status {
    fn into_status(self) -> Result<Status, StartResponseError> {
        Ok(self)
    }
}

impl IntoStatus for StatusCode {
    fn into_status(self) -> Result<Status, StartResponseError> {
        Status::from_code(self)
    }
}

impl IntoStatus for u16 {
    fn into_status(self) -> Result<Status, StartResponseError> {
        let code = StatusCode::from_u16(self)
            .map_err(|_| StartResponseError::InvalidStatus(self.to_string()))?;
        Status::from_code(code)
    }
}

impl IntoStatus for &str {
    fn into_status(self) -> Result<Status, StartResponseError> {
        self.parse()
    }
}

impl IntoStatus for String {
    fn into_status(self) -> Result<Status, StartResponseError> {
        self.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_rules() {
        assert_eq!(
            "200 OK".parse::<Status>().map(|s| s.code()),
            Ok(StatusCode::OK)
        );
        assert!("200".parse::<Status>().is_ok());
        assert!("200OK".parse::<Status>().is_err());
        assert!("abc OK".parse::<Status>().is_err());
        assert!("99 Low".parse::<Status>().is_err());
        assert_eq!(
            "101 Switching Protocols".parse::<Status>(),
            Err(StartResponseError::InformationalStatus(101))
        );
        assert!("200 O\nK".parse::<Status>().is_err());
        assert_eq!(
            "418 Teapot".parse::<Status>().map(|s| s.to_string()),
            Ok("418 Teapot".into())
        );
    }

    #[test]
    fn a_status_prints_to_a_line_that_parses_back_to_it() {
        for line in ["999", "999 ", "299 Custom", "200 ", "200 OK", "200"] {
            let status: Status = line.parse().unwrap();
            assert_eq!(
                status.to_string().parse::<Status>(),
                Ok(status.clone()),
                "{line:?} printed as {status}"
            );
        }
    }
}
