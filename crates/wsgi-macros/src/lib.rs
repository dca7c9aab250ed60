//! Procedural macros for [`wsgi-core`](https://docs.rs/wsgi-core):
//! `#[wsgi_handler]` and `#[response_middleware]`.
//!
//! Users depend on `wsgi-core`, which re-exports both macros at its root;
//! the code they generate names `::wsgi_core::…` paths only.

mod args;
mod handler;
mod item;
mod response_middleware;
mod signature;

use proc_macro::TokenStream;

/// Makes a function a WSGI handler: an `Application` and a `RequestMiddleware`.
///
/// The function stays as written, callable and unit-testable. Next to it
/// the attribute adds a type, named after the function in UpperCamelCase
/// (`fn hello` → `Hello`, `fn hello_world` → `HelloWorld`, `fn r#match` →
/// `Match`), or as given by `#[wsgi_handler(name = TypeName)]`, which is
/// needed when the derived name would clash with another item (`fn environ`
/// would make `Environ`). The type has the function's visibility, `cfg`
/// attributes and doc comments, and it is:
///
/// - a `wsgi_core::Application`: serve it (`Server::new(Hello)`), nest it
///   (`WsgiHandler::app`), or make it a tower `Service`
///   (`WsgiService::new(Hello)`, or `Hello.into()`);
/// - a `wsgi_core::middleware::RequestMiddleware`: `WsgiHandler::middleware(Hello)`;
/// - `Clone + Copy + Default + Debug + Send + Sync + 'static`: a unit
///   struct, or for a generic function a zero-sized `Hello<T>` built with
///   `Hello::<T>::default()`.
///
/// # Accepted forms
///
/// The function is an `async fn` or a plain `fn`, in one of two forms:
///
/// | form | signature |
/// |---|---|
/// | typed | `fn(extractors…) -> R`: any number of extractors (types implementing `wsgi_core::extract::FromEnviron`: `Path<T>`, `Query<T>`, `Json<T>`, `Form<T>`, `State<S>`, `Cookies`, …) and at most one `&Environ` or `&mut Environ`, in any order |
/// | WSGI | `fn(environ: &Environ, start_response: StartResponse, extractors…) -> B`: a `StartResponse` argument makes it the WSGI form |
///
/// The request form `fn(environ: &Environ) -> WsgiResponse` is the typed
/// form with the environ as its only argument. The extractors run in the
/// order written, before the function; the first that rejects the request
/// answers instead (its status and message, rendered by `Accept`). At most
/// one argument may read the request body (`Json`, `Form`, `Bytes`,
/// `String`): a second is a compile error. The `wsgi_core::guide::extractors`
/// guide lists every extractor and its rejection.
///
/// The return is:
///
/// | return | as an application | as a middleware |
/// |---|---|---|
/// | typed form: anything `wsgi_core::IntoResponse` (`WsgiResponse`, `String`, `&'static str`, `Json<T>`, `Html<T>`, `Redirect`, `StatusCode`, `Body`, `(StatusCode, parts…, R)`, …) | the response | always answers with it |
/// | WSGI form: a body `B`, anything `Into<Body>` | the head given to `start_response`, then `B` | always answers, with the head and body captured |
/// | WSGI form: `WsgiResponse` | the response, started | always answers with it |
/// | `Option<…>` | `None` is a 404 | `None` passes to the next middleware |
/// | `Result<…, E>`, `Result<Option<…>, E>` | `Err` is answered by `E` | the same |
///
/// An `E` that implements `IntoResponse` answers for itself: `HttpError`
/// with its status, `anyhow::Error` with the status of an `HttpError`
/// inside (else 500), `wsgi_core::Error`, or your own type choosing its
/// status and body. Any other `E: Into<wsgi_core::Error>` (every
/// `std::error::Error`) is a 500. Errors are rendered by the `WsgiHandler`
/// by `Accept`.
///
/// A WSGI-form function that returns a `WsgiResponse` must not also call
/// `start_response`: that is two heads, an error. It cannot return a
/// typed-form response (`Json`, `Html`, `Redirect`, `StatusCode`, a
/// tuple): remove the `StartResponse` argument for those.
///
/// The macro reads the signature as written: `Environ`, `StartResponse`,
/// `WsgiResponse`, `Option` and `Result` are recognised by the last segment
/// of their path (`wsgi_core::Environ` is fine, an alias under another
/// name is not), every other argument type is taken as an extractor, and
/// the outer `Result` may name its error (`Result<T, E>`) or not
/// (`io::Result<T>`).
///
/// ## The typed form
///
/// ```
/// use serde::Deserialize;
/// use wsgi_core::extract::{Path, Query, State};
/// use wsgi_core::http::StatusCode;
/// use wsgi_core::{wsgi_handler, Environ, HttpError, WsgiHandler};
/// use wsgi_core::extract::Json;
/// use wsgi_core::router::Router;
///
/// #[derive(Clone)]
/// struct Prefix(&'static str);
///
/// #[derive(Deserialize)]
/// struct Paging {
///     page: Option<u32>,
/// }
///
/// /// Extractors in any order, the environ among them if wanted.
/// #[wsgi_handler]
/// async fn show(Path(id): Path<u64>, environ: &Environ, Query(paging): Query<Paging>) -> String {
///     format!("{} {id}, page {}", environ.method(), paging.page.unwrap_or(1))
/// }
///
/// /// A JSON body in, a status and JSON out; an `HttpError` keeps its status.
/// #[wsgi_handler]
/// fn create(State(prefix): State<Prefix>, Json(name): Json<String>) -> Result<(StatusCode, Json<String>), HttpError> {
///     if name.is_empty() {
///         return Err(HttpError::bad_request("the name is empty"));
///     }
///     Ok((StatusCode::CREATED, Json(format!("{}{name}", prefix.0))))
/// }
///
/// let app = WsgiHandler::default()
///     .with_state(Prefix("item-"))
///     .middleware(Router::new().get("/items/<int:id>", Show).post("/items", Create));
/// # let _ = app;
/// ```
///
/// ## The WSGI form
///
/// ```
/// use wsgi_core::{wsgi_handler, Body, Chunk, Environ, Error, StartResponse, WsgiResponse};
///
/// /// Plain WSGI 1.0.1: a synchronous function returning bytes.
/// #[wsgi_handler]
/// fn hello(_environ: &Environ, start_response: StartResponse) -> Result<&'static str, Error> {
///     start_response.start("200 OK", [("Content-Type", "text/plain")])?;
///     Ok("Hello, World!")
/// }
///
/// /// Asynchronous, reading the request body; the body returned is an
/// /// asynchronous iterable.
/// #[wsgi_handler]
/// async fn echo(environ: &mut Environ, start_response: StartResponse) -> Result<Body, Error> {
///     let posted = environ.input().read_all().await?;
///     start_response.start("200 OK", [("Content-Type", "text/plain")])?;
///     Ok(Body::from_chunks([
///         Chunk::from("you sent: "),
///         Chunk::future(async move { Ok::<_, Error>(posted) }),
///     ]))
/// }
///
/// /// The WSGI form may return a response instead of calling
/// /// `start_response`.
/// #[wsgi_handler]
/// fn moved(_environ: &Environ, _start_response: StartResponse) -> WsgiResponse {
///     let mut response = WsgiResponse::new(http::StatusCode::MOVED_PERMANENTLY);
///     response.headers_mut().insert("location", http::HeaderValue::from_static("/new"));
///     response
/// }
///
/// # fn is_app<A: wsgi_core::Application>(_: A) {}
/// is_app(Hello);
/// is_app(Echo);
/// is_app(Moved);
/// // The function itself is untouched.
/// let environ = Environ::from_request(http::Request::new(()));
/// assert_eq!(hello(&environ, StartResponse::new()).unwrap(), "Hello, World!");
/// ```
///
/// ## The request form: the environ alone
///
/// ```
/// use wsgi_core::{wsgi_handler, Environ, Error, HttpError, WsgiResponse};
///
/// #[wsgi_handler]
/// async fn greet(environ: &Environ) -> WsgiResponse {
///     WsgiResponse::text(format!("Hello, {}!", environ.path_info().trim_start_matches('/')))
/// }
///
/// /// Fallible: an `HttpError` keeps its status (400 here).
/// #[wsgi_handler]
/// fn search(environ: &mut Environ) -> Result<WsgiResponse, Error> {
///     match environ.query_string() {
///         "" => Err(HttpError::bad_request("add ?q=…").into()),
///         query => Ok(WsgiResponse::text(format!("results for {query}"))),
///     }
/// }
/// # fn is_app<A: wsgi_core::Application>(_: A) {}
/// # is_app(Greet);
/// # is_app(Search);
/// ```
///
/// ## `Option`: a middleware that may pass
///
/// ```
/// use wsgi_core::{wsgi_handler, Environ, Error, StartResponse, WsgiHandler, WsgiResponse};
///
/// /// Answers `/health`, passes on anything else.
/// #[wsgi_handler]
/// fn health(environ: &Environ) -> Option<WsgiResponse> {
///     (environ.path_info() == "/health").then(|| WsgiResponse::text("ok"))
/// }
///
/// /// The WSGI form may pass too, before calling `start_response`.
/// #[wsgi_handler]
/// async fn only_post(environ: &mut Environ, start_response: StartResponse) -> Result<Option<String>, Error> {
///     if environ.method() != http::Method::POST {
///         return Ok(None);
///     }
///     let posted = environ.input().read_all().await?;
///     start_response.start("200 OK", [("Content-Type", "text/plain")])?;
///     Ok(Some(format!("{} bytes", posted.len())))
/// }
///
/// #[wsgi_handler]
/// fn app(_environ: &Environ) -> WsgiResponse {
///     WsgiResponse::text("the application")
/// }
///
/// let handler = WsgiHandler::default()
///     .middleware(Health)
///     .middleware(OnlyPost)
///     .app(App);
/// # let _ = handler;
/// ```
///
/// ## `#[wsgi_handler(blocking)]`
///
/// A plain `fn` that blocks (file system, a synchronous database driver,
/// heavy computation) runs on tokio's blocking pool, so the event loop
/// keeps serving other requests meanwhile. The environ moves to the
/// blocking thread for the call and back afterwards, so the function still
/// takes `&Environ` or `&mut Environ`; the value it returns must be `Send +
/// 'static`. A panic in it is answered as a 500.
///
/// ```
/// use wsgi_core::{wsgi_handler, Environ, Error, StartResponse, WsgiResponse};
///
/// #[wsgi_handler(blocking)]
/// fn report(environ: &Environ, start_response: StartResponse) -> Result<String, Error> {
///     std::thread::sleep(std::time::Duration::from_millis(10)); // blocking work
///     start_response.start("200 OK", [("Content-Type", "text/plain")])?;
///     Ok(format!("report for {}", environ.path_info()))
/// }
/// /// The request form, on the blocking pool.
/// #[wsgi_handler(blocking)]
/// fn listing(environ: &mut Environ) -> Result<WsgiResponse, Error> {
///     let entries = std::fs::read_dir(".")?.count(); // blocking I/O
///     Ok(WsgiResponse::text(format!("{entries} entries for {}", environ.path_info())))
/// }
/// # fn is_app<A: wsgi_core::Application>(_: A) {}
/// # is_app(Report);
/// # is_app(Listing);
/// ```
///
/// ## Names, generics and visibility
///
/// ```
/// use wsgi_core::{wsgi_handler, Environ, WsgiResponse, WsgiService};
///
/// pub trait Language: Send + Sync + 'static {
///     const HELLO: &'static str;
/// }
/// pub enum French {}
/// impl Language for French {
///     const HELLO: &'static str = "Bonjour";
/// }
///
/// /// One handler type per language: `Greet<French>`, …
/// #[wsgi_handler]
/// pub fn greet<L: Language>(_environ: &Environ) -> WsgiResponse {
///     WsgiResponse::text(L::HELLO)
/// }
///
/// /// Named explicitly: `fn environ` would otherwise make `Environ`.
/// #[wsgi_handler(name = EnvironPath)]
/// pub(crate) fn environ(environ: &Environ) -> WsgiResponse {
///     WsgiResponse::text(environ.path_info().into_owned())
/// }
///
/// let service: WsgiService<Greet<French>> = Greet::<French>::default().into();
/// let also = WsgiService::new(EnvironPath);
/// # let _ = (service, also);
/// ```
///
/// A generic function's type and const parameters become the type's (its
/// lifetime parameters stay on the function); each type parameter must be
/// `'static`, and an `async fn`'s future must be `Send`, so bound the
/// parameters accordingly.
///
/// # Errors
///
/// Anything else is a compile error on the offending token, with a message
/// that lists the accepted forms: an item that is not a function, a method,
/// an `unsafe fn`, the environ taken by value or twice, `StartResponse`
/// borrowed or taken twice, an extractor taken by reference, two arguments
/// that read the body, no return type, a WSGI form returning a typed-form
/// response, `Option` or `Result` nested other than `Result<Option<…>,
/// E>`, `async` together with `blocking`, and an unknown attribute
/// argument. An argument that is not an extractor, a return that is not
/// `IntoResponse` (typed form) or `Into<Body>` (WSGI form), and an error
/// that is neither `IntoResponse` nor `Into<wsgi_core::Error>` are
/// reported by the compiler on that type. The function is emitted
/// unchanged alongside the error.
#[proc_macro_attribute]
pub fn wsgi_handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::expand(attr.into(), item.into()).into()
}

