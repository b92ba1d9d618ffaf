//! From bytes written to a socket and the kernel's acknowledgements of them to delivered frames:
//! the accounting behind "delivered" (module docs of [`super`]), without I/O or a clock.
//!
//! The connection task reports what it did (a batch of frames written, ending at a socket
//! offset; a `SIOCOUTQ` reading; a new connection) with the time since the connection began.
//! [`AckTracker`] answers how many frames are delivered, whether the TLS settle is over, whether
//! the peer looks dead, and where the next connection starts writing again.

use std::collections::VecDeque;
use std::time::Duration;

/// The TLS settle of a new connection (see [`super::TransportConfig::tls_settle`]): nothing is
/// delivered before `max`, or before `quiet` after the peer first acknowledged our data if
/// that comes earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settle {
    pub max: Duration,
    pub quiet: Duration,
}

/// What one acknowledgement reading changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Observed {
    /// The peer acknowledged bytes it had not before.
    pub progressed: bool,
    /// Frames 0..n are now delivered (n larger than before).
    pub delivered: Option<u64>,
}

/// One connection's view: what was written on it and how much of that the peer acknowledged.
#[derive(Debug, Default)]
struct Connection {
    /// The next frame to write.
    next: u64,
    /// Socket bytes written so far (the TLS handshake included).
    written: u64,
    /// Socket bytes of the handshake: an acknowledgement beyond them is one of our records.
    data_start: u64,
    /// Highest socket offset the peer acknowledged.
    acked: u64,
    /// Written, not yet delivered batches: (frame after the batch, socket offset of its end).
    pending: VecDeque<(u64, u64)>,
    /// Nothing counts as delivered before this time (None: no settle, TCP).
    settle_until: Option<Duration>,
    quiet: Duration,
    /// When the peer last acknowledged something, or when bytes became outstanding.
    last_progress: Duration,
}

/// Frame accounting across connections: delivered count, resend point, settle, stall.
/// Times are durations since the current connection began.
#[derive(Debug, Default)]
pub(crate) struct AckTracker {
    /// Frames 0..delivered are delivered. Never decreases.
    delivered: u64,
    /// Every frame below this has been written at least once, on some connection.
    high_water: u64,
    conn: Connection,
}

impl AckTracker {
    /// Frames 0..n are delivered.
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered
    }

    /// A new connection whose handshake took `handshake_bytes` socket bytes. Everything written
    /// on the previous one and not delivered is forgotten as written, so it is written again:
    /// returns the first frame to write.
    pub(crate) fn connect(&mut self, handshake_bytes: u64, settle: Option<Settle>) -> u64 {
        self.conn = Connection {
            next: self.delivered,
            written: handshake_bytes,
            data_start: handshake_bytes,
            acked: 0,
            pending: VecDeque::new(),
            settle_until: settle.map(|s| s.max),
            quiet: settle.map_or(Duration::ZERO, |s| s.quiet),
            last_progress: Duration::ZERO,
        };
        self.delivered
    }

    /// The next frame to write on this connection.
    pub(crate) fn next(&self) -> u64 {
        self.conn.next
    }

    /// How many of frames next..`end` were written before, on an earlier connection: resent,
    /// not new.
    pub(crate) fn resent_in(&self, end: u64) -> u64 {
        let start = self.conn.next;
        self.high_water.clamp(start, end.max(start)) - start
    }

    /// Frames next..`end` were written as one batch, and the socket has now had
    /// `socket_written` bytes written.
    pub(crate) fn wrote(&mut self, end: u64, socket_written: u64, at: Duration) {
        let c = &mut self.conn;
        if end <= c.next {
            return;
        }
        if c.pending.is_empty() || c.acked >= c.written {
            // Nothing was waiting for the peer: the dead-peer clock starts now, not at the
            // last acknowledgement, however long the connection was idle.
            c.last_progress = at;
        }
        c.written = c.written.max(socket_written);
        c.pending.push_back((end, c.written));
        c.next = end;
        self.high_water = self.high_water.max(end);
    }

    /// Whether any written batch still waits for acknowledgement or for the settle.
    pub(crate) fn awaiting(&self) -> bool {
        !self.conn.pending.is_empty()
    }

    /// One reading: the socket has had `socket_written` bytes written and holds `outq` of them
    /// unacknowledged (`SIOCOUTQ`).
    pub(crate) fn observe(&mut self, socket_written: u64, outq: u64, at: Duration) -> Observed {
        let c = &mut self.conn;
        c.written = c.written.max(socket_written);
        let acked = socket_written.saturating_sub(outq);
        let mut seen = Observed::default();
        if acked > c.acked {
            c.acked = acked;
            c.last_progress = at;
            seen.progressed = true;
            if acked > c.data_start
                && let Some(t) = c.settle_until
            {
                c.settle_until = Some(t.min(at + c.quiet));
            }
        }
        if c.settle_until.is_none_or(|t| at >= t) {
            let mut upto = None;
            while let Some(&(end, offset)) = c.pending.front() {
                if offset > c.acked {
                    break;
                }
                upto = Some(end);
                c.pending.pop_front();
            }
            if let Some(end) = upto.filter(|&e| e > self.delivered) {
                self.delivered = end;
                seen.delivered = Some(end);
            }
        }
        seen
    }

    /// Unacknowledged socket bytes, if a batch waits and the peer has acknowledged none of
    /// them for longer than `timeout`: a dead peer.
    pub(crate) fn stalled(&self, at: Duration, timeout: Duration) -> Option<u64> {
        let c = &self.conn;
        let outstanding = c.written.saturating_sub(c.acked);
        let stalled = self.awaiting() && at.saturating_sub(c.last_progress) > timeout;
        (outstanding > 0 && stalled).then_some(outstanding)
    }

    /// Time left in the settle while something waits for it.
    pub(crate) fn settle_left(&self, at: Duration) -> Option<Duration> {
        match self.conn.settle_until {
            Some(t) if t > at && self.awaiting() => Some(t - at),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
