//! The router's rule parser, matcher and `url_for`.
//!
//! Checks:
//! - any rule string parses to a rule or a `RuleError`, never a panic, and
//!   `Router::try_route` agrees with `Rule::new`;
//! - matching any path terminates without panicking, and every matched
//!   value is non-empty;
//! - for rules whose literal text needs no encoding (no `%`, `?`, `#`):
//!   params matched from a path build back (`url_for`) to a URL that
//!   decodes to that path, and any URL `url_for` builds matches its own
//!   rule, through the `Router` middleware too, with the parameters the
//!   rule extracts from the decoded path.
#![no_main]

use std::sync::{Arc, Mutex};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsgi_core::middleware::{middleware_fn, RequestMiddleware};
use wsgi_core::router::{RouteParams, Router, Rule};
use wsgi_core::{Environ, Error, WsgiResponse};
use wsgi_fuzz::block_on;

#[derive(Arbitrary, Debug)]
struct Input {
    rule: String,
    path: String,
    values: Vec<(String, String)>,
}

/// The path part of a built URL, percent-decoded.
fn decoded_path(url: &str) -> String {
    let path = url.split_once('?').map_or(url, |(path, _)| path);
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether the rule's literal text survives being put in a URL as is.
fn plain_literals(rule: &str) -> bool {
    let mut inside = false;
    for c in rule.chars() {
        match c {
            '<' => inside = true,
            '>' if inside => inside = false,
            '%' | '?' | '#' if !inside => return false,
            _ => {}
        }
    }
    true
}

fuzz_target!(|input: Input| {
    let parsed = Rule::new(&input.rule);
    let seen: Arc<Mutex<Option<RouteParams>>> = Arc::default();
    let handler_seen = Arc::clone(&seen);
    let handler = middleware_fn(move |environ: &mut Environ| {
        let params = environ.extensions().get::<RouteParams>().cloned();
        if let Ok(mut slot) = handler_seen.lock() {
            *slot = params;
        }
        Ok::<_, Error>(Some(WsgiResponse::text("matched")))
    });
    let router = Router::new().try_route(&input.rule, &[], handler);
    assert_eq!(parsed.is_ok(), router.is_ok(), "{:?}", input.rule);
    let (Ok(rule), Ok(router)) = (parsed, router) else {
        return;
    };
    let router = router.name("r");
    let plain = plain_literals(&input.rule);

    if let Some(params) = rule.matches(&input.path) {
        assert!(params.iter().all(|(_, v)| !v.is_empty()), "{params:?}");
        if plain {
            let values: Vec<(&str, &str)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let url = router.url_for("r", &values);
            let url = url.unwrap_or_else(|e| panic!("matched params refused: {e}"));
            assert_eq!(decoded_path(&url), input.path, "built {url:?}");
        }
    }

    let values: Vec<(&str, &str)> = input
        .values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let Ok(url) = router.url_for("r", &values) else {
        return;
    };
    if !plain {
        return;
    }
    let path = decoded_path(&url);
    let Some(params) = rule.matches(&path) else {
        panic!("url_for built {url:?} (decoded {path:?}), which its rule does not match");
    };
    // Through the router, as a request for the built URL.
    let Ok(request) = http::Request::get(url.as_str()).body(()) else {
        return;
    };
    let mut environ = Environ::from_request(request);
    let answered = block_on(router.call(&mut environ));
    assert!(matches!(answered, Ok(Some(_))), "{url:?} -> {answered:?}");
    let got = seen.lock().ok().and_then(|slot| slot.clone());
    let got: Option<Vec<(String, String)>> = got.map(|p| {
        p.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    });
    assert_eq!(got.as_ref(), Some(&params), "{url:?}");
});
