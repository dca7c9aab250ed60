//! What applications are built from, over real sockets: the router,
//! forms, static files, the shipped middleware and health checks, tower in
//! both directions, and the example applications (todo, httpbin).

mod form;
mod health;
mod httpbin;
mod native_middleware;
mod router;
mod shipped_middleware;
mod static_files;
mod todo;
mod tower;
