//! `Json<T>`: a JSON request body in, a JSON response out.

use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{media_type, unsupported_media_type, FromEnviron, Rejection};
use crate::environ::Environ;
use crate::error::{Error, HttpError};
use crate::response::{IntoResponse, WsgiResponse};

/// A JSON document: as an argument, the request body deserialized into
/// `T`; as a return value, `T` serialized as an `application/json`
/// response.
///
/// As an extractor it requires a `Content-Type` of `application/json` (or
/// `application/…+json`), else 415; invalid JSON is a 400, JSON that does
/// not fit `T` a 422 naming the field (`items[2].price: invalid type: …`),
/// a body over the `stream_buffer` limit a 413.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use wsgi_core::{wsgi_handler, Json};
///
/// #[derive(Deserialize)]
/// struct NewItem {
///     name: String,
/// }
///
/// #[derive(Serialize)]
/// struct Item {
///     id: u64,
///     name: String,
/// }
///
/// #[wsgi_handler]
/// async fn create(Json(new): Json<NewItem>) -> (http::StatusCode, Json<Item>) {
///     (http::StatusCode::CREATED, Json(Item { id: 1, name: new.name }))
/// }
/// # let _ = Create;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromEnviron for Json<T> {
    type Rejection = Rejection;
    const READS_BODY: bool = true;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Rejection> {
        let media_type = media_type(environ);
        if !media_type.as_deref().is_some_and(is_json) {
            return Err(unsupported_media_type(
                "application/json",
                media_type.as_deref(),
            ));
        }
        let body = environ.input().read_all().await?;
        parse(&body).map(Json)
    }
}

/// `application/json` and the `+json` structured syntax suffix (RFC 6839).
fn is_json(media_type: &str) -> bool {
    media_type == "application/json"
        || media_type
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}

/// Deserializes `body`: 400 for JSON that does not parse, 422 for JSON
/// that does not fit `T`, naming where.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Rejection> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.classify() != serde_json::error::Category::Data {
            return not_json(&inner);
        }
        HttpError::new(StatusCode::UNPROCESSABLE_ENTITY).with_message(if path == "." {
            format!("the JSON body does not fit: {inner}")
        } else {
            format!("the JSON body does not fit at `{path}`: {inner}")
        })
    })?;
    // Trailing characters after the document.
    deserializer.end().map_err(|e| not_json(&e))?;
    Ok(value)
}

fn not_json(error: &serde_json::Error) -> Rejection {
    HttpError::bad_request(format!("the request body is not valid JSON: {error}"))
}

/// `200 OK` with `T` as `application/json`. A `T` that cannot be
/// serialized (a map with non-string keys, say) is a 500.
impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Result<WsgiResponse, Error> {
        let bytes = serde_json::to_vec(&self.0).map_err(|e| {
            Error::msg(format!("the response could not be serialized as JSON: {e}"))
        })?;
        Ok(WsgiResponse::json(bytes))
    }
}
