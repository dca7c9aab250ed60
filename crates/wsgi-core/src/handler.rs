//! `WsgiHandler`: its overview is on the re-export in `lib.rs`.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;

use crate::application::Application;
use crate::body::Body;
use crate::config::Config;
use crate::dispatch::Settings;
use crate::environ::Environ;
use crate::error::{Error, HttpError};
use crate::error_page::{render_error, ErrorRenderer};
use crate::extract::{CheckError, Provided, StateSet};
use crate::middleware::{
    AppMiddleware, BoxMiddleware, BoxResponseMiddleware, RequestMiddleware, ResponseMiddleware,
};
use crate::response::WsgiResponse;
use crate::start_response::StartResponse;

struct Inner {
    middleware: Vec<BoxMiddleware>,
    response_middleware: Vec<BoxResponseMiddleware>,
    renderer: Arc<dyn ErrorRenderer>,
    states: StateSet,
    // For the tower `Service` impl, made once.
    config: Arc<Config>,
    settings: Arc<Settings>,
}

/// Request middleware, then response middleware.
#[derive(Clone)]
pub struct WsgiHandler {
    inner: Arc<Inner>,
}

impl Default for WsgiHandler {
    fn default() -> Self {
        WsgiHandler::new(Vec::new(), Vec::new())
    }
}

impl WsgiHandler {
    /// A handler from its middleware and response middleware, in order
    /// (the builder methods [`middleware`](Self::middleware) and
    /// [`response_middleware`](Self::response_middleware) erase the types
    /// themselves).
    pub fn new(
        middleware: Vec<BoxMiddleware>,
        response_middleware: Vec<BoxResponseMiddleware>,
    ) -> Self {
        let config = Arc::new(Config::default());
        let settings = Arc::new(Settings::new(&config));
        WsgiHandler {
            inner: Arc::new(Inner {
                middleware,
                response_middleware,
                renderer: Arc::new(render_error),
                states: StateSet::default(),
                config,
                settings,
            }),
        }
    }

    fn edit(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                middleware: shared.middleware.clone(),
                response_middleware: shared.response_middleware.clone(),
                renderer: Arc::clone(&shared.renderer),
                states: shared.states.clone(),
                config: Arc::clone(&shared.config),
                settings: Arc::clone(&shared.settings),
            },
        };
        f(&mut inner);
        WsgiHandler {
            inner: Arc::new(inner),
        }
    }

    /// Appends a middleware.
    pub fn middleware(self, middleware: impl RequestMiddleware) -> Self {
        self.edit(|inner| inner.middleware.push(BoxMiddleware::new(middleware)))
    }

    /// Appends a plain application as a middleware that always answers.
    pub fn app(self, app: impl Application) -> Self {
        self.middleware(AppMiddleware::new(app))
    }

    /// Appends a response middleware.
    pub fn response_middleware(self, middleware: impl ResponseMiddleware) -> Self {
        self.edit(|inner| {
            inner
                .response_middleware
                .push(BoxResponseMiddleware::new(middleware))
        })
    }

    /// Provides `state` to every handler inside this one, for their
    /// [`State<S>`](crate::extract::State) arguments; call it once per
    /// type (a second value of the same type replaces the first). An inner
    /// handler's or router's state of the same type wins over this one.
    ///
    /// ```
    /// use wsgi_core::extract::State;
    /// use wsgi_core::{wsgi_handler, WsgiHandler};
    ///
    /// #[derive(Clone)]
    /// struct Greeting(&'static str);
    ///
    /// #[wsgi_handler]
    /// fn hello(State(greeting): State<Greeting>) -> &'static str {
    ///     greeting.0
    /// }
    ///
    /// let app = WsgiHandler::default().with_state(Greeting("hello")).app(Hello);
    /// # let _ = app;
    /// ```
    pub fn with_state<S: Clone + Send + Sync + 'static>(self, state: S) -> Self {
        self.edit(|inner| inner.states.insert(state))
    }

    /// Checks what the middleware inside extract; see
    /// [`Application::check`]. The server runs it before binding.
    fn check_inner(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        let provided = provided.with_states(self.inner.states.types());
        self.inner
            .middleware
            .iter()
            .try_for_each(|middleware| middleware.check(&provided))
    }

    /// Replaces the error renderer.
    pub fn error_renderer(self, renderer: impl ErrorRenderer) -> Self {
        self.edit(|inner| inner.renderer = Arc::new(renderer))
    }

    /// The configuration used when the handler serves as a tower `Service`
    /// directly (the server passes its own).
    pub fn service_config(self, config: Config) -> Self {
        self.edit(|inner| {
            inner.settings = Arc::new(Settings::new(&config));
            inner.config = Arc::new(config);
        })
    }

    /// What the tower `Service` impl (in `service.rs`) serves: the shared
    /// chain, without wrapping the handler in a new `Arc` per request, and
    /// the handler's service configuration.
    pub(crate) fn service_parts(&self) -> (Arc<impl Application>, &Arc<Config>, &Arc<Settings>) {
        (
            Arc::clone(&self.inner),
            &self.inner.config,
            &self.inner.settings,
        )
    }

    /// Runs the chain and returns the final response; errors become error
    /// pages (response middleware applies to those too, unless it is what
    /// failed).
    pub async fn respond(&self, environ: &mut Environ) -> WsgiResponse {
        self.inner.respond(environ).await
    }
}

