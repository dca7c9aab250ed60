//! The head from typed headers ([`StartResponse::start_typed`]): `http`'s
//! names and values are valid by construction, so only the server's own
//! rules remain.

use http::header::{self, HeaderName, HeaderValue};

use super::head::{refuse_hop_by_hop, Head, HeadRules};
use super::{IntoStatus, StartResponseError};

/// [`build_head`](super::head::build_head) for headers already made: no
/// name is parsed and no value checked or copied; hop-by-hop headers are
/// refused and `Content-Length` read and kept as there.
pub(super) fn build_typed_head<I>(
    status: impl IntoStatus,
    headers: I,
) -> Result<Head, StartResponseError>
where
    I: IntoIterator<Item = (HeaderName, HeaderValue)>,
{
    let status = status.into_status()?;
    let iter = headers.into_iter();
    let mut map = HeadRules::map_for(iter.size_hint().0);
    let mut rules = HeadRules::default();
    for (name, value) in iter {
        refuse_hop_by_hop(&name, &name)?;
        if name == header::CONTENT_LENGTH {
            // Sent as given when already plain digits.
            rules.content_length(&mut map, value, |value, _| value)?;
        } else {
            rules.append(&mut map, name, value);
        }
    }
    Ok(rules.finish(status, map))
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;
    use crate::error::Error;
    use crate::StartResponse;

    const CONTENT_TYPE_TEXT: (HeaderName, HeaderValue) =
        (header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));

    fn pair(name: &'static str, value: &'static str) -> (HeaderName, HeaderValue) {
        (
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        )
    }

    /// The head `start_typed` sets, taken as the server takes it.
    fn typed_head(headers: Vec<(HeaderName, HeaderValue)>) -> Result<Head, StartResponseError> {
        let sr = StartResponse::new();
        sr.start_typed("404 Not Here", headers)?;
        sr.take_head().map(|head| head.expect("a head was set"))
    }

    #[test]
    fn a_typed_head_is_the_head_start_builds_from_the_same_strings() {
        let pairs = [
            ("content-type", "text/plain"),
            ("x-frame-options", "DENY"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("content-length", "13"),
            ("server", "mine"),
            ("x-obs-text", "caf\u{e9}"),
        ];
        let typed = typed_head(
            pairs
                .iter()
                .map(|&(name, value)| {
                    (
                        HeaderName::from_static(name),
                        HeaderValue::from_str(value).unwrap(),
                    )
                })
                .collect(),
        )
        .unwrap();
        let sr = StartResponse::new();
        sr.start("404 Not Here", pairs).unwrap();
        let strings = sr.take_head().unwrap().unwrap();
        assert_eq!(typed.status, strings.status);
        assert_eq!(typed.status.reason(), "Not Here");
        assert_eq!(typed.headers, strings.headers);
        assert_eq!(typed.headers.get_all(header::SET_COOKIE).iter().count(), 2);
        assert_eq!(typed.content_length, Some(13));
        assert_eq!(typed.content_length, strings.content_length);
        assert!(typed.has_server);
        assert_eq!(typed.has_server, strings.has_server);

        let without_server = typed_head(vec![CONTENT_TYPE_TEXT]).unwrap();
        assert!(!without_server.has_server);
        assert_eq!(without_server.content_length, None);
        assert_eq!(without_server.headers.len(), 1);
    }

    #[test]
    fn a_typed_hop_by_hop_header_is_refused_and_poisons_the_response() {
        for name in [
            header::CONNECTION,
            header::TRANSFER_ENCODING,
            header::UPGRADE,
            header::TE,
            header::TRAILER,
            header::PROXY_AUTHENTICATE,
            HeaderName::from_static("keep-alive"),
            HeaderName::from_static("trailers"),
            HeaderName::from_static("proxy-connection"),
        ] {
            let sr = StartResponse::new();
            let refused = StartResponseError::HopByHopHeader(name.as_str().to_owned());
            let headers = [CONTENT_TYPE_TEXT, (name, HeaderValue::from_static("x"))];
            assert_eq!(
                sr.start_typed(StatusCode::OK, headers).unwrap_err(),
                refused
            );
            assert!(!sr.is_started());
            // Ignoring the error does not let the application send anything.
            assert_eq!(sr.take_head().unwrap_err(), refused);
        }
    }

    #[test]
    fn a_typed_content_length_follows_starts_rules() {
        // Not plain digits: rewritten, as `start` does.
        let head = typed_head(vec![pair("content-length", " 013 ")]).unwrap();
        assert_eq!(head.headers[header::CONTENT_LENGTH], "13");
        assert_eq!(head.content_length, Some(13));
        // Repeated with the same value: one header.
        let head = typed_head(vec![
            pair("content-length", "13"),
            pair("content-length", "013"),
        ])
        .unwrap();
        assert_eq!(
            head.headers.get_all(header::CONTENT_LENGTH).iter().count(),
            1
        );
        assert_eq!(head.headers[header::CONTENT_LENGTH], "13");
        // Refused exactly as `start` refuses the same strings.
        for values in [
            vec!["12", "13"],
            vec!["-1"],
            vec!["+1"],
            vec!["1 2"],
            vec![""],
        ] {
            let typed = typed_head(
                values
                    .iter()
                    .map(|&value| pair("content-length", value))
                    .collect(),
            )
            .unwrap_err();
            let sr = StartResponse::new();
            let strings = sr
                .start(
                    "404 Not Here",
                    values.iter().map(|&v| ("Content-Length", v)),
                )
                .unwrap_err();
            assert!(
                matches!(typed, StartResponseError::InvalidContentLength(_)),
                "{values:?}: {typed}"
            );
            assert_eq!(typed, strings, "{values:?}");
        }
    }

    #[test]
    fn a_second_typed_start_is_refused() {
        let sr = StartResponse::new();
        sr.start_typed(StatusCode::OK, [CONTENT_TYPE_TEXT]).unwrap();
        assert_eq!(
            sr.start_typed(StatusCode::CREATED, [CONTENT_TYPE_TEXT])
                .unwrap_err(),
            StartResponseError::AlreadyStarted
        );
        assert_eq!(
            sr.start("201 Created", [("X-A", "1")]).unwrap_err(),
            StartResponseError::AlreadyStarted
        );
        // The refusal poisons the response, as after `start`.
        assert_eq!(
            sr.take_head().unwrap_err(),
            StartResponseError::AlreadyStarted
        );
    }

    #[test]
    fn typed_exc_info_replaces_the_head_until_it_is_sent() {
        let sr = StartResponse::new();
        sr.start_typed(StatusCode::OK, [pair("x-a", "1")]).unwrap();
        sr.start_exc_info_typed(
            StatusCode::SERVICE_UNAVAILABLE,
            [CONTENT_TYPE_TEXT],
            Error::msg("backend down"),
        )
        .unwrap();
        let head = sr.take_head().unwrap().unwrap();
        assert_eq!(head.status.code(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(head.headers.get("x-a").is_none());
        assert_eq!(head.headers[header::CONTENT_TYPE], "text/plain");
        // Once sent: the application's own error comes back.
        let late = sr
            .start_exc_info_typed(StatusCode::OK, [CONTENT_TYPE_TEXT], Error::msg("late"))
            .unwrap_err();
        assert_eq!(late.to_string(), "late");

        // A refused typed head poisons the response, as a refused `start`.
        let sr = StartResponse::new();
        sr.start_typed(StatusCode::OK, [CONTENT_TYPE_TEXT]).unwrap();
        let close = (header::CONNECTION, HeaderValue::from_static("close"));
        assert!(sr
            .start_exc_info_typed(StatusCode::SERVICE_UNAVAILABLE, [close], Error::msg("x"))
            .is_err());
        assert_eq!(
            sr.take_head().unwrap_err(),
            StartResponseError::HopByHopHeader("connection".into())
        );
    }
}
