//! The connection task: connect (with failover and backoff), write frames in batches, turn the
//! kernel's acknowledgements into delivered positions, detect dead peers, fail back.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

use super::backoff::{self, Backoff};
use super::ledger::Shared;
use super::tls::ClientTls;
use super::{TransportConfig, TransportError, TransportKind, config, outq, tls};

/// Frames per write: many per TLS record and per syscall, bounded so acks are polled often.
const BATCH_BYTES: usize = 64 * 1024;
const ACK_POLL_MIN: Duration = Duration::from_millis(1);
const ACK_POLL_MAX: Duration = Duration::from_millis(50);
/// A collector that refuses us after the TLS handshake does so as soon as its side of the
/// handshake completes, so the refusal reaches us about when the ACK of our first record does.
/// The settle ends this long after that first ACK (or after twice the connect + handshake
/// time, if longer), instead of waiting out the whole `tls_settle`.
const SETTLE_QUIET_MIN: Duration = Duration::from_millis(250);

/// A TCP stream that counts the bytes written to the socket (TLS ciphertext included), so a
/// message can be mapped to a socket byte offset and compared with what the peer acknowledged.
#[derive(Debug)]
pub(crate) struct CountingStream {
    pub tcp: TcpStream,
    pub written: u64,
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.tcp).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.written += n as u64;
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// A connected stream (plain or TLS) whose underlying socket can be inspected.
pub(crate) trait Wire: AsyncRead + AsyncWrite + Unpin + Send {
    fn socket(&self) -> &CountingStream;
}
impl Wire for CountingStream {
    fn socket(&self) -> &CountingStream {
        self
    }
}
impl Wire for tokio_rustls::client::TlsStream<CountingStream> {
    fn socket(&self) -> &CountingStream {
        self.get_ref().0
    }
}

/// Resolves and connects to one address (trying each resolved IP), with keepalive.
pub(crate) async fn connect_tcp(
    cfg: &TransportConfig,
    address: &str,
) -> Result<CountingStream, TransportError> {
    let (host, port) = config::split_host_port(address, cfg.kind.default_port())?;
    let addrs: Vec<_> = tokio::time::timeout(
        cfg.connect_timeout,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    .map_err(|_| TransportError::ConnectTimeout {
        address: address.to_string(),
        secs: cfg.connect_timeout.as_secs_f64(),
    })?
    .map_err(|source| TransportError::Resolve {
        address: address.to_string(),
        source,
    })?
    .collect();
    let mut last = None;
    for sa in addrs {
        match tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(sa)).await {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                if let Some(idle) = cfg.keepalive {
                    let ka = socket2::TcpKeepalive::new()
                        .with_time(idle)
                        .with_interval(idle.div_f64(3.0).max(Duration::from_secs(1)))
                        .with_retries(3);
                    let _ = socket2::SockRef::from(&tcp).set_tcp_keepalive(&ka);
                }
                return Ok(CountingStream { tcp, written: 0 });
            }
            Ok(Err(source)) => {
                last = Some(TransportError::Connect {
                    address: address.to_string(),
                    source,
                })
            }
            Err(_) => {
                last = Some(TransportError::ConnectTimeout {
                    address: address.to_string(),
                    secs: cfg.connect_timeout.as_secs_f64(),
                })
            }
        }
    }
    Err(last.unwrap_or_else(|| TransportError::Resolve {
        address: address.to_string(),
        source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
    }))
}

/// TLS handshake over a connected stream; a failure names the server name and trust anchors.
pub(crate) async fn handshake(
    cfg: &TransportConfig,
    client: &ClientTls,
    address: &str,
    stream: CountingStream,
) -> Result<tokio_rustls::client::TlsStream<CountingStream>, TransportError> {
    let (host, _) = config::split_host_port(address, cfg.kind.default_port())?;
    let name = tls::server_name(&cfg.tls, &host)?;
    let shown = cfg.tls.server_name.clone().unwrap_or(host);
    let fail = |detail: String| TransportError::Handshake {
        address: address.to_string(),
        server_name: shown.clone(),
        trust: client.trust.clone(),
        detail,
    };
    let connector = tokio_rustls::TlsConnector::from(client.config.clone());
    match tokio::time::timeout(cfg.connect_timeout, connector.connect(name, stream)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(fail(tls::explain(&e))),
        Err(_) => Err(fail(format!(
            "no handshake within {:.1}s",
            cfg.connect_timeout.as_secs_f64()
        ))),
    }
}

