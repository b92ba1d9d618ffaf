//! `check`'s handshake probe: one connection per address, reporting what was negotiated.

use std::time::Duration;

use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::{TransportConfig, TransportError, TransportKind, tls, udp, wire};

/// A successful probe of one address.
#[derive(Debug, Clone)]
pub struct ProbeOk {
    pub peer: std::net::SocketAddr,
    /// e.g. "TLSv1_3" (TLS only).
    pub tls_version: Option<String>,
    pub cipher_suite: Option<String>,
    /// SHA-256 of the collector's end-entity certificate, lowercase hex (for `pin_sha256`).
    pub peer_cert_sha256: Option<String>,
    pub elapsed: Duration,
}

#[derive(Debug)]
pub struct ProbeResult {
    pub address: String,
    pub outcome: Result<ProbeOk, TransportError>,
}

#[derive(Debug)]
pub struct ProbeReport {
    pub results: Vec<ProbeResult>,
}

impl ProbeReport {
    pub fn all_ok(&self) -> bool {
        self.results.iter().all(|r| r.outcome.is_ok())
    }
}

/// How long to wait after the handshake for a refusal (TLS 1.3 servers and rsyslog's
/// PermittedPeer reject a client certificate only after the client's handshake completed).
const REFUSAL_WAIT: Duration = Duration::from_millis(1500);

pub(crate) async fn probe(cfg: &TransportConfig) -> Result<ProbeReport, TransportError> {
    cfg.validate()?;
    let client = match cfg.kind {
        TransportKind::Tls => Some(tls::client_tls(&cfg.tls)?),
        _ => None,
    };
    let mut results = Vec::new();
    for address in &cfg.addresses {
        let started = Instant::now();
        let outcome = match cfg.kind {
            TransportKind::Udp => udp::udp_socket(cfg, address).await.and_then(|s| {
                s.peer_addr()
                    .map_err(|source| TransportError::Io {
                        address: address.clone(),
                        source,
                    })
                    .map(|peer| ProbeOk {
                        peer,
                        tls_version: None,
                        cipher_suite: None,
                        peer_cert_sha256: None,
                        elapsed: started.elapsed(),
                    })
            }),
            TransportKind::Tcp => match wire::connect_tcp(cfg, address).await {
                Ok(mut s) => {
                    let peer = s.tcp.peer_addr();
                    let _ = s.shutdown().await;
                    peer.map_err(|source| TransportError::Io {
                        address: address.clone(),
                        source,
                    })
                    .map(|peer| ProbeOk {
                        peer,
                        tls_version: None,
                        cipher_suite: None,
                        peer_cert_sha256: None,
                        elapsed: started.elapsed(),
                    })
                }
                Err(e) => Err(e),
            },
            TransportKind::Tls => match &client {
                Some(c) => probe_tls(cfg, c, address, started).await,
                None => Err(TransportError::TlsSetup("no TLS client".into())),
            },
        };
        results.push(ProbeResult {
            address: address.clone(),
            outcome,
        });
    }
    Ok(ProbeReport { results })
}

async fn probe_tls(
    cfg: &TransportConfig,
    client: &tls::ClientTls,
    address: &str,
    started: Instant,
) -> Result<ProbeOk, TransportError> {
    let tcp = wire::connect_tcp(cfg, address).await?;
    let peer = tcp.tcp.peer_addr().map_err(|source| TransportError::Io {
        address: address.to_string(),
        source,
    })?;
    let mut s = wire::handshake(cfg, client, address, tcp).await?;
    let (_, c) = s.get_ref();
    let tls_version = c.protocol_version().map(|v| format!("{v:?}"));
    let cipher_suite = c
        .negotiated_cipher_suite()
        .map(|cs| format!("{:?}", cs.suite()));
    let peer_cert_sha256 = c
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|leaf| hex::encode(sha2::Sha256::digest(leaf.as_ref())));
    let mut buf = [0u8; 512];
    match tokio::time::timeout(REFUSAL_WAIT, s.read(&mut buf)).await {
        Err(_) | Ok(Ok(1..)) => {}
        Ok(r) => {
            let detail = match r {
                Err(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => tls::explain(&e),
                _ => "the collector closed the connection right after the handshake: it probably refused our client certificate (or requires one)".into(),
            };
            return Err(TransportError::Handshake {
                address: address.to_string(),
                server_name: cfg.tls.server_name.clone().unwrap_or_else(|| {
                    super::config::split_host_port(address, 6514)
                        .map(|(h, _)| h)
                        .unwrap_or_default()
                }),
                trust: client.trust.clone(),
                detail,
            });
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), s.shutdown()).await;
    Ok(ProbeOk {
        peer,
        tls_version,
        cipher_suite,
        peer_cert_sha256,
        elapsed: started.elapsed(),
    })
}
