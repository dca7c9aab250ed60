//! Every kind of return value: its status, headers and body; errors
//! that carry their status.

use super::*;

#[wsgi_handler]
fn ret_static() -> &'static str {
    "static text"
}

#[wsgi_handler]
fn ret_string(Path(n): Path<u32>) -> String {
    "x".repeat(n as usize)
}

#[wsgi_handler]
fn ret_html() -> Html<&'static str> {
    Html("<h1>hi</h1>")
}

#[wsgi_handler]
fn ret_json() -> Json<serde_json::Value> {
    Json(serde_json::json!({"a": [1, 2], "b": null}))
}

#[wsgi_handler]
fn ret_vec() -> Vec<u8> {
    vec![1, 2, 3]
}

#[wsgi_handler]
fn ret_bytes() -> Bytes {
    Bytes::from_static(b"\x00bytes")
}

#[wsgi_handler]
fn ret_stream() -> Body {
    let chunks =
        ["one ", "two ", "three"].map(|c| Ok::<_, Error>(Bytes::from_static(c.as_bytes())));
    Body::from_stream(futures_util::stream::iter(chunks))
}

#[wsgi_handler]
#[allow(clippy::unused_unit)]
fn ret_unit() -> () {}

/// No return type at all: `()`, as in axum.
#[wsgi_handler]
fn ret_nothing(Path(_n): Path<u32>) {}

#[wsgi_handler]
fn ret_status() -> StatusCode {
    StatusCode::ACCEPTED
}

#[wsgi_handler]
fn ret_no_content() -> StatusCode {
    StatusCode::NO_CONTENT
}

#[wsgi_handler]
fn ret_redirect(Path(kind): Path<String>) -> Redirect {
    match kind.as_str() {
        "to" => Redirect::to("/there?a=1"),
        "temporary" => Redirect::temporary("/for-now"),
        _ => Redirect::permanent("https://example.org/new"),
    }
}

/// Status, repeated headers, a typed header and a JSON body.
type Created = (
    StatusCode,
    [(&'static str, &'static str); 2],
    TypedHeader<CacheControl>,
    Json<u32>,
);

#[wsgi_handler]
fn ret_tuple() -> Created {
    (
        StatusCode::CREATED,
        [("x-id", "7"), ("x-id", "8")],
        TypedHeader(CacheControl::new().with_no_store()),
        Json(7),
    )
}

#[wsgi_handler]
fn ret_parts(mut cookies: Cookies) -> (HeaderMap, Cookies, Html<String>) {
    let mut headers = HeaderMap::new();
    headers.insert("x-from", "parts".parse().unwrap());
    cookies.add(Cookie::new("flash", "saved"));
    (headers, cookies, Html("<p>saved</p>".to_owned()))
}

#[wsgi_handler]
fn ret_bad_header() -> ([(&'static str, &'static str); 2], &'static str) {
    ([("x-good", "yes"), ("x-bad", "line\nbreak")], "never sent")
}

#[wsgi_handler]
fn ret_bad_redirect() -> Redirect {
    Redirect::to("/a\r\nSet-Cookie: evil=1")
}

#[wsgi_handler]
fn ret_http_error() -> Result<String, HttpError> {
    Err(HttpError::new(StatusCode::CONFLICT).with_message("the name is taken"))
}

#[wsgi_handler]
async fn ret_anyhow(Path(kind): Path<String>) -> Result<String, anyhow::Error> {
    use anyhow::Context;
    match kind.as_str() {
        "missing" => Err(anyhow::Error::new(
            HttpError::not_found().with_message("no such thing"),
        ))
        .context("looking it up"),
        "ok" => Ok("fine".to_owned()),
        _ => Err(anyhow::anyhow!("postgres://admin:hunter2@db is down")),
    }
}

#[wsgi_handler]
fn ret_io_error() -> Result<String, std::io::Error> {
    Err(std::io::Error::other("disk hunter2"))
}