enum SessionEnd {
    Stopped,
    Failback,
    Failed { error: String, handshake: bool },
}

/// The task body: runs until the transport is stopped.
pub(crate) async fn run(shared: Arc<Shared>, cfg: TransportConfig, client: Option<ClientTls>) {
    if cfg.kind == TransportKind::Udp {
        return run_udp(shared, cfg).await;
    }
    let n = cfg.addresses.len();
    let mut idx = 0usize;
    let mut backoff = Backoff::default();
    let mut connections = 0u64;
    // Every sequence number below this has been written at least once (for `resent`).
    let mut high_water = 0u64;
    loop {
        if shared.stop.is_cancelled() {
            return;
        }
        let address = cfg.addresses[idx].clone();
        let dialled = Instant::now();
        let attempt = async {
            let tcp = connect_tcp(&cfg, &address).await?;
            Ok::<_, TransportError>(match &client {
                Some(c) => Box::new(handshake(&cfg, c, &address, tcp).await?) as Box<dyn Wire>,
                None => Box::new(tcp) as Box<dyn Wire>,
            })
        };
        let connected = tokio::select! {
            r = attempt => r,
            _ = shared.stop.cancelled() => return,
        };
        let mut healthy = false;
        match connected {
            Ok(wire) => {
                connections += 1;
                shared.counters.connects.fetch_add(1, Relaxed);
                if connections > 1 {
                    shared.counters.reconnects.fetch_add(1, Relaxed);
                }
                set_connected(&shared, Some(&address));
                tracing::info!(transport = %shared.name, address = %address, index = idx,
                    resend_from = shared.base(), "connected");
                let before = shared.base();
                let began = Instant::now();
                let quiet = (began - dialled)
                    .saturating_mul(2)
                    .max(SETTLE_QUIET_MIN)
                    .min(cfg.tls_settle);
                let mut end = session(&shared, &cfg, wire, idx, quiet, &mut high_water).await;
                let lasted = began.elapsed();
                // A TLS alert from the collector is a refusal we know of; a bare close this
                // soon may be one (rsyslog's PermittedPeer check closes without an alert) or a
                // collector that stopped: say which is known.
                let alerted = matches!(
                    end,
                    SessionEnd::Failed {
                        handshake: true,
                        ..
                    }
                );
                if let SessionEnd::Failed { error, handshake } = &mut end
                    && client.is_some()
                    && lasted < cfg.tls_settle
                    && !*handshake
                {
                    *handshake = true;
                    let why = if cfg.tls.client_cert_file.is_some() {
                        "it may have refused our client certificate, or it stopped"
                    } else {
                        "it may require a client certificate (mutual TLS), or it stopped"
                    };
                    *error = format!(
                        "{error} {:.1}s after the TLS handshake, before accepting data: {why}",
                        lasted.as_secs_f64()
                    );
                }
                healthy =
                    backoff::session_was_healthy(shared.base() > before, lasted, cfg.tls_settle);
                set_connected(&shared, None);
                match end {
                    SessionEnd::Stopped => return,
                    SessionEnd::Failback => {
                        tracing::info!(transport = %shared.name, from = %address,
                            to = %cfg.addresses[0], "failing back to the first address");
                        idx = 0;
                        backoff.reset();
                        continue;
                    }
                    SessionEnd::Failed { error, handshake } => {
                        if handshake {
                            shared.counters.handshake_failures.fetch_add(1, Relaxed);
                        }
                        if alerted {
                            tracing::error!(transport = %shared.name, address = %address,
                                error = %error, "collector refused us after the TLS handshake");
                        } else if handshake {
                            tracing::warn!(transport = %shared.name, address = %address,
                                error = %error, "collector closed the connection right after the TLS handshake");
                        } else {
                            tracing::warn!(transport = %shared.name, address = %address,
                                error = %error, undelivered = shared.end() - shared.base(),
                                "disconnected; undelivered messages will be resent");
                        }
                    }
                }
            }
            Err(e) => {
                if e.is_handshake() {
                    shared.counters.handshake_failures.fetch_add(1, Relaxed);
                    tracing::error!(transport = %shared.name, address = %address, error = %e,
                        "TLS handshake failed; not sending (never falls back to plaintext)");
                } else {
                    tracing::warn!(transport = %shared.name, address = %address, error = %e,
                        "connect failed");
                }
            }
        }
        if healthy {
            backoff.reset();
        }
        let next = (idx + 1) % n;
        // Try the next address at once; back off only after a whole round failed.
        if next == 0 || n == 1 {
            let wait = backoff.next(cfg.backoff_min, cfg.backoff_max);
            tracing::debug!(transport = %shared.name, wait_ms = wait.as_millis() as u64, "backing off");
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shared.stop.cancelled() => return,
            }
        }
        if n > 1 {
            shared.counters.failovers.fetch_add(1, Relaxed);
            tracing::warn!(transport = %shared.name, from = %address, to = %cfg.addresses[next],
                "failing over");
        }
        idx = next;
    }
}

