//! `#[wsgi_handler]` and `#[response_middleware]`: every accepted form,
//! served by a real server and checked over a socket.

use std::fmt;
use std::thread;
use std::time::Duration;

use http::StatusCode;
use wsgi_core::middleware::ResponseMiddleware;
use wsgi_core::{
    response_middleware, wsgi_handler, Application, Body, Chunk, Environ, Error, HttpError,
    StartResponse, WsgiHandler, WsgiResponse, WsgiService,
};
use wsgi_tests::{get, raw_request, serve, IO_TIMEOUT};

fn thread_tag() -> String {
    format!("{:?}", thread::current().id())
}

// ---- the WSGI form: (environ, start_response) -> body ----

/// Reads the posted body, answers with its length: async, `&mut Environ`.
#[wsgi_handler]
async fn echo_length(
    environ: &mut Environ,
    start_response: StartResponse,
) -> Result<String, Error> {
    let posted = environ.input().read_all().await?;
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(format!("{} bytes at {}", posted.len(), environ.path_info()))
}

/// Plain WSGI 1.0.1: sync, `&Environ`, a bare body.
#[wsgi_handler]
fn plain(_environ: &Environ, start_response: StartResponse) -> &'static str {
    // A failing start_response would leave the head unset: the server's 500.
    let _ = start_response.start("200 OK", [("Content-Type", "text/plain")]);
    "plain WSGI"
}

/// An asynchronous iterable body, from an async fn taking `&Environ`.
#[wsgi_handler]
async fn chunks(environ: &Environ, start_response: StartResponse) -> Result<Body, Error> {
    let path = environ.path_info().into_owned();
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(Body::from_chunks([
        Chunk::from("chunks at "),
        Chunk::future(async move { Ok::<_, Error>(path) }),
    ]))
}

/// The WSGI form may also return a `WsgiResponse` (and then not call
/// `start_response`).
#[wsgi_handler]
fn wsgi_form_response(_environ: &mut Environ, _start_response: StartResponse) -> WsgiResponse {
    WsgiResponse::text("a response from the WSGI form").with_status(StatusCode::ACCEPTED)
}

/// Calls `start_response` *and* returns a response: an error.
#[wsgi_handler]
fn two_heads(_environ: &Environ, start_response: StartResponse) -> Result<WsgiResponse, Error> {
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(WsgiResponse::text("second head"))
}

// ---- the request form: (environ) -> WsgiResponse ----

#[wsgi_handler]
async fn request_form(environ: &Environ) -> WsgiResponse {
    tokio::task::yield_now().await;
    WsgiResponse::text(format!("request form at {}", environ.path_info()))
}

#[wsgi_handler]
fn request_form_mut(environ: &mut Environ) -> Result<WsgiResponse, Error> {
    environ.set_path_info("/rewritten");
    Ok(WsgiResponse::json(format!(
        "{{\"path\":\"{}\"}}",
        environ.path_info()
    )))
}

// ---- Option: a middleware that may pass ----

#[wsgi_handler]
fn ping(environ: &Environ) -> Option<WsgiResponse> {
    (environ.path_info() == "/ping").then(|| WsgiResponse::text("pong"))
}

#[wsgi_handler]
async fn only_post(environ: &mut Environ, start_response: StartResponse) -> Option<&'static str> {
    if environ.method() != http::Method::POST {
        return None;
    }
    start_response
        .start("201 Created", [("Content-Type", "text/plain")])
        .ok()?;
    Some("posted")
}

#[wsgi_handler]
fn maybe_fail(environ: &Environ) -> Result<Option<WsgiResponse>, Error> {
    match environ.path_info().as_ref() {
        "/forbidden" => Err(HttpError::new(StatusCode::FORBIDDEN)
            .with_message("not for you")
            .into()),
        "/found" => Ok(Some(WsgiResponse::text("found"))),
        _ => Ok(None),
    }
}

// ---- Result: errors that convert into the framework's error ----

#[derive(Debug)]
struct DatabaseDown;

impl fmt::Display for DatabaseDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the database is down")
    }
}

impl std::error::Error for DatabaseDown {}

#[wsgi_handler]
fn failing(environ: &Environ, start_response: StartResponse) -> Result<&'static str, DatabaseDown> {
    if environ.path_info() == "/ok" {
        let _ = start_response.start("200 OK", [("Content-Type", "text/plain")]);
        return Ok("fine");
    }
    Err(DatabaseDown)
}

#[wsgi_handler]
async fn bad_request(environ: &mut Environ) -> std::result::Result<WsgiResponse, Error> {
    let query = environ.query_string().to_owned();
    if query.is_empty() {
        return Err(HttpError::bad_request("a query is required").into());
    }
    Ok(WsgiResponse::text(query))
}

