//! rustls client configuration: trust anchors (system + `ca_file`), optional SHA-256 pins,
//! the client certificate chain for mutual TLS, TLS 1.2 and 1.3 with the ring provider.

use std::path::Path;
use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use sha2::Digest;

use super::{TlsOptions, TransportError};

/// A ready client config plus a human description of what it trusts (for error messages).
#[derive(Debug, Clone)]
pub(crate) struct ClientTls {
    pub config: Arc<rustls::ClientConfig>,
    pub trust: String,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let data = std::fs::read(path).map_err(|source| TransportError::File {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TransportError::Pem {
            what,
            path: path.to_path_buf(),
            reason: format!("not valid PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TransportError::Pem {
            what,
            path: path.to_path_buf(),
            reason: "no CERTIFICATE block found".into(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TransportError> {
    let what = "client_key_file";
    let data = std::fs::read(path).map_err(|source| TransportError::File {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    // The pki-types error only describes the PEM structure, never the key bytes.
    PrivateKeyDer::from_pem_slice(&data).map_err(|e| TransportError::Pem {
        what,
        path: path.to_path_buf(),
        reason: format!("no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"),
    })
}

/// Parses `aa:bb:…` or `aabb…` (64 hex digits) into 32 bytes.
pub(crate) fn parse_pin(pin: &str) -> Result<[u8; 32], TransportError> {
    let clean: String = pin
        .trim()
        .trim_start_matches("sha256:")
        .chars()
        .filter(|c| *c != ':')
        .collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(&clean, &mut out).map_err(|_| {
        TransportError::Config(format!(
            "pin_sha256 {pin:?} is not a SHA-256 fingerprint (64 hex digits, ':' separators allowed)"
        ))
    })?;
    Ok(out)
}

/// Builds the client config for `opts`. Reads every file now, so a bad path fails at start.
pub(crate) fn client_tls(opts: &TlsOptions) -> Result<ClientTls, TransportError> {
    let provider = provider();
    let mut roots = rustls::RootCertStore::empty();
    let mut trust = Vec::new();
    if opts.use_system_roots {
        let found = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        trust.push(format!("{added} system CA certificates"));
    }
    if let Some(path) = &opts.ca_file {
        let certs = read_certs("ca_file", path)?;
        let n = certs.len();
        for c in certs {
            roots.add(c).map_err(|e| TransportError::Pem {
                what: "ca_file",
                path: path.clone(),
                reason: format!("unusable CA certificate: {e}"),
            })?;
        }
        trust.push(format!("ca_file {} ({n} certificates)", path.display()));
    }
    let pins = opts
        .pin_sha256
        .iter()
        .map(|p| parse_pin(p))
        .collect::<Result<Vec<_>, _>>()?;
    if !pins.is_empty() {
        trust.push(format!("{} pinned SHA-256 fingerprint(s)", pins.len()));
    }
    if roots.is_empty() && pins.is_empty() {
        return Err(TransportError::TlsSetup(
            "no trust anchors: the system CA store is empty or disabled and no ca_file or pin_sha256 is set"
                .into(),
        ));
    }
    let chain_verifier = if roots.is_empty() {
        None
    } else {
        Some(
            rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| TransportError::TlsSetup(format!("verifier: {e}")))?,
        )
    };
    let verifier = Arc::new(PinningVerifier {
        chain: chain_verifier,
        pins,
        algorithms: provider.signature_verification_algorithms,
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TransportError::TlsSetup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&opts.client_cert_file, &opts.client_key_file) {
        (Some(cert), Some(key)) => {
            let chain = read_certs("client_cert_file", cert)?;
            let key_der = read_key(key)?;
            trust.push(format!(
                "client certificate {} ({} in chain)",
                cert.display(),
                chain.len()
            ));
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| TransportError::Pem {
                    what: "client_key_file",
                    path: key.clone(),
                    reason: format!("does not match client_cert_file or is unsupported: {e}"),
                })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(ClientTls {
        config: Arc::new(config),
        trust: trust.join(" + "),
    })
}

/// Chain + name verification (webpki) when anchors exist, and the pin check when pins exist.
/// Both must pass; neither is ever skipped silently.
#[derive(Debug)]
struct PinningVerifier {
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    pins: Vec<[u8; 32]>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.pins.is_empty() {
            let got: [u8; 32] = sha2::Sha256::digest(end_entity.as_ref()).into();
            if !self.pins.contains(&got) {
                return Err(rustls::Error::General(format!(
                    "certificate SHA-256 fingerprint {} matches no pin_sha256",
                    hex::encode(got)
                )));
            }
        }
        match &self.chain {
            Some(v) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now),
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The name to verify: `server_name` if set, else the address's host (DNS name or IP).
pub(crate) fn server_name(
    opts: &TlsOptions,
    host: &str,
) -> Result<ServerName<'static>, TransportError> {
    let name = opts.server_name.as_deref().unwrap_or(host);
    ServerName::try_from(name.to_string()).map_err(|_| {
        TransportError::Config(format!(
            "server name {name:?} is not a valid DNS name or IP address"
        ))
    })
}

/// Explains a rustls handshake error in the operator's terms.
pub(crate) fn explain(err: &std::io::Error) -> String {
    let Some(inner) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    else {
        return err.to_string();
    };
    use rustls::CertificateError as C;
    match inner {
        // BadSignature: an anchor with the issuer's name exists but did not sign it (another CA).
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => format!(
            "the collector's certificate is not signed by a trusted CA ({inner}; check ca_file)"
        ),
        rustls::Error::InvalidCertificate(C::NotValidForName)
        | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => format!(
            "the collector's certificate is not valid for the server name ({inner}); set server_name to a name in its subjectAltName"
        ),
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            format!("the collector's certificate has expired ({inner})")
        }
        rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired) => {
            "the collector requires a client certificate (set client_cert_file and client_key_file)"
                .into()
        }
        rustls::Error::AlertReceived(a) => format!(
            "the collector refused the handshake with alert {a:?} (often: our client certificate is not trusted or not authorized)"
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_with_or_without_colons() {
        let hex64 = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_pin(&hex64).unwrap(), [0xab; 32]);
        assert_eq!(parse_pin(&colons).unwrap(), [0xab; 32]);
        assert!(parse_pin("abcd").is_err());
    }
}
