//! Typed extraction: a handler's arguments, read from the environ.
//!
//! A [`#[wsgi_handler]`](crate::wsgi_handler) function may take, besides
//! (or instead of) `&Environ`, any number of *extractors*: types that
//! implement [`FromEnviron`] and so know how to build themselves from the
//! request. The handler runs only when every extractor succeeded; the first
//! that fails answers instead, with its [`Rejection`] rendered as an error
//! page by the request's `Accept` (like any [`HttpError`]).
//!
//! ```
//! use serde::Deserialize;
//! use wsgi_core::extract::{Path, Query, State};
//! use wsgi_core::{wsgi_handler, WsgiHandler};
//! use wsgi_core::router::Router;
//!
//! #[derive(Clone)]
//! struct Greeting(&'static str);
//!
//! #[derive(Deserialize)]
//! struct Page {
//!     lang: Option<String>,
//! }
//!
//! #[wsgi_handler]
//! async fn hello(Path(name): Path<String>, Query(page): Query<Page>, State(greeting): State<Greeting>) -> String {
//!     format!("{}, {name} ({})", greeting.0, page.lang.as_deref().unwrap_or("en"))
//! }
//!
//! let app = WsgiHandler::default()
//!     .with_state(Greeting("Hello"))
//!     .middleware(Router::new().get("/hello/<name>", Hello));
//! # let _ = app;
//! ```
//!
//! | extractor | reads | rejection |
//! |---|---|---|
//! | [`Path<T>`] | the route's parameters (a value, a tuple or a struct) | 400 naming the parameter |
//! | [`Query<T>`] | `QUERY_STRING`, URL-decoded into `T` | 400 naming the field |
//! | [`Form<T>`] | a URL-encoded or multipart body (text fields), or the query of a `GET` | 415, 413, 422 |
//! | [`Json<T>`](crate::extract::Json) | a JSON body | 415 for another content type, 400 for invalid JSON, 422 when it does not fit `T`, 413 over the limit |
//! | [`Bytes`](bytes::Bytes), `String` | the whole body | 413, 400 |
//! | [`Cookies`], [`SignedCookies`], [`PrivateCookies`] | the `Cookie` header (signed and private ones with the key from the `secret_key` setting) | never; a signed or private jar without a `secret_key` is refused at start-up |
//! | [`TypedHeader<H>`] | one header, typed by the `headers` crate | 400 |
//! | [`State<S>`] | state given to [`WsgiHandler::with_state`](crate::WsgiHandler::with_state) or [`Router::with_state`](crate::router::Router::with_state) | checked at start-up |
//! | [`Extension<T>`] | a value a middleware put in the environ's extensions | 500 |
//! | `Method`, `Uri`, `Version`, `HeaderMap`, [`RouteParams`](crate::router::RouteParams) | the request head | never (`RouteParams`: 500 outside a router) |
//! | [`Connection`](crate::Connection), `Arc<Config>` | `pulsar.connection`, `pulsar.cfg` | 500 without a connection |
//! | `Option<E>` | `E`, or `None` when it was rejected | never |
//! | `Result<E, E::Rejection>` | `E`, or why it was rejected | never |
//!
//! Only one extractor may read the request body (`Json`, `Form`, `Bytes`,
//! `String`): a handler with two is a compile error, since the second
//! would silently see an empty body. The extractors run in the order the
//! arguments are written, before the handler is called.
//!
//! # Writing an extractor
//!
//! ```
//! use wsgi_core::extract::{FromEnviron, Rejection};
//! use wsgi_core::{Environ, HttpError};
//!
//! /// The caller's API key, from `X-Api-Key`.
//! struct ApiKey(String);
//!
//! impl FromEnviron for ApiKey {
//!     type Rejection = Rejection;
//!
//!     async fn from_environ(environ: &mut Environ) -> Result<Self, Rejection> {
//!         let key = environ
//!             .header("x-api-key")
//!             .and_then(|value| value.to_str().ok())
//!             .ok_or_else(|| HttpError::new(http::StatusCode::UNAUTHORIZED).with_message("send your key in X-Api-Key"))?;
//!         Ok(ApiKey(key.to_owned()))
//!     }
//! }
//!
//! #[wsgi_core::wsgi_handler]
//! fn whoami(ApiKey(key): ApiKey) -> String {
//!     format!("key {key}")
//! }
//! # let _ = Whoami;
//! ```

mod body;
mod check;
#[cfg(feature = "cookies")]
mod cookies;
mod form;
mod head;
#[cfg(feature = "json")]
mod json;
mod path;
mod query;
mod state;
#[cfg(feature = "typed-header")]
mod typed_header;

use std::convert::Infallible;
use std::future::Future;

