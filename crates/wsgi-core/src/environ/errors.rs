//! `wsgi.errors`: the application's error stream, logged through `tracing`.

use std::fmt;

/// `wsgi.errors`: text written here is logged through `tracing` at error
/// level, target `wsgi.errors`.
#[derive(Debug, Clone, Copy)]
pub struct Errors {
    pub(super) _priv: (),
}

impl Errors {
    /// Logs one message.
    pub fn write(&self, message: &str) {
        let message = message.trim_end_matches('\n');
        if !message.is_empty() {
            tracing::error!(target: "wsgi.errors", "{message}");
        }
    }
}

impl fmt::Write for Errors {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Errors::write(self, s);
        Ok(())
    }
}
