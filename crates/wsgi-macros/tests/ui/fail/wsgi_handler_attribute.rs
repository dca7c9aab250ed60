use wsgi_core::{wsgi_handler, Environ, WsgiResponse};

#[wsgi_handler(threads = 4)]
fn unknown_argument(_environ: &Environ) -> WsgiResponse {
    WsgiResponse::text("?")
}

#[wsgi_handler(blocking)]
async fn async_and_blocking(_environ: &Environ) -> WsgiResponse {
    WsgiResponse::text("?")
}

#[wsgi_handler(blocking, blocking)]
fn blocking_twice(_environ: &Environ) -> WsgiResponse {
    WsgiResponse::text("?")
}

#[allow(non_snake_case)]
#[wsgi_handler]
fn Clash(_environ: &Environ) -> WsgiResponse {
    WsgiResponse::text("?")
}

#[wsgi_handler]
unsafe fn unsafe_handler(_environ: &Environ) -> WsgiResponse {
    WsgiResponse::text("?")
}

fn main() {}
