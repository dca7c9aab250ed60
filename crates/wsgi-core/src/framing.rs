//! Which responses carry a body: the one place of the bodiless rule.
//!
//! The rule (RFC 9110 §6.4.1 and §15) is described for users in the
//! streaming guide's "Content-Length" section; this module is its code.

use http::{Method, StatusCode};

/// What a response may carry, by its request's method and its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// A body, with a `Content-Length` when its length is known.
    Body,
    /// The answer to `HEAD`: the head of the `GET` answer, no body.
    HeadOnly,
    /// `304 Not Modified`: no body; a declared length stays.
    NotModified,
    /// `204 No Content` or `1xx`: no body and no `Content-Length`.
    NoContent,
}

impl Framing {
    /// The rule for a response with `status` to a `method` request.
    pub(crate) fn of(method: &Method, status: StatusCode) -> Self {
        if status == StatusCode::NO_CONTENT || status.is_informational() {
            Framing::NoContent
        } else if status == StatusCode::NOT_MODIFIED {
            Framing::NotModified
        } else if method == Method::HEAD {
            Framing::HeadOnly
        } else {
            Framing::Body
        }
    }

    /// Whether body bytes go on the wire.
    pub(crate) fn sends_body(self) -> bool {
        self == Framing::Body
    }

    /// Whether the server adds a `Content-Length` it knows.
    pub(crate) fn adds_length(self) -> bool {
        matches!(self, Framing::Body | Framing::HeadOnly)
    }

    /// Whether a `Content-Length` may be sent at all.
    pub(crate) fn allows_length(self) -> bool {
        self != Framing::NoContent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_204_and_304_carry_no_body() {
        let get = Method::GET;
        assert_eq!(Framing::of(&get, StatusCode::OK), Framing::Body);
        assert_eq!(
            Framing::of(&Method::HEAD, StatusCode::OK),
            Framing::HeadOnly
        );
        assert_eq!(
            Framing::of(&Method::HEAD, StatusCode::NO_CONTENT),
            Framing::NoContent
        );
        assert_eq!(
            Framing::of(&get, StatusCode::NOT_MODIFIED),
            Framing::NotModified
        );
        assert!(!Framing::NotModified.adds_length() && Framing::NotModified.allows_length());
        assert!(!Framing::NoContent.allows_length());
        assert!(Framing::HeadOnly.adds_length() && !Framing::HeadOnly.sends_body());
    }
}
