//! The bounded buffer of undelivered frames, shared by [`super::Transport`] (producer) and the
//! connection task (consumer). Frames stay here until delivered, so a dead connection's
//! unacknowledged messages can be written again; memory is bounded by `max_inflight_bytes`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tokio::sync::futures::Notified;
use tokio::sync::{Notify, watch};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use super::{Framing, TransportConfig, TransportError, TransportStats, framing};

#[derive(Debug, Default)]
struct Ledger {
    /// Frames of messages base..base+len, oldest first.
    frames: VecDeque<Vec<u8>>,
    /// Sequence number of `frames[0]` = number of messages delivered.
    base: u64,
    bytes: usize,
    closed: bool,
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    resent: AtomicU64,
    reconnects: AtomicU64,
    connects: AtomicU64,
    failovers: AtomicU64,
    bytes: AtomicU64,
    handshake_failures: AtomicU64,
}

/// The ledger, the counters behind [`TransportStats`] and the signals between
/// [`super::Transport`] and its connection task. Every field is private: the task reports
/// events through methods, so each counter has one place that moves it.
#[derive(Debug)]
pub(crate) struct Shared {
    name: String,
    ledger: Mutex<Ledger>,
    /// Signalled when buffer space is freed.
    space: Notify,
    /// Signalled when a frame is queued (one consumer: the connection task).
    work: Notify,
    delivered: watch::Sender<u64>,
    counters: Counters,
    connected_to: Mutex<Option<String>>,
    stop: CancellationToken,
    max_inflight: usize,
    max_message: usize,
    framing: Framing,
    udp: bool,
}

impl Shared {
    pub(crate) fn new(name: &str, cfg: &TransportConfig) -> Self {
        Self {
            name: name.to_string(),
            ledger: Mutex::new(Ledger::default()),
            space: Notify::new(),
            work: Notify::new(),
            delivered: watch::Sender::new(0),
            counters: Counters::default(),
            connected_to: Mutex::new(None),
            stop: CancellationToken::new(),
            max_inflight: cfg.max_inflight_bytes,
            max_message: cfg.effective_max_message(),
            framing: cfg.framing,
            udp: cfg.kind == super::TransportKind::Udp,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        // A panic while holding this lock cannot leave the ledger half-updated in a way that
        // loses frames (every update is a single push/pop), so a poisoned lock is still usable.
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) async fn push(&self, msg: &[u8]) -> Result<u64, TransportError> {
        if msg.len() > self.max_message {
            return Err(TransportError::MessageTooLarge {
                len: msg.len(),
                max: self.max_message,
            });
        }
        let frame = if self.udp {
            if msg.is_empty() {
                return Err(TransportError::EmptyMessage);
            }
            msg.to_vec()
        } else {
            let mut f = Vec::with_capacity(msg.len() + 8);
            framing::encode(self.framing, msg, &mut f)?;
            f
        };
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            {
                let mut l = self.lock();
                if l.closed || self.stop.is_cancelled() {
                    return Err(TransportError::Closed(self.name.clone()));
                }
                if l.frames.is_empty() || l.bytes + frame.len() <= self.max_inflight {
                    l.bytes += frame.len();
                    l.frames.push_back(frame);
                    let seq = l.base + l.frames.len() as u64 - 1;
                    drop(l);
                    self.counters.sent.fetch_add(1, Relaxed);
                    self.work.notify_one();
                    return Ok(seq);
                }
                // Register before releasing the lock so a concurrent delivery is not missed.
                notified.as_mut().enable();
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = self.stop.cancelled() => {}
            }
        }
    }

    /// Copies frames from `from` on into `out` until `max_bytes` is reached (at least one
    /// frame if any). Returns the sequence number after the last frame copied.
    pub(crate) fn copy_batch(&self, from: u64, max_bytes: usize, out: &mut Vec<u8>) -> u64 {
        let l = self.lock();
        let start = from.max(l.base);
        let mut seq = start;
        for f in l.frames.iter().skip((start - l.base) as usize) {
            if !out.is_empty() && out.len() + f.len() > max_bytes {
                break;
            }
            out.extend_from_slice(f);
            seq += 1;
        }
        seq
    }

