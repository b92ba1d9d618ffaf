//! The TLS + SASL PLAIN fronts of the mock Kafka cluster, driven by a plain rdkafka consumer
//! configured the way an Event Hubs client is (SASL_SSL, PLAIN, `$ConnectionString`, a CA
//! file): it reaches every partition leader through the fronts, commits, and is refused with
//! clear errors for a wrong password, an untrusted CA, plaintext, and TLS without SASL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use sim::kafka::{Front, KafkaOptions, MockKafka, TopicSpec};

const TOPIC: &str = "defender-events";

/// Keeps every librdkafka log line and error the client reports: what a user would read.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

impl Capture {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl ClientContext for Capture {
    fn log(&self, _level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.0
            .lock()
            .unwrap()
            .push(format!("log {fac}: {log_message}"));
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.0
            .lock()
            .unwrap()
            .push(format!("error {error}: {reason}"));
    }
}

impl ConsumerContext for Capture {}

fn start(partitions: i32) -> MockKafka {
    MockKafka::start(KafkaOptions {
        brokers: 3,
        topics: vec![TopicSpec::new(TOPIC, partitions)],
        front: Some(Front::default()),
    })
    .unwrap()
}

fn write_ca(dir: &Path, pem: &str) -> PathBuf {
    let path = dir.join("kafka-ca.pem");
    std::fs::write(&path, pem).unwrap();
    path
}

/// An Event Hubs-shaped consumer: SASL_SSL, PLAIN, `$ConnectionString`, a CA file.
fn eventhubs_config(mock: &MockKafka, ca_file: &Path, password: &str, group: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", mock.bootstrap())
        .set("security.protocol", "SASL_SSL")
        .set("sasl.mechanisms", "PLAIN")
        .set("sasl.username", "$ConnectionString")
        .set("sasl.password", password)
        .set("ssl.ca.location", ca_file.to_str().unwrap())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set_log_level(RDKafkaLogLevel::Info);
    c
}

fn consumer(config: &ClientConfig) -> (BaseConsumer<Capture>, Capture) {
    let capture = Capture::default();
    let consumer: BaseConsumer<Capture> = config.create_with_context(capture.clone()).unwrap();
    (consumer, capture)
}

/// Polls until the client reports a line containing `needle`; nothing may be consumed.
fn expect_refusal(consumer: &BaseConsumer<Capture>, capture: &Capture, needle: &str) -> String {
    consumer.subscribe(&[TOPIC]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            panic!(
                "consumed offset {} of partition {} without authenticating",
                m.offset(),
                m.partition()
            );
        }
        if let Some(line) = capture.lines().into_iter().find(|l| l.contains(needle)) {
            return line;
        }
    }
    panic!(
        "no {needle:?} in what the client reported: {:#?}",
        capture.lines()
    );
}

/// The fronts count a refusal just after answering, so the client may report it first.
fn wait_for_refusals(mock: &MockKafka, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let refused = || {
        mock.front_counters()
            .iter()
            .map(|f| f.refused())
            .sum::<u64>()
    };
    while refused() < at_least {
        assert!(
            Instant::now() < deadline,
            "the fronts counted {} refusals",
            refused()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_eventhubs_client_reaches_every_leader_through_the_fronts_and_commits() {
    let mock = start(6);
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), mock.ca_pem().unwrap());
    let mut produced = BTreeMap::new();
    for p in 0..6 {
        for n in 0..4 {
            let body = format!(r#"{{"records":[{{"partition":{p},"n":{n}}}]}}"#);
            let offset = mock.produce(TOPIC, p, body.as_bytes()).unwrap();
            assert_eq!(offset, n, "partition {p}: offsets are dense from 0");
            produced.insert((p, offset), body);
        }
    }
    assert_eq!(
        mock.end_offsets(TOPIC).unwrap(),
        (0..6).map(|p| (p, 4)).collect::<Vec<_>>()
    );

    let password = mock.eventhubs_connection_string().unwrap();
    assert!(password.starts_with("Endpoint=sb://"), "{password}");
    assert!(password.contains(";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey="));
    let (consumer, capture) = consumer(&eventhubs_config(&mock, &ca, &password, "appliances"));

    // Every broker advertises its front, and the partitions' leaders are spread over all three.
    let metadata = consumer
        .fetch_metadata(Some(TOPIC), Duration::from_secs(30))
        .unwrap();
    let fronts: BTreeSet<String> = mock.bootstrap().split(',').map(str::to_owned).collect();
    let advertised: BTreeSet<String> = metadata
        .brokers()
        .iter()
        .map(|b| format!("{}:{}", b.host(), b.port()))
        .collect();
    assert_eq!(advertised, fronts);
    let leaders: BTreeSet<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.leader())
        .collect();
    assert_eq!(leaders, BTreeSet::from([1, 2, 3]));

    consumer.subscribe(&[TOPIC]).unwrap();
    let mut consumed = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while consumed.len() < produced.len() && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let body = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
                assert!(consumed.insert((m.partition(), m.offset()), body).is_none());
            }
            Some(Err(e)) => panic!("consumer error: {e}; {:#?}", capture.lines()),
            None => {}
        }
    }
    assert_eq!(
        consumed, produced,
        "every message of every partition, once, as produced"
    );

    let mut commit = TopicPartitionList::new();
    for p in 0..6 {
        commit
            .add_partition_offset(TOPIC, p, Offset::Offset(4))
            .unwrap();
    }
    consumer.commit(&commit, CommitMode::Sync).unwrap();
    assert_eq!(
        mock.committed("appliances", TOPIC).unwrap(),
        (0..6).map(|p| (p, Some(4))).collect::<Vec<_>>()
    );
    assert_eq!(
        mock.committed("another-fleet", TOPIC).unwrap(),
        (0..6).map(|p| (p, None)).collect::<Vec<_>>(),
        "groups keep their own offsets"
    );
    for (broker, counters) in mock.front_counters().iter().enumerate() {
        assert!(
            counters.authenticated() >= 1,
            "broker {} was reached through its front",
            broker + 1
        );
        // Neither the client nor the mock's own clients ever knock in plaintext.
        assert_eq!(counters.refused(), 0, "broker {}", broker + 1);
    }
}

