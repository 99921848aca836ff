//! TLS for SIP (rustls): server configuration with optional mutual authentication, and the
//! peer-name check that webpki's client verifier does not do by itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: cannot read PEM: {why}")]
    Pem { path: PathBuf, why: String },
    #[error("{path}: no {what} found in the file")]
    Empty { path: PathBuf, what: &'static str },
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

fn pem_error(path: &Path) -> impl Fn(rustls::pki_types::pem::Error) -> TlsError + '_ {
    move |e| TlsError::Pem {
        path: path.to_owned(),
        why: e.to_string(),
    }
}

/// Reads every certificate of a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_error(path))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error(path))?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            path: path.to_owned(),
            what: "certificate",
        });
    }
    Ok(certs)
}

/// The server side: our chain and key, and the CA that signs client certificates.
pub fn server_config(
    certificate: &Path,
    private_key: &Path,
    ca: Option<&Path>,
    require_client_certificate: bool,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = load_certs(certificate)?;
    let key = PrivateKeyDer::from_pem_file(private_key).map_err(pem_error(private_key))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in load_certs(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| TlsError::Rustls(format!("{}: {e}", ca.display())))?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let verifier = if require_client_certificate {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| TlsError::Rustls(e.to_string()))?,
            )
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Rustls(format!("{}: {e}", certificate.display())))?;
    Ok(Arc::new(config))
}

/// The client side, for requests we originate over TLS (MWI NOTIFY to a Lync pool): the peers'
/// CA as roots, and our own certificate as the client identity (mutual TLS).
pub fn client_config(
    certificate: &Path,
    private_key: &Path,
    ca: &Path,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in load_certs(ca)? {
        roots
            .add(cert)
            .map_err(|e| TlsError::Rustls(format!("{}: {e}", ca.display())))?;
    }
    let chain = load_certs(certificate)?;
    let key = PrivateKeyDer::from_pem_file(private_key).map_err(pem_error(private_key))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| TlsError::Rustls(format!("{}: {e}", certificate.display())))?;
    Ok(Arc::new(config))
}

/// Whether a verified peer certificate carries one of the allowed DNS names. An empty list
/// allows any certificate the CA signed.
pub fn peer_name_allowed(cert: &CertificateDer<'_>, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Ok(end_entity) = webpki::EndEntityCert::try_from(cert) else {
        return false;
    };
    allowed.iter().any(|name| {
        ServerName::try_from(name.as_str())
            .map(|sn| end_entity.verify_is_valid_for_subject_name(&sn).is_ok())
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_check_uses_subject_alt_names() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["pool01.contoso.com".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = cert.der().clone();
        assert!(peer_name_allowed(&der, &[]));
        assert!(peer_name_allowed(&der, &["pool01.contoso.com".into()]));
        assert!(peer_name_allowed(
            &der,
            &["other.contoso.com".into(), "POOL01.contoso.com".into()]
        ));
        assert!(!peer_name_allowed(&der, &["pool02.contoso.com".into()]));
    }

    #[test]
    fn missing_files_name_the_path() {
        let err = server_config(
            Path::new("/nonexistent/cert.pem"),
            Path::new("/x"),
            None,
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/cert.pem"), "{err}");
    }
}
