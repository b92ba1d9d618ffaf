//! Syslog transports: TLS (RFC 5425), TCP (RFC 6587) and UDP (RFC 5426), with delivery
//! tracking, reconnect, failover and backpressure.
//!
//! - [`config`]: [`TransportConfig`], [`TlsOptions`], [`Framing`], [`TransportKind`].
//! - [`framing`]: octet counting (default) or LF framing.
//! - [`backoff`]: when the reconnect backoff (the `exp-backoff` crate) starts again.
//! - `tls`: rustls client config (system roots + `ca_file`, pins, client chain).
//! - `ledger`: the bounded buffer of undelivered frames shared by [`Transport`] and its task.
//! - `ack`: `AckTracker`, bytes written vs. acknowledged → delivered frames, the TLS settle,
//!   the dead-peer clock and the resend point after a reconnect (pure, property-tested).
//! - `conn`: the connection task (failover, backoff, batch writes, reporting to `AckTracker`).
//! - `wire`: resolve, TCP connect, TLS handshake, the byte-counting stream.
//! - `udp`: one datagram per message, one address.
//! - `outq`: `SIOCOUTQ`, the kernel's count of unacknowledged bytes.
//! - `probe`: one connect + handshake per address, for `check`.
//!
//! **Delivered** means the collector's TCP stack acknowledged every byte of the message: the
//! bytes we wrote to the socket minus the socket's send queue (`SIOCOUTQ`) has passed the
//! message's end. Anything not delivered when a connection dies is written again on the next
//! one (at-least-once). UDP has no acknowledgement: delivered = handed to the kernel.

mod ack;
mod backoff;
pub mod config;
mod conn;
mod error;
pub mod framing;
mod ledger;
mod outq;
mod probe;
mod tls;
mod udp;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Framing, TlsOptions, TransportConfig, TransportKind, UDP_MAX_PAYLOAD};
pub use error::TransportError;
pub use probe::{ProbeOk, ProbeReport, ProbeResult};

use ledger::Shared;

/// Counters for the binary to expose. Monotonic except `buffered_bytes` and `connected_to`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Messages accepted by `send`.
    pub sent: u64,
    /// Messages acknowledged by the collector's TCP stack (UDP: handed to the kernel).
    pub delivered: u64,
    /// Messages written again on a new connection after the previous one died.
    pub resent: u64,
    /// Connections established after the first one.
    pub reconnects: u64,
    /// Connections established (the first one included).
    pub connects: u64,
    /// Switches to the next configured address after a failure (failback not counted).
    pub failovers: u64,
    /// Frame bytes written (including resends; excluding TLS overhead).
    pub bytes: u64,
    pub handshake_failures: u64,
    /// Frame bytes queued or in flight right now (bounded by `max_inflight_bytes`).
    pub buffered_bytes: u64,
    /// The address currently connected to, if any.
    pub connected_to: Option<String>,
}

/// What [`Transport::shutdown`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Messages 0..delivered are delivered.
    pub delivered: u64,
    /// Messages accepted by `send` but not delivered within the grace period.
    pub undelivered: u64,
}

/// A [`TransportConfig`] validated, with its certificate and key files read and its TLS client
/// config built: everything that can fail for a config reason has failed or passed (no runtime,
/// no network). `check --offline` builds one per destination, as `run` does.
#[derive(Debug, Clone)]
pub struct PreparedTransport {
    cfg: TransportConfig,
    client_tls: Option<tls::ClientTls>,
}

impl PreparedTransport {
    pub fn config(&self) -> &TransportConfig {
        &self.cfg
    }
}

impl TransportConfig {
    /// Validates and reads files (errors name the file); see [`PreparedTransport`].
    pub fn prepare(&self) -> Result<PreparedTransport, TransportError> {
        self.validate()?;
        let client_tls = match self.kind {
            TransportKind::Tls => Some(tls::client_tls(&self.tls)?),
            _ => None,
        };
        if self.kind == TransportKind::Tls {
            // Fail now on a bad server_name rather than on every reconnect.
            for a in &self.addresses {
                let (host, _) = config::split_host_port(a, self.kind.default_port())?;
                tls::server_name(&self.tls, &host)?;
            }
        }
        Ok(PreparedTransport {
            cfg: self.clone(),
            client_tls,
        })
    }
}

/// One destination's connection. Cheap to share by reference; dropping it stops the task
/// without waiting (use [`Transport::shutdown`] to drain).
#[derive(Debug)]
pub struct Transport {
    shared: Arc<Shared>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Transport {
    /// Validates `cfg`, reads certificate and key files (errors name the file), and spawns the
    /// connection task on the current tokio runtime. Does not wait for a connection.
    pub fn start(name: &str, cfg: TransportConfig) -> Result<Transport, TransportError> {
        Self::start_prepared(name, cfg.prepare()?)
    }

    /// [`Transport::start`] for a config already prepared (validated, files read): the only
    /// error left is being called outside a tokio runtime.
    pub fn start_prepared(
        name: &str,
        prepared: PreparedTransport,
    ) -> Result<Transport, TransportError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            TransportError::Config("Transport::start must be called inside a tokio runtime".into())
        })?;
        let PreparedTransport { cfg, client_tls } = prepared;
        let shared = Arc::new(Shared::new(name, &cfg));
        let task = runtime.spawn(conn::run(shared.clone(), cfg, client_tls));
        Ok(Transport {
            shared,
            task: std::sync::Mutex::new(Some(task)),
        })
    }

    /// Queues one message (without framing; the transport frames it) and returns its
    /// sequence number (0, 1, 2, …). Waits while the in-flight buffer is full. Refuses
    /// oversize or empty messages, and messages with LF under LF framing.
    pub async fn send(&self, msg: Vec<u8>) -> Result<u64, TransportError> {
        self.shared.push(&msg).await
    }

    /// [`Transport::send`] for a borrowed message: the caller can format every message into
    /// one reused buffer (the transport copies it into its frame either way).
    pub async fn send_bytes(&self, msg: &[u8]) -> Result<u64, TransportError> {
        self.shared.push(msg).await
    }

    /// N = messages 0..N are delivered. Only ever grows.
    pub fn delivered(&self) -> watch::Receiver<u64> {
        self.shared.delivered_rx()
    }

    pub fn stats(&self) -> TransportStats {
        self.shared.stats()
    }

    /// Refuses new messages, waits up to `grace` for everything sent to be delivered, then
    /// closes the connection with `close_notify` (TLS) and stops the task.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let total = self.shared.close();
        let mut rx = self.delivered();
        let _ = tokio::time::timeout(grace, rx.wait_for(|d| *d >= total)).await;
        self.shared.stop();
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            // The task only needs to send close_notify; do not hang on a stuck socket.
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        let delivered = *self.delivered().borrow();
        ShutdownReport {
            delivered,
            undelivered: total.saturating_sub(delivered),
        }
    }

    /// One connect (+ TLS handshake) per configured address, for `check`. Err only for a
    /// configuration or file problem; per-address failures are in the report.
    pub async fn probe(cfg: &TransportConfig) -> Result<ProbeReport, TransportError> {
        probe::probe(cfg).await
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.shared.stop();
    }
}
