// Shapes the macro accepts, with types the compiler then refuses: the
// errors point at the offending return type.
use wsgi_core::{wsgi_handler, Environ, StartResponse};

struct NotAnError;

#[wsgi_handler]
fn error_not_convertible(_environ: &Environ, _start_response: StartResponse) -> Result<&'static str, NotAnError> {
    Err(NotAnError)
}

#[wsgi_handler]
fn not_a_body(_environ: &Environ, _start_response: StartResponse) -> u32 {
    42
}

#[wsgi_handler]
fn not_a_response(_environ: &Environ) -> u32 {
    42
}

#[wsgi_handler]
fn typed_error_not_convertible(_environ: &Environ) -> Result<String, NotAnError> {
    Err(NotAnError)
}

#[wsgi_handler]
fn not_an_extractor(_id: u8) -> &'static str {
    "?"
}

fn main() {}
