//! The stream source against librdkafka's mock cluster: conservation, the commit rule,
//! restart, consumer-group scale-out and fail-over, and backpressure without leaving the group.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;

const P: i32 = 4;
const N: i64 = 25;

fn full(n: i64) -> Vec<Option<i64>> {
    vec![Some(n); P as usize]
}

fn as_vec(m: &BTreeMap<i32, i64>) -> Vec<Option<i64>> {
    (0..P).map(|p| m.get(&p).copied()).collect()
}

/// Every wanted record exactly once, in partition order, and nothing else.
fn assert_exactly(got: &BTreeMap<i32, Vec<String>>, want: &BTreeMap<i32, Vec<String>>) {
    for p in 0..P {
        assert_eq!(got.get(&p), want.get(&p), "partition {p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delivers_every_record_once_and_commits_only_delivered() {
    let cluster = Cluster::start(P);
    let want = cluster.produce(P, N);
    let group = "g-conserve";
    let h = Harness::start(cluster.config(group), "a", 64, 0);
    wait_until("every message read", || {
        h.got().len() == (P as usize) * N as usize
    })
    .await;
    let got = h.got();
    assert_exactly(&ids_by_partition(&got), &want);
    // Filtered messages still arrive (with no events) so their offsets can be committed.
    assert!(got.iter().any(|g| g.ids.is_empty()));
    let stats = h.stats.snapshot();
    assert_eq!(
        stats.iter().map(|s| s.consumed).sum::<u64>(),
        (P as u64) * N as u64
    );
    assert!(stats.iter().all(|s| s.filtered > 0 && s.assigned));

    // Nothing delivered: nothing committed.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(cluster.committed(group, P), vec![None; P as usize]);

    // Part delivered: each partition committed exactly up to its first undelivered message.
    let total: u64 = got.iter().map(|g| g.seqs.1 - g.seqs.0).sum();
    let limit = total / 2;
    h.limit.store(limit, Ordering::SeqCst);
    let expected = expected_commits(&got, limit);
    assert!(
        expected.len() < P as usize || expected.values().any(|&o| o < N),
        "the test must leave something undelivered: {expected:?}"
    );
    wait_committed(&cluster, group, P, &as_vec(&expected)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        cluster.committed(group, P),
        as_vec(&expected),
        "moved past undelivered"
    );

    h.limit.store(u64::MAX, Ordering::SeqCst);
    wait_committed(&cluster, group, P, &full(N)).await;
    wait_until("stats see the commits and the watermark", || {
        h.stats.snapshot().iter().all(|s| {
            s.committed == Some(N) && s.high_watermark == Some(N) && s.lag_messages() == Some(0)
        })
    })
    .await;
    assert_eq!(h.stats.assignments(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_source_resumes_from_the_commits_and_loses_nothing() {
    let cluster = Cluster::start(P);
    let want = cluster.produce(P, N);
    let group = "g-restart";
    let h = Harness::start(cluster.config(group), "a", 64, 0);
    wait_until("every message read", || {
        h.got().len() == (P as usize) * N as usize
    })
    .await;
    let first = h.got();
    let total: u64 = first.iter().map(|g| g.seqs.1 - g.seqs.0).sum();
    let limit = total / 3;
    h.limit.store(limit, Ordering::SeqCst);
    let expected = expected_commits(&first, limit);
    wait_committed(&cluster, group, P, &as_vec(&expected)).await;
    h.stop().await;
    // The close committed nothing more (nothing more was delivered).
    let committed = cluster.committed(group, P);
    assert_eq!(committed, as_vec(&expected));

    let h = Harness::start(cluster.config(group), "b", 64, u64::MAX);
    wait_committed(&cluster, group, P, &full(N)).await;
    let second = h.got();
    for p in 0..P {
        let from = committed[p as usize].unwrap_or(0);
        let offsets: Vec<i64> = second
            .iter()
            .filter(|g| g.key.partition == p)
            .map(|g| g.offset)
            .collect();
        // Redelivers exactly the uncommitted messages, in order, each once.
        assert_eq!(offsets, (from..N).collect::<Vec<_>>(), "partition {p}");
    }
    // Delivered by the first run (prefix) + the second = everything, in order.
    let mut delivered: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for g in first
        .iter()
        .filter(|g| g.offset < committed[g.key.partition as usize].unwrap_or(0))
    {
        delivered
            .entry(g.key.partition)
            .or_default()
            .extend(g.ids.clone());
    }
    for (p, ids) in ids_by_partition(&second) {
        delivered.entry(p).or_default().extend(ids);
    }
    assert_exactly(&delivered, &want);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sources_split_fail_over_and_never_commit_revoked_partitions() {
    let cluster = Cluster::start(P);
    let want = cluster.produce(P, N);
    let group = "g-scale";
    // A reads everything alone but delivers nothing yet.
    let a = Harness::start(cluster.config(group), "a", 256, 0);
    wait_until("A read everything", || {
        a.got().len() == (P as usize) * N as usize
    })
    .await;
    let a_first_epoch = a.got()[0].key.clone();

    // B joins: the partitions are split; B delivers nothing.
    let b = Harness::start(cluster.config(group), "b", 256, 0);
    wait_until("the group split the partitions", || {
        let (x, y) = (a.assigned(), b.assigned());
        !x.is_empty() && !y.is_empty() && x.len() + y.len() == P as usize
    })
    .await;
    let b_parts = b.assigned();
    let a_parts = a.assigned();
    assert!(b_parts.iter().all(|p| !a_parts.contains(p)));
    assert!(!a.committer.is_current(&a_first_epoch) || a_parts.contains(&a_first_epoch.partition));

    // A now "delivers" everything it ever read, old epochs included: only its current
    // partitions may be committed; B's stay uncommitted.
    a.limit.store(u64::MAX, Ordering::SeqCst);
    let mut want_commit = vec![None; P as usize];
    for p in &a_parts {
        want_commit[*p as usize] = Some(N);
    }
    wait_committed(&cluster, group, P, &want_commit).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        cluster.committed(group, P),
        want_commit,
        "a revoked partition was committed"
    );

    // B delivers part of its partitions, then leaves (committing on revoke what it staged).
    wait_until("B read its partitions", || {
        b.got().iter().filter(|g| g.offset == N - 1).count() == b_parts.len()
    })
    .await;
    let b_got = b.got();
    let b_total: u64 = b_got.iter().map(|g| g.seqs.1 - g.seqs.0).sum();
    b.limit.store(b_total / 2, Ordering::SeqCst);
    let b_expected = expected_commits(&b_got, b_total / 2);
    for (p, o) in &b_expected {
        want_commit[*p as usize] = Some(*o);
    }
    wait_committed(&cluster, group, P, &want_commit).await;
    let a_before = a.got().len();
    b.stop().await;
    let after_b = cluster.committed(group, P);
    assert_eq!(after_b, want_commit);

    // A takes B's partitions over and redelivers exactly their uncommitted messages.
    wait_committed(&cluster, group, P, &full(N)).await;
    let a_got = a.got();
    assert!(b_expected.len() < b_parts.len() || b_expected.values().any(|&o| o < N));
    for p in &b_parts {
        let from = after_b[*p as usize].unwrap_or(0);
        let offsets: Vec<i64> = a_got[a_before..]
            .iter()
            .filter(|g| g.key.partition == *p)
            .map(|g| g.offset)
            .collect();
        assert_eq!(offsets, (from..N).collect::<Vec<_>>(), "partition {p}");
    }
    // Conservation: per partition, the last owner's reads from the final commit of the one
    // before cover the rest; here: everything is committed and every record was read.
    let mut seen: BTreeMap<i32, std::collections::BTreeSet<String>> = BTreeMap::new();
    for g in a_got.iter().chain(b_got.iter()) {
        seen.entry(g.key.partition)
            .or_default()
            .extend(g.ids.iter().cloned());
    }
    for p in 0..P {
        let w: std::collections::BTreeSet<String> = want[&p].iter().cloned().collect();
        assert_eq!(seen[&p], w, "partition {p}");
    }
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_channel_past_max_poll_interval_keeps_the_membership() {
    let cluster = Cluster::start(P);
    let want = cluster.produce(P, N);
    let group = "g-stall";
    let mut cfg = cluster.config(group);
    cfg.extra
        .push(("max.poll.interval.ms".into(), "7000".into()));
    let h = Harness::start(cfg, "a", 2, u64::MAX);
    h.reading.store(false, Ordering::SeqCst);
    wait_until("the channel filled", || {
        h.stats.snapshot().iter().map(|s| s.consumed).sum::<u64>() >= 2
    })
    .await;
    // Twice max.poll.interval.ms with nobody reading the channel.
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert!(h.got().is_empty());
    assert_eq!(h.stats.assignments(), 1, "the consumer was rebalanced out");
    h.reading.store(true, Ordering::SeqCst);
    wait_committed(&cluster, group, P, &full(N)).await;
    assert_eq!(h.stats.assignments(), 1, "the consumer was rebalanced out");
    assert_exactly(&ids_by_partition(&h.got()), &want);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_and_unclassified_records_pass_the_filter() {
    let cluster = Cluster::start(1);
    let bodies: [&[u8]; 4] = [
        b"not json at all",
        br#"{"records":[{"time":"2026-12-02T06:00:00Z","properties":{"AlertId":"no-category"}},42]}"#,
        br#"{"records":[{"category":"AdvancedHunting-EmailEvents","properties":{}}]}"#,
        b"",
    ];
    cluster.produce_raw(0, &bodies);
    let h = Harness::start(cluster.config("g-odd"), "a", 16, u64::MAX);
    wait_committed(&cluster, "g-odd", 1, &[Some(4)]).await;
    let ids: Vec<Vec<String>> = h.got().into_iter().map(|g| g.ids).collect();
    let t = TOPIC;
    assert_eq!(
        ids,
        vec![
            vec![format!("unreadable Some(\"{t}/0/0\")")],
            vec![
                format!("{t}/0/1/0"),
                format!("unreadable Some(\"{t}/0/1/1\")")
            ],
            vec![],
            vec![format!("unreadable Some(\"{t}/0/3\")")],
        ]
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebalance_while_paused_is_served_and_nothing_stale_is_forwarded() {
    let cluster = Cluster::start(P);
    let want = cluster.produce(P, N);
    let group = "g-paused-rebalance";
    let a = Harness::start(cluster.config(group), "a", 2, u64::MAX);
    a.reading.store(false, Ordering::SeqCst);
    wait_until("A's channel filled", || {
        a.stats.snapshot().iter().map(|s| s.consumed).sum::<u64>() >= 3
    })
    .await;
    // B joins while A is paused: A must serve the rebalance without reading its channel.
    let b = Harness::start(cluster.config(group), "b", 64, u64::MAX);
    wait_until("the group split the partitions", || {
        let (x, y) = (a.assigned(), b.assigned());
        !x.is_empty() && !y.is_empty() && x.len() + y.len() == P as usize
    })
    .await;
    assert!(
        a.stats.assignments() >= 2,
        "A served the rebalance while paused"
    );
    a.reading.store(true, Ordering::SeqCst);
    wait_committed(&cluster, group, P, &full(N)).await;
    let (a_got, b_got) = (a.got(), b.got());
    // Whatever A held or had queued from before the rebalance was not forwarded: each owner
    // read its partitions of the current epoch from the start, once, in order.
    for (h, got) in [(&a, &a_got), (&b, &b_got)] {
        for p in h.assigned() {
            let offsets: Vec<i64> = got
                .iter()
                .filter(|g| g.key.partition == p)
                .map(|g| g.offset)
                .collect();
            assert_eq!(offsets, (0..N).collect::<Vec<_>>(), "partition {p}");
            let ids: Vec<String> = got
                .iter()
                .filter(|g| g.key.partition == p)
                .flat_map(|g| g.ids.clone())
                .collect();
            assert_eq!(Some(&ids), want.get(&p), "partition {p}");
        }
    }
    b.stop().await;
    a.stop().await;
}

/// Many pause/resume cycles (the test pipeline commits after every message, so it is slower
/// than the reader and the channel keeps filling): every offset still arrives, in order.
/// (Kept under ~8,000 messages a partition: librdkafka's mock broker drops older log segments
/// beyond that, which moves the low watermark and would look like a loss.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_cycles_skip_no_message() {
    const M: i64 = 3000;
    let cluster = Cluster::start(P);
    let want = cluster.produce(P, M);
    let group = "g-cycles";
    let h = Harness::start(cluster.config(group), "a", 64, u64::MAX);
    wait_committed(&cluster, group, P, &full(M)).await;
    let got = h.got();
    for p in 0..P {
        let offsets: Vec<i64> = got
            .iter()
            .filter(|g| g.key.partition == p)
            .map(|g| g.offset)
            .collect();
        assert_eq!(offsets, (0..M).collect::<Vec<_>>(), "partition {p}");
    }
    assert_exactly(&ids_by_partition(&got), &want);
    assert_eq!(h.stats.assignments(), 1);
    h.stop().await;
}