#[test]
fn a_wrong_key_is_refused_with_an_authentication_error() {
    let mock = start(2);
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), mock.ca_pem().unwrap());
    let right = mock.eventhubs_connection_string().unwrap();
    let wrong = right.replace("SharedAccessKey=", "SharedAccessKey=x");
    let (c, capture) = consumer(&eventhubs_config(&mock, &ca, &wrong, "g"));
    let line = expect_refusal(
        &c,
        &capture,
        "Authentication failed during authentication due to invalid credentials with SASL mechanism PLAIN",
    );
    assert!(line.contains("SASL authentication error"), "{line}");
    assert!(
        !capture.lines().iter().any(|l| l.contains(&wrong)),
        "the password is not echoed"
    );
    // A trailing newline (a connection string file read without trimming) is wrong too.
    let (c, capture) = consumer(&eventhubs_config(&mock, &ca, &format!("{right}\n"), "g"));
    expect_refusal(
        &c,
        &capture,
        "invalid credentials with SASL mechanism PLAIN",
    );
    wait_for_refusals(&mock, 2);
}

#[test]
fn an_untrusted_ca_fails_certificate_verification() {
    let mock = start(2);
    let dir = tempfile::tempdir().unwrap();
    let other = sim::pki::TestCa::new("someone else's CA").unwrap();
    let ca = write_ca(dir.path(), &other.cert_pem);
    let password = mock.eventhubs_connection_string().unwrap();
    let (c, capture) = consumer(&eventhubs_config(&mock, &ca, &password, "g"));
    let line = expect_refusal(&c, &capture, "certificate verify failed");
    // librdkafka words the first failure "SSL handshake failed: …", repeats more tersely.
    assert!(line.contains("in state SSL_HANDSHAKE"), "{line}");
}

#[test]
fn sasl_plaintext_against_a_front_is_refused() {
    let mock = start(2);
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), mock.ca_pem().unwrap());
    let password = mock.eventhubs_connection_string().unwrap();
    let mut config = eventhubs_config(&mock, &ca, &password, "g");
    config.set("security.protocol", "SASL_PLAINTEXT");
    let (c, capture) = consumer(&config);
    // What Event Hubs does too: the TLS listener closes on the plaintext ApiVersions.
    let line = expect_refusal(&c, &capture, "in state APIVERSION_QUERY");
    assert!(
        line.contains("Disconnected: connection closed by peer"),
        "{line}"
    );
    wait_for_refusals(&mock, 1);
}

#[test]
fn tls_without_sasl_gets_no_further_than_the_handshake() {
    let mock = start(2);
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), mock.ca_pem().unwrap());
    let mut config = eventhubs_config(&mock, &ca, "unused", "g");
    config.set("security.protocol", "SSL");
    let (c, capture) = consumer(&config);
    // The front ends the connection at the first request that is not part of SASL.
    expect_refusal(&c, &capture, "Disconnected: SSL connection closed by peer");
    assert!(
        c.fetch_metadata(Some(TOPIC), Duration::from_secs(3))
            .is_err()
    );
}

