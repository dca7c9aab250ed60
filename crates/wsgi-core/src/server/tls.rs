//! TLS with rustls (the `tls` cargo feature, on by default): the
//! certificate chain and private key come from PEM files (`certfile`,
//! `keyfile`); ALPN offers `h2` and `http/1.1`. Requests over TLS see
//! `wsgi.url_scheme = "https"` and `HTTPS = "on"`. The handshake must
//! finish within `header_read_timeout`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why the TLS certificate or key could not be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    Pem {
        /// The file (`certfile` or `keyfile`).
        path: PathBuf,
        /// What was expected in it.
        expected: &'static str,
        /// The parser's error.
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    NoCertificate {
        /// The `certfile`.
        path: PathBuf,
    },
    /// rustls refused the pair (the key does not match the certificate,
    /// an unsupported key type, ...).
    Rustls(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Pem {
                path,
                expected,
                source,
            } => write!(
                f,
                "cannot read {expected} from `{}`: {source} (check --certfile/--keyfile: PEM files)",
                path.display()
            ),
            TlsError::NoCertificate { path } => write!(
                f,
                "`{}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`); check --certfile",
                path.display()
            ),
            TlsError::Rustls(e) => write!(
                f,
                "the TLS certificate and key cannot be used together: {e} (check that --keyfile is the key of --certfile)"
            ),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Pem { source, .. } => Some(source),
            TlsError::NoCertificate { .. } => None,
            TlsError::Rustls(e) => Some(e),
        }
    }
}

/// The acceptor for `certfile` and `keyfile`.
pub(crate) fn acceptor(certfile: &Path, keyfile: &Path) -> Result<Acceptor, TlsError> {
    let pem = |expected| {
        move |source| TlsError::Pem {
            path: if expected == "a private key" {
                keyfile.to_owned()
            } else {
                certfile.to_owned()
            },
            expected,
            source,
        }
    };
    let certs = CertificateDer::pem_file_iter(certfile)
        .map_err(pem("certificates"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem("certificates"))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: certfile.to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(keyfile).map_err(pem("a private key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(TlsError::Rustls)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Acceptor(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
}

/// A TLS acceptor; cheap to clone.
#[derive(Clone)]
pub(crate) struct Acceptor(pub(crate) tokio_rustls::TlsAcceptor);

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Acceptor")
    }
}
