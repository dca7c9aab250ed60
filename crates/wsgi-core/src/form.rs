//! Request forms: query string, URL-encoded and multipart bodies, JSON.
//!
//! [`Form::parse`] reads what a handler usually wants from a request:
//!
//! - the query string's `args`, always (repeated keys kept, in order);
//! - for `application/x-www-form-urlencoded`, the body's fields;
//! - for `application/json` (and `…+json`), the body as a
//!   [`serde_json::Value`]; invalid JSON is `400 Bad Request` saying where;
//! - for `multipart/form-data`, the text fields, and for each file part its
//!   name, file name, content type and size. Files are *streamed through*
//!   (measured, never held in memory); to process their bytes, use
//!   [`Multipart`] instead, which hands out each part as it arrives.
//!
//! `GET`, `HEAD`, `DELETE` and `OPTIONS` requests never have their body
//! read. The body's size is bounded by `wsgi.input`'s limit (the server's
//! `max_request_body`, answered `413` past it); the number of fields and the
//! size of each text field by [`FormLimits`]. Every failure is an
//! [`HttpError`] (400 or 413) whose message tells the client what to fix.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), wsgi_core::HttpError> {
//! use wsgi_core::form::Form;
//! use wsgi_core::{Environ, Input};
//!
//! let request = http::Request::post("/submit?page=2&tag=a&tag=b")
//!     .header("Content-Type", "application/x-www-form-urlencoded")
//!     .body(())
//!     .unwrap();
//! let mut environ = Environ::from_request(request);
//! environ.set_input(Input::from_bytes("name=Ada+Lovelace&lang=en&lang=fr"));
//! let form = Form::parse(&mut environ).await?;
//! assert_eq!(form.arg("page"), Some("2"));
//! assert_eq!(form.args_all("tag").collect::<Vec<_>>(), ["a", "b"]);
//! assert_eq!(form.get("name"), Some("Ada Lovelace"));
//! assert_eq!(form.get_all("lang").collect::<Vec<_>>(), ["en", "fr"]);
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "multipart")]
use std::fmt;

use bytes::Bytes;
#[cfg(feature = "multipart")]
use bytes::BytesMut;
use http::{Method, StatusCode};

use crate::environ::Environ;
use crate::error::HttpError;
#[cfg(feature = "multipart")]
use crate::input::InputError;

/// Limits on what a form may hold; the body's total size is bounded by
/// `wsgi.input`'s own limit (`max_request_body`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormLimits {
    /// The most fields (URL-encoded pairs, or multipart parts) accepted.
    pub max_fields: usize,
    /// The largest text field (a multipart part without a file name)
    /// kept in memory, in bytes.
    pub max_field_size: u64,
}

impl Default for FormLimits {
    fn default() -> Self {
        FormLimits {
            max_fields: 1000,
            max_field_size: 1024 * 1024,
        }
    }
}

/// A file part of a multipart form, as [`Form::parse`] saw it stream by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The form field's name.
    pub name: String,
    /// The file name the client gave.
    pub file_name: String,
    /// The part's content type, if given.
    pub content_type: Option<String>,
    /// The file's size in bytes.
    pub size: u64,
}

/// What the body held. See the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Form {
    args: Vec<(String, String)>,
    fields: Vec<(String, String)>,
    files: Vec<FileInfo>,
    #[cfg(feature = "json")]
    json: Option<serde_json::Value>,
}

impl Form {
    /// Parses the query string and, by its content type, the body; with
    /// the default [`FormLimits`].
    pub async fn parse(environ: &mut Environ) -> Result<Form, HttpError> {
        Form::parse_with(environ, FormLimits::default()).await
    }

    /// [`parse`](Self::parse) with explicit limits.
    pub async fn parse_with(environ: &mut Environ, limits: FormLimits) -> Result<Form, HttpError> {
        let mut form = Form {
            args: parse_urlencoded(environ.query_string().as_bytes(), limits.max_fields)?,
            ..Form::default()
        };
        if !has_body(environ.method()) {
            return Ok(form);
        }
        match body_kind(environ) {
            BodyKind::UrlEncoded => {
                let body = read_body(environ).await?;
                form.fields = parse_urlencoded(&body, limits.max_fields)?;
            }
            #[cfg(feature = "json")]
            BodyKind::Json => form.json = json(environ).await?,
            #[cfg(not(feature = "json"))]
            BodyKind::Json => return Err(not_built("a JSON", "json")),
            #[cfg(not(feature = "multipart"))]
            BodyKind::Multipart => return Err(not_built("a multipart", "multipart")),
            #[cfg(feature = "multipart")]
            BodyKind::Multipart => {
                let mut multipart = Multipart::from_environ(environ, limits)?;
                while let Some(mut field) = multipart.next_field().await? {
                    let name = field.name().unwrap_or_default().to_owned();
                    match field.file_name().map(str::to_owned) {
                        Some(file_name) => {
                            let content_type = field.content_type().map(str::to_owned);
                            let mut size = 0;
                            while let Some(chunk) = field.chunk().await? {
                                size += chunk.len() as u64;
                            }
                            form.files.push(FileInfo {
                                name,
                                file_name,
                                content_type,
                                size,
                            });
                        }
                        None => {
                            let value = field.text(limits.max_field_size).await?;
                            form.fields.push((name, value));
                        }
                    }
                }
            }
            BodyKind::Other => {}
        }
        Ok(form)
    }