pub use check::{CheckError, Provided};
#[cfg(feature = "cookies")]
pub use cookies::{Cookies, PrivateCookies, SignedCookies};
pub use form::Form;
#[cfg(feature = "json")]
pub use json::Json;
pub use path::Path;
pub use query::Query;
pub(crate) use state::StateSet;
pub use state::{Extension, State};
#[cfg(feature = "typed-header")]
pub use typed_header::TypedHeader;

use crate::environ::Environ;
use crate::error::{Error, HttpError};

/// What the built-in extractors reject a request with: an [`HttpError`]
/// whose status and message say what was wrong (`400` naming the field,
/// `415`, `422`, `413`, ...). It converts into [`Error`] with its status
/// kept, and is rendered by `Accept` like any error.
pub type Rejection = HttpError;

/// A type a handler can take as an argument: built from the request's
/// [`Environ`] before the handler runs. See the [module docs](self).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an extractor: it does not implement `wsgi_core::extract::FromEnviron`",
    label = "not an extractor",
    note = "a handler's arguments are `&Environ` or `&mut Environ`, `StartResponse` (the WSGI form), and extractors: `Path<T>`, `Query<T>`, `Form<T>`, `Json<T>`, `State<S>`, `Extension<T>`, `Cookies`, `TypedHeader<H>`, `Bytes`, `String`, `Option<E>`, ... (see `wsgi_core::extract`)",
    note = "for a type of your own, implement `FromEnviron` for it"
)]
pub trait FromEnviron: Sized + Send + 'static {
    /// Why the request was refused; rendered as an error page.
    type Rejection: Into<Error>;

    /// Whether this extractor reads the request body (`wsgi.input`). A
    /// handler may take at most one such argument.
    const READS_BODY: bool = false;

    /// Builds the value from the request.
    fn from_environ(
        environ: &mut Environ,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send;

    /// Checks, once when the application is built (before the server
    /// binds), that what this extractor needs is provided: [`State<S>`]
    /// checks that some `with_state` gives an `S`, the signed cookie jars
    /// that a `secret_key` is configured. Most extractors need nothing.
    fn check(provided: &Provided<'_>) -> Result<(), CheckError> {
        let _ = provided;
        Ok(())
    }
}

/// `None` when `E` was rejected. An `Option` is not checked at start-up:
/// `Option<State<S>>` is a state that may be missing.
impl<E: FromEnviron> FromEnviron for Option<E> {
    type Rejection = Infallible;
    const READS_BODY: bool = E::READS_BODY;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Infallible> {
        Ok(E::from_environ(environ).await.ok())
    }
}

/// `E`, or its rejection for the handler to look at.
impl<E> FromEnviron for Result<E, E::Rejection>
where
    E: FromEnviron,
    E::Rejection: Send + 'static,
{
    type Rejection = Infallible;
    const READS_BODY: bool = E::READS_BODY;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Infallible> {
        Ok(E::from_environ(environ).await)
    }

    fn check(provided: &Provided<'_>) -> Result<(), CheckError> {
        E::check(provided)
    }
}

/// The content type of the request without parameters, if any: what the
/// body extractors compare (ignoring ASCII case, as media types are).
fn media_type(environ: &Environ) -> Option<&str> {
    let content_type = environ.header(http::header::CONTENT_TYPE)?.to_str().ok()?;
    Some(content_type.split(';').next().unwrap_or("").trim())
}

