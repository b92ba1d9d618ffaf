//! Delivery under failure, over real loopback sockets: a collector killed mid-stream and
//! restarted, a collector that stops reading (backpressure), a silently stuck peer, failover
//! to the next address and fail-back to the first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use forwarder::transport::{Transport, TransportConfig, TransportKind};
use sim::collector::{self, Collector, Options};
use sim::pki::{PkiFiles, TestPki};

const WAIT: Duration = Duration::from_secs(90);

fn tls_config(addresses: Vec<String>, files: &PkiFiles) -> TransportConfig {
    let mut c = TransportConfig::new(TransportKind::Tls, addresses);
    c.tls.use_system_roots = false;
    c.tls.ca_file = Some(files.ca.clone());
    c.backoff_min = Duration::from_millis(50);
    c.backoff_max = Duration::from_millis(300);
    c.tls_settle = Duration::from_millis(200);
    c
}

fn msg(i: usize, pad: usize) -> Vec<u8> {
    format!(
        "<14>1 2024-01-01T00:00:00.000Z host app - seq={i:06} - {}",
        "é".repeat(pad)
    )
    .into_bytes()
}

/// Occurrences of each sequence number among the collector's frames.
fn tally(frames: &[Vec<u8>]) -> BTreeMap<usize, usize> {
    let mut t = BTreeMap::new();
    for f in frames {
        let s = std::str::from_utf8(f).unwrap();
        let i: usize = s.split("seq=").nth(1).unwrap()[..6].parse().unwrap();
        *t.entry(i).or_default() += 1;
    }
    t
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

/// Waits until a paused collector's unread bytes stop changing (the TCP window is full).
async fn until_queue_full(c: &Collector) {
    let mut last = usize::MAX;
    let mut stable = 0;
    until("the collector's receive queue to fill", || {
        let q = c.queued_bytes();
        if q > 0 && q == last {
            stable += 1;
        } else {
            stable = 0;
        }
        last = q;
        stable >= 50 // ~1 s unchanged
    })
    .await;
}

fn pki() -> (TestPki, tempfile::TempDir, PkiFiles) {
    let pki = TestPki::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_to(dir.path()).unwrap();
    (pki, dir, files)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_collector_killed_mid_stream_then_restarted_loses_nothing() {
    let (pki, _d, files) = pki();
    let mut opts = Options::tls(pki.server_config(false).unwrap());
    opts.recv_buffer = Some(16 * 1024);
    let c = collector::start(opts).await.unwrap();
    let cfg = tls_config(vec![c.address()], &files);
    kill_and_restart(c, cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_collector_killed_mid_stream_then_restarted_loses_nothing() {
    let mut opts = Options::tcp();
    opts.recv_buffer = Some(16 * 1024);
    let c = collector::start(opts).await.unwrap();
    let mut cfg = TransportConfig::new(TransportKind::Tcp, vec![c.address()]);
    cfg.backoff_min = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(300);
    kill_and_restart(c, cfg).await;
}

async fn kill_and_restart(c: Collector, cfg: TransportConfig) {
    let t = Arc::new(Transport::start("kill", cfg).unwrap());

    // Phase 1: a normal stream.
    let n1 = 300;
    for i in 0..n1 {
        t.send(msg(i, 50)).await.unwrap();
    }
    assert!(c.wait_for(n1, WAIT).await);

    // Phase 2: the collector stops reading; the sender keeps writing until the window is
    // full, so messages are written but unacknowledged when the collector dies.
    c.pause_reading();
    let total = 3000;
    for i in n1..total {
        t.send(msg(i, 50)).await.unwrap();
    }
    until_queue_full(&c).await;
    let before_kill = t.stats();
    assert!(
        before_kill.delivered < total as u64,
        "some messages must be in flight: {before_kill:?}"
    );
    c.stop().await;
    let at_kill = c.count();
    eprintln!("killed with {at_kill} frames recorded, transport {before_kill:?}");

    // The transport notices, keeps reconnecting while the port is closed, then resends.
    until("the transport to notice", || {
        t.stats().connected_to.is_none()
    })
    .await;
    c.restart().await.unwrap();
    let mut rx = t.delivered();
    tokio::time::timeout(WAIT, rx.wait_for(|d| *d >= total as u64))
        .await
        .unwrap()
        .unwrap();
    until("every message at the collector", || {
        tally(&c.messages()).len() == total
    })
    .await;

    let counts = tally(&c.messages());
    let missing: Vec<_> = (0..total).filter(|i| !counts.contains_key(i)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    let dups: usize = counts.values().map(|n| n - 1).sum();
    let s = t.stats();
    eprintln!("every one of {total} messages arrived; {dups} duplicates; stats {s:?}");
    assert!(s.resent > 0 && s.reconnects >= 1, "{s:?}");
    assert!(dups as u64 <= s.resent, "duplicates only come from resends");
    assert!(
        c.errors()
            .iter()
            .all(|e| !e.contains("MSG-LEN") && !e.contains("header")),
        "{:?}",
        c.errors()
    );
    t.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_that_stops_reading_blocks_the_sender_with_bounded_memory() {
    let (pki, _d, files) = pki();
    let mut opts = Options::tls(pki.server_config(false).unwrap());
    opts.recv_buffer = Some(16 * 1024);
    let c = collector::start(opts).await.unwrap();
    c.pause_reading();
    let mut cfg = tls_config(vec![c.address()], &files);
    let limit = 64 * 1024;
    cfg.max_inflight_bytes = limit;
    cfg.max_message_bytes = 1024;
    // A slow collector is not a dead one here.
    cfg.write_timeout = Duration::from_secs(3600);
    cfg.no_progress_timeout = Duration::from_secs(3600);
    let t = Arc::new(Transport::start("slow", cfg).unwrap());
    let total = 20_000usize; // ~2.5 MB, far above the 64 KiB limit
    let sender = {
        let t = t.clone();
        tokio::spawn(async move {
            for i in 0..total {
                t.send(msg(i, 30)).await.unwrap();
            }
        })
    };
    until_queue_full(&c).await;
    let mut sent = t.stats().sent;
    // The sender is blocked: `sent` no longer moves and the buffer stays within the limit.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let s = t.stats();
        assert!(
            s.buffered_bytes <= limit as u64,
            "buffer over the limit: {s:?}"
        );
        assert_eq!(
            s.sent, sent,
            "send() must block while the collector does not read"
        );
        sent = s.sent;
    }
    assert!(!sender.is_finished());
    assert!((sent as usize) < total);
    eprintln!(
        "blocked after {sent} of {total} messages, {} bytes buffered",
        t.stats().buffered_bytes
    );

    c.resume_reading();
    sender.await.unwrap();
    let mut rx = t.delivered();
    tokio::time::timeout(WAIT, rx.wait_for(|d| *d >= total as u64))
        .await
        .unwrap()
        .unwrap();
    assert!(c.wait_for(total, WAIT).await);
    let frames = c.messages();
    assert_eq!(frames.len(), total, "no duplicates without a reconnect");
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f, &msg(i, 30), "order and content");
    }
    t.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_acknowledges_nothing_is_dropped_and_the_messages_resent() {
    let (pki, _d, files) = pki();
    let mut opts = Options::tls(pki.server_config(false).unwrap());
    opts.recv_buffer = Some(16 * 1024);
    let c = collector::start(opts).await.unwrap();
    c.pause_reading();
    let mut cfg = tls_config(vec![c.address()], &files);
    cfg.no_progress_timeout = Duration::from_secs(2);
    cfg.write_timeout = Duration::from_secs(2);
    let t = Arc::new(Transport::start("stuck", cfg).unwrap());
    let total = 5000;
    let sender = {
        let t = t.clone();
        tokio::spawn(async move {
            for i in 0..total {
                t.send(msg(i, 50)).await.unwrap();
            }
        })
    };
    until("a reconnect after no progress", || {
        t.stats().reconnects >= 1
    })
    .await;
    c.resume_reading();
    sender.await.unwrap();
    let mut rx = t.delivered();
    tokio::time::timeout(WAIT, rx.wait_for(|d| *d >= total as u64))
        .await
        .unwrap()
        .unwrap();
    until("every message", || tally(&c.messages()).len() == total).await;
    // The collector reads the dropped connection's buffered bytes too: those are duplicates.
    let dups: usize = tally(&c.messages()).values().map(|n| n - 1).sum();
    let s = t.stats();
    eprintln!("dead peer: all {total} arrived, {dups} duplicates, stats {s:?}");
    assert!(dups as u64 <= s.resent, "duplicates only come from resends");
    t.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_to_the_next_address_and_back_to_the_first() {
    let (pki, _d, files) = pki();
    let primary = collector::start(Options::tls(pki.server_config(false).unwrap()))
        .await
        .unwrap();
    let backup = collector::start(Options::tls(pki.server_config(false).unwrap()))
        .await
        .unwrap();
    primary.stop().await; // primary is down at start
    let mut cfg = tls_config(vec![primary.address(), backup.address()], &files);
    cfg.failback_after = Some(Duration::from_secs(2));
    let t = Transport::start("failover", cfg).unwrap();
    for i in 0..100 {
        t.send(msg(i, 5)).await.unwrap();
    }
    let mut rx = t.delivered();
    tokio::time::timeout(WAIT, rx.wait_for(|d| *d >= 100))
        .await
        .unwrap()
        .unwrap();
    assert!(backup.wait_for(100, WAIT).await);
    assert_eq!(primary.count(), 0);

    primary.restart().await.unwrap();
    let p = primary.address();
    until("fail-back to the primary", || {
        t.stats().connected_to.as_deref() == Some(p.as_str())
    })
    .await;
    for i in 100..200 {
        t.send(msg(i, 5)).await.unwrap();
    }
    tokio::time::timeout(WAIT, rx.wait_for(|d| *d >= 200))
        .await
        .unwrap()
        .unwrap();
    assert!(primary.wait_for(100, WAIT).await);
    let on_primary = tally(&primary.messages());
    assert!(
        on_primary.keys().all(|i| *i >= 100),
        "only post-failback messages on the primary"
    );
    let mut all = tally(&backup.messages());
    for (k, v) in on_primary {
        *all.entry(k).or_default() += v;
    }
    assert_eq!(
        all.len(),
        200,
        "every message reached one of the collectors"
    );
    t.shutdown(Duration::from_secs(10)).await;
}
