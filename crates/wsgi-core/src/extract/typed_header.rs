//! `TypedHeader<H>`: one header, parsed by the `headers` crate.

use http::HeaderMap;

use super::{FromEnviron, Rejection};
use crate::environ::Environ;
use crate::error::{Error, HttpError};
use crate::response::{IntoResponseParts, WsgiResponse};

/// A header typed by the [`headers`] crate (`UserAgent`, `ContentType`,
/// `Authorization<Bearer>`, `IfNoneMatch`, ...). As an argument, a missing
/// or malformed header is a 400 naming it (take `Option<TypedHeader<H>>`
/// for an optional one); in a returned tuple, it is added to the response.
///
/// ```
/// use wsgi_core::extract::TypedHeader;
/// use wsgi_core::headers::UserAgent;
/// use wsgi_core::wsgi_handler;
///
/// #[wsgi_handler]
/// fn agent(TypedHeader(agent): TypedHeader<UserAgent>) -> String {
///     format!("you are {}", agent.as_str())
/// }
/// # let _ = Agent;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TypedHeader<H>(pub H);

impl<H: headers::Header + Send + 'static> FromEnviron for TypedHeader<H> {
    type Rejection = Rejection;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Rejection> {
        let name = H::name();
        let headers = environ.headers();
        if !headers.contains_key(name) {
            return Err(HttpError::bad_request(format!(
                "the `{name}` header is missing; send one"
            )));
        }
        H::decode(&mut headers.get_all(name).iter())
            .map(TypedHeader)
            .map_err(|_| HttpError::bad_request(format!("the `{name}` header is malformed")))
    }
}

/// Adds the header to the response.
impl<H: headers::Header> IntoResponseParts for TypedHeader<H> {
    fn into_response_parts(self, response: &mut WsgiResponse) -> Result<(), Error> {
        let mut values = Vec::new();
        self.0.encode(&mut values);
        let headers: &mut HeaderMap = response.headers_mut();
        for value in values {
            headers.append(H::name(), value);
        }
        Ok(())
    }
}