fn set_connected(shared: &Shared, address: Option<&str>) {
    if let Ok(mut g) = shared.connected_to.lock() {
        *g = address.map(str::to_string);
    }
}

fn is_tls_alert(e: &io::Error) -> bool {
    e.get_ref()
        .and_then(|i| i.downcast_ref::<rustls::Error>())
        .is_some_and(|r| matches!(r, rustls::Error::AlertReceived(_)))
}

/// One connection's life. Starts by writing every undelivered message (resend), then new ones.
/// Over TLS nothing counts as delivered until the settle ends: `tls_settle` after the
/// handshake, or `quiet` after the collector first acknowledged our data, whichever is first.
async fn session(
    shared: &Shared,
    cfg: &TransportConfig,
    mut w: Box<dyn Wire>,
    idx: usize,
    quiet: Duration,
    high_water: &mut u64,
) -> SessionEnd {
    let tls = cfg.kind == TransportKind::Tls;
    let started = Instant::now();
    // Socket bytes of the handshake: an acknowledgement beyond them is one of our records.
    let data_start = w.socket().written;
    let mut settle_until = if tls {
        Some(started + cfg.tls_settle)
    } else {
        None
    };
    let failback_at = if idx > 0 {
        cfg.failback_after.map(|d| started + d)
    } else {
        None
    };
    let mut next = shared.base();
    // (sequence after the batch, socket byte offset of the batch's end)
    let mut pending: VecDeque<(u64, u64)> = VecDeque::new();
    let mut acked_offset = 0u64;
    let mut last_progress = Instant::now();
    let mut poll = ACK_POLL_MIN;
    let mut draining = false;
    let mut buf = Vec::with_capacity(BATCH_BYTES + 1024);
    let mut rbuf = vec![0u8; 4096];
    let failed = |error: String| SessionEnd::Failed {
        error,
        handshake: false,
    };
    loop {
        if shared.stop.is_cancelled() {
            let _ = tokio::time::timeout(Duration::from_secs(2), w.shutdown()).await;
            return SessionEnd::Stopped;
        }
        // Write one batch if there is anything new.
        if !draining {
            buf.clear();
            let end = shared.copy_batch(next, BATCH_BYTES, &mut buf);
            if end > next {
                let start = next.max(shared.base());
                if start < *high_water {
                    let resent = (*high_water).min(end) - start;
                    shared.counters.resent.fetch_add(resent, Relaxed);
                }
                if let Err(end) = write_batch(&mut w, &buf, cfg.write_timeout).await {
                    return end;
                }
                shared.counters.bytes.fetch_add(buf.len() as u64, Relaxed);
                pending.push_back((end, w.socket().written));
                next = end;
                *high_water = (*high_water).max(end);
            }
        }
        // Turn acknowledged socket bytes into delivered messages.
        let now = Instant::now();
        if pending.is_empty() {
            last_progress = now;
        } else {
            let outq = match outq::unacked_bytes(&w.socket().tcp) {
                Ok(n) => n,
                Err(e) => return failed(format!("SIOCOUTQ: {e}")),
            };
            let acked = w.socket().written.saturating_sub(outq);
            if acked > acked_offset {
                acked_offset = acked;
                last_progress = now;
                poll = ACK_POLL_MIN;
                if acked > data_start
                    && let Some(t) = settle_until
                {
                    settle_until = Some(t.min(now + quiet));
                }
            }
            let settled = settle_until.is_none_or(|t| now >= t);
            if settled {
                let mut upto = None;
                while let Some(&(seq, off)) = pending.front() {
                    if off > acked_offset {
                        break;
                    }
                    upto = Some(seq);
                    pending.pop_front();
                }
                if let Some(seq) = upto {
                    shared.deliver(seq);
                }
            }
            if acked_offset < w.socket().written
                && now.duration_since(last_progress) > cfg.no_progress_timeout
            {
                return failed(format!(
                    "collector acknowledged nothing for {:.0}s ({} bytes outstanding): dead peer",
                    cfg.no_progress_timeout.as_secs_f64(),
                    w.socket().written - acked_offset
                ));
            }
        }
        if draining && pending.is_empty() {
            let _ = tokio::time::timeout(Duration::from_secs(2), w.shutdown()).await;
            return SessionEnd::Failback;
        }
        if !draining && failback_at.is_some_and(|t| now >= t) {
            // Stop writing here, let what was written be acknowledged, then reconnect to the
            // first address; anything unacknowledged is resent there.
            draining = true;
            continue;
        }
        if !draining && shared.end() > next {
            continue;
        }
        let wait = if !pending.is_empty() {
            let p = poll;
            poll = (poll * 2).min(ACK_POLL_MAX);
            p
        } else if let Some(t) = failback_at {
            t.saturating_duration_since(now).max(ACK_POLL_MIN)
        } else {
            Duration::from_secs(3600)
        };
        let wait = match settle_until {
            Some(t) if t > now && !pending.is_empty() => wait.min(t - now),
            _ => wait,
        };
        tokio::select! {
            _ = shared.work.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shared.stop.cancelled() => {}
            r = w.read(&mut rbuf) => match r {
                Ok(0) => return failed("collector closed the connection".into()),
                Ok(_) => {} // collectors do not talk back in syslog; ignore
                Err(e) => return SessionEnd::Failed {
                    error: tls::explain(&e),
                    handshake: is_tls_alert(&e),
                },
            },
        }
    }
}

