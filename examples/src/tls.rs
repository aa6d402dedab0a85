//! HTTPS for the management API: the rustls server configuration (ring provider) from
//! PEM files. The serve loop (`serve`) runs each handshake in its connection's task,
//! bounded by `[api] tls_handshake_timeout` and `max_tls_handshakes`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Builds the acceptor from a PEM certificate chain and a PEM private key.
///
/// # Errors
/// When a file cannot be read or parsed, or rustls refuses the pair.
pub(crate) fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("tls_cert: cannot read {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("tls_key: cannot read {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("rustls refuses its default protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("tls_cert/tls_key: the certificate and key do not form a usable pair")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
