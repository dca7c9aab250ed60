//! `Form` parsing: query strings, URL-encoded bodies, JSON and multipart.
//!
//! Three shapes of input:
//! - arbitrary query string, content type and body through `Form::parse_with`:
//!   the result is a form or a 400/413 `HttpError`, never a panic, and the
//!   field count limit holds;
//! - URL-encoded query and body compared with an independent decoder
//!   written from the WHATWG `application/x-www-form-urlencoded` rules
//!   (`&`-separated, first `=` splits, `+` is a space, percent-decoding,
//!   lossy UTF-8, empty pairs skipped);
//! - a multipart body built from arbitrary parts (text fields and files)
//!   with a boundary that none of them contains: parsing returns exactly
//!   those fields and file sizes, in order.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsgi_core::form::{Form, FormLimits};
use wsgi_core::{Environ, HttpError, Input};
use wsgi_fuzz::block_on;

#[derive(Arbitrary, Debug)]
enum Case {
    Raw {
        post: bool,
        query: String,
        content_type: String,
        body: Vec<u8>,
        max_fields: u8,
    },
    UrlEncoded {
        query: String,
        body: Vec<u8>,
    },
    Multipart {
        boundary: String,
        parts: Vec<Part>,
    },
}

#[derive(Arbitrary, Debug)]
struct Part {
    name: String,
    file_name: Option<String>,
    content: Vec<u8>,
}

fn parse(
    method: &str,
    query: &str,
    content_type: &str,
    body: Vec<u8>,
    limits: FormLimits,
) -> Option<Result<Form, HttpError>> {
    let target = if query.is_empty() {
        "/".to_owned()
    } else {
        format!("/?{query}")
    };
    let request = http::Request::builder()
        .method(method)
        .uri(target)
        .header("Content-Type", content_type)
        .body(())
        .ok()?;
    let mut environ = Environ::from_request(request);
    environ.set_input(Input::from_bytes(body));
    Some(block_on(Form::parse_with(&mut environ, limits)))
}

/// The model decoder (see the module docs).
fn model(bytes: &[u8]) -> Vec<(String, String)> {
    let decode = |part: &[u8]| {
        let mut out = Vec::with_capacity(part.len());
        let mut i = 0;
        while i < part.len() {
            match part[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < part.len() && hex(part[i + 1]).zip(hex(part[i + 2])).is_some() => {
                    let (h, l) = hex(part[i + 1]).zip(hex(part[i + 2])).unwrap_or_default();
                    out.push(h * 16 + l);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    bytes
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (decode(&pair[..eq]), decode(&pair[eq + 1..])),
            None => (decode(pair), String::new()),
        })
        .collect()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fuzz_target!(|case: Case| match case {
    Case::Raw {
        post,
        query,
        content_type,
        body,
        max_fields,
    } => {
        let limits = FormLimits {
            max_fields: usize::from(max_fields),
            max_field_size: 256,
        };
        let method = if post { "POST" } else { "GET" };
        let Some(result) = parse(method, &query, &content_type, body, limits) else {
            return;
        };
        match result {
            Ok(form) => {
                assert!(form.args().len() <= limits.max_fields);
                assert!(form.fields().len() + form.files().len() <= limits.max_fields);
                assert!(form.fields().iter().all(|(_, v)| v.len() <= 3 * 256));
            }
            Err(error) => assert!(error.status() == 400 || error.status() == 413, "{error:?}"),
        }
    }
    Case::UrlEncoded { query, body } => {
        let limits = FormLimits {
            max_fields: usize::MAX,
            ..FormLimits::default()
        };
        let expected_fields = model(&body);
        let Some(result) = parse(
            "POST",
            &query,
            "application/x-www-form-urlencoded",
            body,
            limits,
        ) else {
            return;
        };
        let form = result.unwrap_or_else(|e| panic!("refused: {e}"));
        // The URI keeps the query up to a `#` (the fragment is dropped).
        let uri = http::Uri::try_from(format!("/?{query}")).ok();
        let kept = uri.as_ref().and_then(http::Uri::query).unwrap_or("");
        assert_eq!(form.args(), &model(kept.as_bytes())[..], "query {query:?}");
        assert_eq!(form.fields(), &expected_fields[..]);
    }
    Case::Multipart { boundary, parts } => {
        let boundary_ok = !boundary.is_empty()
            && boundary.len() <= 70
            && boundary
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"'()+_,-./:=?".contains(&b))
            && !boundary.ends_with(' ');
        let names_ok = parts.iter().all(|p| {
            !p.name.is_empty()
                && p.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && p.file_name.as_ref().is_none_or(|f| {
                    !f.is_empty()
                        && f.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                })
        });
        let delimiter = format!("--{boundary}");
        let contents_ok = parts.iter().all(|p| {
            let delimited = p
                .content
                .windows(delimiter.len())
                .any(|w| w == delimiter.as_bytes());
            !delimited && (p.file_name.is_some() || std::str::from_utf8(&p.content).is_ok())
        });
        if !boundary_ok || !names_ok || !contents_ok || parts.len() > 64 {
            return;
        }
        let mut body = Vec::new();
        for part in &parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match &part.file_name {
                Some(file) => body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                        part.name
                    )
                    .as_bytes(),
                ),
                None => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{}\"\r\n\r\n", part.name).as_bytes(),
                ),
            }
            body.extend_from_slice(&part.content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let content_type = format!("multipart/form-data; boundary=\"{boundary}\"");
        let Some(result) = parse("POST", "", &content_type, body, FormLimits::default()) else {
            return;
        };
        let form = result.unwrap_or_else(|e| panic!("refused {parts:?}: {e}"));
        let fields: Vec<(String, String)> = parts
            .iter()
            .filter(|p| p.file_name.is_none())
            .map(|p| {
                (
                    p.name.clone(),
                    String::from_utf8_lossy(&p.content).into_owned(),
                )
            })
            .collect();
        assert_eq!(form.fields(), &fields[..]);
        let files: Vec<(&str, u64)> = parts
            .iter()
            .filter(|p| p.file_name.is_some())
            .map(|p| (p.name.as_str(), p.content.len() as u64))
            .collect();
        let got: Vec<(&str, u64)> = form
            .files()
            .iter()
            .map(|f| (f.name.as_str(), f.size))
            .collect();
        assert_eq!(got, files);
    }
});