/// Writes and flushes `buf`. The timeout applies to each step, so a slow collector that keeps
/// accepting bytes is not mistaken for a dead one; a stalled one is.
async fn write_batch(
    w: &mut Box<dyn Wire>,
    buf: &[u8],
    timeout: Duration,
) -> Result<(), SessionEnd> {
    let stalled = || SessionEnd::Failed {
        error: format!("write made no progress for {:.0}s", timeout.as_secs_f64()),
        handshake: false,
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

/// UDP: one datagram per message; delivered once handed to the kernel (loss is documented).
async fn run_udp(shared: Arc<Shared>, cfg: TransportConfig) {
    let address = cfg.addresses[0].clone();
    let mut backoff = Backoff::default();
    let sock = loop {
        match udp_socket(&cfg, &address).await {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!(transport = %shared.name, address = %address, error = %e, "UDP setup failed");
                let wait = backoff.next(cfg.backoff_min, cfg.backoff_max);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shared.stop.cancelled() => return,
                }
            }
        }
    };
    shared.counters.connects.fetch_add(1, Relaxed);
    set_connected(&shared, Some(&address));
    let mut seq = shared.base();
    loop {
        let Some(frame) = shared.peek_frame(seq) else {
            tokio::select! {
                _ = shared.work.notified() => continue,
                _ = shared.stop.cancelled() => return,
            }
        };
        // An ICMP error from an earlier datagram can surface here; one retry, then the
        // datagram counts as sent (UDP gives no delivery guarantee).
        let mut r = sock.send(&frame).await;
        if r.is_err() {
            r = sock.send(&frame).await;
        }
        if let Err(e) = r {
            tracing::warn!(transport = %shared.name, address = %address, error = %e, "UDP send failed; datagram lost");
        } else {
            shared.counters.bytes.fetch_add(frame.len() as u64, Relaxed);
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
