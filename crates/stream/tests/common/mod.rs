//! Test harness: librdkafka's mock cluster (3 brokers, plaintext), a producer, a group-offset
//! reader, and a test pipeline that stands in for the forwarder: it numbers every event like
//! the transport would, feeds an `OffsetTracker`, and "delivers" up to a limit the test sets.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alert_model::stream::offsets::{OffsetTracker, PartitionKey};
use alert_model::stream::{StreamEvent, StreamMessage};
use stream_source::rdkafka::consumer::{BaseConsumer, Consumer};
use stream_source::rdkafka::mocking::MockCluster;
use stream_source::rdkafka::producer::{
    BaseProducer, BaseRecord, DefaultProducerContext, Producer,
};
use stream_source::rdkafka::{ClientConfig, Offset, TopicPartitionList};
use stream_source::{Committer, Security, StreamConfig, StreamSource, StreamStats};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const TOPIC: &str = "defender-events";

pub struct Cluster {
    pub mock: MockCluster<'static, DefaultProducerContext>,
    pub bootstrap: String,
}

impl Cluster {
    pub fn start(partitions: i32) -> Self {
        let mock = MockCluster::new(3).unwrap();
        mock.create_topic(TOPIC, partitions, 1).unwrap();
        let bootstrap = mock.bootstrap_servers();
        Self { mock, bootstrap }
    }

    /// Produces `per_partition` messages to every partition; message `i` of partition `p`
    /// holds three records: AlertInfo, AlertEvidence, and (every third message) a
    /// DeviceProcessEvents row the filter drops; every fifth message holds only
    /// DeviceProcessEvents rows (all filtered: still committed). Returns the ids of the records
    /// that must arrive, per partition in order.
    pub fn produce(&self, partitions: i32, per_partition: i64) -> BTreeMap<i32, Vec<String>> {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("linger.ms", "5")
            .create()
            .unwrap();
        let mut want: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for p in 0..partitions {
            for i in 0..per_partition {
                let tables: Vec<&str> = if i % 5 == 4 {
                    vec!["DeviceProcessEvents", "DeviceProcessEvents"]
                } else if i % 3 == 0 {
                    vec!["AlertInfo", "DeviceProcessEvents", "AlertEvidence"]
                } else {
                    vec!["AlertInfo", "AlertEvidence", "alertinfo"]
                };
                let records: Vec<String> = tables
                    .iter()
                    .enumerate()
                    .map(|(j, t)| {
                        format!(
                            r#"{{"time":"2026-12-02T06:00:00.1234567Z","tenantId":"tenant-1","operationName":"Publish","category":"AdvancedHunting-{t}","properties":{{"AlertId":"da-{p}-{i}-{j}","Title":"t {p} {i} {j}"}}}}"#
                        )
                    })
                    .collect();
                for (j, t) in tables.iter().enumerate() {
                    if t.eq_ignore_ascii_case("AlertInfo") || *t == "AlertEvidence" {
                        want.entry(p)
                            .or_default()
                            .push(format!("{TOPIC}/{p}/{i}/{j}"));
                    }
                }
                let body = format!(r#"{{"records":[{}]}}"#, records.join(","));
                producer
                    .send(BaseRecord::<(), _>::to(TOPIC).partition(p).payload(&body))
                    .map_err(|(e, _)| e)
                    .unwrap();
                producer.poll(Duration::ZERO);
            }
        }
        producer.flush(Duration::from_secs(30)).unwrap();
        want
    }

    /// Produces `bodies` as they are to `partition`.
    pub fn produce_raw(&self, partition: i32, bodies: &[&[u8]]) {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .unwrap();
        for body in bodies {
            producer
                .send(
                    BaseRecord::<(), [u8]>::to(TOPIC)
                        .partition(partition)
                        .payload(*body),
                )
                .map_err(|(e, _)| e)
                .unwrap();
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// The group's committed offsets, by partition (`None`: nothing committed).
    pub fn committed(&self, group: &str, partitions: i32) -> Vec<Option<i64>> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(TOPIC, p);
        }
        let got = c.committed_offsets(tpl, Duration::from_secs(20)).unwrap();
        (0..partitions)
            .map(|p| match got.find_partition(TOPIC, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            })
            .collect()
    }

    pub fn config(&self, group: &str) -> StreamConfig {
        let mut cfg = StreamConfig::new(
            self.bootstrap.clone(),
            vec![TOPIC.into()],
            group,
            Security::Plaintext,
        );
        cfg.tables = vec!["AlertInfo".into(), "advancedhunting-alertevidence".into()];
        cfg.extra = vec![
            ("session.timeout.ms".into(), "6000".into()),
            ("heartbeat.interval.ms".into(), "500".into()),
            ("statistics.interval.ms".into(), "1000".into()),
        ];
        cfg
    }
}

/// One message as the test pipeline got it.
#[derive(Debug, Clone)]
pub struct Got {
    pub key: PartitionKey,
    pub offset: i64,
    pub ids: Vec<String>,
    /// Transport sequence numbers `start..end` of its events.
    pub seqs: (u64, u64),
}

/// A running source and its test pipeline.
pub struct Harness {
    pub got: Arc<Mutex<Vec<Got>>>,
    /// Events `0..limit` count as delivered.
    pub limit: Arc<AtomicU64>,
    /// Whether the pipeline reads the channel.
    pub reading: Arc<AtomicBool>,
    pub stats: Arc<StreamStats>,
    pub committer: Committer,
    cancel: CancellationToken,
    source: JoinHandle<Result<(), stream_source::StreamError>>,
    pipeline: JoinHandle<()>,
}

impl Harness {
    pub fn start(cfg: StreamConfig, name: &str, channel: usize, limit: u64) -> Self {
        let source = StreamSource::new(cfg, name).unwrap();
        let committer = source.committer();
        let stats = source.stats();
        let (tx, mut rx) = mpsc::channel::<StreamMessage>(channel);
        let cancel = CancellationToken::new();
        let got = Arc::new(Mutex::new(Vec::new()));
        let limit = Arc::new(AtomicU64::new(limit));
        let reading = Arc::new(AtomicBool::new(true));
        let source = tokio::spawn(source.run(tx, cancel.clone()));
        let pipeline = tokio::spawn({
            let (got, limit, reading, cancel, committer) = (
                got.clone(),
                limit.clone(),
                reading.clone(),
                cancel.clone(),
                committer.clone(),
            );
            async move {
                let mut tracker = OffsetTracker::new();
                let mut keys: HashSet<PartitionKey> = HashSet::new();
                let mut seq = 0u64;
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                loop {
                    let read = reading.load(Ordering::SeqCst);
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        m = rx.recv(), if read => {
                            let Some(m) = m else { break };
                            let key = PartitionKey {
                                topic: m.pos.topic.clone(),
                                partition: m.pos.partition,
                                epoch: m.epoch,
                            };
                            if !committer.is_current(&key) {
                                continue;
                            }
                            let start = seq;
                            let ids: Vec<String> = m
                                .events
                                .iter()
                                .map(|e| match e {
                                    StreamEvent::Record(r) => r.record_id(),
                                    StreamEvent::Unreadable(u) => format!("unreadable {:?}", u.id),
                                })
                                .collect();
                            seq += ids.len() as u64;
                            let last = (seq > start).then(|| seq - 1);
                            tracker.message(key.clone(), m.pos.offset, last);
                            keys.insert(key.clone());
                            got.lock().unwrap().push(Got { key, offset: m.pos.offset, ids, seqs: (start, seq) });
                        }
                        _ = tick.tick() => {}
                    }
                    tracker.delivered(seq.min(limit.load(Ordering::SeqCst)));
                    for k in keys.iter().filter(|k| !committer.is_current(k)) {
                        tracker.forget(k);
                    }
                    keys.retain(|k| committer.is_current(k));
                    committer.stage(tracker.take_ready());
                    let c = committer.clone();
                    if let Err(e) = tokio::task::block_in_place(move || c.flush()) {
                        eprintln!("flush: {e}");
                    }
                }
            }
        });
        Self {
            got,
            limit,
            reading,
            stats,
            committer,
            cancel,
            source,
            pipeline,
        }
    }

