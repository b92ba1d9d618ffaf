//! [`AckTracker`] against a reference model that keeps one record per frame instead of one per
//! batch, for any sequence of writes, acknowledgement readings, clock steps and reconnects.
#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);
/// The defaults: `tls_settle` 2 s, quiet 250 ms.
const TLS: Settle = Settle {
    max: Duration::from_millis(2000),
    quiet: Duration::from_millis(250),
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[derive(Debug, Clone)]
enum Op {
    /// A new connection (the old one died): handshake bytes, and the settle if TLS.
    Connect {
        handshake: u64,
        settle: Option<(u64, u64)>,
    },
    /// A batch of `frames` frames that took `bytes` socket bytes.
    Write { frames: u64, bytes: u64 },
    /// The peer acknowledged `share` of the outstanding bytes; a stale reading reports less
    /// than it acknowledged before.
    Ack { share: f64, stale: bool },
    /// Time passes.
    Wait { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0u64..3000, proptest::option::of((0u64..1000, 0u64..400)))
            .prop_map(|(handshake, settle)| Op::Connect { handshake, settle }),
        4 => (1u64..6, 1u64..5000).prop_map(|(frames, bytes)| Op::Write { frames, bytes }),
        4 => (0.0f64..=1.0, proptest::bool::weighted(0.1))
            .prop_map(|(share, stale)| Op::Ack { share, stale }),
        2 => (0u64..600).prop_map(|ms| Op::Wait { ms }),
    ]
}

/// The reference: per frame, whether it was ever written and where (on this connection) the
/// write that carried it ended; a frame is delivered once that end is acknowledged on a settled
/// connection and every frame before it is delivered.
#[derive(Debug, Default)]
struct Model {
    ever_written: Vec<bool>,
    ends_at: Vec<Option<u64>>,
    delivered: u64,
    next: u64,
    socket: u64,
    acked: u64,
    handshake: u64,
    settle: Option<(Duration, Duration)>,
    first_data_ack: Option<Duration>,
    now: Duration,
}

impl Model {
    fn connect(&mut self, handshake: u64, settle: Option<(Duration, Duration)>) {
        self.ends_at.iter_mut().for_each(|e| *e = None);
        self.next = self.delivered;
        (self.socket, self.acked, self.handshake) = (handshake, 0, handshake);
        (self.settle, self.first_data_ack, self.now) = (settle, None, Duration::ZERO);
    }

    /// Returns how many of the frames had been written before.
    fn write(&mut self, frames: u64, bytes: u64) -> u64 {
        self.socket += bytes;
        let mut before = 0;
        for f in self.next..self.next + frames {
            let f = f as usize;
            if self.ever_written.len() <= f {
                self.ever_written.resize(f + 1, false);
                self.ends_at.resize(f + 1, None);
            }
            before += u64::from(self.ever_written[f]);
            self.ever_written[f] = true;
            self.ends_at[f] = Some(self.socket);
        }
        self.next += frames;
        before
    }

    fn settled(&self) -> bool {
        match self.settle {
            None => true,
            Some((max, quiet)) => {
                self.now >= max || self.first_data_ack.is_some_and(|t| self.now >= t + quiet)
            }
        }
    }