#[wsgi_handler]
fn io_result(_environ: &Environ, _start_response: StartResponse) -> std::io::Result<Vec<u8>> {
    Err(std::io::Error::other("disk on fire"))
}

// ---- blocking ----

#[wsgi_handler(blocking)]
fn blocking_thread(environ: &Environ, start_response: StartResponse) -> Result<String, Error> {
    let millis: u64 = environ.query_string().parse().unwrap_or(0);
    thread::sleep(Duration::from_millis(millis));
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(format!("{} {}", thread_tag(), environ.path_info()))
}

#[wsgi_handler(blocking)]
fn blocking_request(environ: &mut Environ) -> Option<WsgiResponse> {
    if environ.path_info() != "/blocking/rewrite" {
        return None;
    }
    environ.set_path_info("/changed/on/the/blocking/pool");
    Some(WsgiResponse::text(thread_tag()))
}

#[wsgi_handler(blocking)]
fn blocking_panic(_environ: &Environ) -> WsgiResponse {
    panic!("a bug in blocking code")
}

#[wsgi_handler]
async fn event_loop_thread(_environ: &Environ) -> WsgiResponse {
    WsgiResponse::text(thread_tag())
}

// ---- generic, renamed, visibility ----

trait Greeting: Send + Sync + 'static {
    const WORD: &'static str;
}

enum English {}
impl Greeting for English {
    const WORD: &'static str = "Hello";
}

enum French {}
impl Greeting for French {
    const WORD: &'static str = "Bonjour";
}

#[wsgi_handler]
fn greet<G: Greeting>(environ: &Environ, start_response: StartResponse) -> Result<String, Error> {
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(format!(
        "{}, {}!",
        G::WORD,
        environ.path_info().trim_start_matches('/')
    ))
}

#[wsgi_handler]
fn repeat<const N: usize>(_environ: &Environ) -> WsgiResponse {
    WsgiResponse::text("ab".repeat(N))
}

#[wsgi_handler(name = Renamed)]
fn renamed_handler(_environ: &Environ) -> WsgiResponse {
    WsgiResponse::text("renamed")
}

// `pub` is what is under test, in a test crate that exports nothing.
#[allow(unreachable_pub)]
mod handlers {
    use wsgi_core::{wsgi_handler, Environ, WsgiResponse};

    /// Public: usable from any module.
    #[wsgi_handler]
    pub fn visible(_environ: &Environ) -> WsgiResponse {
        WsgiResponse::text("pub")
    }

    /// Crate-visible.
    #[wsgi_handler]
    pub(crate) fn crate_visible(_environ: &Environ) -> WsgiResponse {
        WsgiResponse::text("pub(crate)")
    }
}

// ---- response middleware ----

#[response_middleware]
async fn stamp(environ: &mut Environ, mut response: WsgiResponse) -> WsgiResponse {
    tokio::task::yield_now().await;
    let path = environ.path_info().into_owned();
    if let Ok(value) = path.parse() {
        response.headers_mut().insert("x-path-seen", value);
    }
    response
}

#[response_middleware]
fn refuse_teapots(_environ: &Environ, response: WsgiResponse) -> Result<WsgiResponse, Error> {
    if response.status() == StatusCode::IM_A_TEAPOT {
        return Err(HttpError::new(StatusCode::CONFLICT)
            .with_message("no teapots")
            .into());
    }
    Ok(response)
}

#[wsgi_handler]
fn teapot(environ: &Environ) -> Option<WsgiResponse> {
    (environ.path_info() == "/teapot")
        .then(|| WsgiResponse::text("short and stout").with_status(StatusCode::IM_A_TEAPOT))
}

// ---- helpers ----

async fn post(addr: std::net::SocketAddr, path: &str, body: &str) -> wsgi_tests::RawResponse {
    raw_request(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

fn assert_handler_type<T>()
where
    T: Application + wsgi_core::middleware::RequestMiddleware + Clone + Copy + Default + fmt::Debug,
    T: Send + Sync + 'static,
{
}

// ---- tests ----

#[tokio::test]
async fn async_handler_with_mutable_environ_reads_the_body() {
    let server = serve(EchoLength);
    let response = post(server.local_addr(), "/upload", "hello").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/plain"));
    assert_eq!(response.text(), "5 bytes at /upload");
}

#[tokio::test]
async fn sync_handler_with_borrowed_environ_is_plain_wsgi() {
    let server = serve(Plain);
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-length"), Some("10"));
    assert_eq!(response.text(), "plain WSGI");
}

#[tokio::test]
async fn an_asynchronous_iterable_body_streams() {
    let server = serve(Chunks);
    let response = get(server.local_addr(), "/streamed").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert_eq!(response.text(), "chunks at /streamed");
}

#[tokio::test]
async fn the_wsgi_form_may_return_a_response() {
    let server = serve(WsgiFormResponse);
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 202);
    assert_eq!(response.text(), "a response from the WSGI form");

    // As a middleware too.
    let server = serve(WsgiHandler::default().middleware(WsgiFormResponse));
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 202);
}

