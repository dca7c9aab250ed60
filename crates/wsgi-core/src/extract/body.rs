//! The whole request body as bytes or text.

use bytes::Bytes;

use super::{FromEnviron, Rejection};
use crate::environ::Environ;
use crate::error::HttpError;

/// The whole request body (`wsgi.input` read to its end), within the
/// `max_request_body` limit (413 beyond it).
impl FromEnviron for Bytes {
    type Rejection = Rejection;
    const READS_BODY: bool = true;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Rejection> {
        Ok(environ.input().read_all().await?)
    }
}

/// The whole request body as UTF-8 text; 400 when it is not UTF-8.
impl FromEnviron for String {
    type Rejection = Rejection;
    const READS_BODY: bool = true;

    async fn from_environ(environ: &mut Environ) -> Result<Self, Rejection> {
        let bytes = environ.input().read_all().await?;
        String::from_utf8(bytes.into()).map_err(|e| {
            HttpError::bad_request(format!(
                "the request body is not UTF-8 text (invalid byte at offset {}); send UTF-8",
                e.utf8_error().valid_up_to()
            ))
        })
    }
}
