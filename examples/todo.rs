//! todo: a JSON API on an embedded SQLite database, written with typed
//! handlers.
//!
//! It shows `#[wsgi_handler]` functions taking extractors (`State` for the
//! database, `Path`, `Query`, `Json`, `Cookies`) and returning anything
//! response-like (`Json`, `Html`, `(StatusCode, headers, body)`), with the
//! application's own error type choosing each error's status and JSON body.
//! SQLite runs in-process (`rusqlite` with its `bundled` feature: nothing
//! to install); its calls block, so every handler that touches it runs on
//! tokio's blocking pool (`#[wsgi_handler(blocking)]`).
//!
//! ```text
//! cargo run --example todo -- --database /tmp/todo.db
//! curl -i -H 'content-type: application/json' -d '{"title": "buy milk"}' http://127.0.0.1:8060/todos
//! curl -i http://127.0.0.1:8060/todos/1
//! curl -i -X PATCH -H 'content-type: application/json' -d '{"done": true}' http://127.0.0.1:8060/todos/1
//! curl -i 'http://127.0.0.1:8060/todos?done=true'     # the filter is remembered in a cookie
//! curl -i -X DELETE http://127.0.0.1:8060/todos/1
//! curl -i -H 'content-type: application/json' -d '{"title": ""}' http://127.0.0.1:8060/todos   # 422
//! curl -i -d 'title=x' http://127.0.0.1:8060/todos                                          # 415
//! ```
//!
//! `GET /` is a small HTML page listing the todos. The database file is
//! the app's own setting ([`TodoSettings`]), read with the server's:
//! `--database PATH`, `TODO_DATABASE`, or `database = "…"` in the `[app]`
//! table of a `--config` file (default `todo.db` in the working
//! directory); it is created on first use. `--help` lists it.
//!
//! The tests serve [`app`] in-process through `TestClient`, and run this
//! file as a server process (`todo_server`) over a real socket.

use std::fmt::Write as _;
use std::path::{Path as FsPath, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::header::{HeaderName, LOCATION};
use http::StatusCode;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use wsgi_core::config::AppSettings;
use wsgi_core::cookie::{Cookie, SameSite};
use wsgi_core::extract::Json;
use wsgi_core::extract::{Cookies, Path, Query, State};
use wsgi_core::router::Router;
use wsgi_core::server::Server;
use wsgi_core::IntoResponse;
use wsgi_core::{clap, wsgi_handler, Config, Error, Html, HttpError, WsgiHandler, WsgiResponse};

/// The longest title accepted, in characters.
const MAX_TITLE: usize = 200;

/// The cookie remembering the last `done` filter of `GET /todos`.
const FILTER_COOKIE: &str = "todo_done";

/// The example's own settings, beside the server's.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct TodoSettings {
    /// The SQLite database file, created on first use
    #[arg(long, env = "TODO_DATABASE", default_value = "todo.db")]
    pub database: PathBuf,
}

impl AppSettings for TodoSettings {}

/// A todo, as stored and as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Todo {
    /// Its id, given by the database.
    pub id: i64,
    /// What to do.
    pub title: String,
    /// Whether it is done.
    pub done: bool,
}

/// The body of `POST /todos`. Unknown fields are refused (a 422 naming
/// them), so a typo such as `"titel"` is not silently dropped.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTodo {
    title: String,
    #[serde(default)]
    done: bool,
}

/// The body of `PATCH /todos/<id>`: the fields to change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TodoPatch {
    title: Option<String>,
    done: Option<bool>,
}

/// `GET /todos?done=true|false|all`.
#[derive(Debug, Deserialize)]
struct ListQuery {
    done: Option<Filter>,
}

/// Which todos to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum Filter {
    #[serde(rename = "true")]
    Done,
    #[serde(rename = "false")]
    Open,
    #[serde(rename = "all")]
    All,
}

impl Filter {
    /// The query value, as the cookie keeps it too.
    fn as_str(self) -> &'static str {
        match self {
            Filter::Done => "true",
            Filter::Open => "false",
            Filter::All => "all",
        }
    }

    /// A remembered value; a cookie is the client's to change, so anything
    /// else is ignored rather than trusted.
    fn parse(value: &str) -> Option<Filter> {
        [Filter::Done, Filter::Open, Filter::All]
            .into_iter()
            .find(|filter| filter.as_str() == value)
    }

    /// The `done` value to select, `None` for all.
    fn done(self) -> Option<bool> {
        match self {
            Filter::Done => Some(true),
            Filter::Open => Some(false),
            Filter::All => None,
        }
    }
}

/// The database: one SQLite connection behind a mutex, shared by every
/// worker (the `State`). SQLite serializes writers anyway, and a todo list
/// is small; a pool (`r2d2_sqlite`, `deadpool-sqlite`) is the next step
/// when reads must run side by side.
#[derive(Debug, Clone)]
pub struct Db(Arc<Mutex<Connection>>);

