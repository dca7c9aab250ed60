//! An in-process client for unit-testing applications without a socket.
//!
//! [`TestClient`] runs any [`Application`] exactly as the server does (the
//! same environ, `start_response` and body rules), builds the request with
//! `http::Request`, and returns the status, headers and collected body, like
//! werkzeug's `Client` or pulsar's `HttpWsgiClient`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use wsgi_core::test_client::TestClient;
//! use wsgi_core::{app_fn, Environ, Error, StartResponse};
//!
//! let client = TestClient::new(app_fn(|environ: &mut Environ, start_response: StartResponse| {
//!     let path = environ.path_info().into_owned();
//!     start_response.start("200 OK", [("Content-Type", "text/plain")])?;
//!     Ok::<_, Error>(format!("you asked for {path}"))
//! }));
//! let response = client.get("/items/1").await;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.header("content-type"), Some("text/plain"));
//! assert_eq!(response.text(), "you asked for /items/1");
//!
//! let posted = client
//!     .request(http::Request::post("/upload").body("data").unwrap())
//!     .await;
//! assert_eq!(posted.status(), 200);
//! # }
//! ```

use bytes::{Bytes, BytesMut};
#[cfg(feature = "json")]
use http::{header, Method};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
#[cfg(feature = "json")]
use serde::de::DeserializeOwned;
#[cfg(feature = "json")]
use serde::Serialize;

use crate::application::Application;
use crate::config::Config;
use crate::service::WsgiService;

/// Runs an application in-process. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct TestClient<A> {
    service: WsgiService<A>,
}

impl<A: Application> TestClient<A> {
    /// A client for `app` with the default configuration.
    ///
    /// # Panics
    /// If the application's [start-up check](Application::check) fails,
    /// as the server would refuse to start.
    pub fn new(app: A) -> Self {
        TestClient {
            service: WsgiService::new(app),
        }
    }

    /// A client for `app` with `config` (as `pulsar.cfg`).
    pub fn with_config(app: A, config: Config) -> Self {
        TestClient {
            service: WsgiService::with_config(app, config),
        }
    }

    /// `GET path`.
    ///
    /// # Panics
    /// If `path` is not a valid request target: a test bug, reported loudly.
    pub async fn get(&self, path: &str) -> TestResponse {
        let request = Request::get(path).body(Bytes::new());
        match request {
            Ok(request) => self.request(request).await,
            Err(e) => panic!("TestClient::get: `{path}` is not a valid request target: {e}"),
        }
    }

    /// `POST path` with `value` serialized as the JSON body
    /// (`Content-Type: application/json`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use wsgi_core::test_client::TestClient;
    /// use wsgi_core::wsgi_handler;
    /// use wsgi_core::extract::Json;
    ///
    /// #[wsgi_handler]
    /// async fn double(Json(n): Json<u32>) -> Json<u32> {
    ///     Json(n * 2)
    /// }
    ///
    /// let client = TestClient::new(Double);
    /// let response = client.post_json("/", &21).await;
    /// assert_eq!(response.json::<u32>().unwrap(), 42);
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `path` is not a valid request target or `value` cannot be
    /// serialized: test bugs, reported loudly.
    #[cfg(feature = "json")]
    pub async fn post_json<T: Serialize + ?Sized>(&self, path: &str, value: &T) -> TestResponse {
        self.send_json(Method::POST, path, value).await
    }

    /// `method path` with `value` serialized as the JSON body, for `PUT`,
    /// `PATCH` and the rest. Panics like [`post_json`](Self::post_json).
    #[cfg(feature = "json")]
    pub async fn send_json<T: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        value: &T,
    ) -> TestResponse {
        let body = match serde_json::to_vec(value) {
            Ok(body) => body,
            Err(e) => panic!("TestClient::send_json: the value is not serializable as JSON: {e}"),
        };
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Bytes::from(body));
        match request {
            Ok(request) => self.request(request).await,
            Err(e) => panic!("TestClient::send_json: `{path}` is not a valid request target: {e}"),
        }
    }

    /// Sends `request` and collects the whole response.
    pub async fn request<T: Into<Bytes>>(&self, request: Request<T>) -> TestResponse {
        let request = request.map(|body| Full::new(body.into()));
        let response = match self.service.respond(request, None, None).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, mut body) = response.into_parts();
        let mut collected = BytesMut::new();
        let mut aborted = None;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        collected.extend_from_slice(&data);
                    }
                }
                Err(e) => {
                    aborted = Some(e.to_string());
                    break;
                }
            }
        }
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body: collected.freeze(),
            aborted,
        }
    }
}

/// A response collected by [`TestClient`].
#[derive(Debug, Clone)]
pub struct TestResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    aborted: Option<String>,
}

impl TestResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The first value of header `name`, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The body bytes received (up to the abort, if the stream aborted).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body deserialized from JSON into `T`, for typed assertions. The
    /// error says where the body does not fit `T`; the content type is not
    /// checked (compare [`header`](Self::header) for that).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use serde::Deserialize;
    /// use wsgi_core::test_client::TestClient;
    /// use wsgi_core::wsgi_handler;
    /// use wsgi_core::extract::Json;
    ///
    /// #[derive(Deserialize, Debug, PartialEq)]
    /// struct Health {
    ///     ok: bool,
    /// }
    ///
    /// #[wsgi_handler]
    /// fn status() -> Json<serde_json::Value> {
    ///     Json(serde_json::json!({ "ok": true }))
    /// }
    ///
    /// let response = TestClient::new(Status).get("/").await;
    /// assert_eq!(response.json::<Health>().unwrap(), Health { ok: true });
    /// # }
    /// ```
    #[cfg(feature = "json")]
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// Why the stream was aborted after the head, if it was (a failing body,
    /// a wrong `Content-Length`): on a real connection the client would see
    /// the connection close before the end of the response.
    pub fn aborted(&self) -> Option<&str> {
        self.aborted.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{app_fn, Body, Chunk, Environ, Error, StartResponse};

    #[tokio::test]
    async fn aborted_streams_are_reported() {
        let client = TestClient::new(app_fn(|_: &mut Environ, sr: StartResponse| {
            sr.start("200 OK", [("Content-Type", "text/plain")])?;
            Ok::<_, Error>(Body::from_chunks([
                Chunk::from("partial"),
                Chunk::future(async { Err::<Bytes, _>(Error::msg("upstream gone")) }),
            ]))
        }));
        let response = client.get("/").await;
        assert_eq!(response.text(), "partial");
        assert!(response
            .aborted()
            .is_some_and(|why| why.contains("upstream gone")));
    }
}
