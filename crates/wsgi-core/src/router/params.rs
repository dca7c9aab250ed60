//! The parameters of the matched rule.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::HttpError;

/// The parameters of the matched rule, in the environ's extensions.
///
/// The router records where each value lies in the matched path rather
/// than copying the values: a match costs one shared copy of the path,
/// whatever the number of parameters.
///
/// ```
/// use wsgi_core::router::RouteParams;
///
/// let params = RouteParams::from(vec![("id".to_owned(), "42".to_owned())]);
/// assert_eq!(params.get("id"), Some("42"));
/// assert_eq!(params.get_as::<u32>("id").unwrap(), 42);
/// assert!(params.get_as::<u32>("missing").is_err());
/// ```
#[derive(Clone)]
pub struct RouteParams {
    /// The decoded path the rule matched (or the values, concatenated).
    path: Arc<str>,
    /// The parameters' names, in rule order.
    names: Arc<[String]>,
    /// The byte range of each value in `path`, in the order of `names`.
    spans: Vec<(usize, usize)>,
    rule: Arc<str>,
}

impl RouteParams {
    /// The parameters of `rule` matched against `path`.
    pub(super) fn matched(
        path: Arc<str>,
        names: Arc<[String]>,
        spans: Vec<(usize, usize)>,
        rule: Arc<str>,
    ) -> Self {
        RouteParams {
            path,
            names,
            spans,
            rule,
        }
    }

    /// The value of parameter `name`, percent-decoded.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// The value of `name` parsed as `T`; a missing or unparsable value is
    /// a `404 Not Found` naming the parameter (the URL named no such
    /// resource).
    pub fn get_as<T: FromStr>(&self, name: &str) -> Result<T, HttpError> {
        let value = self.get(name).ok_or_else(|| {
            HttpError::not_found().with_message(format!("the route has no parameter `{name}`"))
        })?;
        value.parse().map_err(|_| {
            HttpError::not_found().with_message(format!(
                "`{value}` is not a valid value for parameter `{name}`"
            ))
        })
    }

    /// Every parameter, in rule order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.names
            .iter()
            .zip(&self.spans)
            .map(|(name, (start, end))| (name.as_str(), &self.path[*start..*end]))
    }

    /// How many parameters the rule has.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the rule has no parameters.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The rule that matched, as written (empty when built by hand).
    pub fn rule(&self) -> &str {
        &self.rule
    }
}

impl From<Vec<(String, String)>> for RouteParams {
    fn from(params: Vec<(String, String)>) -> Self {
        let mut path = String::new();
        let mut names = Vec::with_capacity(params.len());
        let mut spans = Vec::with_capacity(params.len());
        for (name, value) in params {
            let start = path.len();
            path.push_str(&value);
            spans.push((start, path.len()));
            names.push(name);
        }
        RouteParams {
            path: Arc::from(path),
            names: Arc::from(names),
            spans,
            rule: Arc::from(""),
        }
    }
}

impl Default for RouteParams {
    fn default() -> Self {
        RouteParams::from(Vec::new())
    }
}

/// Equal when the parameters (names and values, in order) and the rule
/// are, however the values are stored.
impl PartialEq for RouteParams {
    fn eq(&self, other: &Self) -> bool {
        self.rule == other.rule && self.iter().eq(other.iter())
    }
}

impl Eq for RouteParams {}

impl fmt::Debug for RouteParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteParams")
            .field("params", &self.iter().collect::<Vec<_>>())
            .field("rule", &self.rule)
            .finish()
    }
}
