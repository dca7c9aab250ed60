//! Every accepted `#[wsgi_handler]` signature compiles, warning-free.
#![deny(warnings)]

use bytes::Bytes;
use wsgi_core::middleware::RequestMiddleware;
use wsgi_core::{wsgi_handler, Application, Body, Environ, Error, HttpError, StartResponse, WsgiResponse};

fn is_handler<T: Application + RequestMiddleware + Clone + Copy + Default + std::fmt::Debug + Send + Sync + 'static>() {}

// The WSGI form, asynchronous, with each return shape.
#[wsgi_handler]
async fn async_body(_environ: &Environ, start_response: StartResponse) -> &'static str {
    let _ = start_response.start("200 OK", [("Content-Type", "text/plain")]);
    "body"
}

#[wsgi_handler]
async fn async_result(environ: &mut Environ, start_response: StartResponse) -> Result<Body, Error> {
    let posted = environ.input().read_all().await?;
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok(Body::from(posted))
}

#[wsgi_handler]
async fn async_option(_environ: &Environ, _start_response: StartResponse) -> Option<String> {
    None
}

#[wsgi_handler]
async fn async_result_option(_environ: &mut Environ, _start_response: StartResponse) -> Result<Option<Vec<u8>>, std::io::Error> {
    Ok(None)
}

#[wsgi_handler]
async fn async_response(_environ: &Environ, _start_response: StartResponse) -> WsgiResponse {
    WsgiResponse::text("response")
}

// The WSGI form, synchronous.
#[wsgi_handler]
fn sync_body(_environ: &Environ, _start_response: StartResponse) -> Bytes {
    Bytes::from_static(b"body")
}

#[wsgi_handler]
fn sync_result(_environ: &mut Environ, _start_response: StartResponse) -> Result<String, HttpError> {
    Err(HttpError::not_found())
}

#[wsgi_handler]
fn sync_option_response(_environ: &Environ, _start_response: StartResponse) -> Option<WsgiResponse> {
    None
}

#[wsgi_handler]
fn sync_io_result(_environ: &Environ, _start_response: StartResponse) -> std::io::Result<Vec<Bytes>> {
    Ok(Vec::new())
}

#[wsgi_handler]
fn sync_impl_body(_environ: &Environ, _start_response: StartResponse) -> impl Into<Body> {
    "impl Into<Body>"
}

// The request form.
#[wsgi_handler]
async fn request_async(_environ: &Environ) -> WsgiResponse {
    WsgiResponse::text("request form")
}

#[wsgi_handler]
async fn request_async_mut(environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
    let _ = environ.input().read_all().await?;
    Ok(None)
}

#[wsgi_handler]
fn request_sync(_environ: &mut Environ) -> Option<WsgiResponse> {
    None
}

#[wsgi_handler]
fn request_sync_result(_environ: &Environ) -> Result<WsgiResponse, HttpError> {
    Err(HttpError::bad_request("no"))
}

// Paths written in full are recognised by their last segment.
#[wsgi_handler]
fn qualified(
    _environ: &mut wsgi_core::Environ,
    _start_response: wsgi_core::StartResponse,
) -> std::result::Result<std::option::Option<wsgi_core::WsgiResponse>, wsgi_core::Error> {
    Ok(None)
}

// Blocking: a plain fn on the blocking pool, in both forms.
#[wsgi_handler(blocking)]
fn blocking_wsgi(_environ: &Environ, start_response: StartResponse) -> Result<String, Error> {
    start_response.start("200 OK", [("Content-Type", "text/plain")])?;
    Ok("from the blocking pool".to_owned())
}

#[wsgi_handler(blocking)]
fn blocking_request(environ: &mut Environ) -> Option<WsgiResponse> {
    environ.set_path_info("/changed");
    None
}

fn main() {
    is_handler::<AsyncBody>();
    is_handler::<AsyncResult>();
    is_handler::<AsyncOption>();
    is_handler::<AsyncResultOption>();
    is_handler::<AsyncResponse>();
    is_handler::<SyncBody>();
    is_handler::<SyncResult>();
    is_handler::<SyncOptionResponse>();
    is_handler::<SyncIoResult>();
    is_handler::<SyncImplBody>();
    is_handler::<RequestAsync>();
    is_handler::<RequestAsyncMut>();
    is_handler::<RequestSync>();
    is_handler::<RequestSyncResult>();
    is_handler::<Qualified>();
    is_handler::<BlockingWsgi>();
    is_handler::<BlockingRequest>();

    // The functions stay callable.
    let environ = Environ::from_request(http::Request::new(()));
    assert_eq!(sync_body(&environ, StartResponse::new()), Bytes::from_static(b"body"));
    assert!(request_sync_result(&environ).is_err());
}
