//! The start-up check: every extractor finds what it needs.
//!
//! An application is checked once, when the server starts (before it
//! binds), when it is wrapped in a [`WsgiService`](crate::WsgiService) or a
//! [`TestClient`](crate::test_client::TestClient): a handler that takes
//! `State<Db>` where no `with_state` gives a `Db` is an error then, not a
//! 500 on the first request that reaches it.

use std::any::TypeId;
use std::borrow::Cow;
use std::fmt;

use crate::config::Config;

/// What an application is given, as the start-up check sees it: the
/// configuration and the types of the states provided by the enclosing
/// `with_state` calls.
#[derive(Debug, Clone)]
pub struct Provided<'a> {
    config: &'a Config,
    states: Vec<(TypeId, &'static str)>,
}

impl<'a> Provided<'a> {
    /// Nothing provided yet but the configuration: where the check starts.
    pub fn new(config: &'a Config) -> Self {
        Provided {
            config,
            states: Vec::new(),
        }
    }

    /// The configuration the application will be served with.
    pub fn config(&self) -> &Config {
        self.config
    }

    /// Whether a state of type `S` is provided.
    pub fn has_state<S: 'static>(&self) -> bool {
        let id = TypeId::of::<S>();
        self.states.iter().any(|(provided, _)| *provided == id)
    }

    /// This, plus the states of one more `with_state` scope.
    pub(crate) fn with_states(
        &self,
        states: impl IntoIterator<Item = (TypeId, &'static str)>,
    ) -> Provided<'a> {
        let mut provided = self.clone();
        provided.states.extend(states);
        provided
    }
}

/// A handler needs something its application does not provide.
///
/// Its `Display` names the handler, what is missing and how to provide it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    handler: Option<Cow<'static, str>>,
    message: String,
}

impl CheckError {
    /// An error with a message saying what is missing and how to fix it.
    pub fn new(message: impl Into<String>) -> Self {
        CheckError {
            handler: None,
            message: message.into(),
        }
    }

    /// A missing state of type `S`.
    pub fn missing_state<S>() -> Self {
        let state = std::any::type_name::<S>();
        CheckError::new(format!(
            "it takes `State<{state}>`, but no `with_state` provides a `{state}`; add `.with_state(value)` to the `WsgiHandler` or `Router` that serves it"
        ))
    }

    /// The same error, naming the handler it was found in (the innermost
    /// name is kept).
    pub fn in_handler(mut self, handler: impl Into<Cow<'static, str>>) -> Self {
        if self.handler.is_none() {
            self.handler = Some(handler.into());
        }
        self
    }

    /// The handler that needs what is missing, when known.
    pub fn handler(&self) -> Option<&str> {
        self.handler.as_deref()
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.handler {
            Some(handler) => write!(f, "handler `{handler}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for CheckError {}
