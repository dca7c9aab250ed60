// The request body can be read once: two extractors that read it are a
// compile error on the second.
use wsgi_core::wsgi_handler;
use wsgi_core::extract::Json;

#[wsgi_handler]
async fn two_bodies(Json(_a): Json<u32>, _text: String) -> &'static str {
    "?"
}

fn main() {}
