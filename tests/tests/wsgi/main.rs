//! The WSGI model over real sockets: the environ, `start_response` and
//! `write()`, asynchronous bodies, the request body, handlers and
//! middleware, the macros and typed handlers.
//!
//! One test binary per subject: linking one binary instead of one per
//! file is most of what `cargo test --workspace` costs after a change.

mod body;
mod environ;
mod handler;
mod macros;
mod request_body;
mod small_items;
mod start_response;
mod typed;
