use wsgi_core::{wsgi_handler, Environ, StartResponse, WsgiResponse};

#[wsgi_handler]
fn environ_by_value(_environ: Environ) -> WsgiResponse {
    WsgiResponse::text("?")
}

#[wsgi_handler]
fn borrowed_extractor(_path: &str) -> WsgiResponse {
    WsgiResponse::text("?")
}

#[wsgi_handler]
fn borrowed_start_response(_environ: &Environ, _start_response: &StartResponse) -> &'static str {
    "?"
}

struct Site;

impl Site {
    #[wsgi_handler]
    fn method(&self, _environ: &Environ) -> WsgiResponse {
        WsgiResponse::text("?")
    }
}

fn main() {}
