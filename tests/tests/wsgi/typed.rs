//! Typed handlers over a real socket: every extractor's success and
//! rejection (status, message, and the error page's format by `Accept`),
//! every kind of return value, typed handlers inside a `WsgiHandler`
//! (error renderer, response middleware, passing on `None`), `blocking`,
//! the start-up check of `State`, and `HEAD` on a typed `GET` route.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use wsgi_core::cookie::Cookie;
use wsgi_core::extract::Json;
use wsgi_core::extract::{Cookies, Extension, Form, Path, Query, Rejection, State, TypedHeader};
use wsgi_core::headers::{CacheControl, IfModifiedSince, UserAgent};
use wsgi_core::middleware::{middleware_fn, response_middleware_fn};
use wsgi_core::router::RouteParams;
use wsgi_core::router::Router;
use wsgi_core::server::{Server, ServerError};
use wsgi_core::IntoResponse;
use wsgi_core::{
    wsgi_handler, Body, Config, Connection, Environ, Error, Html, HttpError, Redirect,
    StartResponse, WsgiHandler, WsgiResponse,
};
use wsgi_tests::{
    get, parse_response, raw_exchange, serve, serve_with, test_config, RawResponse, IO_TIMEOUT,
};

// ---------------------------------------------------------------------------
// Requests