/// The 415 a body extractor answers with when the content type is not one
/// it reads.
fn unsupported_media_type(expected: &str, got: Option<&str>) -> Rejection {
    let got = match got {
        Some(got) => format!("`{got}`"),
        None => "no content type".to_owned(),
    };
    HttpError::new(http::StatusCode::UNSUPPORTED_MEDIA_TYPE).with_message(format!(
        "the request body must be {expected}, but it has {got}; send it with a `Content-Type: {expected}` header"
    ))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{Request, StatusCode};
    use serde::{Deserialize, Serialize};

    use super::{Path, Query, State};
    use crate::extract::Json;
    use crate::router::Router;
    use crate::test_client::TestClient;
    use crate::{wsgi_handler, Environ, Error, HttpError, WsgiHandler};

    #[derive(Clone)]
    struct Prefix(&'static str);

    #[derive(Deserialize)]
    struct Page {
        n: Option<u32>,
    }

    #[derive(Deserialize, Serialize, Debug, PartialEq)]
    struct Item {
        id: u64,
        name: String,
    }

    #[wsgi_handler]
    async fn show(
        Path(id): Path<u64>,
        environ: &Environ,
        Query(page): Query<Page>,
        State(prefix): State<Prefix>,
    ) -> String {
        format!(
            "{} {id} page {} {}",
            prefix.0,
            page.n.unwrap_or(1),
            environ.method()
        )
    }

    #[wsgi_handler]
    fn create(
        Path(id): Path<u64>,
        Json(mut item): Json<Item>,
    ) -> Result<(StatusCode, Json<Item>), Error> {
        if item.name.is_empty() {
            return Err(HttpError::bad_request("name is empty").into());
        }
        item.id = id;
        Ok((StatusCode::CREATED, Json(item)))
    }

    fn app() -> WsgiHandler {
        WsgiHandler::default()
            .with_state(Prefix("item"))
            .middleware(
                Router::new()
                    .get("/items/<int:id>", Show)
                    .post("/items/<int:id>", Create),
            )
    }

    #[tokio::test]
    async fn typed_handlers_extract_and_respond() {
        let client = TestClient::new(app());
        let response = client.get("/items/7?n=3").await;
        assert_eq!(response.text(), "item 7 page 3 GET");

        let request = Request::post("/items/9")
            .header("content-type", "application/json")
            .body(Bytes::from_static(br#"{"id": 0, "name": "x"}"#))
            .unwrap();
        let response = client.request(request).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.text(), r#"{"id":9,"name":"x"}"#);

        let request = Request::post("/items/9")
            .header("content-type", "application/json")
            .body(Bytes::from_static(br#"{"id": "zero", "name": "x"}"#))
            .unwrap();
        let response = client.request(request).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.text().contains("`id`"), "{}", response.text());

        let request = Request::post("/items/9")
            .body(Bytes::from_static(br#"{}"#))
            .unwrap();
        let response = client.request(request).await;
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[wsgi_handler]
    fn prefixed(State(prefix): State<Prefix>) -> &'static str {
        prefix.0
    }

    #[wsgi_handler]
    fn passes(State(_prefix): State<Prefix>) -> Option<&'static str> {
        None
    }

    #[tokio::test]
    async fn the_states_of_a_handler_or_router_that_passed_are_not_seen_after_it() {
        let app = WsgiHandler::default()
            .with_state(Prefix("outer"))
            .middleware(
                WsgiHandler::default()
                    .with_state(Prefix("inner handler"))
                    .middleware(Router::new().get("/inner", Prefixed)),
            )
            .middleware(
                Router::new()
                    .with_state(Prefix("inner router"))
                    .get("/both", Passes),
            )
            .middleware(Router::new().get("/outer", Prefixed).get("/both", Prefixed));
        let client = TestClient::new(app);
        assert_eq!(client.get("/inner").await.text(), "inner handler");
        assert_eq!(client.get("/outer").await.text(), "outer");
        assert_eq!(client.get("/both").await.text(), "outer");
    }

    #[test]
    fn a_missing_state_is_found_before_serving() {
        let app = WsgiHandler::default().middleware(Router::new().get("/items/<int:id>", Show));
        let error = crate::WsgiService::try_with_config(app, crate::Config::default()).unwrap_err();
        assert!(error.to_string().contains("State<"), "{error}");
        assert_eq!(error.handler(), Some("Show"));
    }

    #[wsgi_handler]
    fn login(
        mut cookies: super::SignedCookies,
        mut private: super::PrivateCookies,
    ) -> (super::SignedCookies, super::PrivateCookies, &'static str) {
        cookies.add(("user", "ada"));
        private.add(("secret", "42"));
        (cookies, private, "welcome")
    }

    #[wsgi_handler]
    fn whoami(cookies: super::SignedCookies, private: super::PrivateCookies) -> String {
        let user = cookies
            .get("user")
            .map(|c| c.value().to_owned())
            .unwrap_or_default();
        let secret = private
            .get("secret")
            .map(|c| c.value().to_owned())
            .unwrap_or_default();
        format!("user={user} secret={secret}")
    }

    #[tokio::test]
    async fn signed_and_private_cookies_round_trip_and_refuse_tampering() {
        let config = crate::Config::builder()
            .secret_key("0123456789abcdef0123456789abcdef-test")
            .build()
            .unwrap();
        let app = WsgiHandler::default()
            .middleware(Router::new().get("/login", Login).get("/me", Whoami));
        let client = TestClient::with_config(app, config);
        let response = client.get("/login").await;
        let set: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect();
        assert_eq!(set.len(), 2, "{set:?}");
        assert!(
            set.iter()
                .all(|c| !c.contains("=ada") && !c.ends_with("=42")),
            "{set:?}"
        );
        let request = Request::get("/me")
            .header("cookie", set.join("; "))
            .body(Bytes::new())
            .unwrap();
        assert_eq!(client.request(request).await.text(), "user=ada secret=42");
        let tampered: Vec<String> = set.iter().map(|c| c.replace("ada", "eve")).collect();
        let request = Request::get("/me")
            .header("cookie", tampered.join("; "))
            .body(Bytes::new())
            .unwrap();
        assert_eq!(client.request(request).await.text(), "user= secret=42");
    }

    #[test]
    fn signed_cookies_without_a_secret_key_are_refused_before_serving() {
        let app = WsgiHandler::default().app(Whoami);
        let error = crate::WsgiService::try_with_config(app, crate::Config::default()).unwrap_err();
        assert!(error.to_string().contains("secret_key"), "{error}");
    }
}
