//! Test certificates: a self-signed CA and a server certificate for `localhost` and
//! `127.0.0.1` signed by it, made with rcgen.
//!
//! Trust the CA in a client (`ca_pem()` → `HttpTransportConfig::extra_root_certs_pem`)
//! and serve `server_config()` from a receiver; a client that does not trust the CA
//! fails the handshake, as with any unknown issuer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// A CA and a server certificate it signed, both fresh for each `generate()`.
#[derive(Debug, Clone)]
pub struct TestCerts {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_pem: String,
    server_key_pem: String,
    /// PKCS#8 DER; kept as bytes because `PrivateKeyDer` is not `Clone`.
    server_key_der: Vec<u8>,
}

impl TestCerts {
    /// Generates a CA ("Herald Test CA") and a server certificate whose subject
    /// alternative names are `localhost` and `127.0.0.1`.
    ///
    /// # Panics
    /// If rcgen fails to generate a key or sign, which it does not for these inputs.
    pub fn generate() -> Self {
        let ca_key = KeyPair::generate().expect("rcgen generates P-256 keys");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Herald Test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let mut server_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        server_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

        Self {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().clone(),
            server_der: server_cert.der().clone(),
            server_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            server_key_der: server_key.serialize_der(),
        }
    }

    /// The CA certificate as PEM text, for a client's extra trusted roots.
    pub fn ca_pem(&self) -> Vec<u8> {
        self.ca_pem.clone().into_bytes()
    }

    /// The CA certificate in DER form.
    pub fn ca_der(&self) -> Vec<u8> {
        self.ca_der.to_vec()
    }

    /// The server's certificate chain (leaf only; the CA is what clients trust).
    pub fn server_chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.server_der.clone()]
    }

    /// The server's private key.
    pub fn server_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()))
    }

    /// Writes the server's certificate and key as PEM files `cert.pem` and `key.pem`
    /// in `dir` (what `heraldd`'s `tls_cert` and `tls_key` name); returns their paths.
    ///
    /// # Panics
    /// If a file cannot be written.
    pub fn write_server_pem(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, &self.server_pem).unwrap();
        std::fs::write(&key, &self.server_key_pem).unwrap();
        (cert, key)
    }

    /// A rustls client configuration on the ring provider that trusts the CA alone,
    /// offering ALPN `http/1.1`.
    ///
    /// # Panics
    /// If rustls refuses the CA or its protocol versions, which it does not for these.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// A rustls server configuration on the ring provider offering ALPN `h2` then
    /// `http/1.1`, ready for `ReceiverBuilder::tls`.
    ///
    /// # Panics
    /// If rustls refuses the key or protocol versions, which it does not for these.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(self.server_chain(), self.server_key())
                .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}
