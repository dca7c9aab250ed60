//! `Query<T>`: the query string, deserialized.

use serde::de::DeserializeOwned;

use super::{FromEnviron, Rejection};
use crate::environ::Environ;
use crate::error::HttpError;

/// The query string (`QUERY_STRING`), URL-decoded into `T`: a struct whose
/// fields are the parameters (`Option` for those that may be missing), a
/// map, or a list of pairs. A missing or malformed parameter is a 400
/// naming it.
///
/// ```
/// use serde::Deserialize;
/// use wsgi_core::extract::Query;
/// use wsgi_core::wsgi_handler;
///
/// #[derive(Deserialize)]
/// struct SearchParams {
///     q: String,
///     page: Option<u32>,
/// }
///
/// #[wsgi_handler]
/// fn search(Query(search): Query<SearchParams>) -> String {
///     format!("{} (page {})", search.q, search.page.unwrap_or(1))
/// }
/// # let _ = Search;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromEnviron for Query<T> {
    type Rejection = Rejection;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Rejection> {
        from_urlencoded(environ.query_string().as_bytes())
            .map(Query)
            .map_err(|message| HttpError::bad_request(format!("invalid query string: {message}")))
    }
}

/// Deserializes `a=1&b=2` into `T`; the error names the field.
pub(crate) fn from_urlencoded<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path == "." {
            inner.to_string()
        } else {
            format!("`{path}`: {inner}")
        }
    })
}
