//! The TLS connector for PostgreSQL: rustls on the ring provider (passed
//! explicitly, whatever provider other crates of the process install), trusting
//! the webpki roots plus any CA certificates given (a managed database's private
//! CA). Whether TLS is used is the URL's `sslmode` (`disable`, `prefer` — the
//! default —, `require`).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::ConnectError;

/// The connector, trusting the webpki roots and every certificate of `extra_pem`
/// (each entry may hold several).
pub(crate) fn connector(extra_pem: &[String]) -> Result<MakeRustlsConnect, ConnectError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for (index, pem) in extra_pem.iter().enumerate() {
        let mut found = 0usize;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| ConnectError::InvalidRootCertificate {
                index,
                reason: format!("unreadable PEM: {e}"),
            })?;
            roots
                .add(cert)
                .map_err(|e| ConnectError::InvalidRootCertificate {
                    index,
                    reason: e.to_string(),
                })?;
            found += 1;
        }
        if found == 0 {
            return Err(ConnectError::InvalidRootCertificate {
                index,
                reason: "no CERTIFICATE section in the PEM text".into(),
            });
        }
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(ConnectError::Tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_text_without_a_certificate_is_refused() {
        let refused = connector(&["not a certificate".into()]);
        assert!(matches!(
            refused,
            Err(ConnectError::InvalidRootCertificate { index: 0, .. })
        ));
    }

    #[test]
    fn the_webpki_roots_alone_make_a_connector() {
        assert!(connector(&[]).is_ok());
    }
}
