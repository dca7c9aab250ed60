//! `Router`: URL rules with typed parameters, dispatched by method.
//!
//! A rule is a path with `<converter:name>` placeholders, as in werkzeug
//! (and so Flask and pulsar's `Router`):
//!
//! | converter | matches | example |
//! |---|---|---|
//! | `string` (the default) | one or more characters, no `/` | `<name>`, `<string:name>` |
//! | `int` | one or more ASCII digits | `<int:id>` |
//! | `float` | digits, a dot, digits | `<float:s>` |
//! | `path` | one or more characters, `/` included | `<path:rest>` |
//! | `any(a,b,…)` | exactly one of the listed words | `<any(json,xml):format>` |
//!
//! A [`Router`] is a [`RequestMiddleware`]: a path no rule matches passes
//! (`Ok(None)`) to the next middleware of the
//! [`WsgiHandler`](crate::WsgiHandler); a path that matches with no handler
//! for the method is answered `405 Method Not Allowed` with `Allow`
//! ([`HttpError::method_not_allowed`]); `HEAD` falls back to the `GET`
//! handler, and so does an HTTP/2 extended `CONNECT` (RFC 8441: how a
//! WebSocket is opened over HTTP/2, where HTTP/1.1 sends a `GET`). The matched parameters are put in the environ's extensions as
//! [`RouteParams`]. Handlers are [`RequestMiddleware`], which
//! [`#[wsgi_handler]`](crate::wsgi_handler) types are; a plain
//! [`Application`] is mounted with [`Router::route_app`] (or wrapped in
//! [`AppMiddleware`]).
//!
//! Rules are matched against the percent-decoded `PATH_INFO`, in the order
//! they were added. [`Router::url_for`] builds a path back from a rule's
//! name, percent-encoding the values.
//!
//! ```
//! use wsgi_core::router::{RouteParams, Router};
//! use wsgi_core::{wsgi_handler, Environ, Error, HttpError, WsgiHandler, WsgiResponse};
//!
//! #[wsgi_handler]
//! fn item(environ: &Environ) -> Result<WsgiResponse, Error> {
//!     let params = environ.extensions().get::<RouteParams>().ok_or_else(HttpError::not_found)?;
//!     let id: u64 = params.get_as("id")?;
//!     Ok(WsgiResponse::text(format!("item {id}, rest {:?}", params.get("rest"))))
//! }
//!
//! let router = Router::new()
//!     .get("/items/<int:id>/<path:rest>", Item)
//!     .name("item");
//! assert_eq!(
//!     router.url_for("item", &[("id", "3"), ("rest", "a b/c")]).unwrap(),
//!     "/items/3/a%20b/c"
//! );
//! let handler = WsgiHandler::default().middleware(router);
//! # let _ = handler;
//! ```

mod params;
mod rule;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use http::Method;

use crate::application::Application;
use crate::environ::Environ;
use crate::error::{Error, HttpError};
use crate::extract::{CheckError, Provided, StateSet};
use crate::middleware::{AppMiddleware, BoxMiddleware, RequestMiddleware};
use crate::response::WsgiResponse;

pub use params::RouteParams;
pub use rule::{Rule, RuleError, UrlError};

// Cloned with the router (handlers are shared `Arc`s).
#[derive(Clone)]
struct Route {
    rule: Rule,
    handlers: Vec<(Option<Method>, BoxMiddleware)>,
}

impl Route {
    /// The handlers for `method` in the order they were added: those for
    /// the method itself (for `HEAD` without any, and for an HTTP/2
    /// extended CONNECT without any, those for `GET`) and those for any
    /// method.
    fn handlers<'a>(
        &'a self,
        method: &'a Method,
        extended_connect: bool,
    ) -> impl Iterator<Item = &'a BoxMiddleware> {
        let has_own = self
            .handlers
            .iter()
            .any(|(m, _)| m.as_ref() == Some(method));
        let wanted = if !has_own && (method == Method::HEAD || extended_connect) {
            &Method::GET
        } else {
            method
        };
        self.handlers
            .iter()
            .filter(move |(m, _)| m.as_ref().is_none_or(|m| m == wanted))
            .map(|(_, handler)| handler)
    }
}

