//! `Form<T>`: an HTML form, deserialized.

use http::{Method, StatusCode};
use serde::de::DeserializeOwned;

use super::query::from_urlencoded;
use super::{media_type, unsupported_media_type, FromEnviron, Rejection};
use crate::environ::Environ;
use crate::error::HttpError;

/// A submitted form deserialized into `T`: for `GET` and `HEAD` the query
/// string, otherwise the body, `application/x-www-form-urlencoded` or
/// `multipart/form-data` (its text fields; a file part is measured, not
/// kept: use [`Multipart`](crate::form::Multipart) to read files).
///
/// Another content type is a 415; a form that does not fit `T` (a missing
/// field, a value that does not parse) a 422 naming the field; a body over
/// the `max_request_body` limit a 413.
///
/// ```
/// use serde::Deserialize;
/// use wsgi_core::extract::Form;
/// use wsgi_core::{wsgi_handler, Html};
///
/// #[derive(Deserialize)]
/// struct SignupForm {
///     email: String,
///     age: u8,
/// }
///
/// #[wsgi_handler]
/// async fn signup(Form(form): Form<SignupForm>) -> Html<String> {
///     Html(format!("<p>Welcome, {} ({})</p>", form.email, form.age))
/// }
/// # let _ = Signup;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Form<T>(pub T);

const URLENCODED: &str = "application/x-www-form-urlencoded";

impl<T: DeserializeOwned + Send + 'static> FromEnviron for Form<T> {
    type Rejection = Rejection;
    const READS_BODY: bool = true;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Rejection> {
        let method = environ.method();
        if method == Method::GET || method == Method::HEAD {
            return from_urlencoded(environ.query_string().as_bytes())
                .map(Form)
                .map_err(does_not_fit);
        }
        let multipart = match media_type(environ) {
            Some(m) if m.eq_ignore_ascii_case(URLENCODED) => false,
            Some(m) if m.eq_ignore_ascii_case("multipart/form-data") => true,
            other => return Err(unsupported_media_type(URLENCODED, other)),
        };
        if !multipart {
            let body = environ.input().read_all().await?;
            return from_urlencoded(&body).map(Form).map_err(does_not_fit);
        }
        let form = crate::form::Form::parse(environ).await?;
        let mut encoded = form_urlencoded::Serializer::new(String::new());
        encoded.extend_pairs(form.fields());
        from_urlencoded(encoded.finish().as_bytes())
            .map(Form)
            .map_err(does_not_fit)
    }
}

fn does_not_fit(message: String) -> Rejection {
    HttpError::new(StatusCode::UNPROCESSABLE_ENTITY)
        .with_message(format!("the form does not fit: {message}"))
}
