//! `wait_for_body`: read the whole request body before the next middleware.
//!
//! pulsar's `wait_for_body_middleware`: asynchronous servers call the
//! application as soon as the request head has arrived, so `wsgi.input`
//! may still be on its way. Synchronous middleware cannot wait for it; put
//! [`WaitForBody`] before them and they find the body complete in memory.

use crate::environ::Environ;
use crate::error::{Error, HttpError};
use crate::input::Input;
use crate::middleware::RequestMiddleware;
use crate::response::WsgiResponse;

/// Reads all of `wsgi.input` and puts it back as an in-memory [`Input`]
/// ([`Environ::set_input`]); always passes once the body is in.
///
/// - The input's size limit (`max_request_body`) holds: a larger body is
///   answered `413 Payload Too Large`, naming the limit.
/// - A body that cannot be read (the client went away or broke the
///   chunked framing) is answered `400 Bad Request`.
///
/// Reading the pre-filled input never waits, so a synchronous middleware
/// after it can take the body with `now_or_never` (from `futures-util`):
///
/// ```
/// use futures_util::FutureExt;
/// use wsgi_core::middleware::{middleware_fn, WaitForBody};
/// use wsgi_core::{Environ, Error, WsgiHandler, WsgiResponse};
///
/// let handler = WsgiHandler::default()
///     .middleware(WaitForBody)
///     .middleware(middleware_fn(|environ: &mut Environ| {
///         let body = environ
///             .input()
///             .read_all()
///             .now_or_never()
///             .ok_or_else(|| Error::msg("put WaitForBody before this middleware"))??;
///         Ok::<_, Error>(Some(WsgiResponse::text(format!("{} bytes", body.len()))))
///     }));
/// # let _ = handler;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct WaitForBody;

impl RequestMiddleware for WaitForBody {
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        let body = environ.input().read_all().await.map_err(HttpError::from)?;
        environ.set_input(Input::from_bytes(body));
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures_util::FutureExt;
    use http::StatusCode;
    use http_body::Frame;
    use http_body_util::StreamBody;

    fn environ_with(input: Input) -> Environ {
        let mut environ = Environ::from_request(http::Request::post("/").body(()).unwrap());
        environ.set_input(input);
        environ
    }

    fn chunked(parts: &[&'static str], limit: u64) -> Input {
        let frames: Vec<Result<_, std::io::Error>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
            .collect();
        Input::new(StreamBody::new(futures_util::stream::iter(frames)), limit)
    }

    #[tokio::test]
    async fn body_is_read_ahead_and_put_back() {
        let mut environ = environ_with(chunked(&["ab", "cd", "ef"], 100));
        assert!(WaitForBody.call(&mut environ).await.unwrap().is_none());
        let body = environ.input().read_all().now_or_never();
        assert_eq!(body.expect("ready without waiting").unwrap(), "abcdef");
    }

    #[tokio::test]
    async fn over_the_limit_is_413_naming_the_limit() {
        let mut environ = environ_with(chunked(&["12345", "67890"], 8));
        let error = WaitForBody.call(&mut environ).await.unwrap_err();
        assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(error.to_string().contains("8-byte limit"), "{error}");
    }

    #[tokio::test]
    async fn read_failure_is_400() {
        let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
            Ok(Frame::data(Bytes::from_static(b"ab"))),
            Err(std::io::Error::other("connection reset")),
        ];
        let input = Input::new(StreamBody::new(futures_util::stream::iter(frames)), 100);
        let error = WaitForBody
            .call(&mut environ_with(input))
            .await
            .unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert!(error.to_string().contains("connection reset"), "{error}");
    }
}
