// The typed form: extractors in any order, with or without the environ,
// sync, async and blocking, and every kind of return.
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use wsgi_core::extract::{Cookies, Extension, Form, Path, Query, State, TypedHeader};
use wsgi_core::headers::UserAgent;
use wsgi_core::http::{HeaderMap, Method, StatusCode};
use wsgi_core::IntoResponse;
use wsgi_core::{wsgi_handler, Body, Environ, Error, Html, HttpError, Redirect, StartResponse, WsgiResponse};
use wsgi_core::extract::Json;

#[derive(Clone)]
struct Db;

#[derive(Deserialize)]
struct NewItem {
    name: String,
}

#[derive(Serialize)]
struct Item {
    id: u64,
    name: String,
}

enum AppError {
    Missing,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Result<WsgiResponse, Error> {
        match self {
            AppError::Missing => Err(HttpError::not_found().into()),
        }
    }
}

#[wsgi_handler]
async fn create(State(_db): State<Db>, Json(new): Json<NewItem>) -> Result<(StatusCode, Json<Item>), Error> {
    Ok((StatusCode::CREATED, Json(Item { id: 1, name: new.name })))
}

#[wsgi_handler]
fn environ_between(Path(id): Path<u64>, environ: &mut Environ, Query(q): Query<HashMap<String, String>>) -> String {
    format!("{id} {} {}", environ.path_info(), q.len())
}

#[wsgi_handler(blocking)]
fn blocking(Path((a, b)): Path<(String, u32)>, method: Method) -> Result<Html<String>, AppError> {
    if b == 0 {
        return Err(AppError::Missing);
    }
    Ok(Html(format!("{a} {b} {method}")))
}

#[wsgi_handler]
async fn anyhow_error(body: Option<String>) -> anyhow::Result<String> {
    Ok(body.ok_or_else(|| anyhow::anyhow!("no body"))?)
}

#[wsgi_handler]
fn optional(agent: Option<TypedHeader<UserAgent>>, headers: HeaderMap) -> Option<&'static str> {
    (agent.is_some() && !headers.is_empty()).then_some("ok")
}

#[wsgi_handler]
fn rejection(form: Result<Form<NewItem>, HttpError>) -> Result<Option<String>, std::io::Error> {
    Ok(form.ok().map(|Form(item)| item.name))
}

#[wsgi_handler]
fn parts(mut cookies: Cookies, Extension(_db): Extension<Db>) -> (StatusCode, [(&'static str, &'static str); 1], Cookies, &'static str) {
    cookies.add(("a", "b"));
    (StatusCode::ACCEPTED, [("x-a", "b")], cookies, "parts")
}

#[wsgi_handler]
fn go_home() -> Redirect {
    Redirect::to("/")
}

#[wsgi_handler]
fn stream() -> Body {
    Body::from_chunks(["a", "b"])
}

#[wsgi_handler]
async fn wsgi_form_with_extractor(_environ: &Environ, start_response: StartResponse, Query(q): Query<HashMap<String, String>>) -> Result<String, Error> {
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(format!("{}", q.len()))
}

fn main() {
    fn is_app<A: wsgi_core::Application + wsgi_core::middleware::RequestMiddleware>(_: A) {}
    is_app(Create);
    is_app(EnvironBetween);
    is_app(Blocking);
    is_app(AnyhowError);
    is_app(Optional);
    is_app(Rejection);
    is_app(Parts);
    is_app(GoHome);
    is_app(Stream);
    is_app(WsgiFormWithExtractor);
}