/// URL rules dispatched by method. See the [module docs](self).
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
    names: HashMap<String, usize>,
    last: Option<usize>,
    states: StateSet,
}

impl Router {
    /// An empty router (it passes every request).
    pub fn new() -> Self {
        Router::default()
    }

    /// Adds `handler` for `rule` and each of `methods` (an empty slice
    /// means any method), or returns why the rule is invalid. Adding a rule
    /// already present adds methods to it.
    pub fn try_route(
        mut self,
        rule: &str,
        methods: &[Method],
        handler: impl RequestMiddleware,
    ) -> Result<Self, RuleError> {
        let parsed = Rule::new(rule)?;
        let handler = BoxMiddleware::new(handler);
        let index = match self.routes.iter().position(|r| r.rule.as_str() == rule) {
            Some(index) => index,
            None => {
                self.routes.push(Route {
                    rule: parsed,
                    handlers: Vec::new(),
                });
                self.routes.len() - 1
            }
        };
        let route = &mut self.routes[index];
        if methods.is_empty() {
            route.handlers.push((None, handler));
        } else {
            for method in methods {
                route.handlers.push((Some(method.clone()), handler.clone()));
            }
        }
        self.last = Some(index);
        Ok(self)
    }

    /// Adds `handler` for `rule` and `methods` (empty: any method).
    ///
    /// # Panics
    /// If the rule is invalid (see [`RuleError`]): rules are written by the
    /// programmer, so this is a bug to fix at startup. Use
    /// [`try_route`](Self::try_route) for rules built at run time.
    pub fn route(self, rule: &str, methods: &[Method], handler: impl RequestMiddleware) -> Self {
        match self.try_route(rule, methods, handler) {
            Ok(router) => router,
            Err(error) => panic!("invalid route: {error}"),
        }
    }

    /// Mounts a plain [`Application`] (it always answers) for `rule` and
    /// `methods`. Panics like [`route`](Self::route).
    pub fn route_app(self, rule: &str, methods: &[Method], app: impl Application) -> Self {
        self.route(rule, methods, AppMiddleware::new(app))
    }

    /// `GET` (and so `HEAD`) on `rule`. Panics like [`route`](Self::route).
    pub fn get(self, rule: &str, handler: impl RequestMiddleware) -> Self {
        self.route(rule, &[Method::GET], handler)
    }

    /// `POST` on `rule`. Panics like [`route`](Self::route).
    pub fn post(self, rule: &str, handler: impl RequestMiddleware) -> Self {
        self.route(rule, &[Method::POST], handler)
    }

    /// `PUT` on `rule`. Panics like [`route`](Self::route).
    pub fn put(self, rule: &str, handler: impl RequestMiddleware) -> Self {
        self.route(rule, &[Method::PUT], handler)
    }

    /// `PATCH` on `rule`. Panics like [`route`](Self::route).
    pub fn patch(self, rule: &str, handler: impl RequestMiddleware) -> Self {
        self.route(rule, &[Method::PATCH], handler)
    }

    /// `DELETE` on `rule`. Panics like [`route`](Self::route).
    pub fn delete(self, rule: &str, handler: impl RequestMiddleware) -> Self {
        self.route(rule, &[Method::DELETE], handler)
    }

    /// Any method on `rule`. Panics like [`route`](Self::route).
    pub fn any(self, rule: &str, handler: impl RequestMiddleware) -> Self {
        self.route(rule, &[], handler)
    }

