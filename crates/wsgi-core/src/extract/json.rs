//! `Json<T>`: a JSON request body in, a JSON response out.

use bytes::{BufMut, BytesMut};
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
/// a body over the `max_request_body` limit a 413.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use wsgi_core::wsgi_handler;
/// use wsgi_core::extract::Json;
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
        if !media_type.is_some_and(is_json) {
            return Err(unsupported_media_type("application/json", media_type));
        }
        let body = environ.input().read_all().await?;
        parse(&body).map(Json)
    }
}

/// `application/json` and the `+json` structured syntax suffix (RFC 6839).
fn is_json(media_type: &str) -> bool {
    const TYPE: &[u8] = b"application/";
    const SUFFIX: &[u8] = b"+json";
    let bytes = media_type.as_bytes();
    media_type.eq_ignore_ascii_case("application/json")
        || (bytes.len() > TYPE.len() + SUFFIX.len()
            && bytes[..TYPE.len()].eq_ignore_ascii_case(TYPE)
            && bytes[bytes.len() - SUFFIX.len()..].eq_ignore_ascii_case(SUFFIX))
}

/// Deserializes `body`: 400 for JSON that does not parse, 422 for JSON
/// that does not fit `T`, naming where.
///
/// A body that fits is read by serde_json alone; only one that does not is
/// read again with `serde_path_to_error`, for where it stopped fitting
/// (deserializing is deterministic, so the second reading fails the same
/// way). Tracking the path on every request costs about as much again as
/// the parsing itself.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Rejection> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    if let Ok(value) = T::deserialize(&mut deserializer) {
        if deserializer.end().is_ok() {
            return Ok(value);
        }
    }
    parse_tracked(body)
}

/// [`parse`] naming where the body stopped fitting.
#[cold]
#[inline(never)]
fn parse_tracked<T: DeserializeOwned>(body: &[u8]) -> Result<T, Rejection> {
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
        // Room for a small document up front, instead of growing from 8
        // bytes through several reallocations; `BytesMut` becomes `Bytes`
        // without the extra allocation a `Vec` with spare room would cost.
        let mut bytes = BytesMut::with_capacity(128).writer();
        serde_json::to_writer(&mut bytes, &self.0).map_err(|e| {
            Error::msg(format!("the response could not be serialized as JSON: {e}"))
        })?;
        Ok(WsgiResponse::json(bytes.into_inner().freeze()))
    }
}