#[tokio::test]
async fn starting_the_response_and_returning_one_is_an_error() {
    let server = serve(TwoHeads);
    assert_eq!(get(server.local_addr(), "/").await.status, 500);
    let server = serve(WsgiHandler::default().middleware(TwoHeads));
    assert_eq!(get(server.local_addr(), "/").await.status, 500);
}

#[tokio::test]
async fn request_form_answers_with_its_response() {
    let server = serve(RequestForm);
    let response = get(server.local_addr(), "/here").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.text(), "request form at /here");

    let server = serve(RequestFormMut);
    let response = get(server.local_addr(), "/original").await;
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.text(), r#"{"path":"/rewritten"}"#);
}

#[tokio::test]
async fn option_none_passes_to_the_next_middleware() {
    let handler = WsgiHandler::default()
        .middleware(Ping)
        .middleware(OnlyPost)
        .middleware(MaybeFail)
        .app(RequestForm);
    let server = serve(handler);
    let addr = server.local_addr();

    let response = get(addr, "/ping").await;
    assert_eq!((response.status, response.text().as_str()), (200, "pong"));

    let response = post(addr, "/anything", "").await;
    assert_eq!(response.status, 201, "the WSGI-form Option answers a POST");
    assert_eq!(response.text(), "posted");

    let response = get(addr, "/found").await;
    assert_eq!(response.text(), "found");

    let response = get(addr, "/forbidden").await;
    assert_eq!(
        response.status, 403,
        "Err in Result<Option<…>> is an error page"
    );
    assert!(response.text().contains("not for you"));

    let response = get(addr, "/elsewhere").await;
    assert_eq!(
        response.status, 200,
        "every Option passed; the app answered"
    );
    assert_eq!(response.text(), "request form at /elsewhere");
}

#[tokio::test]
async fn option_none_is_a_404_for_an_application() {
    let server = serve(Ping);
    assert_eq!(get(server.local_addr(), "/ping").await.text(), "pong");
    assert_eq!(get(server.local_addr(), "/nope").await.status, 404);

    let server = serve(OnlyPost);
    assert_eq!(get(server.local_addr(), "/").await.status, 404);
    assert_eq!(post(server.local_addr(), "/", "x").await.status, 201);

    let server = serve(WsgiHandler::default().middleware(Ping));
    assert_eq!(get(server.local_addr(), "/nope").await.status, 404);
}

