use wsgi_core::{wsgi_handler, Environ, StartResponse, WsgiResponse};

#[wsgi_handler]
fn no_arguments() -> WsgiResponse {
    WsgiResponse::text("?")
}

#[wsgi_handler]
fn three_arguments(_environ: &Environ, _start_response: StartResponse, _extra: u8) -> &'static str {
    "?"
}

fn main() {}
