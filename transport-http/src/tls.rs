//! The rustls client configuration: the ring provider and the webpki root set plus
//! any extra CA certificates (ALPN `h2`, `http/1.1` is added by hyper-rustls).
//!
//! The provider is passed explicitly rather than taken from the process default, so
//! this crate works whatever other crates of the process install.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::error::TransportBuildError;

/// Builds the client configuration.
///
/// `extra_pem` entries may each hold several certificates; `extra_der` entries hold
/// one each. Indexes in errors count PEM entries first, then DER entries.
pub(crate) fn client_config(
    extra_pem: &[Vec<u8>],
    extra_der: &[Vec<u8>],
) -> Result<ClientConfig, TransportBuildError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for (index, pem) in extra_pem.iter().enumerate() {
        let mut found = 0usize;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| TransportBuildError::InvalidRootCertificate {
                index,
                reason: format!("unreadable PEM: {e}"),
            })?;
            add_root(&mut roots, cert, index)?;
            found += 1;
        }
        if found == 0 {
            return Err(TransportBuildError::InvalidRootCertificate {
                index,
                reason: "no CERTIFICATE section in the PEM text".into(),
            });
        }
    }
    for (offset, der) in extra_der.iter().enumerate() {
        let cert = CertificateDer::from(der.clone());
        add_root(&mut roots, cert, extra_pem.len() + offset)?;
    }

    // ALPN stays empty here: hyper-rustls's `enable_all_versions` sets `h2`, `http/1.1`
    // and refuses a configuration that already has a list.
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(TransportBuildError::Tls)
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
}

fn add_root(
    roots: &mut RootCertStore,
    cert: CertificateDer<'static>,
    index: usize,
) -> Result<(), TransportBuildError> {
    roots
        .add(cert)
        .map_err(|e| TransportBuildError::InvalidRootCertificate {
            index,
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_text_without_a_certificate_is_refused() {
        let err = client_config(&[b"not a certificate".to_vec()], &[]).unwrap_err();
        assert!(matches!(
            err,
            TransportBuildError::InvalidRootCertificate { index: 0, .. }
        ));
    }

    #[test]
    fn the_configuration_leaves_alpn_to_hyper_rustls() {
        let config = client_config(&[], &[]).unwrap();
        assert!(config.alpn_protocols.is_empty());
    }
}
