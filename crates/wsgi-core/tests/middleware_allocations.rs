//! Calling a middleware through the types that erase it (`BoxMiddleware`,
//! `BoxResponseMiddleware`, as a `WsgiHandler` and a `Router` keep them)
//! allocates nothing for its future when the future fits in the room kept
//! for it, whether it is ready on its first poll or pending first; a
//! future too large for the room (a response middleware that awaits, one
//! holding 8 KiB) is boxed, one allocation. Counted with
//! dhat's testing mode, which allows one profiler per process: hence one
//! test running each case in turn.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use wsgi_core::middleware::{
    middleware_fn, response_middleware_fn, BoxMiddleware, BoxResponseMiddleware, CleanPath,
    RequestMiddleware, ResponseMiddleware,
};
use wsgi_core::{Environ, Error, WsgiResponse};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// Allocations made so far while the profiler runs (every thread: this
/// binary has one test, and it starts no other thread).
fn allocations() -> u64 {
    dhat::HeapStats::get().total_blocks
}

/// Pending on its first poll (waking itself), ready on the second.
struct PendingOnce(bool);

impl Future for PendingOnce {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Drives `future` with a no-op waker; returns its output, the number of
/// polls and the allocations made from its creation (by `make`) to its end.
fn run<F: Future>(make: impl FnOnce() -> F) -> (F::Output, usize, u64) {
    let before = allocations();
    let mut future = pin!(make());
    let mut cx = Context::from_waker(Waker::noop());
    let mut polls = 0;
    loop {
        polls += 1;
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return (output, polls, allocations() - before);
        }
    }
}

fn environ(path: &str) -> Environ {
    Environ::from_request(http::Request::get(path).body(()).expect("a valid request"))
}

struct WaitsThenPasses;

impl RequestMiddleware for WaitsThenPasses {
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        let path_len = environ.path_info().len();
        PendingOnce(false).await;
        Ok((path_len == 0).then(|| WsgiResponse::text("empty")))
    }
}

/// Holds 8 KiB across a pending `.await`: larger than any room.
struct Large;

impl RequestMiddleware for Large {
    async fn call(&self, _environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        let buffer = [7u8; 8192];
        PendingOnce(false).await;
        Ok((buffer[8191] == 0).then(|| WsgiResponse::text("never")))
    }
}

struct WaitsThenStamps;

impl ResponseMiddleware for WaitsThenStamps {
    async fn call(
        &self,
        _environ: &mut Environ,
        mut response: WsgiResponse,
    ) -> Result<WsgiResponse, Error> {
        PendingOnce(false).await;
        response.set_status(http::StatusCode::ACCEPTED);
        Ok(response)
    }
}

#[test]
fn middleware_futures_that_fit_are_called_without_allocating() {
    let _profiler = dhat::Profiler::builder().testing().build();
    a_ready_middleware_is_called_without_allocating();
    a_middleware_pending_once_is_called_without_allocating();
    a_response_middleware_that_does_not_await_is_called_without_allocating();
    a_response_middleware_that_awaits_is_boxed_once();
    a_future_too_large_for_the_room_is_boxed_once_and_still_runs();
}

fn a_ready_middleware_is_called_without_allocating() {
    let mut environ = environ("/clean");
    for middleware in [
        BoxMiddleware::new(CleanPath),
        BoxMiddleware::new(middleware_fn(|_: &mut Environ| Ok::<_, Error>(None))),
        // Not wrapped twice (a second wrapper's future would not fit).
        BoxMiddleware::new(BoxMiddleware::new(CleanPath)),
    ] {
        let (answer, polls, allocated) = run(|| middleware.call(&mut environ));
        assert!(matches!(answer, Ok(None)));
        assert_eq!(polls, 1);
        assert_eq!(allocated, 0, "ready on the first poll");
    }
}

fn a_middleware_pending_once_is_called_without_allocating() {
    let middleware = BoxMiddleware::new(WaitsThenPasses);
    let mut environ = environ("/a");
    let (answer, polls, allocated) = run(|| middleware.call(&mut environ));
    assert!(matches!(answer, Ok(None)));
    assert_eq!(polls, 2, "pending once, then ready");
    assert_eq!(allocated, 0, "the pending future stays in the caller's");
}

fn a_response_middleware_that_does_not_await_is_called_without_allocating() {
    let middleware = BoxResponseMiddleware::new(response_middleware_fn(
        |_: &mut Environ, mut response: WsgiResponse| {
            response.set_status(http::StatusCode::ACCEPTED);
            Ok::<_, Error>(response)
        },
    ));
    let mut environ = environ("/a");
    let response = WsgiResponse::new(http::StatusCode::OK);
    let (answer, polls, allocated) = run(|| middleware.call(&mut environ, response));
    let response = answer.expect("the middleware succeeds");
    assert_eq!(response.status(), http::StatusCode::ACCEPTED);
    assert_eq!(polls, 1);
    assert_eq!(allocated, 0);
}

/// One that awaits holds the response twice, more than the room kept for
/// a response middleware: boxed, as documented, and still right.
fn a_response_middleware_that_awaits_is_boxed_once() {
    let middleware = BoxResponseMiddleware::new(WaitsThenStamps);
    let mut environ = environ("/a");
    let response = WsgiResponse::new(http::StatusCode::OK);
    let (answer, polls, allocated) = run(|| middleware.call(&mut environ, response));
    let response = answer.expect("the middleware succeeds");
    assert_eq!(response.status(), http::StatusCode::ACCEPTED);
    assert_eq!(polls, 2);
    assert_eq!(allocated, 1);
}

fn a_future_too_large_for_the_room_is_boxed_once_and_still_runs() {
    let middleware = BoxMiddleware::new(Large);
    let mut environ = environ("/a");
    let (answer, polls, allocated) = run(|| middleware.call(&mut environ));
    assert!(matches!(answer, Ok(None)));
    assert_eq!(polls, 2);
    assert_eq!(allocated, 1, "one box for the large future");
}