/// Makes a function `(environ, response) -> response` a
/// `wsgi_core::middleware::ResponseMiddleware`.
///
/// As with [`macro@wsgi_handler`], the function stays as written and a type
/// is added next to it: its name in UpperCamelCase (`fn add_server_header`
/// → `AddServerHeader`) or `#[response_middleware(name = TypeName)]`, with
/// the function's visibility, `cfg` attributes and doc comments, `Clone +
/// Copy + Default + Debug + Send + Sync + 'static`. Add it to a handler
/// with `WsgiHandler::response_middleware`.
///
/// # Accepted forms
///
/// An `async fn` or a plain `fn`, taking the environ (`&mut Environ` or
/// `&Environ`) and the response by value:
///
/// | signature | an `Err` |
/// |---|---|
/// | `fn(environ: &mut Environ, response: WsgiResponse) -> WsgiResponse` | — |
/// | `fn(environ: &mut Environ, response: WsgiResponse) -> Result<WsgiResponse, E>` with `E: Into<wsgi_core::Error>` | becomes the error page |
///
/// ```
/// use wsgi_core::{response_middleware, Environ, Error, HttpError, WsgiHandler, WsgiResponse};
///
/// /// Adds `X-Served-By` to every response.
/// #[response_middleware]
/// fn add_server_header(_environ: &Environ, mut response: WsgiResponse) -> WsgiResponse {
///     response.headers_mut().insert("x-served-by", http::HeaderValue::from_static("wsgi-rs"));
///     response
/// }
///
/// /// Asynchronous and fallible: refuses to send a streamed body to a
/// /// client that did not ask for one.
/// #[response_middleware]
/// async fn no_streams_for_curl(environ: &mut Environ, response: WsgiResponse) -> Result<WsgiResponse, Error> {
///     let curl = environ.get("HTTP_USER_AGENT").is_some_and(|agent| agent.starts_with("curl/"));
///     if curl && response.is_streamed() {
///         return Err(HttpError::new(http::StatusCode::NOT_ACCEPTABLE).into());
///     }
///     Ok(response)
/// }
///
/// let handler = WsgiHandler::default()
///     .response_middleware(AddServerHeader)
///     .response_middleware(NoStreamsForCurl);
/// # let _ = handler;
/// ```
///
/// # Errors
///
/// As for [`macro@wsgi_handler`]: an item that is not a function, other than
/// two arguments, a first argument that is not the environ, a second that
/// is not `WsgiResponse` (by value), or a return that is not `WsgiResponse`
/// or `Result<WsgiResponse, E>` is a compile error on the offending token
/// that lists the accepted forms.
#[proc_macro_attribute]
pub fn response_middleware(attr: TokenStream, item: TokenStream) -> TokenStream {
    response_middleware::expand(attr.into(), item.into()).into()
}