    /// The first query-string value of `name`.
    pub fn arg(&self, name: &str) -> Option<&str> {
        first(&self.args, name)
    }

    /// Every query-string value of `name`, in order.
    pub fn args_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        all(&self.args, name)
    }

    /// The query string's pairs, in order.
    pub fn args(&self) -> &[(String, String)] {
        &self.args
    }

    /// The first body field named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        first(&self.fields, name)
    }

    /// Every body field named `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        all(&self.fields, name)
    }

    /// The body's fields (URL-encoded pairs or multipart text parts).
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The multipart file parts seen.
    pub fn files(&self) -> &[FileInfo] {
        &self.files
    }

    /// The JSON body, if the request had one.
    #[cfg(feature = "json")]
    pub fn json(&self) -> Option<&serde_json::Value> {
        self.json.as_ref()
    }
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn all<'a>(pairs: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    pairs
        .iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether a request with `method` has its body read as a form.
fn has_body(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
    )
}

enum BodyKind {
    UrlEncoded,
    Json,
    Multipart,
    Other,
}

fn body_kind(environ: &Environ) -> BodyKind {
    let Some(content_type) = environ.content_type() else {
        return BodyKind::Other;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => BodyKind::UrlEncoded,
        "multipart/form-data" => BodyKind::Multipart,
        "application/json" => BodyKind::Json,
        other if other.starts_with("application/") && other.ends_with("+json") => BodyKind::Json,
        _ => BodyKind::Other,
    }
}

/// `415` for a body this build cannot read: the crate was built without
/// `feature`.
#[cfg(not(all(feature = "json", feature = "multipart")))]
fn not_built(kind: &str, feature: &str) -> HttpError {
    HttpError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE).with_message(format!(
        "This server does not read {kind} request body (wsgi-core's `{feature}` feature is off); send application/x-www-form-urlencoded instead."
    ))
}

async fn read_body(environ: &mut Environ) -> Result<Bytes, HttpError> {
    environ.input().read_all().await.map_err(HttpError::from)
}

/// Parses `a=1&b=2&a=3` (`+` as space, percent-decoded, lossy UTF-8),
/// keeping repeated keys in order.
fn parse_urlencoded(bytes: &[u8], max_fields: usize) -> Result<Vec<(String, String)>, HttpError> {
    let decode = |part: &[u8]| {
        let spaced: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        let decoded: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
        String::from_utf8_lossy(&decoded).into_owned()
    };
    let mut pairs = Vec::new();
    for pair in bytes.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        if pairs.len() == max_fields {
            return Err(too_many_fields(max_fields));
        }
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &b""[..]),
        };
        pairs.push((decode(key), decode(value)));
    }
    Ok(pairs)
}

fn too_many_fields(max: usize) -> HttpError {
    HttpError::new(StatusCode::PAYLOAD_TOO_LARGE)
        .with_message(format!("The form has more than {max} fields; send fewer."))
}

/// The JSON body: `None` when the body is empty, `400` naming the line and
/// column when it is not valid JSON. The body is read whatever the content
/// type, so call this only for requests meant to carry JSON.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use wsgi_core::{form, Environ, Input};
///
/// let mut environ = Environ::from_request(http::Request::post("/").body(()).unwrap());
/// environ.set_input(Input::from_bytes(r#"{"a": [1, 2]}"#));
/// let value = form::json(&mut environ).await.unwrap().unwrap();
/// assert_eq!(value["a"][1], 2);
///
/// environ.set_input(Input::from_bytes("{oops"));
/// let error = form::json(&mut environ).await.unwrap_err();
/// assert_eq!(error.status(), 400);
/// # }
/// ```
#[cfg(feature = "json")]
pub async fn json(environ: &mut Environ) -> Result<Option<serde_json::Value>, HttpError> {
    let body = read_body(environ).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&body).map(Some).map_err(|e| {
        HttpError::bad_request(format!(
            "The request body is not valid JSON ({e}); send a JSON document or change the Content-Type."
        ))
    })
}

