//! `wsgi-rs MODULE:CALLABLE [OPTIONS]`: serves a Python WSGI application,
//! with CPython embedded (the same command as the wheel's console script).
//!
//! ```sh
//! cargo run --release -p wsgi-python -- app:app --bind 127.0.0.1:8000 --workers 2
//! ```

fn main() {
    std::process::exit(wsgi_python::cli::main());
}