    fn ack(&mut self, reading: u64) {
        self.acked = self.acked.max(reading);
        if self.acked > self.handshake && self.first_data_ack.is_none() {
            self.first_data_ack = Some(self.now);
        }
        if !self.settled() {
            return;
        }
        while let Some(Some(end)) = self.ends_at.get(self.delivered as usize) {
            if *end > self.acked {
                break;
            }
            self.delivered += 1;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn delivered_frames_follow_the_per_frame_model(ops in proptest::collection::vec(op(), 1..80)) {
        let mut t = AckTracker::default();
        let mut m = Model::default();
        t.connect(0, None);
        m.connect(0, None);
        for op in ops {
            let before = t.delivered();
            match op {
                Op::Connect { handshake, settle } => {
                    let settle = settle.map(|(max, quiet)| (ms(max), ms(quiet)));
                    let from = t.connect(
                        handshake,
                        settle.map(|(max, quiet)| Settle { max, quiet }),
                    );
                    m.connect(handshake, settle);
                    // Nothing undelivered is forgotten: writing starts again at the first
                    // frame not delivered, which is also past every delivered one.
                    prop_assert_eq!(from, m.delivered);
                    prop_assert_eq!(t.next(), m.delivered);
                }
                Op::Write { frames, bytes } => {
                    prop_assert!(t.next() >= t.delivered(), "a delivered frame written again");
                    let end = t.next() + frames;
                    let resent = t.resent_in(end);
                    t.wrote(end, m.socket + bytes, m.now);
                    // Nothing written before counts as new, nothing new as resent.
                    prop_assert_eq!(resent, m.write(frames, bytes));
                }
                Op::Ack { share, stale } => {
                    let outstanding = m.socket - m.acked;
                    let mut reading = m.acked + (outstanding as f64 * share) as u64;
                    if stale {
                        reading /= 2;
                    }
                    let seen = t.observe(m.socket, m.socket - reading, m.now);
                    let progressed = reading > m.acked;
                    m.ack(reading);
                    prop_assert_eq!(seen.progressed, progressed);
                    let grew = (m.delivered > before).then_some(m.delivered);
                    prop_assert_eq!(seen.delivered, grew);
                    if grew.is_some() {
                        prop_assert!(m.settled(), "delivered before the settle ended");
                    }
                }
                Op::Wait { ms: n } => m.now += ms(n),
            }
            prop_assert_eq!(t.delivered(), m.delivered);
            prop_assert!(t.delivered() >= before, "delivered went back");
            prop_assert!(t.delivered() <= t.next());
            prop_assert_eq!(t.awaiting(), m.delivered < m.next);
        }
    }
}

#[test]
fn nothing_is_delivered_over_tls_before_the_settle() {
    let mut t = AckTracker::default();
    assert_eq!(t.connect(500, Some(TLS)), 0);
    t.wrote(10, 1500, Duration::ZERO);
    // Everything acknowledged at once, but the refusal could still come.
    let seen = t.observe(1500, 0, MS);
    assert!(seen.progressed);
    assert_eq!(seen.delivered, None);
    assert_eq!(t.settle_left(MS), Some(250 * MS));
    assert_eq!(t.observe(1500, 0, 250 * MS).delivered, None);
    assert_eq!(t.observe(1500, 0, 251 * MS).delivered, Some(10));
    assert_eq!(t.settle_left(251 * MS), None);
}

#[test]
fn an_acknowledged_handshake_alone_does_not_shorten_the_settle() {
    let mut t = AckTracker::default();
    t.connect(500, Some(TLS));
    t.wrote(3, 900, Duration::ZERO);
    t.observe(900, 400, MS); // the handshake's 500 bytes only
    assert_eq!(t.settle_left(300 * MS), Some(1700 * MS));
    t.observe(900, 0, 1000 * MS);
    assert_eq!(t.observe(900, 0, 1249 * MS).delivered, None);
    assert_eq!(t.observe(900, 0, 1250 * MS).delivered, Some(3));
}

#[test]
fn a_reconnect_writes_the_unacknowledged_frames_again_and_counts_them_as_resent() {
    let mut t = AckTracker::default();
    t.connect(0, None);
    assert_eq!(t.resent_in(4), 0);
    t.wrote(4, 400, Duration::ZERO);
    t.wrote(8, 800, Duration::ZERO);
    // The first batch is acknowledged, half the second one: only the first is delivered.
    assert_eq!(t.observe(800, 200, MS).delivered, Some(4));
    assert_eq!(t.connect(0, None), 4);
    assert_eq!(t.resent_in(10), 4);
    t.wrote(10, 600, Duration::ZERO);
    assert_eq!(t.observe(600, 0, MS).delivered, Some(10));
    assert!(!t.awaiting());
}

fn tcp_with_one_frame_of_100_bytes() -> AckTracker {
    let mut t = AckTracker::default();
    t.connect(0, None);
    t.wrote(1, 100, Duration::ZERO);
    t
}

#[test]
fn a_peer_that_acknowledges_nothing_is_stalled_after_the_timeout() {
    let timeout = 60_000 * MS;
    let mut t = tcp_with_one_frame_of_100_bytes();
    t.observe(100, 100, MS);
    assert_eq!(t.stalled(timeout, timeout), None);
    assert_eq!(t.stalled(timeout + MS, timeout), Some(100));
    // Any acknowledgement restarts the clock.
    t.observe(100, 40, timeout + MS);
    assert_eq!(t.stalled(timeout + 2 * MS, timeout), None);
}

#[test]
fn a_write_after_a_long_idle_spell_is_not_a_dead_peer() {
    let timeout = 60_000 * MS;
    let mut t = tcp_with_one_frame_of_100_bytes();
    assert_eq!(t.observe(100, 0, MS).delivered, Some(1));
    // An hour without messages, then one whose bytes the peer has not acknowledged yet.
    let later = 3_600_000 * MS;
    t.wrote(2, 200, later);
    t.observe(200, 100, later + MS);
    assert_eq!(t.stalled(later + MS, timeout), None);
    assert_eq!(t.stalled(later + timeout + 2 * MS, timeout), Some(100));
}
