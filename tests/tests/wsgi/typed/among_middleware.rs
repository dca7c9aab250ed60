//! Typed handlers inside a `WsgiHandler`: the error renderer, response
//! middleware, passing on `None`, `blocking`, the start-up check of
//! `State`, and `HEAD` on a typed `GET` route.

use super::extractors::extractors_app;
use super::*;

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
    assert!(
        message.contains("State<wsgi::typed::among_middleware::Db>"),
        "{message}"
    );
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
