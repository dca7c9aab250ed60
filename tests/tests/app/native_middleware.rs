//! Middleware written with native `async fn call` (no attribute), kept in a
//! `WsgiHandler`'s chain and a `Router` without a box when they fit: ready
//! at once, pending once (`yield_now`) before answering, and too large for
//! the room kept for them (boxed), over a real socket.

use wsgi_core::middleware::{RequestMiddleware, ResponseMiddleware};
use wsgi_core::router::Router;
use wsgi_core::{wsgi_handler, Environ, Error, WsgiHandler, WsgiResponse};
use wsgi_tests::{get, serve};

/// Pending once, then answers `/yield` and passes on anything else after
/// marking the environ.
struct Yielding;

impl RequestMiddleware for Yielding {
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        tokio::task::yield_now().await;
        environ.set("test.yielded", "yes")?;
        Ok((environ.path_info() == "/yield").then(|| WsgiResponse::text("yielded")))
    }
}

/// Ready at once: answers `/ready` with what `Yielding` left in the environ.
struct Ready;

impl RequestMiddleware for Ready {
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        if environ.path_info() != "/ready" {
            return Ok(None);
        }
        let seen = environ
            .get("test.yielded")
            .map_or_else(|| "no".to_owned(), |seen| seen.into_owned());
        Ok(Some(WsgiResponse::text(format!("ready, yielded: {seen}"))))
    }
}

/// Holds 8 KiB across a pending `.await`: larger than the room a chain
/// keeps, so its future is boxed, and must still work across the wait.
struct Large;

impl RequestMiddleware for Large {
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        let mut buffer = [0u8; 8192];
        let path = environ.path_info().into_owned();
        buffer[..path.len().min(8192)].copy_from_slice(&path.as_bytes()[..path.len().min(8192)]);
        tokio::task::yield_now().await;
        if path != "/large" {
            return Ok(None);
        }
        let kept = String::from_utf8_lossy(&buffer[..path.len()]).into_owned();
        Ok(Some(WsgiResponse::text(format!("large kept {kept}"))))
    }
}

/// Pending once, then stamps every response.
struct Stamp;

impl ResponseMiddleware for Stamp {
    async fn call(
        &self,
        _environ: &mut Environ,
        mut response: WsgiResponse,
    ) -> Result<WsgiResponse, Error> {
        tokio::task::yield_now().await;
        response
            .headers_mut()
            .insert("x-stamp", http::HeaderValue::from_static("after-yield"));
        Ok(response)
    }
}

/// A router handler that is pending once before answering.
#[wsgi_handler]
async fn slow_route() -> &'static str {
    tokio::task::yield_now().await;
    "slow route"
}

/// A synchronous router handler: ready on the first poll.
#[wsgi_handler]
fn quick_route() -> &'static str {
    "quick route"
}

fn app() -> WsgiHandler {
    let router = Router::new()
        .get("/slow", SlowRoute)
        .get("/quick", QuickRoute);
    WsgiHandler::default()
        .middleware(Yielding)
        .middleware(Ready)
        .middleware(router)
        .middleware(Large)
        .response_middleware(Stamp)
}

#[tokio::test]
async fn pending_and_ready_middleware_answer_in_order() {
    let server = serve(app());
    let addr = server.local_addr();
    for (path, status, text) in [
        ("/yield", 200, "yielded"),
        ("/ready", 200, "ready, yielded: yes"),
        ("/slow", 200, "slow route"),
        ("/quick", 200, "quick route"),
        ("/large", 200, "large kept /large"),
    ] {
        let response = get(addr, path).await;
        assert_eq!(response.status, status, "{path}: {}", response.text());
        assert_eq!(response.text(), text, "{path}");
        assert_eq!(
            response.header("x-stamp"),
            Some("after-yield"),
            "{path}: the response middleware ran after its own wait"
        );
    }
}

#[tokio::test]
async fn a_request_every_middleware_passes_is_a_stamped_404() {
    let server = serve(app());
    let response = get(server.local_addr(), "/nothing").await;
    assert_eq!(response.status, 404, "{}", response.text());
    assert_eq!(response.header("x-stamp"), Some("after-yield"));
}
