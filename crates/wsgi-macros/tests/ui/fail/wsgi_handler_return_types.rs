use wsgi_core::{wsgi_handler, Environ, Error, StartResponse, WsgiResponse};
use wsgi_core::extract::Json;

#[wsgi_handler]
fn no_return_type(_environ: &Environ, _start_response: StartResponse) {}

#[wsgi_handler]
fn json_with_start_response(_environ: &Environ, _start_response: StartResponse) -> Json<u32> {
    Json(1)
}

#[wsgi_handler]
fn option_of_result(_environ: &Environ) -> Option<Result<WsgiResponse, Error>> {
    None
}

#[wsgi_handler]
fn nested_results(_environ: &Environ) -> Result<Result<WsgiResponse, Error>, Error> {
    Err(Error::msg("?"))
}

#[wsgi_handler]
fn bare_result(_environ: &Environ, _start_response: StartResponse) -> std::fmt::Result {
    Ok(())
}

fn main() {}
