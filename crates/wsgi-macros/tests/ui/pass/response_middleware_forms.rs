//! Every accepted `#[response_middleware]` signature compiles.
#![deny(warnings)]

use wsgi_core::middleware::ResponseMiddleware;
use wsgi_core::{response_middleware, Environ, Error, HttpError, WsgiHandler, WsgiResponse};

fn is_response_middleware<T: ResponseMiddleware + Clone + Copy + Default + std::fmt::Debug>() {}

#[response_middleware]
async fn async_mut(_environ: &mut Environ, response: WsgiResponse) -> WsgiResponse {
    response
}

#[response_middleware]
async fn async_fallible(_environ: &Environ, response: WsgiResponse) -> Result<WsgiResponse, Error> {
    Ok(response)
}

#[response_middleware]
fn sync_shared(_environ: &Environ, response: WsgiResponse) -> WsgiResponse {
    response
}

/// Renamed, and fallible with an error of its own.
#[response_middleware(name = Refuse)]
pub fn refuse_errors(_environ: &mut Environ, response: WsgiResponse) -> Result<WsgiResponse, HttpError> {
    if response.status().is_server_error() {
        return Err(HttpError::new(response.status()));
    }
    Ok(response)
}

#[response_middleware]
fn generic<const CODE: u16>(_environ: &Environ, mut response: WsgiResponse) -> WsgiResponse {
    if let Ok(status) = http::StatusCode::from_u16(CODE) {
        response.set_status(status);
    }
    response
}

fn main() {
    is_response_middleware::<AsyncMut>();
    is_response_middleware::<AsyncFallible>();
    is_response_middleware::<SyncShared>();
    is_response_middleware::<Refuse>();
    is_response_middleware::<Generic<201>>();
    let _handler = WsgiHandler::default()
        .response_middleware(AsyncMut)
        .response_middleware(Refuse)
        .response_middleware(Generic::<201>);
}
