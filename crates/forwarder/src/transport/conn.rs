//! The connection task: connect (with failover and backoff), then a session per connection that
//! writes frames in batches and reports writes and `SIOCOUTQ` readings to the
//! [`AckTracker`], which decides what is delivered; detect dead peers, fail back.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::ack::{AckTracker, Settle};
use super::backoff::{self, Backoff};
use super::ledger::Shared;
use super::tls::ClientTls;
use super::wire::{Wire, connect_tcp, handshake, is_tls_alert};
use super::{TransportConfig, TransportError, TransportKind, outq, tls, udp};

/// Frames per write: many per TLS record and per syscall, bounded so acks are polled often.
const BATCH_BYTES: usize = 64 * 1024;
const ACK_POLL_MIN: Duration = Duration::from_millis(1);
const ACK_POLL_MAX: Duration = Duration::from_millis(50);
/// A collector that refuses us after the TLS handshake does so as soon as its side of the
/// handshake completes, so the refusal reaches us about when the ACK of our first record does.
/// The settle ends this long after that first ACK (or after twice the connect + handshake
/// time, if longer), instead of waiting out the whole `tls_settle`.
const SETTLE_QUIET_MIN: Duration = Duration::from_millis(250);

enum SessionEnd {
    Stopped,
    Failback,
    Failed { error: String, handshake: bool },
}

/// What the task does after a connection ended.
enum Next {
    Stop,
    Failback,
    Retry { healthy: bool },
}

/// One destination's connection task: its configuration and the state shared with
/// [`super::Transport`].
struct Task {
    shared: Arc<Shared>,
    cfg: TransportConfig,
    client: Option<ClientTls>,
}

/// The task body: runs until the transport is stopped.
pub(crate) async fn run(shared: Arc<Shared>, cfg: TransportConfig, client: Option<ClientTls>) {
    if cfg.kind == TransportKind::Udp {
        return udp::run(shared, cfg).await;
    }
    Task {
        shared,
        cfg,
        client,
    }
    .run()
    .await
}

impl Task {
    async fn run(&self) {
        let (shared, cfg) = (&*self.shared, &self.cfg);
        let n = cfg.addresses.len();
        let mut idx = 0usize;
        let mut backoff = Backoff::default();
        let mut acks = AckTracker::default();
        loop {
            if shared.is_stopped() {
                return;
            }
            let address = cfg.addresses[idx].clone();
            let dialled = Instant::now();
            let connected = tokio::select! {
                r = self.dial(&address) => r,
                _ = shared.stopped() => return,
            };
            let healthy = match connected {
                Ok(wire) => match self.serve(wire, idx, &address, dialled, &mut acks).await {
                    Next::Stop => return,
                    Next::Failback => {
                        idx = 0;
                        backoff.reset();
                        continue;
                    }
                    Next::Retry { healthy } => healthy,
                },
                Err(e) => {
                    self.connect_failed(&address, &e);
                    false
                }
            };
            if healthy {
                backoff.reset();
            }
            let next = (idx + 1) % n;
            // Try the next address at once; back off only after a whole round failed.
            if next == 0 || n == 1 {
                let wait = backoff.next(cfg.backoff_min, cfg.backoff_max);
                tracing::debug!(transport = %shared.name(), wait_ms = wait.as_millis() as u64, "backing off");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shared.stopped() => return,
                }
            }
            if n > 1 {
                shared.count_failover();
                tracing::warn!(transport = %shared.name(), from = %address, to = %cfg.addresses[next],
                    "failing over");
            }
            idx = next;
        }
    }

    /// TCP connect, then the TLS handshake if configured.
    async fn dial(&self, address: &str) -> Result<Box<dyn Wire>, TransportError> {
        let tcp = connect_tcp(&self.cfg, address).await?;
        Ok(match &self.client {
            Some(c) => Box::new(handshake(&self.cfg, c, address, tcp).await?),
            None => Box::new(tcp),
        })
    }

    fn connect_failed(&self, address: &str, e: &TransportError) {
        let name = self.shared.name();
        if e.is_handshake() {
            self.shared.count_handshake_failure();
            tracing::error!(transport = %name, address = %address, error = %e,
                "TLS handshake failed; not sending (never falls back to plaintext)");
        } else {
            tracing::warn!(transport = %name, address = %address, error = %e, "connect failed");
        }
    }

    /// One connection's life, from connected to closed.
    async fn serve(
        &self,
        wire: Box<dyn Wire>,
        idx: usize,
        address: &str,
        dialled: Instant,
        acks: &mut AckTracker,
    ) -> Next {
        let (shared, cfg) = (&*self.shared, &self.cfg);
        shared.count_connect();
        shared.set_connected(Some(address));
        tracing::info!(transport = %shared.name(), address = %address, index = idx,
            resend_from = acks.delivered(), "connected");
        let before = acks.delivered();
        let began = Instant::now();
        let quiet = (began - dialled)
            .saturating_mul(2)
            .max(SETTLE_QUIET_MIN)
            .min(cfg.tls_settle);
        let end = session(shared, cfg, wire, idx, quiet, acks).await;
        let lasted = began.elapsed();
        let healthy =
            backoff::session_was_healthy(acks.delivered() > before, lasted, cfg.tls_settle);
        shared.set_connected(None);
        match end {
            SessionEnd::Stopped => Next::Stop,
            SessionEnd::Failback => {
                tracing::info!(transport = %shared.name(), from = %address,
                    to = %cfg.addresses[0], "failing back to the first address");
                Next::Failback
            }
            SessionEnd::Failed { error, handshake } => {
                self.session_failed(address, error, handshake, lasted);
                Next::Retry { healthy }
            }
        }
    }

    /// Logs why a connection ended. A TLS alert from the collector is a refusal we know of; a
    /// bare close this soon after the handshake may be one (rsyslog's PermittedPeer check
    /// closes without an alert) or a collector that stopped: say which is known.
    fn session_failed(&self, address: &str, error: String, alerted: bool, lasted: Duration) {
        let (shared, cfg) = (&*self.shared, &self.cfg);
        let name = shared.name();
        if alerted {
            shared.count_handshake_failure();
            tracing::error!(transport = %name, address = %address,
                error = %error, "collector refused us after the TLS handshake");
        } else if self.client.is_some() && lasted < cfg.tls_settle {
            shared.count_handshake_failure();
            let why = if cfg.tls.client_cert_file.is_some() {
                "it may have refused our client certificate, or it stopped"
            } else {
                "it may require a client certificate (mutual TLS), or it stopped"
            };
            let error = format!(
                "{error} {:.1}s after the TLS handshake, before accepting data: {why}",
                lasted.as_secs_f64()
            );
            tracing::warn!(transport = %name, address = %address,
                error = %error, "collector closed the connection right after the TLS handshake");
        } else {
            tracing::warn!(transport = %name, address = %address,
                error = %error, undelivered = shared.end() - shared.base(),
                "disconnected; undelivered messages will be resent");
        }
    }
}

