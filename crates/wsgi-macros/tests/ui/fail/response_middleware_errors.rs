use wsgi_core::{response_middleware, Environ, Error, StartResponse, WsgiResponse};

#[response_middleware]
enum NotAFunction {}

#[response_middleware]
fn one_argument(_environ: &mut Environ) -> WsgiResponse {
    WsgiResponse::default()
}

#[response_middleware]
fn wrong_second(_environ: &mut Environ, _start_response: StartResponse) -> WsgiResponse {
    WsgiResponse::default()
}

#[response_middleware]
fn borrowed_response(_environ: &mut Environ, response: &WsgiResponse) -> WsgiResponse {
    WsgiResponse::new(response.status())
}

#[response_middleware]
fn returns_a_body(_environ: &Environ, _response: WsgiResponse) -> String {
    String::new()
}

#[response_middleware]
fn returns_an_option(_environ: &Environ, response: WsgiResponse) -> Result<Option<WsgiResponse>, Error> {
    Ok(Some(response))
}

#[response_middleware(blocking)]
fn blocking(_environ: &Environ, response: WsgiResponse) -> WsgiResponse {
    response
}

fn main() {}