/// Sends `method path` with `headers` and `body` (with its
/// `Content-Length`) on a new connection and parses the response.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    let raw = raw_exchange(addr, &bytes).await;
    parse_response(&raw, method == "HEAD").unwrap_or_else(|| {
        panic!(
            "no parsable response to {method} {path}; got {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// A `GET` with one `Accept`.
async fn get_accepting(addr: SocketAddr, path: &str, accept: &str) -> RawResponse {
    send(addr, "GET", path, &[("Accept", accept)], b"").await
}

/// A `POST` of `body` as `content_type`.
async fn post(addr: SocketAddr, path: &str, content_type: &str, body: &[u8]) -> RawResponse {
    send(addr, "POST", path, &[("Content-Type", content_type)], body).await
}

/// The `{"status", "message"}` of a JSON error page.
fn json_error(response: &RawResponse) -> (u64, String) {
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "a JSON error page: {}",
        response.text()
    );
    let value: serde_json::Value = serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("{e}: {}", response.text()));
    (
        value["status"].as_u64().expect("a status"),
        value["message"].as_str().expect("a message").to_owned(),
    )
}

/// Asserts a rejection: its status, that the message (as text) contains
/// each of `words`, and the same as a JSON error page.
async fn assert_rejected(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    status: u16,
    words: &[&str],
) {
    let text = send(addr, method, path, headers, body).await;
    assert_eq!(text.status, status, "{method} {path}: {}", text.text());
    assert!(
        text.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{:?}",
        text.headers
    );
    for word in words {
        assert!(
            text.text().contains(word),
            "{method} {path}: {word:?} not in {:?}",
            text.text()
        );
    }
    let mut with_accept = headers.to_vec();
    with_accept.push(("Accept", "application/json"));
    let json = send(addr, method, path, &with_accept, body).await;
    assert_eq!(json.status, status);
    let (json_status, message) = json_error(&json);
    assert_eq!(json_status, u64::from(status));
    assert_eq!(format!("{message}\n"), text.text(), "the same message");
}

/// The `Set-Cookie` values of a response, in order.
fn set_cookies(response: &RawResponse) -> Vec<&str> {
    response
        .headers
        .iter()
        .filter(|(name, _)| name == "set-cookie")
        .map(|(_, value)| value.as_str())
        .collect()
}

// ---------------------------------------------------------------------------
// Extractor handlers

#[derive(Deserialize, Serialize, Debug, PartialEq)]
struct Item {
    id: u64,
    name: String,
    tags: Vec<String>,
}

#[derive(Deserialize)]
struct SearchParams {
    q: String,
    page: Option<u32>,
}

#[derive(Deserialize)]
struct SignupForm {
    email: String,
    age: u8,
}

#[derive(Deserialize)]
struct PostPath {
    user: u64,
    slug: String,
}

#[wsgi_handler]
fn one(Path(id): Path<u32>) -> String {
    format!("id {id}")
}

#[wsgi_handler]
fn pair(Path((name, n)): Path<(String, u8)>) -> String {
    format!("pair {name} {n}")
}

#[wsgi_handler]
async fn post_of_user(Path(post): Path<PostPath>) -> String {
    format!("post {} of user {}", post.slug, post.user)
}

#[wsgi_handler]
fn search(Query(search): Query<SearchParams>) -> String {
    format!("search {} page {}", search.q, search.page.unwrap_or(1))
}

#[wsgi_handler]
async fn signup(Form(form): Form<SignupForm>) -> Html<String> {
    Html(format!("<p>{} is {}</p>", form.email, form.age))
}

#[wsgi_handler]
async fn create(Json(mut item): Json<Item>) -> (StatusCode, Json<Item>) {
    item.id += 1000;
    (StatusCode::CREATED, Json(item))
}

#[wsgi_handler]
fn count_bytes(body: Bytes) -> String {
    format!("{} bytes", body.len())
}

#[wsgi_handler]
fn shout(body: String) -> String {
    body.to_uppercase()
}

#[wsgi_handler]
fn agent(TypedHeader(agent): TypedHeader<UserAgent>) -> String {
    format!("agent {}", agent.as_str())
}

#[wsgi_handler]
fn since(TypedHeader(since): TypedHeader<IfModifiedSince>) -> String {
    let since: std::time::SystemTime = since.into();
    let seconds = since
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("since {seconds}")
}

#[wsgi_handler]
fn visit(mut cookies: Cookies) -> (Cookies, String) {
    let mut seen: Vec<String> = cookies
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect();
    seen.sort();
    let visits: u32 = cookies
        .get("visits")
        .and_then(|c| c.value().parse().ok())
        .unwrap_or(0);
    cookies.add(
        Cookie::build(("visits", (visits + 1).to_string()))
            .path("/")
            .http_only(true),
    );
    cookies.remove(Cookie::build("gone").path("/"));
    (cookies, seen.join(" "))
}

#[derive(Clone, Debug)]
struct User(&'static str);

#[wsgi_handler]
fn whoami(Extension(user): Extension<User>) -> String {
    format!("you are {}", user.0)
}

#[wsgi_handler]
fn peer(connection: Connection) -> String {
    connection
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default()
}

#[wsgi_handler]
fn head_parts(
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    params: RouteParams,
    config: Arc<Config>,
) -> String {
    format!(
        "{method} {uri} {version:?} x-tag={} rule={} n={} buffer={}",
        headers
            .get("x-tag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-"),
        params.rule(),
        params.get("n").unwrap_or("-"),
        config.max_request_body
    )
}

#[wsgi_handler]
async fn maybe(
    query: Option<Query<SearchParams>>,
    json: Result<Json<Item>, Rejection>,
    path: Result<Path<u32>, Error>,
) -> String {
    let query = match query {
        Some(Query(search)) => search.q,
        None => "none".to_owned(),
    };
    let json = match json {
        Ok(Json(item)) => format!("item {}", item.name),
        Err(rejection) => format!(
            "rejected {} ({})",
            rejection.status().as_u16(),
            rejection.message().unwrap_or("")
        ),
    };
    let path = match path {
        Ok(Path(n)) => n.to_string(),
        Err(error) => format!("bad path {}", error.status().as_u16()),
    };
    format!("query {query}; json {json}; path {path}")
}

fn extractors_app() -> WsgiHandler {
    let router = Router::new()
        .get("/one/<id>", One)
        .get("/pair/<name>/<n>", Pair)
        .get("/users/<user>/posts/<slug>", PostOfUser)
        .get("/search", Search)
        .route("/signup", &[Method::GET, Method::POST], Signup)
        .post("/items", Create)
        .post("/bytes", CountBytes)
        .post("/shout", Shout)
        .get("/agent", Agent)
        .get("/since", Since)
        .get("/cookies", Visit)
        .get("/whoami", Whoami)
        .get("/peer", Peer)
        .get("/head/<n>", HeadParts)
        .post("/maybe/<n>", Maybe);
    WsgiHandler::default()
        .middleware(middleware_fn(|environ: &mut Environ| {
            if environ.header("x-user").is_some() {
                environ.extensions_mut().insert(User("ada"));
            }
            Ok::<_, Error>(None)
        }))
        .middleware(router)
}

// ---------------------------------------------------------------------------
// Extractor tests

#[tokio::test]
async fn path_extracts_a_value_a_tuple_and_a_struct() {
    let server = serve(extractors_app());
    let addr = server.local_addr();
    assert_eq!(get(addr, "/one/42").await.text(), "id 42");
    assert_eq!(get(addr, "/pair/caf%C3%A9/7").await.text(), "pair café 7");
    assert_eq!(
        get(addr, "/users/3/posts/hello-world").await.text(),
        "post hello-world of user 3"
    );
}

#[tokio::test]
async fn a_path_value_that_does_not_parse_is_a_400_naming_the_parameter() {
    let server = serve(extractors_app());
    let addr = server.local_addr();
    assert_rejected(addr, "GET", "/one/forty", &[], b"", 400, &["`id`", "forty"]).await;
    assert_rejected(addr, "GET", "/pair/x/300", &[], b"", 400, &["`n`", "300"]).await;
    assert_rejected(
        addr,
        "GET",
        "/users/ada/posts/hi",
        &[],
        b"",
        400,
        &["`user`", "ada"],
    )
    .await;
}

#[tokio::test]
async fn query_is_deserialized_and_a_missing_or_malformed_field_is_a_400_naming_it() {
    let server = serve(extractors_app());
    let addr = server.local_addr();
    assert_eq!(
        get(addr, "/search?q=rust+web&page=2").await.text(),
        "search rust web page 2"
    );
    assert_eq!(get(addr, "/search?q=x").await.text(), "search x page 1");
    assert_rejected(addr, "GET", "/search?page=2", &[], b"", 400, &["`q`"]).await;
    assert_rejected(
        addr,
        "GET",
        "/search?q=x&page=two",
        &[],
        b"",
        400,
        &["`page`"],
    )
    .await;
}

#[tokio::test]
async fn form_reads_urlencoded_multipart_text_fields_and_the_query_of_a_get() {
    let server = serve(extractors_app());
    let addr = server.local_addr();
    let urlencoded = post(
        addr,
        "/signup",
        "application/x-www-form-urlencoded",
        b"email=ada%40example.org&age=36",
    )
    .await;
    assert_eq!(urlencoded.status, 200);
    assert_eq!(
        urlencoded.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(urlencoded.text(), "<p>ada@example.org is 36</p>");
    let shouted = post(
        addr,
        "/signup",
        "Application/X-WWW-Form-Urlencoded",
        b"email=ada%40example.org&age=36",
    )
    .await;
    assert_eq!(shouted.status, 200, "{}", shouted.text());

    let multipart = "--XyZ\r\n\
        Content-Disposition: form-data; name=\"email\"\r\n\r\n\
        grace@example.org\r\n\
        --XyZ\r\n\
        Content-Disposition: form-data; name=\"age\"\r\n\r\n\
        85\r\n\
        --XyZ--\r\n";
    let response = post(
        addr,
        "/signup",
        "multipart/form-data; boundary=XyZ",
        multipart.as_bytes(),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "<p>grace@example.org is 85</p>");

    let from_query = get(addr, "/signup?email=alan%40example.org&age=41").await;
    assert_eq!(from_query.text(), "<p>alan@example.org is 41</p>");
}

#[tokio::test]
async fn form_of_another_content_type_is_415_and_one_that_does_not_fit_is_422() {
    let server = serve(extractors_app());
    let addr = server.local_addr();
    assert_rejected(
        addr,
        "POST",
        "/signup",
        &[("Content-Type", "application/json")],
        br#"{"email":"a","age":1}"#,
        415,
        &["application/x-www-form-urlencoded", "`application/json`"],
    )
    .await;
    assert_rejected(
        addr,
        "POST",
        "/signup",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"email=a&age=old",
        422,
        &["`age`"],
    )
    .await;
    assert_rejected(
        addr,
        "POST",
        "/signup",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"age=3",
        422,
        &["email"],
    )
    .await;
}

#[tokio::test]
async fn json_body_is_deserialized_and_a_json_return_is_serialized() {
    let server = serve(extractors_app());
    let addr = server.local_addr();
    let response = post(
        addr,
        "/items",
        "application/json; charset=utf-8",
        br#"{"id": 1, "name": "pen", "tags": ["blue"]}"#,
    )
    .await;
    assert_eq!(response.status, 201);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let item: Item = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        item,
        Item {
            id: 1001,
            name: "pen".to_owned(),
            tags: vec!["blue".to_owned()]
        }
    );
    // A `+json` suffix, and media types compared without regard to ASCII
    // case (RFC 9110 §8.3.1).
    for content_type in [
        "application/vnd.api+json",
        "Application/JSON; charset=UTF-8",
        "APPLICATION/VND.API+JSON",
    ] {
        let response = post(
            addr,
            "/items",
            content_type,
            br#"{"id": 2, "name": "ink", "tags": []}"#,
        )
        .await;
        assert_eq!(response.status, 201, "{content_type}: {}", response.text());
    }
    let bare_suffix = post(addr, "/items", "application/+json", b"{}").await;
    assert_eq!(bare_suffix.status, 415, "{}", bare_suffix.text());
}

#[tokio::test]
async fn json_rejections_are_415_400_422_at_the_field_path_and_413_over_the_buffer() {
    let mut config = test_config();
    config.max_request_body = 256;
    let server = serve_with(extractors_app(), config);
    let addr = server.local_addr();
    let item = br#"{"id": 1, "name": "pen", "tags": []}"#;
    assert_rejected(
        addr,
        "POST",
        "/items",
        &[],
        item,
        415,
        &["application/json", "no content type"],
    )
    .await;
    assert_rejected(
        addr,
        "POST",
        "/items",
        &[("Content-Type", "text/plain")],
        item,
        415,
        &["`text/plain`"],
    )
    .await;
    assert_rejected(
        addr,
        "POST",
        "/items",
        &[("Content-Type", "application/json")],
        br#"{"id": 1,"#,
        400,
        &["not valid JSON"],
    )
    .await;
    assert_rejected(
        addr,
        "POST",
        "/items",
        &[("Content-Type", "application/json")],
        br#"{"id": 1, "name": "pen", "tags": []} trailing"#,
        400,
        &["not valid JSON"],
    )
    .await;
    assert_rejected(
        addr,
        "POST",
        "/items",
        &[("Content-Type", "application/json")],
        br#"{"id": 1, "name": "pen", "tags": ["a", 2]}"#,
        422,
        &["`tags[1]`", "invalid type"],
    )
    .await;
    assert_rejected(
        addr,
        "POST",
        "/items",
        &[("Content-Type", "application/json")],
        br#"{"id": 1, "tags": []}"#,
        422,
        &["`name`"],
    )
    .await;
    let big = format!(r#"{{"id": 1, "name": "{}", "tags": []}}"#, "x".repeat(1000));
    let response = post(addr, "/items", "application/json", big.as_bytes()).await;
    assert_eq!(response.status, 413, "{}", response.text());
}

#[tokio::test]
async fn bytes_and_string_read_the_whole_body_and_text_that_is_not_utf8_is_a_400() {
    let server = serve(extractors_app());
    let addr = server.local_addr();
    let bytes = post(
        addr,
        "/bytes",
        "application/octet-stream",
        &[0, 159, 146, 150],
    )
    .await;
    assert_eq!(bytes.text(), "4 bytes");
    let text = post(addr, "/shout", "text/plain", "olá".as_bytes()).await;
    assert_eq!(text.text(), "OLÁ");
    assert_rejected(
        addr,
        "POST",
        "/shout",
        &[("Content-Type", "text/plain")],
        &[b'o', b'k', 0xff, 0xfe],
        400,
        &["not UTF-8", "offset 2"],
    )
    .await;
}

#[tokio::test]
async fn typed_header_is_parsed_and_a_missing_or_malformed_one_is_a_400() {
    let server = serve(extractors_app());
    let addr = server.local_addr();
    let response = send(addr, "GET", "/agent", &[("User-Agent", "curl/8.5")], b"").await;
    assert_eq!(response.text(), "agent curl/8.5");
    assert_rejected(
        addr,
        "GET",
        "/agent",
        &[],
        b"",
        400,
        &["`user-agent`", "missing"],
    )
    .await;
    let response = send(
        addr,
        "GET",
        "/since",
        &[("If-Modified-Since", "Thu, 01 Jan 1970 00:01:40 GMT")],
        b"",
    )
    .await;
    assert_eq!(response.text(), "since 100");
    assert_rejected(
        addr,
        "GET",
        "/since",
        &[("If-Modified-Since", "yesterday")],
        b"",
        400,
        &["`if-modified-since`", "malformed"],
    )
    .await;
}

#[tokio::test]
async fn cookies_are_read_across_two_cookie_headers_and_set_and_removed_in_the_response() {
    let server = serve(extractors_app());
    let addr = server.local_addr();
    let response = send(
        addr,
        "GET",
        "/cookies",
        &[
            ("Cookie", "a=1; visits=4"),
            ("Cookie", "b=two%20words; gone=x"),
        ],
        b"",
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "a=1 b=two words gone=x visits=4");
    let mut cookies = set_cookies(&response);
    cookies.sort();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(
        cookies[0].starts_with("gone=;") && cookies[0].contains("Max-Age=0"),
        "removed: {cookies:?}"
    );
    assert!(cookies[0].contains("Path=/"), "{cookies:?}");
    assert!(
        cookies[1].starts_with("visits=5") && cookies[1].contains("HttpOnly"),
        "added: {cookies:?}"
    );

    let first = get(addr, "/cookies").await;
    assert_eq!(first.text(), "");
    let cookies = set_cookies(&first);
    assert_eq!(cookies.len(), 1, "nothing to remove: {cookies:?}");
    assert!(cookies[0].starts_with("visits=1"));
}

#[derive(Clone)]
struct Greeting(&'static str);

#[wsgi_handler]
fn greet(State(greeting): State<Greeting>, State(hits): State<Hits>) -> String {
    let n = hits.0.fetch_add(1, Ordering::SeqCst) + 1;
    format!("{} #{n}", greeting.0)
}

#[derive(Clone, Default)]
struct Hits(Arc<AtomicU64>);

#[tokio::test]
async fn nested_with_state_the_innermost_wins_and_state_is_shared() {
    let hits = Hits::default();
    let app = WsgiHandler::default()
        .with_state(Greeting("outer"))
        .with_state(hits.clone())
        .middleware(
            Router::new()
                .with_state(Greeting("router"))
                .get("/router", Greet),
        )
        .middleware(
            WsgiHandler::default()
                .with_state(Greeting("inner"))
                .middleware(Router::new().get("/inner", Greet)),
        )
        .middleware(Router::new().get("/outer", Greet));
    let server = serve(app);
    let addr = server.local_addr();
    assert_eq!(get(addr, "/router").await.text(), "router #1");
    assert_eq!(get(addr, "/inner").await.text(), "inner #2");
    assert_eq!(get(addr, "/outer").await.text(), "outer #3");
    assert_eq!(hits.0.load(Ordering::SeqCst), 3);
}

#[wsgi_handler]
fn passes(State(_greeting): State<Greeting>) -> Option<String> {
    None
}

#[tokio::test]
async fn the_state_of_a_handler_that_passed_does_not_leak_to_the_next_middleware() {
    // The inner handler's router has no `/outer` route: the inner handler
    // passes, and the outer router's handler must see the outer state.
    let app = WsgiHandler::default()
        .with_state(Greeting("outer"))
        .with_state(Hits::default())
        .middleware(
            WsgiHandler::default()
                .with_state(Greeting("inner"))
                .middleware(Router::new().get("/inner", Greet)),
        )
        .middleware(
            Router::new()
                .with_state(Greeting("router"))
                .get("/both", Passes),
        )
        .middleware(Router::new().get("/outer", Greet).get("/both", Greet));
    let server = serve(app);
    let addr = server.local_addr();
    assert_eq!(get(addr, "/outer").await.text(), "outer #1");
    assert_eq!(get(addr, "/both").await.text(), "outer #2");
}

#[tokio::test]
async fn extension_set_by_a_middleware_is_extracted_and_a_missing_one_is_a_500_without_internals() {
    let server = serve(extractors_app());
    let addr = server.local_addr();
    let response = send(addr, "GET", "/whoami", &[("X-User", "1")], b"").await;
    assert_eq!(response.text(), "you are ada");

    let missing = get_accepting(addr, "/whoami", "application/json").await;
    assert_eq!(missing.status, 500);
    let (status, message) = json_error(&missing);
    assert_eq!((status, message.as_str()), (500, "Internal Server Error"));
    assert!(!missing.text().contains("User"), "{}", missing.text());

    let mut config = test_config();
    config.debug = true;
    let debug = serve_with(extractors_app(), config);
    let missing = get(debug.local_addr(), "/whoami").await;
    assert_eq!(missing.status, 500);
    assert!(
        missing.text().contains("typed::User") && missing.text().contains("extensions"),
        "debug shows why: {}",
        missing.text()
    );
}

#[tokio::test]
async fn connection_gives_the_peer_address() {
    let server = serve(extractors_app());
    let mut stream = wsgi_tests::send(
        server.local_addr(),
        b"GET /peer HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    let local = stream.local_addr().unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(IO_TIMEOUT, stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let response = parse_response(&raw, false).unwrap();
    assert_eq!(response.text(), local.to_string());
}

#[tokio::test]
async fn head_extractors_see_method_uri_version_headers_route_params_and_config() {
    let mut config = test_config();
    config.max_request_body = 12345;
    let server = serve_with(extractors_app(), config);
    let response = send(
        server.local_addr(),
        "GET",
        "/head/9?x=1",
        &[("X-Tag", "t")],
        b"",
    )
    .await;
    assert_eq!(
        response.text(),
        "GET /head/9?x=1 HTTP/1.1 x-tag=t rule=/head/<n> n=9 buffer=12345"
    );
}

#[tokio::test]
async fn option_and_result_extractors_hand_the_rejection_to_the_handler() {
    let server = serve(extractors_app());
    let addr = server.local_addr();
    let ok = post(
        addr,
        "/maybe/5?q=found",
        "application/json",
        br#"{"id": 1, "name": "pen", "tags": []}"#,
    )
    .await;
    assert_eq!(ok.text(), "query found; json item pen; path 5");
    let rejected = post(addr, "/maybe/five", "text/plain", b"{}").await;
    assert_eq!(rejected.status, 200);
    assert!(
        rejected.text().starts_with(
            "query none; json rejected 415 (the request body must be application/json"
        ),
        "{}",
        rejected.text()
    );
    assert!(
        rejected.text().ends_with("; path bad path 400"),
        "{}",
        rejected.text()
    );
}

// ---------------------------------------------------------------------------
// Returns

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
    let unit = get(addr, "/unit").await;
    assert_eq!(
        (unit.status, unit.header("content-length")),
        (200, Some("0"))
    );
    assert!(unit.body.is_empty());
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

// ---------------------------------------------------------------------------
// Typed handlers among middleware

#[derive(Deserialize)]
struct Who {
    who: String,
}

#[wsgi_handler]
fn admins_only(Query(who): Query<Who>) -> Option<String> {
    (who.who == "admin").then(|| "hello admin".to_owned())
}

#[wsgi_handler]
fn fails(Path(n): Path<u32>) -> Result<String, HttpError> {
    Err(HttpError::new(StatusCode::FORBIDDEN).with_message(format!("no {n}")))
}

#[tokio::test]
async fn a_typed_handlers_errors_use_the_handlers_error_renderer_and_response_middleware() {
    let app = WsgiHandler::default()
        .error_renderer(|environ: &Environ, error: &Error| {
            WsgiResponse::text(format!(
                "custom {} at {}: {error}",
                error.status().as_u16(),
                environ.path_info()
            ))
            .with_status(error.status())
        })
        .middleware(Router::new().get("/fails/<n>", Fails))
        .response_middleware(response_middleware_fn(
            |_: &mut Environ, mut response: WsgiResponse| {
                response
                    .headers_mut()
                    .insert("x-after", http::HeaderValue::from_static("yes"));
                Ok::<_, Error>(response)
            },
        ));
    let server = serve(app);
    let addr = server.local_addr();
    let returned = get(addr, "/fails/3").await;
    assert_eq!(returned.status, 403);
    assert_eq!(returned.text(), "custom 403 at /fails/3: no 3");
    assert_eq!(returned.header("x-after"), Some("yes"));
    let rejected = get(addr, "/fails/three").await;
    assert_eq!(rejected.status, 400);
    assert!(
        rejected.text().starts_with("custom 400 at /fails/three: "),
        "{}",
        rejected.text()
    );
    assert!(rejected.text().contains("`n`"), "{}", rejected.text());
    assert_eq!(rejected.header("x-after"), Some("yes"));
}

#[tokio::test]
async fn an_option_return_of_none_passes_to_the_next_middleware() {
    let app = WsgiHandler::default()
        .middleware(AdminsOnly)
        .middleware(middleware_fn(|_: &mut Environ| {
            Ok::<_, Error>(Some(WsgiResponse::text("next middleware")))
        }));
    let server = serve(app);
    let addr = server.local_addr();
    assert_eq!(get(addr, "/?who=admin").await.text(), "hello admin");
    assert_eq!(get(addr, "/?who=bob").await.text(), "next middleware");
    // A rejection does not pass: it answers.
    assert_eq!(get(addr, "/").await.status, 400);

    // Served as the application itself, `None` is a 404.
    let alone = serve(AdminsOnly);
    assert_eq!(get(alone.local_addr(), "/?who=bob").await.status, 404);
    assert_eq!(
        get(alone.local_addr(), "/?who=admin").await.text(),
        "hello admin"
    );
}

#[wsgi_handler]
async fn wsgi_form(
    environ: &Environ,
    start_response: StartResponse,
    Query(search): Query<SearchParams>,
) -> Result<String, Error> {
    start_response.start(
        "200 OK",
        [("Content-Type", "text/plain"), ("X-Wsgi", "yes")],
    )?;
    Ok(format!("{} found {}", environ.method(), search.q))
}

#[tokio::test]
async fn the_wsgi_form_takes_an_extractor_argument() {
    let app = WsgiHandler::default().middleware(Router::new().get("/wsgi", WsgiForm));
    let server = serve(app);
    let addr = server.local_addr();
    let response = get(addr, "/wsgi?q=it").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-wsgi"), Some("yes"));
    assert_eq!(response.text(), "GET found it");
    assert_rejected(addr, "GET", "/wsgi", &[], b"", 400, &["`q`"]).await;
    // As the application itself.
    let alone = serve(WsgiForm);
    assert_eq!(get(alone.local_addr(), "/?q=x").await.text(), "GET found x");
    assert_eq!(get(alone.local_addr(), "/").await.status, 400);
    // Served directly, its rejection is still an error page by `Accept`.
    let json = get_accepting(alone.local_addr(), "/", "application/json").await;
    let (status, message) = json_error(&json);
    assert_eq!(status, 400);
    assert!(message.contains("`q`"), "{message}");
    let html = get_accepting(alone.local_addr(), "/", "text/html").await;
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(html.text().contains("<title>400 Bad Request</title>"));
}

#[wsgi_handler(blocking)]
fn on_the_pool(
    Query(search): Query<SearchParams>,
    environ: &Environ,
    State(greeting): State<Greeting>,
) -> String {
    format!(
        "{:?} {} {} {}",
        std::thread::current().id(),
        greeting.0,
        search.q,
        environ.path_info()
    )
}

#[wsgi_handler]
fn on_the_loop() -> String {
    format!("{:?}", std::thread::current().id())
}

#[tokio::test]
async fn a_blocking_handler_with_extractors_runs_off_the_event_loop() {
    let app = WsgiHandler::default()
        .with_state(Greeting("hi"))
        .middleware(
            Router::new()
                .get("/pool", OnThePool)
                .get("/loop", OnTheLoop),
        );
    let server = serve(app);
    let addr = server.local_addr();
    let test_thread = format!("{:?}", std::thread::current().id());
    assert_eq!(get(addr, "/loop").await.text(), test_thread);
    let response = get(addr, "/pool?q=work").await;
    assert_eq!(response.status, 200, "{}", response.text());
    let text = response.text();
    assert!(text.ends_with(" hi work /pool"), "{text}");
    assert!(!text.starts_with(&format!("{test_thread} ")), "{text}");
    // A rejection is answered before the blocking pool is used.
    assert_eq!(get(addr, "/pool").await.status, 400);
}

#[derive(Clone)]
struct Db;

#[wsgi_handler]
fn needs_db(State(_db): State<Db>) -> &'static str {
    "db"
}

#[tokio::test]
async fn a_missing_state_stops_spawn_before_binding_naming_the_handler_and_the_type() {
    // Hold the port: a server that bound before checking would fail to
    // bind (or serve) instead of reporting the check.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let mut config = test_config();
    config.bind = vec![format!("127.0.0.1:{port}").parse().unwrap()];
    let app = WsgiHandler::default()
        .with_state(Greeting("not a db"))
        .middleware(Router::new().get("/", OnTheLoop).get("/db", NeedsDb));
    let error = Server::new(app)
        .config(config.clone())
        .spawn()
        .expect_err("a missing state is refused");
    let ServerError::Check(check) = &error else {
        panic!("a check error, not {error:?}");
    };
    assert_eq!(check.handler(), Some("NeedsDb"));
    let message = error.to_string();
    assert!(message.contains("`NeedsDb`"), "{message}");
    assert!(message.contains("State<wsgi::typed::Db>"), "{message}");
    assert!(message.contains("with_state"), "{message}");
    drop(held);

    // Nothing listens on the port now: the server never bound it.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());

    // With the state, the same server starts there.
    let app = WsgiHandler::default()
        .with_state(Db)
        .middleware(Router::new().get("/db", NeedsDb));
    let server = Server::new(app).config(config).spawn().expect("it starts");
    assert_eq!(get(server.local_addr(), "/db").await.text(), "db");
}

#[tokio::test]
async fn a_state_may_be_optional() {
    #[wsgi_handler]
    fn optional_db(db: Option<State<Db>>) -> &'static str {
        if db.is_some() {
            "with db"
        } else {
            "without db"
        }
    }
    let server = serve(WsgiHandler::default().app(OptionalDb));
    assert_eq!(get(server.local_addr(), "/").await.text(), "without db");
}

#[tokio::test]
async fn rejections_render_as_html_by_accept() {
    let server = serve(extractors_app());
    let response = get_accepting(server.local_addr(), "/search", "text/html,*/*;q=0.8").await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(response.text().contains("<title>400 Bad Request</title>"));
    assert!(response.text().contains("`q`"), "{}", response.text());
}

#[tokio::test]
async fn concurrent_typed_requests_keep_their_own_state() {
    let server = serve(
        WsgiHandler::default()
            .with_state(Greeting("n"))
            .with_state(Hits::default())
            .middleware(Router::new().get("/", Greet)),
    );
    let addr = server.local_addr();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let requests = (0..20).map(|_| {
        let seen = seen.clone();
        async move {
            let text = get(addr, "/").await.text();
            seen.lock().unwrap().push(text);
        }
    });
    futures_util::future::join_all(requests).await;
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_by_key(|s| s[3..].parse::<u32>().unwrap());
    let expected: Vec<String> = (1..=20).map(|n| format!("n #{n}")).collect();
    assert_eq!(seen, expected);
}
