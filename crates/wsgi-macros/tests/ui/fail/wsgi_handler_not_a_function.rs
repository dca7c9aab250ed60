use wsgi_core::wsgi_handler;

#[wsgi_handler]
struct Hello;

#[wsgi_handler]
const HELLO: &str = "Hello";

fn main() {}
