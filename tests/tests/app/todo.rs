//! The todo example (`examples/todo.rs`): in-process through `TestClient`
//! (typed JSON in and out), and as a server process (`todo_server`) over a
//! real socket, on a real SQLite file.

#[allow(dead_code, unreachable_pub)]
#[path = "../../../examples/todo.rs"]
mod example;

use std::net::SocketAddr;
use std::path::Path;

use example::{Db, Todo};
use http::{Method, Request, StatusCode};
use serde::Deserialize;
use serde_json::json;
use wsgi_core::test_client::{TestClient, TestResponse};
use wsgi_core::{Config, WsgiHandler, WsgiService};
use wsgi_tests::child::ChildServer;
use wsgi_tests::{parse_response, raw_exchange, RawResponse};

/// The body of every error of the todo API.
#[derive(Debug, Deserialize, PartialEq)]
struct Problem {
    status: u16,
    message: String,
}

/// A client for the todo app on a fresh database in `dir`.
fn client(dir: &Path) -> TestClient<WsgiHandler> {
    let db = Db::open(&dir.join("todo.db")).expect("open the database");
    TestClient::new(example::app(db))
}

fn todo_of(response: &TestResponse) -> Todo {
    assert!(
        response.status().is_success(),
        "{}: {}",
        response.status(),
        response.text()
    );
    response.json().expect("a todo")
}

/// The status and message of an error response, which must be JSON.
fn problem_of(response: &TestResponse) -> (StatusCode, String) {
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{}",
        response.text()
    );
    let problem: Problem = response.json().expect("an error body");
    assert_eq!(problem.status, response.status().as_u16());
    (response.status(), problem.message)
}

#[tokio::test]
async fn create_read_update_delete_in_process() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let client = client(dir.path());

    let created = client
        .post_json("/todos", &json!({"title": "  buy milk "}))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let todo = todo_of(&created);
    assert_eq!((todo.title.as_str(), todo.done), ("buy milk", false));
    let location = format!("/todos/{}", todo.id);
    assert_eq!(created.header("location"), Some(location.as_str()));

    assert_eq!(todo_of(&client.get(&location).await), todo);
    let listed: Vec<Todo> = client.get("/todos").await.json().expect("a list");
    assert_eq!(listed, vec![todo.clone()]);

    let patched = client
        .send_json(Method::PATCH, &location, &json!({"done": true}))
        .await;
    let done = todo_of(&patched);
    assert_eq!(
        (done.id, done.title.as_str(), done.done),
        (todo.id, "buy milk", true)
    );
    let renamed = client
        .send_json(Method::PATCH, &location, &json!({"title": "buy oat milk"}))
        .await;
    assert_eq!(todo_of(&renamed).title, "buy oat milk");

    let deleted = client
        .request(
            Request::delete(location.as_str())
                .body("")
                .expect("a request"),
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(deleted.body().is_empty());
    let gone = client.get(&location).await;
    assert_eq!(
        problem_of(&gone),
        (StatusCode::NOT_FOUND, format!("no todo has id {}", todo.id))
    );
    let again = client
        .request(
            Request::delete(location.as_str())
                .body("")
                .expect("a request"),
        )
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_input_is_a_json_error_naming_what_to_fix() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let client = client(dir.path());

    // The application's own validation: 422.
    let (status, message) = problem_of(&client.post_json("/todos", &json!({"title": " "})).await);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message.contains("`title` is empty"), "{message}");
    let long = "x".repeat(201);
    let (status, message) = problem_of(&client.post_json("/todos", &json!({"title": long})).await);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message.contains("201 characters"), "{message}");

    // The Json extractor's rejections, answered through the app's error type.
    let (status, message) = problem_of(&client.post_json("/todos", &json!({"titel": "x"})).await);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message.contains("unknown field `titel`"), "{message}");
    let (status, message) = problem_of(
        &client
            .post_json("/todos", &json!({"title": "x", "done": "yes"}))
            .await,
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message.contains("`done`"), "{message}");
    let not_json = Request::post("/todos")
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .expect("a request");
    let (status, _) = problem_of(&client.request(not_json).await);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let form = Request::post("/todos")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("title=x")
        .expect("a request");
    let (status, message) = problem_of(&client.request(form).await);
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(message.contains("application/json"), "{message}");

    // A patch must change something.
    let todo = todo_of(&client.post_json("/todos", &json!({"title": "x"})).await);
    let path = format!("/todos/{}", todo.id);
    let (status, message) = problem_of(&client.send_json(Method::PATCH, &path, &json!({})).await);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message.contains("nothing to change"), "{message}");

    // Query: a filter that is not one of the three values.
    let (status, message) = problem_of(&client.get("/todos?done=maybe").await);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("`done`"), "{message}");

    let nothing: Vec<Todo> = client.get("/todos").await.json().expect("a list");
    assert_eq!(nothing, vec![todo], "no invalid request stored anything");
}

