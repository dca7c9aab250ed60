//! Error pages: an [`Error`] rendered as a response the client can read.
//!
//! The default renderer answers with the error's status (500 unless it
//! carries another, e.g. an [`HttpError`](crate::HttpError)) and its headers
//! (`Allow`, `Location`), in the format the request's `Accept` prefers:
//! `text/plain` (the default), HTML (`<title>` is the status line) or JSON
//! (`{"status": 404, "message": "..."}`). For 5xx statuses the message is
//! the reason phrase only, unless `debug` is on: then it is the error
//! chain. Redirects and 204 get no page; `HEAD` and 304 answers carry no
//! body, as [every response without one](crate::guide::streaming#content-length).

use http::header::{self, HeaderValue};
use http::StatusCode;

use crate::environ::Environ;
use crate::error::Error;
use crate::response::WsgiResponse;

/// Turns an error into a response. Any `Fn(&Environ, &Error) ->
/// WsgiResponse` is one.
///
/// ```
/// use wsgi_core::{Environ, Error, WsgiResponse, WsgiHandler};
///
/// let handler = WsgiHandler::default().error_renderer(|_: &Environ, e: &Error| {
///     WsgiResponse::text(format!("oops: {}", e.status())).with_status(e.status())
/// });
/// # let _ = handler;
/// ```
pub trait ErrorRenderer: Send + Sync + 'static {
    /// The response for `error` raised while answering `environ`.
    fn render(&self, environ: &Environ, error: &Error) -> WsgiResponse;
}

impl<F> ErrorRenderer for F
where
    F: Fn(&Environ, &Error) -> WsgiResponse + Send + Sync + 'static,
{
    fn render(&self, environ: &Environ, error: &Error) -> WsgiResponse {
        self(environ, error)
    }
}

/// The formats an error page can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Html,
    Json,
}

/// Picks the format with the highest `q` in `Accept` (earliest on ties).
fn negotiate(accept: Option<&HeaderValue>) -> Format {
    let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
        return Format::Text;
    };
    let mut best = (Format::Text, 0.0_f32);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let format = match media.as_str() {
            "text/html" | "application/xhtml+xml" => Format::Html,
            "application/json" => Format::Json,
            "text/plain" | "text/*" | "*/*" => Format::Text,
            _ => continue,
        };
        if q > best.1 {
            best = (format, q);
        }
    }
    best.0
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The default error page (see the [module docs](self)).
pub fn render_error(environ: &Environ, error: &Error) -> WsgiResponse {
    let status = error.status();
    let mut response = WsgiResponse::new(status);
    if let Some(headers) = error.headers() {
        for (name, value) in headers {
            response.headers_mut().append(name, value.clone());
        }
    }
    if status.is_server_error() {
        log_failure(
            error,
            environ.method(),
            environ.uri(),
            environ.connection().and_then(|c| c.client_addr()),
        );
    }
    let Some(message) = page_message(error, environ.config().debug) else {
        return response;
    };
    let mut page = match rich_page(environ.header(header::ACCEPT), status, &message) {
        Some(RichPage::Html(page)) => WsgiResponse::html(page),
        Some(RichPage::Json(page)) => WsgiResponse::json(page),
        None => WsgiResponse::text(format!("{message}\n")),
    };
    page.set_status(status);
    page.headers_mut().extend(response.headers_mut().drain());
    page
}

/// What an error page says, the one rule for every error page: for a
/// `5xx` the reason phrase only (the error chain when `debug` is on, since
/// internals must not leak), else the error's own message; `None` for a
/// redirect or a `204`, which carry no page.
pub(crate) fn page_message(error: &Error, debug: bool) -> Option<String> {
    let status = error.status();
    if status.is_redirection() || status == StatusCode::NO_CONTENT {
        None
    } else if !status.is_server_error() {
        Some(error.to_string())
    } else if debug {
        Some(error.chain())
    } else {
        Some(
            status
                .canonical_reason()
                .unwrap_or("Server Error")
                .to_owned(),
        )
    }
}

/// Logs a server error with the request it failed.
pub(crate) fn log_failure(
    error: &Error,
    method: &http::Method,
    uri: &http::Uri,
    peer: Option<std::net::SocketAddr>,
) {
    tracing::error!(
        error = %error.chain(),
        status = error.status().as_u16(),
        method = %method,
        uri = %uri,
        peer = ?peer,
        "request failed"
    );
}

/// An error page in a format other than plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RichPage {
    /// `text/html; charset=utf-8`.
    Html(String),
    /// `application/json`.
    Json(String),
}

impl RichPage {
    /// The page's content type.
    pub(crate) fn content_type(&self) -> &'static str {
        match self {
            RichPage::Html(_) => "text/html; charset=utf-8",
            RichPage::Json(_) => "application/json",
        }
    }

    /// The page.
    pub(crate) fn into_body(self) -> String {
        match self {
            RichPage::Html(page) | RichPage::Json(page) => page,
        }
    }
}

/// The page saying `message` for `status` in HTML or JSON, when `accept`
/// prefers one of them; `None` for plain text. Shared by the
/// [`ErrorRenderer`] default and the server's answer to an application's
/// error (a typed handler served directly, whose rejection is rendered by
/// `Accept` like any error page).
pub(crate) fn rich_page(
    accept: Option<&HeaderValue>,
    status: StatusCode,
    message: &str,
) -> Option<RichPage> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let title = format!("{} {reason}", status.as_u16());
    match negotiate(accept) {
        Format::Text => None,
        Format::Html => Some(RichPage::Html(format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body><h1>{title}</h1><p>{}</p></body></html>\n",
            escape_html(message)
        ))),
        Format::Json => Some(RichPage::Json(format!(
            "{{\"status\":{},\"message\":{}}}",
            status.as_u16(),
            json_string(message)
        ))),
    }
}

/// `text` as a JSON string literal (written here rather than with
/// serde_json, so that error pages need no optional feature).
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        let v = |s: &'static str| Some(HeaderValue::from_static(s));
        assert_eq!(negotiate(None), Format::Text);
        assert_eq!(
            negotiate(v("text/html,application/xhtml+xml,*/*;q=0.8").as_ref()),
            Format::Html
        );
        assert_eq!(negotiate(v("application/json").as_ref()), Format::Json);
        assert_eq!(
            negotiate(v("text/html;q=0.5, application/json;q=0.9").as_ref()),
            Format::Json
        );
        assert_eq!(negotiate(v("image/png").as_ref()), Format::Text);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape_html("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
    }
}