/// A user's own error type: chooses its status and page.
#[derive(Debug)]
enum AppError {
    Teapot,
    Gone(u32),
    Internal(std::io::Error),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Result<WsgiResponse, Error> {
        match self {
            AppError::Teapot => Ok(Html("<p>I am a teapot</p>")
                .into_response()?
                .with_status(StatusCode::IM_A_TEAPOT)),
            AppError::Gone(id) => Err(HttpError::new(StatusCode::GONE)
                .with_message(format!("item {id} is gone"))
                .into()),
            AppError::Internal(e) => Err(Error::new(e)),
        }
    }
}

#[wsgi_handler]
fn ret_own_error(Path(n): Path<u32>) -> Result<Json<u32>, AppError> {
    match n {
        0 => Err(AppError::Internal(std::io::Error::other("disk hunter2"))),
        1 => Ok(Json(1)),
        418 => Err(AppError::Teapot),
        n => Err(AppError::Gone(n)),
    }
}

fn returns_app() -> WsgiHandler {
    WsgiHandler::default().middleware(
        Router::new()
            .get("/static", RetStatic)
            .get("/string/<n>", RetString)
            .get("/html", RetHtml)
            .get("/json", RetJson)
            .get("/vec", RetVec)
            .get("/bytes", RetBytes)
            .get("/stream", RetStream)
            .get("/unit", RetUnit)
            .get("/nothing/<n>", RetNothing)
            .get("/status", RetStatus)
            .get("/no-content", RetNoContent)
            .route("/redirect/<kind>", &[], RetRedirect)
            .get("/tuple", RetTuple)
            .get("/parts", RetParts)
            .get("/bad-header", RetBadHeader)
            .get("/bad-redirect", RetBadRedirect)
            .get("/http-error", RetHttpError)
            .get("/anyhow/<kind>", RetAnyhow)
            .get("/io-error", RetIoError)
            .get("/own/<n>", RetOwnError),
    )
}

