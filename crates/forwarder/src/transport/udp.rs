//! UDP (RFC 5426): one datagram per message, no acknowledgement, so no resend and no failover
//! (validation allows one address only).

use std::io;
use std::sync::Arc;

use tokio::net::UdpSocket;

use super::backoff::Backoff;
use super::ledger::Shared;
use super::{TransportConfig, TransportError, config};

/// The task body for UDP: delivered = handed to the kernel (loss is documented).
pub(crate) async fn run(shared: Arc<Shared>, cfg: TransportConfig) {
    let address = cfg.addresses[0].clone();
    let mut backoff = Backoff::default();
    let sock = loop {
        match udp_socket(&cfg, &address).await {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!(transport = %shared.name(), address = %address, error = %e, "UDP setup failed");
                let wait = backoff.next(cfg.backoff_min, cfg.backoff_max);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shared.stopped() => return,
                }
            }
        }
    };
    shared.count_connect();
    shared.set_connected(Some(&address));
    let mut seq = shared.base();
    loop {
        let Some(frame) = shared.peek_frame(seq) else {
            tokio::select! {
                _ = shared.work_queued() => continue,
                _ = shared.stopped() => return,
            }
        };
        // An ICMP error from an earlier datagram can surface here; one retry, then the
        // datagram counts as sent (UDP gives no delivery guarantee).
        let mut r = sock.send(&frame).await;
        if r.is_err() {
            r = sock.send(&frame).await;
        }
        if let Err(e) = r {
            tracing::warn!(transport = %shared.name(), address = %address, error = %e, "UDP send failed; datagram lost");
        } else {
            shared.count_bytes(frame.len() as u64);
        }
        seq += 1;
        shared.deliver(seq);
    }
}

pub(crate) async fn udp_socket(
    cfg: &TransportConfig,
    address: &str,
) -> Result<UdpSocket, TransportError> {
    let (host, port) = config::split_host_port(address, cfg.kind.default_port())?;
    let io = |source| TransportError::Io {
        address: address.to_string(),
        source,
    };
    let target = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|source| TransportError::Resolve {
            address: address.to_string(),
            source,
        })?
        .next()
        .ok_or_else(|| TransportError::Resolve {
            address: address.to_string(),
            source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
        })?;
    let bind: std::net::SocketAddr = if target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let sock = UdpSocket::bind(bind).await.map_err(io)?;
    sock.connect(target).await.map_err(io)?;
    Ok(sock)
}
