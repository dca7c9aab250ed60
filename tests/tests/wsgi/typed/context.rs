//! The extractors of what is not in the request's body: `State` and
//! `Extension` (set by the handler's nesting and by middleware), the
//! `Connection`, the head's parts, and `Option`/`Result` around an extractor.

use super::extractors::extractors_app;
use super::*;

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
        missing.text().contains("typed::extractors::User") && missing.text().contains("extensions"),
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
