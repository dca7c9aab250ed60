//! Cookies both ways.
//!
//! - Request: several `Cookie` headers become one `HTTP_COOKIE`, joined
//!   with `; `; parsing it (with the re-exported `cookie` crate, as an
//!   application would) gives exactly the cookies of the headers parsed
//!   one by one, in order.
//! - Response: a cookie with arbitrary name, value and attributes set on a
//!   `WsgiResponse` is either refused (the response becomes a 500 with no
//!   `Set-Cookie`) or sent as one `Set-Cookie` that parses back to the same
//!   name, value and attributes: no attribute can be injected or lost.
#![no_main]

use std::sync::Mutex;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsgi_core::cookie::{Cookie, SameSite};
use wsgi_core::test_client::TestClient;
use wsgi_core::{app_fn, Environ, Error, StartResponse, WsgiResponse};
use wsgi_fuzz::{block_on, latin1};

#[derive(Arbitrary, Debug)]
struct SetCookie {
    name: String,
    value: String,
    path: Option<String>,
    domain: Option<String>,
    max_age: Option<i32>,
    secure: bool,
    http_only: bool,
    same_site: Option<u8>,
}

#[derive(Arbitrary, Debug)]
enum Case {
    Request(Vec<Vec<u8>>),
    Response(SetCookie),
}

/// The `(name, value)` pairs of a `Cookie` header, as an application
/// would parse `HTTP_COOKIE`.
fn pairs(header: &str) -> Vec<(String, String)> {
    Cookie::split_parse_encoded(header.to_owned())
        .filter_map(Result::ok)
        .map(|c| (c.name().to_owned(), c.value().to_owned()))
        .collect()
}

fn request(headers: Vec<Vec<u8>>) {
    let mut builder = http::Request::get("/");
    let mut kept = Vec::new();
    for value in headers {
        if http::HeaderValue::from_bytes(&value).is_ok() {
            builder = builder.header("Cookie", value.as_slice());
            kept.push(value);
        }
    }
    let Ok(request) = builder.body(()) else {
        return;
    };
    let environ = Environ::from_request(request);
    let joined = environ.get("HTTP_COOKIE");
    if kept.is_empty() {
        assert_eq!(joined, None);
        return;
    }
    let joined = joined.unwrap_or_else(|| panic!("no HTTP_COOKIE for {kept:?}"));
    let one_by_one: Vec<_> = kept.iter().flat_map(|v| pairs(&latin1(v))).collect();
    assert_eq!(pairs(&joined), one_by_one, "HTTP_COOKIE {joined:?}");
}

fn response(spec: SetCookie) {
    let mut cookie = Cookie::new(spec.name.clone(), spec.value.clone());
    if let Some(path) = &spec.path {
        cookie.set_path(path.clone());
    }
    if let Some(domain) = &spec.domain {
        cookie.set_domain(domain.clone());
    }
    if let Some(seconds) = spec.max_age {
        cookie.set_max_age(wsgi_core::cookie::time::Duration::seconds(i64::from(
            seconds,
        )));
    }
    cookie.set_secure(spec.secure);
    cookie.set_http_only(spec.http_only);
    let same_site = spec.same_site.map(|s| match s % 3 {
        0 => SameSite::Strict,
        1 => SameSite::Lax,
        _ => SameSite::None,
    });
    cookie.set_same_site(same_site);

    let mut built = WsgiResponse::text("ok");
    built.set_cookie(cookie);
    let slot = Mutex::new(Some(built));
    let client = TestClient::new(app_fn(move |environ: &mut Environ, sr: StartResponse| {
        let response = slot
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .ok_or_else(|| Error::msg("called twice"))?;
        response.start(environ, &sr)
    }));
    let answer = block_on(client.get("/"));
    let headers: Vec<_> = answer.headers().get_all("set-cookie").iter().collect();
    if answer.status() == 500 {
        assert!(headers.is_empty(), "a refused response sent {headers:?}");
        return;
    }
    assert_eq!(answer.status(), 200);
    assert_eq!(headers.len(), 1, "{headers:?}");
    let text = headers[0]
        .to_str()
        .unwrap_or_else(|_| panic!("Set-Cookie {:?} is not visible ASCII", headers[0]));
    let parsed = Cookie::parse_encoded(text.to_owned())
        .unwrap_or_else(|e| panic!("Set-Cookie {text:?} does not parse: {e}"));
    assert_eq!(parsed.name(), spec.name, "{text:?}");
    assert_eq!(parsed.value(), spec.value, "{text:?}");
    // Clients trim attribute values and ignore empty ones (RFC 6265
    // §5.2), and the crate reads a leading `.` of a domain as no dot: the
    // comparison is of what a client would keep.
    let kept = |v: Option<&str>, dots: bool| {
        v.map(|v| v.trim_matches([' ', '\t']))
            .map(|v| if dots { v.trim_start_matches('.') } else { v })
            .map(|v| v.trim_matches([' ', '\t']))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    assert_eq!(
        kept(parsed.path(), false),
        kept(spec.path.as_deref(), false),
        "{text:?}"
    );
    assert_eq!(
        kept(parsed.domain(), true),
        kept(spec.domain.as_deref(), true),
        "{text:?}"
    );
    assert_eq!(
        parsed.max_age().map(|d| d.whole_seconds()),
        // A negative Max-Age means "expire now", read as 0 (§5.2.2).
        spec.max_age.map(|s| i64::from(s.max(0))),
        "{text:?}"
    );
    assert_eq!(
        parsed.secure(),
        Some(spec.secure).filter(|s| *s),
        "{text:?}"
    );
    assert_eq!(
        parsed.http_only(),
        Some(spec.http_only).filter(|h| *h),
        "{text:?}"
    );
    assert_eq!(parsed.same_site(), same_site, "{text:?}");
}

fuzz_target!(|case: Case| match case {
    Case::Request(headers) => request(headers),
    Case::Response(spec) => response(spec),
});