/// One connection's life. Starts by writing every undelivered message (resend), then new ones.
/// Over TLS nothing counts as delivered until the settle ends: `tls_settle` after the
/// handshake, or `quiet` after the collector first acknowledged our data, whichever is first.
async fn session(
    shared: &Shared,
    cfg: &TransportConfig,
    w: Box<dyn Wire>,
    idx: usize,
    quiet: Duration,
    acks: &mut AckTracker,
) -> SessionEnd {
    let started = Instant::now();
    let settle = (cfg.kind == TransportKind::Tls).then_some(Settle {
        max: cfg.tls_settle,
        quiet,
    });
    acks.connect(w.socket().written, settle);
    let failback_at = if idx > 0 {
        cfg.failback_after.map(|d| started + d)
    } else {
        None
    };
    let mut s = Session {
        shared,
        cfg,
        w,
        acks,
        started,
        failback_at,
        poll: ACK_POLL_MIN,
        buf: Vec::with_capacity(BATCH_BYTES + 1024),
        rbuf: vec![0u8; 4096],
    };
    s.run().await
}

/// A live connection: the stream, the tracker it reports to, and the ack polling interval.
struct Session<'a> {
    shared: &'a Shared,
    cfg: &'a TransportConfig,
    w: Box<dyn Wire>,
    acks: &'a mut AckTracker,
    started: Instant,
    failback_at: Option<Instant>,
    poll: Duration,
    buf: Vec<u8>,
    rbuf: Vec<u8>,
}

