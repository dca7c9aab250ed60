//! Every extractor: what it gives, and each rejection's status and
//! message (as text and as a JSON error page).

use super::*;

#[derive(Deserialize, Serialize, Debug, PartialEq)]
struct Item {
    id: u64,
    name: String,
    tags: Vec<String>,
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

pub(super) fn extractors_app() -> WsgiHandler {
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

#[tokio::test]
async fn path_outside_a_router_is_a_500_that_says_to_add_a_route() {
    let server = serve(One);
    let hidden = get(server.local_addr(), "/7").await;
    assert_eq!(hidden.status, 500);
    assert!(!hidden.text().contains("Router"), "{}", hidden.text());

    let mut config = test_config();
    config.debug = true;
    let debug = serve_with(One, config);
    let missing = get(debug.local_addr(), "/7").await;
    assert_eq!(missing.status, 500);
    let text = missing.text();
    assert!(
        text.contains(
            "`Path<u32>` needs a route: add this handler to a `Router` rule with parameters"
        ),
        "debug says what to fix: {text}"
    );
}
