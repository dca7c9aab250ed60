//! `State<S>`, given when the application is built, and `Extension<T>`,
//! put in the environ by a middleware.

use std::any::{Any, TypeId};
use std::sync::Arc;

use super::{CheckError, FromEnviron, Provided};
use crate::environ::Environ;
use crate::error::Error;

/// Shared state of type `S`, given to
/// [`WsgiHandler::with_state`](crate::WsgiHandler::with_state) or
/// [`Router::with_state`](crate::router::Router::with_state): a database pool, an
/// HTTP client, a counter. Each request gets a clone, so wrap what must be
/// shared (`Arc<Mutex<…>>`) or use a type that is a handle already (most
/// pools are).
///
/// A handler that takes `State<S>` where no enclosing `with_state` gives an
/// `S` is refused when the application is built (the server does not
/// start); see [`CheckError`].
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use wsgi_core::extract::State;
/// use wsgi_core::{wsgi_handler, WsgiHandler};
///
/// #[derive(Clone, Default)]
/// struct Hits(Arc<AtomicU64>);
///
/// #[wsgi_handler]
/// fn count(State(hits): State<Hits>) -> String {
///     format!("{} hits", hits.0.fetch_add(1, Ordering::Relaxed) + 1)
/// }
///
/// let app = WsgiHandler::default().with_state(Hits::default()).app(Count);
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct State<S>(pub S);

impl<S: Clone + Send + Sync + 'static> FromEnviron for State<S> {
    type Rejection = Error;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Error> {
        environ
            .extensions()
            .get::<StateStack>()
            .and_then(StateStack::get::<S>)
            .map(State)
            .ok_or_else(|| {
                // Only reachable where the start-up check could not look
                // (inside a `LazyWsgi`, or a handler called by hand).
                Error::msg(format!(
                    "no state of type `{}`: add `.with_state(value)` to the WsgiHandler or Router that serves this handler",
                    std::any::type_name::<S>()
                ))
            })
    }

    fn check(provided: &Provided<'_>) -> Result<(), CheckError> {
        if provided.has_state::<S>() {
            Ok(())
        } else {
            Err(CheckError::missing_state::<S>())
        }
    }
}

/// A value a middleware stored in the environ's
/// [extensions](crate::Environ::extensions) (an authenticated user, a
/// request id). Missing, it is a 500: the middleware that should have put
/// it there did not run.
///
/// ```
/// use wsgi_core::extract::Extension;
/// use wsgi_core::middleware::middleware_fn;
/// use wsgi_core::{wsgi_handler, Environ, Error, WsgiHandler};
///
/// #[derive(Clone)]
/// struct RequestId(u64);
///
/// #[wsgi_handler]
/// fn show(Extension(id): Extension<RequestId>) -> String {
///     format!("request {}", id.0)
/// }
///
/// let app = WsgiHandler::default()
///     .middleware(middleware_fn(|environ: &mut Environ| {
///         environ.extensions_mut().insert(RequestId(7));
///         Ok::<_, Error>(None)
///     }))
///     .app(Show);
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Extension<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromEnviron for Extension<T> {
    type Rejection = Error;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Error> {
        environ
            .extensions()
            .get::<T>()
            .cloned()
            .map(Extension)
            .ok_or_else(|| {
                Error::msg(format!(
                    "no `{}` in the environ's extensions: the middleware that inserts it must run before this handler",
                    std::any::type_name::<T>()
                ))
            })
    }
}

/// One state value, by type.
#[derive(Clone)]
struct Entry {
    id: TypeId,
    name: &'static str,
    value: Arc<dyn Any + Send + Sync>,
}

/// The states one `with_state` scope provides (a `WsgiHandler` or a
/// `Router`). Cloning shares them.
#[derive(Clone, Default)]
pub(crate) struct StateSet {
    entries: Arc<Vec<Entry>>,
}

impl StateSet {
    /// Adds `state`, replacing a state of the same type.
    pub(crate) fn insert<S: Clone + Send + Sync + 'static>(&mut self, state: S) {
        let entries = Arc::make_mut(&mut self.entries);
        let entry = Entry {
            id: TypeId::of::<S>(),
            name: std::any::type_name::<S>(),
            value: Arc::new(state),
        };
        match entries.iter_mut().find(|e| e.id == entry.id) {
            Some(existing) => *existing = entry,
            None => entries.push(entry),
        }
    }

    /// The provided types, for the start-up check.
    pub(crate) fn types(&self) -> impl Iterator<Item = (TypeId, &'static str)> + '_ {
        self.entries.iter().map(|e| (e.id, e.name))
    }

    /// Makes these states visible to the handlers called after this, for
    /// this request, until [`leave`](Self::leave) with the returned scope.
    /// Nothing is done (nor allocated) for an empty set.
    pub(crate) fn enter(&self, environ: &mut Environ) -> StateScope {
        if self.entries.is_empty() {
            return StateScope(None);
        }
        let extensions = environ.extensions_mut();
        match extensions.get_mut::<StateStack>() {
            Some(stack) => {
                let depth = stack.0.len();
                stack.0.push(self.clone());
                StateScope(Some(depth))
            }
            None => {
                extensions.insert(StateStack(vec![self.clone()]));
                StateScope(Some(0))
            }
        }
    }

    /// Ends `scope`: the states it entered (and any entered inside it) are
    /// no longer visible. Called when the handler or router that entered
    /// them passes, so that the middleware after it see the states of
    /// their own scope, not those of a sibling.
    pub(crate) fn leave(scope: StateScope, environ: &mut Environ) {
        let StateScope(Some(depth)) = scope else {
            return;
        };
        if let Some(stack) = environ.extensions_mut().get_mut::<StateStack>() {
            stack.0.truncate(depth);
        }
    }

    fn get<S: Clone + 'static>(&self) -> Option<S> {
        let id = TypeId::of::<S>();
        let entry = self.entries.iter().find(|e| e.id == id)?;
        entry.value.downcast_ref::<S>().cloned()
    }
}

impl std::fmt::Debug for StateSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| e.name))
            .finish()
    }
}

/// Where a [`StateSet::enter`] began: the depth of the stack before it
/// (`None` when it entered nothing).
#[must_use = "leave the scope when the handler that entered it passes"]
#[derive(Debug, Clone, Copy)]
pub(crate) struct StateScope(Option<usize>);

/// The state scopes a request is in, innermost last; kept in the
/// environ's extensions.
#[derive(Clone, Default)]
pub(crate) struct StateStack(Vec<StateSet>);

impl StateStack {
    fn get<S: Clone + 'static>(&self) -> Option<S> {
        self.0.iter().rev().find_map(StateSet::get::<S>)
    }
}