#[tokio::test]
async fn text_html_json_and_bytes_returns_get_their_content_type_and_length() {
    let server = serve(returns_app());
    let addr = server.local_addr();
    for (path, content_type, body) in [
        ("/static", "text/plain; charset=utf-8", &b"static text"[..]),
        ("/string/3", "text/plain; charset=utf-8", b"xxx"),
        ("/html", "text/html; charset=utf-8", b"<h1>hi</h1>"),
        ("/json", "application/json", br#"{"a":[1,2],"b":null}"#),
        ("/vec", "application/octet-stream", &[1, 2, 3]),
        ("/bytes", "application/octet-stream", b"\x00bytes"),
    ] {
        let response = get(addr, path).await;
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(
            response.header("content-type"),
            Some(content_type),
            "{path}"
        );
        assert_eq!(
            response.header("content-length"),
            Some(body.len().to_string().as_str()),
            "{path}"
        );
        assert_eq!(response.body, body, "{path}");
    }
}

#[tokio::test]
async fn a_returned_body_stream_is_sent_chunked() {
    let server = serve(returns_app());
    let response = get(server.local_addr(), "/stream").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert!(response.complete);
    assert_eq!(response.text(), "one two three");
}

#[tokio::test]
async fn unit_and_status_code_returns_are_empty_with_their_status() {
    let server = serve(returns_app());
    let addr = server.local_addr();
    for path in ["/unit", "/nothing/7"] {
        let unit = get(addr, path).await;
        assert_eq!(
            (unit.status, unit.header("content-length")),
            (200, Some("0")),
            "{path}"
        );
        assert!(unit.body.is_empty(), "{path}");
    }
    let status = get(addr, "/status").await;
    assert_eq!(status.status, 202);
    assert!(status.body.is_empty());
    let no_content = get(addr, "/no-content").await;
    assert_eq!(no_content.status, 204);
    assert!(no_content.header("content-length").is_none());
    assert!(String::from_utf8_lossy(&no_content.raw).ends_with("\r\n\r\n"));
}

#[tokio::test]
async fn redirects_are_303_307_308_with_their_location() {
    let server = serve(returns_app());
    let addr = server.local_addr();
    for (kind, status, location) in [
        ("to", 303, "/there?a=1"),
        ("temporary", 307, "/for-now"),
        ("permanent", 308, "https://example.org/new"),
    ] {
        let response = send(addr, "POST", &format!("/redirect/{kind}"), &[], b"").await;
        assert_eq!(response.status, status, "{kind}");
        assert_eq!(response.header("location"), Some(location), "{kind}");
        assert!(response.body.is_empty(), "{kind}");
    }
}

#[tokio::test]
async fn tuples_add_status_headers_and_cookies() {
    let server = serve(returns_app());
    let addr = server.local_addr();
    let tuple = get(addr, "/tuple").await;
    assert_eq!(tuple.status, 201);
    let ids: Vec<&str> = tuple
        .headers
        .iter()
        .filter(|(k, _)| k == "x-id")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(ids, ["7", "8"]);
    assert_eq!(tuple.header("cache-control"), Some("no-store"));
    assert_eq!(tuple.header("content-type"), Some("application/json"));
    assert_eq!(tuple.text(), "7");

    let parts = get(addr, "/parts").await;
    assert_eq!(parts.status, 200);
    assert_eq!(parts.header("x-from"), Some("parts"));
    assert_eq!(set_cookies(&parts), ["flash=saved"]);
    assert_eq!(parts.text(), "<p>saved</p>");
}

#[tokio::test]
async fn an_invalid_returned_header_is_a_500_and_never_sent() {
    let server = serve(returns_app());
    let addr = server.local_addr();
    for path in ["/bad-header", "/bad-redirect"] {
        let response = get(addr, path).await;
        assert_eq!(response.status, 500, "{path}");
        assert_eq!(response.text(), "Internal Server Error\n", "{path}");
        assert!(response.header("x-good").is_none(), "{path}");
        assert!(response.header("location").is_none(), "{path}");
        assert!(response.header("set-cookie").is_none(), "{path}");
        let raw = String::from_utf8_lossy(&response.raw);
        assert!(!raw.contains("break") && !raw.contains("evil"), "{raw}");
    }
}

#[tokio::test]
async fn a_returned_http_error_or_anyhow_error_keeps_its_status_and_hides_internals() {
    let server = serve(returns_app());
    let addr = server.local_addr();
    let conflict = get_accepting(addr, "/http-error", "application/json").await;
    assert_eq!(conflict.status, 409);
    assert_eq!(json_error(&conflict), (409, "the name is taken".to_owned()));

    let missing = get_accepting(addr, "/anyhow/missing", "text/html").await;
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("<title>404 Not Found</title>"));
    assert_eq!(get(addr, "/anyhow/ok").await.text(), "fine");
    for path in ["/anyhow/down", "/io-error"] {
        let failed = get(addr, path).await;
        assert_eq!(failed.status, 500, "{path}");
        assert!(
            !failed.text().contains("hunter2"),
            "{path}: {}",
            failed.text()
        );
    }
}

#[tokio::test]
async fn a_users_own_error_type_chooses_its_status_and_page() {
    let server = serve(returns_app());
    let addr = server.local_addr();
    assert_eq!(get(addr, "/own/1").await.text(), "1");
    let teapot = get(addr, "/own/418").await;
    assert_eq!(teapot.status, 418);
    assert_eq!(
        teapot.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(teapot.text(), "<p>I am a teapot</p>");
    let gone = get_accepting(addr, "/own/7", "application/json").await;
    assert_eq!(json_error(&gone), (410, "item 7 is gone".to_owned()));
    let internal = get(addr, "/own/0").await;
    assert_eq!(internal.status, 500);
    assert!(!internal.text().contains("hunter2"));
}

#[tokio::test]
async fn head_on_a_typed_get_route_has_no_body_but_the_gets_content_length() {
    let server = serve(returns_app());
    let addr = server.local_addr();
    for path in ["/string/17", "/json", "/html"] {
        let get_response = get(addr, path).await;
        let head = send(addr, "HEAD", path, &[], b"").await;
        assert_eq!(head.status, 200, "{path}");
        assert_eq!(
            head.header("content-length"),
            get_response.header("content-length"),
            "{path}"
        );
        assert!(head.header("content-length").is_some(), "{path}");
        assert_eq!(
            head.header("content-type"),
            get_response.header("content-type")
        );
        assert!(
            String::from_utf8_lossy(&head.raw).ends_with("\r\n\r\n"),
            "no body after the head: {:?}",
            String::from_utf8_lossy(&head.raw)
        );
    }
}