#[tokio::test]
async fn result_errors_become_error_responses() {
    let server = serve(Failing);
    let addr = server.local_addr();
    assert_eq!(get(addr, "/ok").await.text(), "fine");
    let response = get(addr, "/down").await;
    assert_eq!(response.status, 500);
    assert!(
        !response.text().contains("database"),
        "the error message is internal: {:?}",
        response.text()
    );

    let server = serve(BadRequest);
    let response = get(server.local_addr(), "/").await;
    assert_eq!(response.status, 400);
    assert!(response.text().contains("a query is required"));
    assert_eq!(get(server.local_addr(), "/?x=1").await.text(), "x=1");

    let server = serve(IoResult);
    assert_eq!(get(server.local_addr(), "/").await.status, 500);

    // Inside a WsgiHandler the error is rendered by Accept.
    let server = serve(WsgiHandler::default().middleware(BadRequest));
    let response = raw_request(
        server.local_addr(),
        "GET / HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn blocking_handlers_run_off_the_event_loop_thread() {
    let handler = WsgiHandler::default()
        .middleware(BlockingRequest)
        .middleware(Ping)
        .response_middleware(Stamp)
        .app(BlockingThread);
    let server = serve(handler);
    let addr = server.local_addr();
    // `serve` runs the server on this test's current-thread runtime.
    let event_loop = thread_tag();

    let response = get(addr, "/blocking").await;
    assert_eq!(response.status, 200);
    let (tag, path) = response
        .text()
        .split_once(' ')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .unwrap();
    assert_ne!(
        tag, event_loop,
        "the blocking handler ran on the event loop"
    );
    assert_eq!(
        path, "/blocking",
        "the environ moved to the blocking thread"
    );

    // The request form, whose environ changes come back to the event loop.
    let response = get(addr, "/blocking/rewrite").await;
    assert_ne!(response.text(), event_loop);
    assert_eq!(
        response.header("x-path-seen"),
        Some("/changed/on/the/blocking/pool"),
        "the response middleware saw the environ the blocking handler changed"
    );

    // The event loop keeps serving while a blocking handler sleeps.
    let slow = tokio::spawn(get(addr, "/blocking?600"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fast = tokio::time::timeout(Duration::from_millis(400), get(addr, "/ping"))
        .await
        .expect("an async request is answered while a blocking handler sleeps");
    assert_eq!(fast.text(), "pong");
    assert!(!slow.is_finished(), "the slow request is still sleeping");
    let slow = tokio::time::timeout(IO_TIMEOUT, slow)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(slow.status, 200);

    // For contrast: a plain async handler runs on the event loop.
    let server = serve(EventLoopThread);
    assert_eq!(get(server.local_addr(), "/").await.text(), event_loop);
}

#[tokio::test]
async fn a_panic_in_a_blocking_handler_is_a_500() {
    let server = serve(WsgiHandler::default().middleware(BlockingPanic));
    let response = raw_request(
        server.local_addr(),
        "GET / HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 500);
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "the environ (and its Accept) came back from the blocking pool"
    );
    assert_eq!(
        get(server.local_addr(), "/").await.status,
        500,
        "still serving"
    );
}

#[tokio::test]
async fn generic_handlers_are_served_per_type() {
    let server = serve(Greet::<English>::default());
    assert_eq!(
        get(server.local_addr(), "/World").await.text(),
        "Hello, World!"
    );
    let server = serve(Greet::<French>::default());
    assert_eq!(
        get(server.local_addr(), "/Monde").await.text(),
        "Bonjour, Monde!"
    );
    let server = serve(Repeat::<3>);
    assert_eq!(get(server.local_addr(), "/").await.text(), "ababab");
}

#[tokio::test]
async fn names_and_visibility_follow_the_function() {
    let handler = WsgiHandler::default()
        .middleware(handlers::Visible)
        .middleware(handlers::CrateVisible)
        .middleware(Renamed);
    // The first always answers; each is also served on its own.
    assert_eq!(get(serve(handler).local_addr(), "/").await.text(), "pub");
    assert_eq!(
        get(serve(handlers::CrateVisible).local_addr(), "/")
            .await
            .text(),
        "pub(crate)"
    );
    assert_eq!(
        get(serve(Renamed).local_addr(), "/").await.text(),
        "renamed"
    );
}

#[tokio::test]
async fn response_middleware_transforms_the_winning_response() {
    let handler = WsgiHandler::default()
        .middleware(Teapot)
        .app(Chunks)
        .response_middleware(Stamp)
        .response_middleware(RefuseTeapots);
    let server = serve(handler);
    let addr = server.local_addr();

    let response = get(addr, "/stamped").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-path-seen"), Some("/stamped"));
    assert_eq!(response.text(), "chunks at /stamped");

    let response = get(addr, "/teapot").await;
    assert_eq!(
        response.status, 409,
        "the fallible response middleware failed"
    );
    assert!(response.text().contains("no teapots"));
}

#[tokio::test]
async fn handler_types_convert_into_tower_services() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let service: WsgiService<RequestForm> = RequestForm.into();
    let request = http::Request::get("/tower").body(String::new()).unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"request form at /tower");

    let service = WsgiService::new(Plain);
    let request = http::Request::get("/").body(String::new()).unwrap();
    let response = service.oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"plain WSGI");
}

#[tokio::test]
async fn the_functions_stay_callable() {
    let mut environ = Environ::from_request(http::Request::get("/unit").body(()).unwrap());
    let start_response = StartResponse::new();
    assert_eq!(plain(&environ, start_response.clone()), "plain WSGI");
    assert!(start_response.is_started());

    assert_eq!(request_form(&environ).await.length(), Some(21));
    assert!(ping(&environ).is_none());
    assert_eq!(
        greet::<French>(&environ, StartResponse::new()).unwrap(),
        "Bonjour, unit!"
    );

    let stamped = stamp(&mut environ, WsgiResponse::text("x")).await;
    assert_eq!(stamped.headers()["x-path-seen"], "/unit");
    let teapot = WsgiResponse::new(StatusCode::IM_A_TEAPOT);
    assert!(refuse_teapots(&environ, teapot).is_err());
    let response = RefuseTeapots
        .call(&mut environ, WsgiResponse::text("ok"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[test]
fn generated_types_are_plain_handler_values() {
    assert_handler_type::<EchoLength>();
    assert_handler_type::<Plain>();
    assert_handler_type::<RequestForm>();
    assert_handler_type::<Ping>();
    assert_handler_type::<BlockingThread>();
    assert_handler_type::<Greet<English>>();
    assert_handler_type::<Repeat<2>>();
    assert_handler_type::<Renamed>();
    fn response_middleware<T: ResponseMiddleware + Clone + Copy + Default + fmt::Debug>() {}
    response_middleware::<Stamp>();
    response_middleware::<RefuseTeapots>();

    assert_eq!(format!("{Plain:?}"), "Plain");
    assert_eq!(format!("{:?}", Greet::<English>::default()), "Greet");
}
