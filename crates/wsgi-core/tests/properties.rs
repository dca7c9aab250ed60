//! Property tests: round trips through the environ, forms, cookies and the
//! status-line rule, on generated inputs (proptest shrinks a failure to a
//! minimal case). Case counts are modest so the file runs in seconds; the
//! fuzz targets in `fuzz/` (FUZZING.md) explore the same ground for longer.

use std::future::Future;

use percent_encoding::{percent_encode, utf8_percent_encode, NON_ALPHANUMERIC};
use proptest::prelude::*;
use wsgi_core::cookie::Cookie;
use wsgi_core::form::Form;
use wsgi_core::test_client::TestClient;
use wsgi_core::{app_fn, Environ, Error, Input, StartResponse, Status, WsgiResponse};

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(future)
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// Header names: a few with meaning to the environ, and generated tokens
/// with `-` and `_`.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("cookie".to_owned()),
        Just("x-tag".to_owned()),
        Just("content-type".to_owned()),
        "[a-z][a-z0-9_-]{0,10}",
    ]
}

/// Header values as HTTP allows them: visible ASCII, space, tab and
/// obs-text bytes (0x80-0xFF), no leading or trailing whitespace.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![0x21u8..=0x7e, Just(b' '), Just(b'\t'), 0x80u8..=0xff],
        0..12,
    )
    .prop_map(|mut v| {
        while v.last().is_some_and(|b| *b == b' ' || *b == b'\t') {
            v.pop();
        }
        while v.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            v.remove(0);
        }
        v
    })
}

/// `HTTP_<NAME>` for a header name.
fn http_var(name: &str) -> String {
    format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_"))
}