    /// Stops the source and the pipeline; the consumer closes (leaves the group) when the
    /// harness is dropped.
    pub async fn stop(self) {
        self.cancel.cancel();
        self.source.await.unwrap().unwrap();
        self.pipeline.await.unwrap();
        let Self { committer, .. } = self;
        tokio::task::block_in_place(move || drop(committer));
    }

    pub fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Partitions assigned now.
    pub fn assigned(&self) -> Vec<i32> {
        self.stats
            .snapshot()
            .iter()
            .filter(|s| s.assigned)
            .map(|s| s.partition)
            .collect()
    }
}

/// The offsets a correct committer reaches when events `0..limit` are delivered: per
/// partition, one past the last message of the prefix whose events are all delivered.
pub fn expected_commits(got: &[Got], limit: u64) -> BTreeMap<i32, i64> {
    let mut out = BTreeMap::new();
    let mut blocked: HashSet<i32> = HashSet::new();
    for g in got {
        let p = g.key.partition;
        if blocked.contains(&p) {
            continue;
        }
        if g.seqs.1 <= limit {
            out.insert(p, g.offset + 1);
        } else {
            blocked.insert(p);
        }
    }
    out
}

/// Waits (generously: the machine is shared) until `f` holds; panics with `what` otherwise.
pub async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until the group's committed offsets equal `want`.
pub async fn wait_committed(cluster: &Cluster, group: &str, partitions: i32, want: &[Option<i64>]) {
    let start = Instant::now();
    loop {
        let got = tokio::task::block_in_place(|| cluster.committed(group, partitions));
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "committed offsets {got:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The record ids of `got` per partition, in arrival order.
pub fn ids_by_partition(got: &[Got]) -> BTreeMap<i32, Vec<String>> {
    let mut out: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for g in got {
        out.entry(g.key.partition)
            .or_default()
            .extend(g.ids.iter().cloned());
    }
    out
}
