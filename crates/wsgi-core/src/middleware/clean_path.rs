//! `clean_path`: redirect paths with `//` to their clean form.
//!
//! pulsar's `clean_path_middleware`: a request for `/a//b///c?x=1` is
//! answered with a permanent redirect to `/a/b/c?x=1`, so every resource has
//! one URL (caches, logs and relative links agree). Clean paths pass on.

use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

use crate::environ::Environ;
use crate::error::Error;
use crate::middleware::RequestMiddleware;
use crate::response::WsgiResponse;

/// Redirects a path containing `//` to the path with each run of `/`
/// collapsed into one; passes every other request.
///
/// - The `Location` is built from the path *as the client sent it* (still
///   percent-encoded), so `%2F` or `%20` in a segment survive the redirect
///   unchanged; `//` is looked for in that raw path too, so an encoded
///   `%2F%2F` (which decodes to `//`) is not "cleaned" into a redirect loop.
/// - The query string is kept verbatim.
/// - The `SCRIPT_NAME` prefix is kept: it is part of the path the client
///   sent, and is put in front when the client's path lacks it.
/// - `GET` and `HEAD` get `301 Moved Permanently`. Other methods get
///   `308 Permanent Redirect`, which tells clients to repeat the method and
///   its body instead of turning a `POST` into a `GET` (as they do for 301).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use wsgi_core::middleware::{CleanPath, RequestMiddleware};
/// use wsgi_core::{Environ, WsgiHandler};
///
/// let mut environ = Environ::from_request(http::Request::get("//a///b?x=1").body(()).unwrap());
/// let response = CleanPath.call(&mut environ).await.unwrap().expect("a redirect");
/// assert_eq!(response.status(), 301);
/// assert_eq!(response.headers()["location"], "/a/b?x=1");
///
/// let mut clean = Environ::from_request(http::Request::get("/a/b").body(()).unwrap());
/// assert!(CleanPath.call(&mut clean).await.unwrap().is_none());
///
/// // Usually the first middleware of a handler:
/// let handler = WsgiHandler::default().middleware(CleanPath);
/// # let _ = handler;
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CleanPath;

impl RequestMiddleware for CleanPath {
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        let raw_path = environ.uri().path();
        if !raw_path.contains("//") {
            return Ok(None);
        }
        let mut location = String::with_capacity(raw_path.len() + environ.query_string().len() + 1);
        let path = collapse_slashes(raw_path);
        let script_name = environ.script_name();
        if !script_name.is_empty() && !starts_with_segment(&path, script_name) {
            // The client's path lacks the mount point (a proxy stripped it):
            // the application's URL space is SCRIPT_NAME + PATH_INFO.
            location.extend(percent_encoding::utf8_percent_encode(
                script_name,
                PATH_UNSAFE,
            ));
        }
        location.push_str(&path);
        let query = environ.query_string();
        if !query.is_empty() {
            location.push('?');
            location.push_str(query);
        }
        let status = if environ.method() == Method::GET || environ.method() == Method::HEAD {
            StatusCode::MOVED_PERMANENTLY
        } else {
            StatusCode::PERMANENT_REDIRECT
        };
        // The raw path and query are already valid header characters (the
        // URI parser only accepts those); the error is for a SCRIPT_NAME
        // configured with control characters.
        let value = HeaderValue::from_str(&location).map_err(|_| {
            Error::msg(format!(
                "clean_path: the redirect location {location:?} is not a valid header value; check the configured script_name"
            ))
        })?;
        let mut response = WsgiResponse::new(status);
        response.headers_mut().insert(header::LOCATION, value);
        Ok(Some(response))
    }
}

/// Characters percent-encoded when SCRIPT_NAME is put into a URL path.
const PATH_UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// `path` with every run of `/` replaced by a single `/`.
fn collapse_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut previous_slash = false;
    for c in path.chars() {
        if c == '/' {
            if previous_slash {
                continue;
            }
            previous_slash = true;
        } else {
            previous_slash = false;
        }
        out.push(c);
    }
    out
}

/// Whether the (raw) `path` begins with the (decoded) `prefix` on a segment
/// boundary, comparing decoded bytes.
fn starts_with_segment(path: &str, prefix: &str) -> bool {
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(path).collect();
    let prefix = prefix.as_bytes();
    decoded.starts_with(prefix) && (decoded.len() == prefix.len() || decoded[prefix.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::config::Config;
    use crate::input::Input;

    fn environ(method: &str, target: &str, script_name: &str) -> Environ {
        let (head, ()) = http::Request::builder()
            .method(method)
            .uri(target)
            .body(())
            .unwrap()
            .into_parts();
        let config = Config {
            script_name: script_name.to_owned(),
            ..Config::default()
        };
        Environ::new(head, Input::empty(), Arc::new(config), None)
    }

    async fn location(environ: &mut Environ) -> Option<(u16, String)> {
        let response = CleanPath.call(environ).await.unwrap()?;
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        Some((response.status().as_u16(), location.to_owned()))
    }

    #[test]
    fn runs_of_slashes_collapse() {
        assert_eq!(collapse_slashes("//a///b/"), "/a/b/");
        assert_eq!(collapse_slashes("/a/b"), "/a/b");
        assert_eq!(collapse_slashes("////"), "/");
    }

    #[tokio::test]
    async fn percent_encoding_and_query_are_preserved() {
        let mut e = environ("GET", "/caf%C3%A9//a%2Fb%20c?q=%2F%2F&x", "");
        assert_eq!(
            location(&mut e).await,
            Some((301, "/caf%C3%A9/a%2Fb%20c?q=%2F%2F&x".to_owned()))
        );
    }

    #[tokio::test]
    async fn encoded_slashes_do_not_loop() {
        let mut e = environ("GET", "/a%2F%2Fb", "");
        assert_eq!(location(&mut e).await, None);
    }

    #[tokio::test]
    async fn script_name_is_kept() {
        let mut e = environ("GET", "/app//x", "/app");
        assert_eq!(location(&mut e).await, Some((301, "/app/x".to_owned())));
        // The client's path lacks the mount point (stripped by a proxy).
        let mut e = environ("GET", "//x", "/my app");
        assert_eq!(
            location(&mut e).await,
            Some((301, "/my%20app/x".to_owned()))
        );
    }

    #[tokio::test]
    async fn unsafe_methods_get_308() {
        let mut e = environ("POST", "//submit", "");
        assert_eq!(location(&mut e).await, Some((308, "/submit".to_owned())));
    }
}