/// The WSGI status-line rule, written from the module docs: three digits
/// of a final status, then nothing or a space and a reason of visible
/// ASCII, spaces and tabs.
fn status_model(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() >= 3
        && b[..3].iter().all(u8::is_ascii_digit)
        && line[..3].parse::<u16>().is_ok_and(|code| code >= 200)
        && match &b[3..] {
            [] => true,
            [b' ', reason @ ..] => reason
                .iter()
                .all(|&c| c == b'\t' || c == b' ' || c.is_ascii_graphic()),
            _ => false,
        }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Every header comes back as its `HTTP_*` variable with exactly its
    /// values, latin-1, joined with `,` (cookies with `; `); names with `_`
    /// get none; `Content-Type` only as `CONTENT_TYPE`.
    #[test]
    fn headers_in_environ_keep_their_values(
        headers in proptest::collection::vec((header_name(), header_value()), 0..8)
    ) {
        let mut request = http::Request::get("/");
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_slice());
        }
        let environ = Environ::from_request(request.body(()).unwrap());
        for (name, _) in &headers {
            let values: Vec<&[u8]> = headers
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_slice())
                .collect();
            let separator: &[u8] = if name == "cookie" { b"; " } else { b"," };
            let joined = latin1(&values.join(separator));
            let var = http_var(name);
            if name == "content-type" {
                prop_assert_eq!(environ.get(&var), None);
                let content_type = environ.get("CONTENT_TYPE").map(|c| c.into_owned());
                prop_assert_eq!(content_type.as_deref(), Some(joined.as_str()));
            } else if name.contains('_') {
                // Only a header spelt with `-` may own this variable.
                let dashed = headers.iter().any(|(n, _)| !n.contains('_') && http_var(n) == var);
                if !dashed {
                    prop_assert_eq!(environ.get(&var), None, "{} leaked into {}", name, var);
                }
            } else {
                let got = environ.get(&var).map(|c| c.into_owned());
                prop_assert_eq!(got.as_deref(), Some(joined.as_str()), "{}", var);
            }
        }
    }

    /// Percent-encoded path bytes decode to exactly those bytes in
    /// PATH_INFO, and the string form carries them (UTF-8, else latin-1).
    #[test]
    fn path_info_is_the_decoded_path(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
        let target = format!("/{}", percent_encode(&bytes, NON_ALPHANUMERIC));
        let environ = Environ::from_request(http::Request::get(target.as_str()).body(()).unwrap());
        let mut expected = b"/".to_vec();
        expected.extend_from_slice(&bytes);
        prop_assert_eq!(&*environ.path_info_bytes(), &expected[..]);
        let as_string = match String::from_utf8(expected.clone()) {
            Ok(text) => text,
            Err(_) => latin1(&expected),
        };
        prop_assert_eq!(environ.path_info(), as_string);
    }

    /// QUERY_STRING is the query exactly as sent: never decoded.
    #[test]
    fn query_strings_are_untouched(query in "[A-Za-z0-9%&=+._~!$'()*,;:@/?-]{0,24}") {
        let target = format!("/p?{query}");
        let environ = Environ::from_request(http::Request::get(target.as_str()).body(()).unwrap());
        let got = environ.get("QUERY_STRING").map(|c| c.into_owned());
        prop_assert_eq!(got.as_deref(), Some(query.as_str()));
        prop_assert_eq!(environ.query_string(), query.as_str());
    }

    /// Pairs encoded as `application/x-www-form-urlencoded` parse back to
    /// the same pairs, in order, repeats kept.
    #[test]
    fn urlencoded_forms_round_trip(pairs in proptest::collection::vec((any::<String>(), any::<String>()), 0..6)) {
        let body: Vec<String> = pairs
            .iter()
            .map(|(k, v)| {
                let encode = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string().replace("%20", "+");
                format!("{}={}", encode(k), encode(v))
            })
            .collect();
        let request = http::Request::post("/")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(())
            .unwrap();
        let mut environ = Environ::from_request(request);
        environ.set_input(Input::from_bytes(body.join("&")));
        let form = block_on(Form::parse(&mut environ)).unwrap();
        prop_assert_eq!(form.fields(), &pairs[..]);
    }

    /// A cookie set on a response comes back, parsed from its `Set-Cookie`,
    /// with the same name, value and attributes.
    #[test]
    fn set_cookie_round_trips(
        name in "[A-Za-z0-9!#$&'*+.^_`|~-]{1,12}|\\PC{1,6}",
        value in "\\PC{0,12}",
        path in proptest::option::of("/[A-Za-z0-9/._-]{0,12}"),
        domain in proptest::option::of("[a-z0-9]{1,8}(\\.[a-z]{2,4})?"),
        max_age in proptest::option::of(0i64..1_000_000),
        secure in any::<bool>(),
        http_only in any::<bool>(),
    ) {
        let mut cookie = Cookie::new(name.clone(), value.clone());
        if let Some(path) = &path { cookie.set_path(path.clone()); }
        if let Some(domain) = &domain { cookie.set_domain(domain.clone()); }
        if let Some(seconds) = max_age {
            cookie.set_max_age(wsgi_core::cookie::time::Duration::seconds(seconds));
        }
        cookie.set_secure(secure);
        cookie.set_http_only(http_only);
        let response = std::sync::Mutex::new(Some({
            let mut r = WsgiResponse::text("ok");
            r.set_cookie(cookie);
            r
        }));
        let client = TestClient::new(app_fn(move |environ: &mut Environ, sr: StartResponse| {
            let r = response.lock().unwrap().take().ok_or_else(|| Error::msg("called twice"))?;
            r.start(environ, &sr)
        }));
        let answer = block_on(client.get("/"));
        prop_assert_eq!(answer.status(), 200);
        let header = answer.header("set-cookie").expect("a Set-Cookie").to_owned();
        let parsed = Cookie::parse_encoded(header.clone()).unwrap();
        prop_assert_eq!(parsed.name(), name.as_str(), "{}", header);
        prop_assert_eq!(parsed.value(), value.as_str(), "{}", header);
        prop_assert_eq!(parsed.path(), path.as_deref());
        prop_assert_eq!(parsed.domain(), domain.as_deref());
        prop_assert_eq!(parsed.max_age().map(|d| d.whole_seconds()), max_age);
        prop_assert_eq!(parsed.secure().unwrap_or(false), secure);
        prop_assert_eq!(parsed.http_only().unwrap_or(false), http_only);
    }

    /// Status lines are accepted exactly when they are three digits of a
    /// final status, optionally a space and a reason of visible characters.
    #[test]
    fn status_lines_follow_the_rule(
        line in prop_oneof![
            "[0-9]{3}( [ -~\t]{0,12})?",
            "[0-9]{0,4}[ \t]?[ -~\t\r\n\u{0}\u{7f}é]{0,8}",
            any::<String>(),
        ]
    ) {
        let parsed = line.parse::<Status>();
        prop_assert_eq!(parsed.is_ok(), status_model(&line), "{:?} -> {:?}", line, parsed);
        if let Ok(status) = parsed {
            prop_assert_eq!(status.to_string().parse::<Status>(), Ok(status));
        }
    }
}
