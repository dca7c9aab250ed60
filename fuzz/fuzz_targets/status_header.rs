//! `start_response` validation: arbitrary status lines and header lists.
//!
//! Checks, through the public API only:
//! - `Status` parsing accepts exactly the status lines of the model in
//!   `wsgi_fuzz::status_line_is_valid`, and an accepted status prints back
//!   to a line that parses to the same status;
//! - `StartResponse::start` accepts a head exactly when the status and
//!   every header are valid (token names, no control characters in values,
//!   no hop-by-hop names, one consistent `Content-Length`);
//! - served in-process (`TestClient`), an accepted head reaches the
//!   response unchanged and a refused one becomes a 500: nothing invalid
//!   gets through.
#![no_main]

use std::sync::Arc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsgi_core::test_client::TestClient;
use wsgi_core::{app_fn, Environ, Error, StartResponse, Status};
use wsgi_fuzz::{block_on, is_field_value, is_hop_by_hop, is_token, status_line_is_valid};

#[derive(Arbitrary, Debug)]
struct Head {
    status: String,
    headers: Vec<(String, Vec<u8>)>,
}

/// What `start` should do with `headers`: `Err(())` when one is invalid,
/// else the `Content-Length` they declare.
fn model_headers(headers: &[(String, Vec<u8>)]) -> Result<Option<u64>, ()> {
    let mut length = None;
    for (name, value) in headers {
        if !is_token(name.as_bytes()) || is_hop_by_hop(&name.to_ascii_lowercase()) {
            return Err(());
        }
        if !is_field_value(value) {
            return Err(());
        }
        if name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(value).map_err(|_| ())?.trim();
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            let parsed: u64 = text.parse().map_err(|_| ())?;
            if length.is_some_and(|previous| previous != parsed) {
                return Err(());
            }
            length = Some(parsed);
        }
    }
    Ok(length)
}

fuzz_target!(|head: Head| {
    let parsed = head.status.parse::<Status>();
    assert_eq!(
        parsed.is_ok(),
        status_line_is_valid(&head.status),
        "status {:?} -> {parsed:?}",
        head.status
    );
    if let Ok(status) = &parsed {
        let printed = status.to_string();
        assert_eq!(
            printed.parse::<Status>().as_ref(),
            Ok(status),
            "{printed:?}"
        );
    }

    let expected = model_headers(&head.headers);
    let accepted = StartResponse::new().start(head.status.as_str(), head.headers.clone());
    assert_eq!(
        accepted.is_ok(),
        parsed.is_ok() && expected.is_ok(),
        "{head:?} -> {accepted:?}"
    );

    // Serve it: the app starts the response with the fuzzed head and sends
    // exactly the declared length (skipped for huge declared lengths).
    let length = expected.ok().flatten().unwrap_or(0);
    if length > 4096 {
        return;
    }
    let shared = Arc::new(head);
    let app_head = Arc::clone(&shared);
    let client = TestClient::new(app_fn(move |_: &mut Environ, sr: StartResponse| {
        sr.start(app_head.status.as_str(), app_head.headers.clone())?;
        Ok::<_, Error>(vec![b'x'; length as usize])
    }));
    let response = block_on(client.get("/"));
    let Ok(status) = parsed else {
        assert_eq!(response.status(), 500);
        return;
    };
    if accepted.is_err() {
        assert_eq!(response.status(), 500);
        return;
    }
    assert_eq!(response.status(), status.code());
    for (name, value) in &shared.headers {
        let name = name.to_ascii_lowercase();
        if name == "content-length" {
            // 204 and 304 carry no content: the server drops the length
            // (RFC 9110 §8.6), rightly.
            if status.code() == 204 || status.code() == 304 {
                continue;
            }
            assert_eq!(
                response.header("content-length"),
                Some(length.to_string().as_str())
            );
            continue;
        }
        assert!(
            response
                .headers()
                .get_all(name.as_str())
                .iter()
                .any(|v| v.as_bytes() == value.as_slice()),
            "header {name} = {value:?} missing from {:?}",
            response.headers()
        );
    }
});