/// A `multipart/form-data` body read part by part as it arrives: nothing
/// is buffered beyond the part being read.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), wsgi_core::HttpError> {
/// use wsgi_core::form::{FormLimits, Multipart};
/// use wsgi_core::{Environ, Input};
///
/// let body = "--X\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nhello\r\n--X--\r\n";
/// let request = http::Request::post("/upload")
///     .header("Content-Type", "multipart/form-data; boundary=X")
///     .body(())
///     .unwrap();
/// let mut environ = Environ::from_request(request);
/// environ.set_input(Input::from_bytes(body));
/// let mut multipart = Multipart::from_environ(&mut environ, FormLimits::default())?;
/// while let Some(mut field) = multipart.next_field().await? {
///     assert_eq!(field.file_name(), Some("a.txt"));
///     let mut size = 0;
///     while let Some(chunk) = field.chunk().await? {
///         size += chunk.len(); // write it somewhere instead of keeping it
///     }
///     assert_eq!(size, 5);
/// }
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "multipart")]
pub struct Multipart {
    inner: multer::Multipart<'static>,
    limits: FormLimits,
    fields: usize,
}

#[cfg(feature = "multipart")]
impl Multipart {
    /// Takes `wsgi.input` from the environ to read it as multipart. A
    /// content type that is not `multipart/form-data` or lacks a
    /// `boundary` is `400 Bad Request`.
    pub fn from_environ(environ: &mut Environ, limits: FormLimits) -> Result<Self, HttpError> {
        let content_type = environ
            .content_type()
            .map(|c| c.into_owned())
            .unwrap_or_default();
        let boundary = multer::parse_boundary(&content_type).map_err(|_| {
            HttpError::bad_request(format!(
                "Content-Type `{content_type}` is not `multipart/form-data; boundary=…`; send the boundary that separates the parts."
            ))
        })?;
        Ok(Multipart {
            inner: multer::Multipart::new(environ.take_input(), boundary),
            limits,
            fields: 0,
        })
    }

    /// The next part, or `None` after the last one.
    pub async fn next_field(&mut self) -> Result<Option<Field>, HttpError> {
        let field = self.inner.next_field().await.map_err(multipart_error)?;
        if field.is_some() {
            self.fields += 1;
            if self.fields > self.limits.max_fields {
                return Err(too_many_fields(self.limits.max_fields));
            }
        }
        Ok(field.map(|inner| Field { inner }))
    }
}

#[cfg(feature = "multipart")]
impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multipart")
            .field("limits", &self.limits)
            .field("fields", &self.fields)
            .finish()
    }
}

/// One part of a [`Multipart`] body.
#[cfg(feature = "multipart")]
pub struct Field {
    inner: multer::Field<'static>,
}

#[cfg(feature = "multipart")]
impl Field {
    /// The form field's name (`Content-Disposition: form-data; name=…`).
    pub fn name(&self) -> Option<&str> {
        self.inner.name()
    }

    /// The file name, for a file part.
    pub fn file_name(&self) -> Option<&str> {
        self.inner.file_name()
    }

    /// The part's `Content-Type`, if given.
    pub fn content_type(&self) -> Option<&str> {
        self.inner.content_type().map(|m| m.essence_str())
    }

    /// The next chunk of the part's bytes, as it arrives.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, HttpError> {
        self.inner.chunk().await.map_err(multipart_error)
    }

    /// The whole part as text (lossy UTF-8), refusing parts over `limit`
    /// bytes with `413`.
    pub async fn text(mut self, limit: u64) -> Result<String, HttpError> {
        let mut text = BytesMut::new();
        while let Some(chunk) = self.chunk().await? {
            if (text.len() + chunk.len()) as u64 > limit {
                return Err(HttpError::new(StatusCode::PAYLOAD_TOO_LARGE).with_message(format!(
                    "Form field `{}` is larger than {limit} bytes; send it as a file or make it shorter.",
                    self.name().unwrap_or_default()
                )));
            }
            text.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&text).into_owned())
    }
}

#[cfg(feature = "multipart")]
impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Field")
            .field("name", &self.name())
            .field("file_name", &self.file_name())
            .field("content_type", &self.content_type())
            .finish()
    }
}

#[cfg(feature = "multipart")]
fn multipart_error(error: multer::Error) -> HttpError {
    if let multer::Error::StreamReadFailed(cause) = &error {
        if let Some(InputError::TooLarge { limit }) = cause.downcast_ref::<InputError>() {
            return HttpError::from(InputError::TooLarge { limit: *limit });
        }
    }
    HttpError::bad_request(format!(
        "The multipart/form-data body is malformed ({error}); check the boundary and each part's headers."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_keeps_repeats_and_decodes() {
        let pairs = parse_urlencoded(b"a=1&b=x+y%21&a=2&flag&&", 10).unwrap();
        assert_eq!(
            pairs,
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "x y!".to_owned()),
                ("a".to_owned(), "2".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
        let error = parse_urlencoded(b"a=1&b=2&c=3", 2).unwrap_err();
        assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