#[test]
fn without_a_front_the_raw_listeners_are_the_bootstrap() {
    let mock = MockKafka::start(KafkaOptions {
        brokers: 3,
        topics: vec![TopicSpec::new(TOPIC, 3)],
        front: None,
    })
    .unwrap();
    assert!(mock.ca_pem().is_none() && mock.eventhubs_connection_string().is_none());
    assert_eq!(mock.produce(TOPIC, 2, b"plain").unwrap(), 0);
    let (c, capture) = consumer(
        ClientConfig::new()
            .set("bootstrap.servers", mock.bootstrap())
            .set("group.id", "g")
            .set("auto.offset.reset", "earliest"),
    );
    c.subscribe(&[TOPIC]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let got = loop {
        assert!(Instant::now() < deadline, "{:#?}", capture.lines());
        if let Some(m) = c.poll(Duration::from_millis(200)) {
            let m = m.unwrap();
            break (m.partition(), m.offset(), m.payload().unwrap().to_vec());
        }
    };
    assert_eq!(got, (2, 0, b"plain".to_vec()));
}

/// The bulk path the benchmarks use: 100k messages through the fronts, every one landing at
/// a distinct dense offset and read back once, in order. Rates are printed, not asserted.
#[test]
fn bulk_produce_lands_every_message_once() {
    const N: usize = 100_000;
    const P: usize = 16; // 100k x 500 B over 16 partitions stays within the mock's retention
    const _: () = assert!(N.is_multiple_of(P), "the same count in every partition");
    let mock = start(P as i32);
    let body = format!(
        r#"{{"records":[{{"category":"AdvancedHunting-AlertEvidence","properties":{{"x":"{}"}}}}]}}"#,
        "e".repeat(420)
    );
    let produced = mock
        .produce_batch(TOPIC, std::iter::repeat_n(body.as_bytes(), N))
        .unwrap();
    assert_eq!(produced.positions.len(), N);
    let mut per_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (i, &(p, offset)) in produced.positions.iter().enumerate() {
        assert_eq!(
            p,
            (i % P) as i32,
            "message {i} went to its round-robin partition"
        );
        per_partition.entry(p).or_default().push(offset);
    }
    for (p, mut offsets) in per_partition {
        offsets.sort_unstable();
        assert_eq!(
            offsets,
            (0..(N / P) as i64).collect::<Vec<_>>(),
            "partition {p}"
        );
    }
    let marks = mock.watermarks(TOPIC).unwrap();
    assert!(
        marks.iter().all(|&(_, low, _)| low == 0),
        "nothing aged out: {marks:?}"
    );
    assert_eq!(
        marks.iter().map(|&(_, _, high)| high).sum::<i64>(),
        N as i64
    );

    // And all of it back through the fronts, in order within each partition.
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), mock.ca_pem().unwrap());
    let password = mock.eventhubs_connection_string().unwrap();
    let (c, capture) = consumer(&eventhubs_config(&mock, &ca, &password, "bulk"));
    c.subscribe(&[TOPIC]).unwrap();
    let mut next = [0i64; P];
    let mut consumed = 0usize;
    let mut first = None; // the rate counts from the first message, not the group join
    let deadline = Instant::now() + Duration::from_secs(180);
    while consumed < N {
        assert!(
            Instant::now() < deadline,
            "{consumed} of {N}; {:#?}",
            capture.lines()
        );
        if let Some(m) = c.poll(Duration::from_millis(200)) {
            let m = m.unwrap();
            first.get_or_insert_with(Instant::now);
            let p = usize::try_from(m.partition()).unwrap();
            assert_eq!(
                m.offset(),
                next[p],
                "partition {p} in order, no gap, no repeat"
            );
            assert_eq!(m.payload(), Some(body.as_bytes()));
            next[p] += 1;
            consumed += 1;
        }
    }
    let consume_secs = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    assert_eq!(next, [(N / P) as i64; P]);

    let secs = produced.elapsed.as_secs_f64();
    // On the real stderr: libtest would swallow eprintln! of a passing test.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "through the TLS+SASL fronts, {N} messages of {} B: produced in {secs:.2} s = {:.0} msg/s, \
         consumed (from the first message) in {consume_secs:.2} s = {:.0} msg/s",
        body.len(),
        N as f64 / secs,
        N as f64 / consume_secs,
    );
}

#[test]
fn a_partition_keeps_only_its_newest_five_mebibytes() {
    let mock = start(1);
    let body = vec![b'r'; 2048];
    let n = sim::kafka::PARTITION_RETENTION_BYTES / body.len() + 512;
    mock.produce_batch(TOPIC, std::iter::repeat_n(&body, n))
        .unwrap();
    let [(0, low, high)] = mock.watermarks(TOPIC).unwrap()[..] else {
        panic!("one partition")
    };
    assert_eq!(high, n as i64);
    assert!(low > 0, "the oldest batches were dropped (low {low})");
}