impl Session<'_> {
    async fn run(&mut self) -> SessionEnd {
        let mut draining = false;
        loop {
            if self.shared.is_stopped() {
                self.close().await;
                return SessionEnd::Stopped;
            }
            if !draining && let Err(end) = self.write_next().await {
                return end;
            }
            let now = Instant::now();
            if self.acks.awaiting()
                && let Err(end) = self.track_acks(now)
            {
                return end;
            }
            if draining && !self.acks.awaiting() {
                self.close().await;
                return SessionEnd::Failback;
            }
            if !draining && self.failback_at.is_some_and(|t| now >= t) {
                // Stop writing here, let what was written be acknowledged, then reconnect to
                // the first address; anything unacknowledged is resent there.
                draining = true;
                continue;
            }
            if !draining && self.shared.end() > self.acks.next() {
                continue;
            }
            if let Err(end) = self.wait(now).await {
                return end;
            }
        }
    }

    /// Writes one batch if there is anything new.
    async fn write_next(&mut self) -> Result<(), SessionEnd> {
        self.buf.clear();
        let end = self
            .shared
            .copy_batch(self.acks.next(), BATCH_BYTES, &mut self.buf);
        if end <= self.acks.next() {
            return Ok(());
        }
        let resent = self.acks.resent_in(end);
        if resent > 0 {
            self.shared.count_resent(resent);
        }
        write_batch(&mut self.w, &self.buf, self.cfg.write_timeout).await?;
        self.shared.count_bytes(self.buf.len() as u64);
        let at = self.started.elapsed();
        self.acks.wrote(end, self.w.socket().written, at);
        Ok(())
    }

    /// Turns acknowledged socket bytes into delivered messages; fails on a dead peer.
    fn track_acks(&mut self, now: Instant) -> Result<(), SessionEnd> {
        let outq = outq::unacked_bytes(&self.w.socket().tcp)
            .map_err(|e| failed(format!("SIOCOUTQ: {e}")))?;
        let at = now - self.started;
        let seen = self.acks.observe(self.w.socket().written, outq, at);
        if seen.progressed {
            self.poll = ACK_POLL_MIN;
        }
        if let Some(upto) = seen.delivered {
            self.shared.deliver(upto);
        }
        let timeout = self.cfg.no_progress_timeout;
        match self.acks.stalled(at, timeout) {
            Some(outstanding) => Err(failed(format!(
                "collector acknowledged nothing for {:.0}s ({outstanding} bytes outstanding): dead peer",
                timeout.as_secs_f64()
            ))),
            None => Ok(()),
        }
    }

    /// Sleeps until there is work, an ack may have arrived, the settle or failback is due, or
    /// the collector closed the connection.
    async fn wait(&mut self, now: Instant) -> Result<(), SessionEnd> {
        let wait = if self.acks.awaiting() {
            let p = self.poll;
            self.poll = (self.poll * 2).min(ACK_POLL_MAX);
            p
        } else if let Some(t) = self.failback_at {
            t.saturating_duration_since(now).max(ACK_POLL_MIN)
        } else {
            Duration::from_secs(3600)
        };
        let wait = match self.acks.settle_left(now - self.started) {
            Some(left) => wait.min(left),
            None => wait,
        };
        tokio::select! {
            _ = self.shared.work_queued() => Ok(()),
            _ = tokio::time::sleep(wait) => Ok(()),
            _ = self.shared.stopped() => Ok(()),
            r = self.w.read(&mut self.rbuf) => match r {
                Ok(0) => Err(failed("collector closed the connection".into())),
                Ok(_) => Ok(()), // collectors do not talk back in syslog; ignore
                Err(e) => Err(SessionEnd::Failed {
                    error: tls::explain(&e),
                    handshake: is_tls_alert(&e),
                }),
            },
        }
    }

    /// Closes with `close_notify` (TLS), without hanging on a stuck socket.
    async fn close(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.w.shutdown()).await;
    }
}

fn failed(error: String) -> SessionEnd {
    SessionEnd::Failed {
        error,
        handshake: false,
    }
}

/// Writes and flushes `buf`. The timeout applies to each step, so a slow collector that keeps
/// accepting bytes is not mistaken for a dead one; a stalled one is.
async fn write_batch(
    w: &mut Box<dyn Wire>,
    buf: &[u8],
    timeout: Duration,
) -> Result<(), SessionEnd> {
    let stalled = || {
        failed(format!(
            "write made no progress for {:.0}s",
            timeout.as_secs_f64()
        ))
    };
    let io_failed = |e: io::Error| SessionEnd::Failed {
        error: format!("write failed: {}", tls::explain(&e)),
        handshake: is_tls_alert(&e),
    };
    let mut pos = 0;
    while pos < buf.len() {
        match tokio::time::timeout(timeout, w.write(&buf[pos..])).await {
            Ok(Ok(0)) => return Err(io_failed(io::ErrorKind::WriteZero.into())),
            Ok(Ok(n)) => pos += n,
            Ok(Err(e)) => return Err(io_failed(e)),
            Err(_) => return Err(stalled()),
        }
    }
    match tokio::time::timeout(timeout, w.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(io_failed(e)),
        Err(_) => Err(stalled()),
    }
}
