// A typed handler without a return type returns `()`: an empty 200.
use wsgi_core::extract::{Path, State};
use wsgi_core::{wsgi_handler, Environ};

#[derive(Clone)]
struct Db;

#[wsgi_handler]
fn ping() {}

#[wsgi_handler]
async fn forget(Path(_id): Path<u64>, State(_db): State<Db>) {}

#[wsgi_handler(blocking)]
fn log_it(_environ: &mut Environ) {}

fn main() {
    fn is_application<A: wsgi_core::Application>(_: A) {}
    is_application(Ping);
    is_application(Forget);
    is_application(LogIt);
}