#[tokio::test]
async fn the_list_filter_is_remembered_in_a_cookie() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let client = client(dir.path());
    let open = todo_of(&client.post_json("/todos", &json!({"title": "open"})).await);
    let done = todo_of(
        &client
            .post_json("/todos", &json!({"title": "done", "done": true}))
            .await,
    );

    let filtered = client.get("/todos?done=true").await;
    let cookie = filtered
        .header("set-cookie")
        .expect("the filter is remembered");
    assert!(cookie.starts_with("todo_done=true;"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert_eq!(
        filtered.json::<Vec<Todo>>().expect("a list"),
        vec![done.clone()]
    );

    let get_with_cookie = |path: &str, cookie: &str| {
        Request::get(path)
            .header("cookie", cookie)
            .body("")
            .expect("a request")
    };
    let remembered = client
        .request(get_with_cookie("/todos", "todo_done=false"))
        .await;
    assert_eq!(remembered.header("set-cookie"), None);
    assert_eq!(
        remembered.json::<Vec<Todo>>().expect("a list"),
        vec![open.clone()]
    );

    let all = client
        .request(get_with_cookie("/todos?done=all", "todo_done=false"))
        .await;
    assert_eq!(
        all.json::<Vec<Todo>>().expect("a list"),
        vec![open.clone(), done.clone()]
    );

    // The cookie is the client's: a value that is not a filter is ignored.
    let forged = client
        .request(get_with_cookie("/todos", "todo_done=1%3Bdrop"))
        .await;
    assert_eq!(
        forged.json::<Vec<Todo>>().expect("a list"),
        vec![open, done]
    );
}

#[tokio::test]
async fn the_index_is_html_with_titles_escaped() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let client = client(dir.path());
    client
        .post_json("/todos", &json!({"title": "<script>alert(1)</script>"}))
        .await;
    let page = client.get("/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let text = page.text();
    assert!(
        text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{text}"
    );
    assert!(!text.contains("<script>"), "{text}");
}

#[test]
fn a_handler_without_its_database_is_refused_before_serving() {
    // The example's handlers take `State<Db>`: served without `with_state`,
    // the application is refused when it is built, not on a request.
    let app = WsgiHandler::default().middleware(example::routes());
    let error = WsgiService::try_with_config(app, Config::default())
        .expect_err("the missing state is found");
    assert_eq!(error.handler(), Some("Index"));
    assert!(error.to_string().contains("State<"), "{error}");
}

/// The example as a process on a free port, on the database `path`
/// (its own `--database` setting).
fn start_server(path: &Path) -> ChildServer {
    let path = path.to_str().expect("a UTF-8 temporary path");
    ChildServer::start(env!("CARGO_BIN_EXE_todo_server"), &["--database", path])
}

/// One request on a new connection; `body` is sent as JSON when given.
async fn send(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> RawResponse {
    send_as(addr, method, path, "application/json", body.unwrap_or("")).await
}

async fn send_as(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> RawResponse {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let received = raw_exchange(addr, request.as_bytes()).await;
    parse_response(&received, method == "HEAD").unwrap_or_else(|| {
        panic!(
            "no response to {method} {path}: {:?}",
            String::from_utf8_lossy(&received)
        )
    })
}

fn json_of<T: serde::de::DeserializeOwned>(response: &RawResponse) -> T {
    serde_json::from_slice(&response.body).unwrap_or_else(|e| {
        panic!(
            "{} is not the JSON expected ({e}): {}",
            response.status_line,
            response.text()
        )
    })
}

#[tokio::test]
async fn over_a_socket_crud_errors_and_content_types() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = start_server(&dir.path().join("todo.db"));
    let addr = server.addr();

    let created = send(addr, "POST", "/todos", Some(r#"{"title": "write tests"}"#)).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let todo: Todo = json_of(&created);
    let path = format!("/todos/{}", todo.id);
    assert_eq!(created.header("location"), Some(path.as_str()));
    assert_eq!(created.header("content-type"), Some("application/json"));

    let listed = send(addr, "GET", "/todos", None).await;
    assert_eq!(json_of::<Vec<Todo>>(&listed), vec![todo.clone()]);
    let fetched = send(addr, "GET", &path, None).await;
    assert_eq!(json_of::<Todo>(&fetched), todo);

    let updated = send(addr, "PATCH", &path, Some(r#"{"done": true}"#)).await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    assert!(json_of::<Todo>(&updated).done);

    let invalid = send(addr, "POST", "/todos", Some(r#"{"title": ""}"#)).await;
    assert_eq!(invalid.status, 422);
    assert!(json_of::<Problem>(&invalid)
        .message
        .contains("`title` is empty"));

    let wrong_type = send_as(addr, "POST", "/todos", "text/plain", "write tests").await;
    assert_eq!(wrong_type.status, 415, "{}", wrong_type.text());
    assert_eq!(json_of::<Problem>(&wrong_type).status, 415);

    let deleted = send(addr, "DELETE", &path, None).await;
    assert_eq!(deleted.status, 204);
    let missing = send(addr, "GET", &path, None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        json_of::<Problem>(&missing),
        Problem {
            status: 404,
            message: format!("no todo has id {}", todo.id)
        }
    );

    // Not a route at all: the server's own 404; a known route with another
    // method: 405 with the methods it has.
    assert_eq!(send(addr, "GET", "/nothing", None).await.status, 404);
    let put = send(addr, "PUT", &path, Some("{}")).await;
    assert_eq!(put.status, 405);
    assert!(put
        .header("allow")
        .is_some_and(|allow| allow.contains("PATCH")));
}

#[tokio::test]
async fn todos_persist_in_the_sqlite_file_across_requests_and_restarts() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("todo.db");
    let server = start_server(&file);
    let created = send(
        server.addr(),
        "POST",
        "/todos",
        Some(r#"{"title": "persist"}"#),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let todo: Todo = json_of(&created);
    let done = send(
        server.addr(),
        "PATCH",
        &format!("/todos/{}", todo.id),
        Some(r#"{"done": true}"#),
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text());

    // The row is in the file, as SQLite itself reads it.
    let connection = rusqlite::Connection::open(&file).expect("open the database file");
    let row: (String, bool) = connection
        .query_row(
            "SELECT title, done FROM todos WHERE id = ?1",
            [todo.id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("the todo is stored");
    assert_eq!(row, ("persist".to_owned(), true));
    drop(connection);

    // A new process on the same file serves it; the setting given this
    // time through the environment.
    drop(server);
    let restarted = ChildServer::start_with_env(
        env!("CARGO_BIN_EXE_todo_server"),
        &[],
        &[(
            "TODO_DATABASE",
            file.to_str().expect("a UTF-8 temporary path"),
        )],
    );
    let listed = send(restarted.addr(), "GET", "/todos", None).await;
    let todos: Vec<Todo> = json_of(&listed);
    assert_eq!(todos.len(), 1);
    assert_eq!(
        (todos[0].id, todos[0].title.as_str(), todos[0].done),
        (todo.id, "persist", true)
    );
}