impl Inner {
    async fn first_answer(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        let scope = self.states.enter(environ);
        for middleware in &self.middleware {
            // The middleware's future is kept in this one's, not boxed (see
            // `middleware/boxed.rs`). `BoxMiddleware::call` is an `async fn`:
            // the middleware's future is made inside the panic guard, in
            // place, rather than made here and moved in (this future's
            // room for it is copied at each move).
            let answer = AssertUnwindSafe(middleware.call(environ))
                .catch_unwind()
                .await
                .map_err(Error::from_panic)??;
            if answer.is_some() {
                return Ok(answer);
            }
        }
        // Passing: the middleware after this handler do not see its states.
        StateSet::leave(scope, environ);
        Ok(None)
    }

    async fn apply_response_middleware(
        &self,
        environ: &mut Environ,
        mut response: WsgiResponse,
    ) -> Result<WsgiResponse, Error> {
        for middleware in &self.response_middleware {
            // As for the chain: made in place, inside the panic guard.
            response = AssertUnwindSafe(middleware.call(environ, response))
                .catch_unwind()
                .await
                .map_err(Error::from_panic)??;
        }
        Ok(response)
    }

    /// The winning response, or the error page for what went wrong.
    async fn answer(&self, environ: &mut Environ) -> WsgiResponse {
        let answer = match self.first_answer(environ).await {
            // An error before a streamed body's first chunk is still an
            // error page, seen by the response middleware like any other.
            // Boxed, and only for streams: most responses are bytes, and
            // this future's size would be paid by every request's.
            Ok(Some(response)) if response.waits_for_first_chunk(environ.method()) => {
                Box::pin(AssertUnwindSafe(response.read_first_chunk()).catch_unwind())
                    .await
                    .map_err(Error::from_panic)
                    .and_then(|read| read.map(Some))
            }
            other => other,
        };
        match answer {
            Ok(Some(response)) => response,
            Ok(None) => self
                .renderer
                .render(environ, &HttpError::not_found().into()),
            Err(error) => self.renderer.render(environ, &error),
        }
    }

    async fn respond(&self, environ: &mut Environ) -> WsgiResponse {
        let response = self.answer(environ).await;
        if self.response_middleware.is_empty() {
            return response;
        }
        match self.apply_response_middleware(environ, response).await {
            Ok(response) => response,
            Err(error) => self.renderer.render(environ, &error),
        }
    }
}

/// The application behind both `WsgiHandler`'s `Application` impl and its
/// tower `Service` impl, which serves the shared `Inner` without wrapping
/// the handler in a new `Arc` per request.
impl Application for Inner {
    async fn call(
        &self,
        environ: &mut Environ,
        start_response: StartResponse,
    ) -> Result<Body, Error> {
        let response = self.respond(environ).await;
        response.start(environ, &start_response)
    }
}

impl Application for WsgiHandler {
    async fn call(
        &self,
        environ: &mut Environ,
        start_response: StartResponse,
    ) -> Result<Body, Error> {
        // Not `self.inner.call(..)`: that would box a second future.
        let response = self.inner.respond(environ).await;
        response.start(environ, &start_response)
    }

    fn check(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        self.check_inner(provided)
    }
}

impl RequestMiddleware for WsgiHandler {
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        match self.inner.first_answer(environ).await? {
            Some(response) => Ok(Some(
                self.inner
                    .apply_response_middleware(environ, response)
                    .await?,
            )),
            None => Ok(None),
        }
    }

    fn check(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        self.check_inner(provided)
    }
}

impl fmt::Debug for WsgiHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsgiHandler")
            .field("middleware", &self.inner.middleware.len())
            .field("response_middleware", &self.inner.response_middleware.len())
            .finish()
    }
}