    /// Pops one frame for UDP (which has no resend): (seq, frame).
    pub(crate) fn peek_frame(&self, seq: u64) -> Option<Vec<u8>> {
        let l = self.lock();
        if seq < l.base {
            return None;
        }
        l.frames.get((seq - l.base) as usize).cloned()
    }

    pub(crate) fn base(&self) -> u64 {
        self.lock().base
    }

    /// Sequence number the next `send` would get.
    pub(crate) fn end(&self) -> u64 {
        let l = self.lock();
        l.base + l.frames.len() as u64
    }

    /// Marks messages ..`upto` delivered and frees their space.
    pub(crate) fn deliver(&self, upto: u64) {
        {
            let mut l = self.lock();
            while l.base < upto {
                match l.frames.pop_front() {
                    Some(f) => {
                        l.bytes -= f.len();
                        l.base += 1;
                    }
                    None => break,
                }
            }
            let base = l.base;
            drop(l);
            self.delivered.send_if_modified(|d| {
                let grew = base > *d;
                *d = (*d).max(base);
                grew
            });
        }
        self.space.notify_waiters();
    }

    /// Refuses further sends; returns the number of messages accepted.
    pub(crate) fn close(&self) -> u64 {
        let mut l = self.lock();
        l.closed = true;
        let end = l.base + l.frames.len() as u64;
        drop(l);
        self.work.notify_one();
        self.space.notify_waiters();
        end
    }

    pub(crate) fn delivered_rx(&self) -> watch::Receiver<u64> {
        self.delivered.subscribe()
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Resolves when a frame is queued (or the transport is closed).
    pub(crate) fn work_queued(&self) -> Notified<'_> {
        self.work.notified()
    }

    /// Stops the connection task (and wakes a `send` waiting for space).
    pub(crate) fn stop(&self) {
        self.stop.cancel();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Resolves once [`Shared::stop`] was called.
    pub(crate) fn stopped(&self) -> WaitForCancellationFuture<'_> {
        self.stop.cancelled()
    }

    /// The address the task is connected to now, for `stats().connected_to`.
    pub(crate) fn set_connected(&self, address: Option<&str>) {
        if let Ok(mut g) = self.connected_to.lock() {
            *g = address.map(str::to_string);
        }
    }

    /// A connection (or UDP socket) is up; every one after the first is a reconnect.
    pub(crate) fn count_connect(&self) {
        if self.counters.connects.fetch_add(1, Relaxed) > 0 {
            self.counters.reconnects.fetch_add(1, Relaxed);
        }
    }

    /// Frames written again on a new connection.
    pub(crate) fn count_resent(&self, frames: u64) {
        self.counters.resent.fetch_add(frames, Relaxed);
    }

    /// Frame bytes written (resends included).
    pub(crate) fn count_bytes(&self, bytes: u64) {
        self.counters.bytes.fetch_add(bytes, Relaxed);
    }

    pub(crate) fn count_failover(&self) {
        self.counters.failovers.fetch_add(1, Relaxed);
    }

    pub(crate) fn count_handshake_failure(&self) {
        self.counters.handshake_failures.fetch_add(1, Relaxed);
    }

    pub(crate) fn stats(&self) -> TransportStats {
        let (delivered, buffered) = {
            let l = self.lock();
            (l.base, l.bytes as u64)
        };
        let c = &self.counters;
        TransportStats {
            sent: c.sent.load(Relaxed),
            delivered,
            resent: c.resent.load(Relaxed),
            reconnects: c.reconnects.load(Relaxed),
            connects: c.connects.load(Relaxed),
            failovers: c.failovers.load(Relaxed),
            bytes: c.bytes.load(Relaxed),
            handshake_failures: c.handshake_failures.load(Relaxed),
            buffered_bytes: buffered,
            connected_to: self
                .connected_to
                .lock()
                .map(|g| g.clone())
                .unwrap_or_default(),
        }
    }
}
