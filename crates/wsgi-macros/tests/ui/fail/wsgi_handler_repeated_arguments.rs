use wsgi_core::{wsgi_handler, Environ, StartResponse, WsgiResponse};

#[wsgi_handler]
fn two_environs(_a: &Environ, _b: &mut Environ) -> WsgiResponse {
    WsgiResponse::text("?")
}

#[wsgi_handler]
fn two_start_responses(_environ: &Environ, _a: StartResponse, _b: StartResponse) -> &'static str {
    "?"
}

fn main() {}