impl Db {
    /// Opens (or creates) the database at `path`, with its table.
    pub fn open(path: &FsPath) -> rusqlite::Result<Db> {
        let connection = Connection::open(path)?;
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS todos (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                title TEXT NOT NULL,
                done INTEGER NOT NULL DEFAULT 0
            )",
        )?;
        Ok(Db(Arc::new(Mutex::new(connection))))
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        // A handler that panicked while holding the lock left no statement
        // half-done (each is atomic), so the connection is still usable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn list(&self, done: Option<bool>) -> rusqlite::Result<Vec<Todo>> {
        let connection = self.connection();
        let mut statement = connection.prepare(
            "SELECT id, title, done FROM todos WHERE ?1 IS NULL OR done = ?1 ORDER BY id",
        )?;
        let rows = statement.query_map(params![done], todo_from_row)?;
        rows.collect()
    }

    fn get(&self, id: i64) -> rusqlite::Result<Option<Todo>> {
        self.connection()
            .query_row(
                "SELECT id, title, done FROM todos WHERE id = ?1",
                params![id],
                todo_from_row,
            )
            .optional()
    }

    fn insert(&self, title: &str, done: bool) -> rusqlite::Result<Todo> {
        self.connection().query_row(
            "INSERT INTO todos (title, done) VALUES (?1, ?2) RETURNING id, title, done",
            params![title, done],
            todo_from_row,
        )
    }

    fn update(
        &self,
        id: i64,
        title: Option<&str>,
        done: Option<bool>,
    ) -> rusqlite::Result<Option<Todo>> {
        self.connection()
            .query_row(
                "UPDATE todos SET title = coalesce(?2, title), done = coalesce(?3, done)
                 WHERE id = ?1 RETURNING id, title, done",
                params![id, title, done],
                todo_from_row,
            )
            .optional()
    }

    fn delete(&self, id: i64) -> rusqlite::Result<bool> {
        let deleted = self
            .connection()
            .execute("DELETE FROM todos WHERE id = ?1", params![id])?;
        Ok(deleted > 0)
    }
}

fn todo_from_row(row: &Row<'_>) -> rusqlite::Result<Todo> {
    Ok(Todo {
        id: row.get(0)?,
        title: row.get(1)?,
        done: row.get(2)?,
    })
}

/// Why a request failed. Every error of this API is answered as JSON,
/// `{"status": 422, "message": "…"}` (the shape of the server's own JSON
/// error pages), whatever the client's `Accept`.
#[derive(Debug)]
pub enum ApiError {
    /// The request is well-formed but its values are not acceptable: 422.
    Invalid(String),
    /// No todo has this id: 404.
    NotFound(i64),
    /// An extractor refused the request (415, 400, 413, 422): its status
    /// and message, as JSON.
    Rejected(HttpError),
    /// The database failed: a 500 whose details are shown only with
    /// `--debug`.
    Database(rusqlite::Error),
}

/// `?` on a `Result<Json<T>, HttpError>` argument.
impl From<HttpError> for ApiError {
    fn from(rejection: HttpError) -> Self {
        ApiError::Rejected(rejection)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(error: rusqlite::Error) -> Self {
        ApiError::Database(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Result<WsgiResponse, Error> {
        let (status, message) = match self {
            ApiError::Invalid(message) => (StatusCode::UNPROCESSABLE_ENTITY, message),
            ApiError::NotFound(id) => (StatusCode::NOT_FOUND, format!("no todo has id {id}")),
            ApiError::Rejected(rejection) => {
                let status = rejection.status();
                let message = rejection.message().unwrap_or_else(|| status.as_str());
                (status, message.to_owned())
            }
            // Left to the server's error page: a 500 that does not leak
            // the database's message unless `debug` is on.
            ApiError::Database(error) => return Err(Error::new(error)),
        };
        let body = serde_json::json!({ "status": status.as_u16(), "message": message });
        (status, Json(body)).into_response()
    }
}

/// A title as stored: trimmed, not empty, at most [`MAX_TITLE`] characters.
fn valid_title(title: &str) -> Result<&str, ApiError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(ApiError::Invalid(
            "`title` is empty; give the todo a title".to_owned(),
        ));
    }
    let length = title.chars().count();
    if length > MAX_TITLE {
        return Err(ApiError::Invalid(format!(
            "`title` has {length} characters; the most is {MAX_TITLE}"
        )));
    }
    Ok(title)
}

/// `GET /`: the todos as a small HTML page.
#[wsgi_handler(blocking)]
fn index(State(db): State<Db>) -> Result<Html<String>, ApiError> {
    let mut page = String::from("<!doctype html><title>todo</title><h1>todo</h1><ul>");
    for todo in db.list(None)? {
        let mark = if todo.done { "&#x2611;" } else { "&#x2610;" };
        // Titles are the users' text: escaped, never markup.
        let _ = write!(
            page,
            "<li>{mark} {} <small>#{}</small></li>",
            escape(&todo.title),
            todo.id
        );
    }
    page.push_str("</ul><p>The API: <code>GET/POST /todos</code>, <code>GET/PATCH/DELETE /todos/&lt;id&gt;</code>.</p>");
    Ok(Html(page))
}

/// `GET /todos?done=true|false|all`. Without `done`, the last filter given
/// is used again: it is remembered in a cookie.
#[wsgi_handler(blocking)]
fn list(
    State(db): State<Db>,
    query: Result<Query<ListQuery>, HttpError>,
    mut cookies: Cookies,
) -> Result<(Cookies, Json<Vec<Todo>>), ApiError> {
    let Query(query) = query?;
    let filter = match query.done {
        Some(filter) => {
            let cookie = Cookie::build((FILTER_COOKIE, filter.as_str()))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax);
            cookies.add(cookie);
            filter
        }
        None => cookies
            .get(FILTER_COOKIE)
            .and_then(|cookie| Filter::parse(cookie.value()))
            .unwrap_or(Filter::All),
    };
    let todos = db.list(filter.done())?;
    Ok((cookies, Json(todos)))
}

