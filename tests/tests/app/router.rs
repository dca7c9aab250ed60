//! `Router` in a `WsgiHandler`, served over a real socket: converters,
//! methods (405 with `Allow`, HEAD falling back to GET), passing on no
//! match, parameters in the environ, and handlers written with the macros.

use wsgi_core::router::{RouteParams, Router};
use wsgi_core::{
    app_fn, wsgi_handler, Environ, Error, HttpError, StartResponse, WsgiHandler, WsgiResponse,
};
use wsgi_tests::{get, raw_request, serve};

fn params(environ: &Environ) -> Result<&RouteParams, HttpError> {
    environ
        .extensions()
        .get::<RouteParams>()
        .ok_or_else(HttpError::not_found)
}

/// Echoes the matched rule and its parameters.
#[wsgi_handler]
fn show(environ: &Environ) -> Result<WsgiResponse, Error> {
    let params = params(environ)?;
    let listed: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok(WsgiResponse::text(format!(
        "{} {} {}",
        environ.method(),
        params.rule(),
        listed.join(" ")
    )))
}

/// A typed parameter, through `get_as`.
#[wsgi_handler]
async fn double(environ: &Environ) -> Result<WsgiResponse, Error> {
    let n: u64 = params(environ)?.get_as("n")?;
    Ok(WsgiResponse::text(format!("{}", n * 2)))
}

/// The WSGI form, from the macro, as a route handler.
#[wsgi_handler]
async fn created(environ: &mut Environ, start_response: StartResponse) -> Result<String, Error> {
    let body = environ.input().read_all().await?;
    start_response.start("201 Created", [("Content-Type", "text/plain")])?;
    Ok(format!("created {}", String::from_utf8_lossy(&body)))
}

/// A middleware-style handler that passes unless `?answer` is present.
#[wsgi_handler]
fn maybe(environ: &Environ) -> Option<WsgiResponse> {
    (environ.query_string() == "answer").then(|| WsgiResponse::text("maybe answered"))
}

fn app() -> WsgiHandler {
    let router = Router::new()
        .get("/items/<int:id>/<path:rest>", Show)
        .name("item")
        .get("/users/<name>", Show)
        .get("/delay/<float:s>", Show)
        .get("/files.<any(json,xml):format>", Show)
        .get("/double/<int:n>", Double)
        .post("/things", Created)
        .get("/things", Show)
        .get("/maybe", Maybe)
        .get("/maybe", Show)
        .route_app(
            "/plain",
            &[http::Method::PUT],
            app_fn(|_: &mut Environ, start_response: StartResponse| {
                start_response.start("200 OK", [("Content-Type", "text/plain")])?;
                Ok::<_, Error>("plain app")
            }),
        );
    let link = router
        .url_for("item", &[("id", "7"), ("rest", "a b/c")])
        .unwrap_or_default();
    WsgiHandler::default()
        .middleware(router)
        .middleware(wsgi_core::middleware::middleware_fn(
            move |environ: &mut Environ| {
                Ok::<_, Error>(
                    (environ.path_info() == "/link").then(|| WsgiResponse::text(link.clone())),
                )
            },
        ))
}

#[tokio::test]
async fn int_and_path_parameters_reach_the_handler() {
    let server = serve(app());
    let response = get(server.local_addr(), "/items/42/a/b%20c").await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.text(),
        "GET /items/<int:id>/<path:rest> id=42 rest=a/b c"
    );
}

#[tokio::test]
async fn string_float_and_any_converters_match_only_their_values() {
    let server = serve(app());
    let addr = server.local_addr();
    assert_eq!(
        get(addr, "/users/ada").await.text(),
        "GET /users/<name> name=ada"
    );
    assert_eq!(get(addr, "/users/ada/x").await.status, 404);
    assert_eq!(
        get(addr, "/delay/1.5").await.text(),
        "GET /delay/<float:s> s=1.5"
    );
    assert_eq!(get(addr, "/delay/abc").await.status, 404);
    assert_eq!(get(addr, "/items/x/y").await.status, 404);
    assert!(get(addr, "/files.xml").await.text().ends_with("format=xml"));
    assert_eq!(get(addr, "/files.txt").await.status, 404);
}

#[tokio::test]
async fn typed_parameters_are_parsed_with_get_as() {
    let server = serve(app());
    assert_eq!(get(server.local_addr(), "/double/21").await.text(), "42");
}

#[tokio::test]
async fn a_matching_path_with_another_method_is_405_with_allow() {
    let server = serve(app());
    let response = raw_request(
        server.local_addr(),
        "DELETE /things HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 405, "{}", response.text());
    let allow = response.header("allow").unwrap_or_default();
    for method in ["GET", "HEAD", "POST"] {
        assert!(allow.contains(method), "Allow: {allow}");
    }
}

#[tokio::test]
async fn head_falls_back_to_get_without_a_body() {
    let server = serve(app());
    let response = raw_request(
        server.local_addr(),
        "HEAD /users/ada HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-length"),
        Some("27"),
        "HEAD /users/<name> name=ada"
    );
    assert!(response.body.is_empty());
}

#[tokio::test]
async fn post_goes_to_the_post_handler_in_wsgi_form() {
    let server = serve(app());
    let response = raw_request(
        server.local_addr(),
        "POST /things HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    )
    .await;
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(response.text(), "created abc");
}

#[tokio::test]
async fn a_plain_application_is_mounted_with_route_app() {
    let server = serve(app());
    let response = raw_request(
        server.local_addr(),
        "PUT /plain HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.text(), "plain app");
}

#[tokio::test]
async fn a_handler_that_passes_lets_the_next_matching_rule_answer() {
    let server = serve(app());
    let addr = server.local_addr();
    assert_eq!(get(addr, "/maybe?answer").await.text(), "maybe answered");
    assert_eq!(get(addr, "/maybe").await.text(), "GET /maybe ");
}

#[tokio::test]
async fn no_match_passes_to_the_next_middleware_then_404() {
    let server = serve(app());
    let addr = server.local_addr();
    assert_eq!(get(addr, "/link").await.text(), "/items/7/a%20b/c");
    assert_eq!(get(addr, "/nowhere").await.status, 404);
}
