//! The TLS acceptor the workers share, or its absence: without the `tls`
//! feature, `certfile` and `keyfile` are a start-up error.

use crate::config::Config;
#[cfg(not(feature = "tls"))]
use crate::config::ConfigError;

use super::error::ServerError;
#[cfg(feature = "tls")]
use super::tls;

#[cfg(feature = "tls")]
pub(super) type Tls = tls::Acceptor;

/// Without the `tls` feature there is no acceptor.
#[cfg(not(feature = "tls"))]
#[derive(Debug, Clone)]
pub(super) enum Tls {}

/// The TLS acceptor when `certfile` and `keyfile` are set.
pub(super) fn tls_acceptor(config: &Config) -> Result<Option<Tls>, ServerError> {
    let Some(crate::config::TlsFiles {
        certfile, keyfile, ..
    }) = &config.tls
    else {
        return Ok(None);
    };
    #[cfg(feature = "tls")]
    {
        tls::acceptor(certfile, keyfile)
            .map(Some)
            .map_err(ServerError::Tls)
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = (certfile, keyfile);
        Err(ServerError::Config(ConfigError::Invalid {
            setting: "certfile",
            message: "this build has no TLS support: enable wsgi-core's `tls` feature".into(),
        }))
    }
}
