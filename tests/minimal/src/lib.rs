//! A WSGI application for an axum `Router`, built on wsgi-core with
//! `default-features = false`: the WSGI model, `WsgiService`, the macros
//! and the extractors that need no optional dependency.

use wsgi_core::{app_fn, Body, Chunk, Environ, Error, HttpError, StartResponse, WsgiService};

/// A WSGI-form application with an asynchronous body.
fn wsgi_app(environ: &mut Environ, start_response: StartResponse) -> Result<Body, Error> {
    if environ.path_info() == "/fail" {
        return Err(HttpError::bad_request("nothing \"fails\" here\nbut this").into());
    }
    let path = environ.path_info().into_owned();
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(Body::from_chunks([
        Chunk::from("wsgi saw "),
        Chunk::future(async move { Ok::<_, Error>(path) }),
    ]))
}

/// A typed handler: its generated type is a tower `Service` too.
#[wsgi_core::wsgi_handler]
async fn typed(method: wsgi_core::http::Method) -> String {
    format!("typed {method}")
}

/// axum's own route, `/typed` served by the typed handler, and every
/// other path by the WSGI application.
pub fn router() -> axum::Router {
    axum::Router::new()
        .route("/native", axum::routing::get(|| async { "axum handler" }))
        .route_service("/typed", Typed)
        .fallback_service(WsgiService::new(app_fn(wsgi_app)))
}