    /// Provides `state` to the handlers of this router's routes, for their
    /// [`State<S>`](crate::extract::State) arguments, as
    /// [`WsgiHandler::with_state`](crate::WsgiHandler::with_state) does.
    pub fn with_state<S: Clone + Send + Sync + 'static>(mut self, state: S) -> Self {
        self.states.insert(state);
        self
    }

    /// Names the rule added last, for [`url_for`](Self::url_for).
    ///
    /// # Panics
    /// If no rule was added yet.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        let Some(index) = self.last else {
            panic!("Router::name called before any route was added");
        };
        self.names.insert(name.into(), index);
        self
    }

    /// The path of the rule named `name` with `params` filled in and
    /// percent-encoded (a `path` parameter keeps its `/`); params the rule
    /// does not use become the query string. The path is relative to the
    /// application: prefix it with `environ.script_name()` when the
    /// application is mounted below the site's root.
    pub fn url_for(&self, name: &str, params: &[(&str, &str)]) -> Result<String, UrlError> {
        let index = self
            .names
            .get(name)
            .ok_or_else(|| UrlError::UnknownName(name.to_owned()))?;
        self.routes[*index].rule.build(name, params)
    }

    /// Answers with the first matching rule's handler, `Ok(None)` when no
    /// rule matches, and 405 when rules match but none for the method.
    async fn dispatch(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        // Shared by the `RouteParams` of every rule that matches.
        let path: Arc<str> = Arc::from(&*environ.path_info());
        let mut allowed: Vec<Method> = Vec::new();
        let mut any_matched = false;
        // RFC 8441's CONNECT (a WebSocket over HTTP/2) stands for the GET
        // of an HTTP/1.1 upgrade: it reaches the rule's `GET` handler.
        let extended_connect = environ.method() == Method::CONNECT
            && environ.extensions().get::<hyper::ext::Protocol>().is_some();
        for route in &self.routes {
            let Some(spans) = route.rule.match_spans(&path) else {
                continue;
            };
            any_matched = true;
            let method = environ.method().clone();
            let mut handlers = route.handlers(&method, extended_connect).peekable();
            if handlers.peek().is_none() {
                for (method, _) in &route.handlers {
                    if let Some(method) = method {
                        if !allowed.contains(method) {
                            allowed.push(method.clone());
                        }
                    }
                }
                continue;
            }
            environ.extensions_mut().insert(RouteParams::matched(
                Arc::clone(&path),
                Arc::clone(route.rule.names()),
                spans,
                Arc::clone(route.rule.source()),
            ));
            let scope = self.states.enter(environ);
            for handler in handlers {
                // Kept in this future, in the router's room for a handler
                // (see `middleware/boxed.rs`).
                if let Some(response) = handler.call_in_route(environ).await? {
                    return Ok(Some(response));
                }
            }
            // Every handler passed: the next matching rule may answer, and
            // what follows the router does not see its states.
            StateSet::leave(scope, environ);
            environ.extensions_mut().remove::<RouteParams>();
        }
        if !any_matched || allowed.is_empty() {
            return Ok(None);
        }
        if allowed.contains(&Method::GET) && !allowed.contains(&Method::HEAD) {
            allowed.push(Method::HEAD);
        }
        Err(HttpError::method_not_allowed(&allowed).into())
    }
}

impl RequestMiddleware for Router {
    async fn call(&self, environ: &mut Environ) -> Result<Option<WsgiResponse>, Error> {
        self.dispatch(environ).await
    }

    fn check(&self, provided: &Provided<'_>) -> Result<(), CheckError> {
        let provided = provided.with_states(self.states.types());
        for route in &self.routes {
            for (_, handler) in &route.handlers {
                handler
                    .check(&provided)
                    .map_err(|e| e.in_handler(format!("route {}", route.rule.as_str())))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field(
                "rules",
                &self
                    .routes
                    .iter()
                    .map(|r| r.rule.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("names", &self.names)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_for_encodes_and_checks() {
        let router = Router::new()
            .any("/u/<name>/<path:rest>", AppMiddleware::new(NoApp))
            .name("u");
        assert_eq!(
            router
                .url_for("u", &[("name", "a b"), ("rest", "x/y"), ("q", "1&2")])
                .unwrap(),
            "/u/a%20b/x/y?q=1%262"
        );
        // The built URL must match its own rule: a `/` in a string is refused.
        assert!(matches!(
            router.url_for("u", &[("name", "a/b"), ("rest", "x")]),
            Err(UrlError::BadValue { .. })
        ));
        assert!(matches!(
            router.url_for("u", &[("name", "a")]),
            Err(UrlError::MissingParam { .. })
        ));
        assert!(matches!(
            router.url_for("v", &[]),
            Err(UrlError::UnknownName(_))
        ));
    }

    struct NoApp;

    impl Application for NoApp {
        async fn call(
            &self,
            _environ: &mut Environ,
            _start_response: crate::StartResponse,
        ) -> Result<crate::Body, Error> {
            Err(Error::msg("not called"))
        }
    }
}