/// `201 Created`, the new resource's `Location`, and the resource.
type Created = (StatusCode, [(HeaderName, String); 1], Json<Todo>);

/// `POST /todos` with `{"title": "…", "done": false}`: `201 Created` with
/// the todo and its `Location`.
#[wsgi_handler(blocking)]
fn create(
    State(db): State<Db>,
    body: Result<Json<NewTodo>, HttpError>,
) -> Result<Created, ApiError> {
    let Json(new) = body?;
    let todo = db.insert(valid_title(&new.title)?, new.done)?;
    let location = format!("/todos/{}", todo.id);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(todo)))
}

/// `GET /todos/<id>`.
#[wsgi_handler(blocking)]
fn show(State(db): State<Db>, Path(id): Path<i64>) -> Result<Json<Todo>, ApiError> {
    db.get(id)?.map(Json).ok_or(ApiError::NotFound(id))
}

/// `PATCH /todos/<id>` with `{"title": "…"}`, `{"done": true}` or both.
#[wsgi_handler(blocking)]
fn update(
    State(db): State<Db>,
    Path(id): Path<i64>,
    body: Result<Json<TodoPatch>, HttpError>,
) -> Result<Json<Todo>, ApiError> {
    let Json(patch) = body?;
    if patch.title.is_none() && patch.done.is_none() {
        return Err(ApiError::Invalid(
            "nothing to change; send `title`, `done` or both".to_owned(),
        ));
    }
    let title = patch.title.as_deref().map(valid_title).transpose()?;
    db.update(id, title, patch.done)?
        .map(Json)
        .ok_or(ApiError::NotFound(id))
}

/// `DELETE /todos/<id>`: `204 No Content`.
#[wsgi_handler(blocking)]
fn delete(State(db): State<Db>, Path(id): Path<i64>) -> Result<StatusCode, ApiError> {
    if db.delete(id)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(id))
    }
}

/// The routes. Their handlers take `State<Db>`: served without one (see
/// [`app`]), the server refuses to start, naming the handler.
pub fn routes() -> Router {
    Router::new()
        .get("/", Index)
        .get("/todos", List)
        .post("/todos", Create)
        .get("/todos/<int:id>", Show)
        .patch("/todos/<int:id>", Update)
        .delete("/todos/<int:id>", Delete)
}

/// The application on `db`. A path no route matches is the server's 404,
/// a known path with another method a 405.
pub fn app(db: Db) -> WsgiHandler {
    WsgiHandler::default().with_state(db).middleware(routes())
}

/// `&`, `<`, `>`, `"` and `'` as HTML entities.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Serves the todo API with the server's flags (`--bind`, `--workers`, ...)
/// and its own (`--database`).
pub fn main() -> ExitCode {
    let config = Config::from_args_with::<TodoSettings>();
    let Some(settings) = config.app::<TodoSettings>() else {
        eprintln!("the todo settings were not read; build the configuration with `Config::from_args_with::<TodoSettings>()`");
        return ExitCode::FAILURE;
    };
    let path = &settings.database;
    let db = match Db::open(path) {
        Ok(db) => db,
        Err(e) => {
            eprintln!(
                "cannot open the database {}: {e}; give a writable path with --database or TODO_DATABASE",
                path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    match Server::new(app(db)).config(config).run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
