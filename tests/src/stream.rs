//! The streaming source's scenarios: a mock Kafka cluster behind TLS + SASL PLAIN fronts
//! (`sim::kafka`, the real Event Hubs `$ConnectionString` path), a throwaway PKI for the
//! collector, the config of a `source = "streaming"` daemon, and the oracle: every record
//! produced (by `topic/partition/offset/index`) reaches the collector, nothing else does, and
//! the content matches the record (strict parsers, field by field).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alert_model::stream::{StreamEvent, StreamPos, StreamRecord, parse_message};
use sim::external::Running;
use sim::kafka::{KafkaOptions, MockKafka, TopicSpec};
use sim::parse::{cef, leef, rfc5424};
use sim::pki::{PkiFiles, TestPki};
use sim::setup::{SimConfig, SimDestination, SimStream};

use crate::oracle::{Fmt, SD_ID};

/// The event hub (topic) of every scenario.
pub const TOPIC: &str = "defender-events";

/// What a scenario produced: each record by its id, with the record as the daemon reads it.
pub type Produced = BTreeMap<String, StreamRecord>;

#[derive(Debug)]
pub struct StreamWorld {
    pub dir: tempfile::TempDir,
    pub pki: TestPki,
    pub files: PkiFiles,
    pub kafka: MockKafka,
    kafka_ca: PathBuf,
}

impl StreamWorld {
    /// Three brokers, [`TOPIC`] with `partitions` partitions, fronts on.
    pub fn new(partitions: i32) -> StreamWorld {
        let dir = tempfile::tempdir().unwrap();
        let kafka = MockKafka::start(KafkaOptions {
            topics: vec![TopicSpec::new(TOPIC, partitions)],
            ..KafkaOptions::default()
        })
        .unwrap();
        let kafka_ca = dir.path().join("kafka-ca.pem");
        std::fs::write(&kafka_ca, kafka.ca_pem().unwrap()).unwrap();
        let pki = TestPki::new().unwrap();
        let files = pki.write_to(dir.path()).unwrap();
        StreamWorld {
            dir,
            pki,
            files,
            kafka,
            kafka_ca,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A real rsyslog requiring our client certificate; `None` (skipped visibly) without
    /// rsyslogd outside CI.
    pub fn rsyslog(&self, test: &str) -> Option<Running> {
        if sim::external::rsyslogd().is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: rsyslogd is not installed but CI is set (run .ci/install-deps)"
            );
            crate::report!("SKIPPED {test}: rsyslogd is not installed");
            return None;
        }
        let dir = self.path("rsyslog");
        std::fs::create_dir_all(&dir).unwrap();
        Some(sim::external::rsyslog(&dir, &self.files, &[TestPki::CLIENT_CN]).unwrap())
    }

    /// The config of one daemon (`name`: its file, state directory and destination name) in
    /// consumer group `group`, forwarding in `fmt` to `address` over mutual TLS.
    pub fn sim_config(&self, name: &str, group: &str, fmt: Fmt, address: &str) -> SimConfig {
        let stream = SimStream {
            kind: "eventhubs",
            bootstrap: self.kafka.bootstrap().to_owned(),
            topics: vec![TOPIC.to_owned()],
            consumer_group: group.to_owned(),
            security: "sasl_ssl",
            connection_string: self.kafka.eventhubs_connection_string(),
            ca_file: Some(self.kafka_ca.clone()),
        };
        SimConfig::streaming(&stream, &self.path(&format!("state-{name}")))
            .log("level", "info")
            .log("stats_interval", "1s")
            .destination(
                SimDestination::tls(
                    name,
                    fmt.config_name(),
                    &[address.to_owned()],
                    &self.files.ca,
                )
                .set("connect_timeout", "2s")
                .client_cert(&self.files),
            )
    }

    pub fn write_config(&self, name: &str, group: &str, fmt: Fmt, address: &str) -> PathBuf {
        let path = self.path(&format!("{name}.toml"));
        self.sim_config(name, group, fmt, address)
            .write(&path)
            .unwrap();
        path
    }

    /// Produces `bodies` round-robin over the partitions; the records they hold, by id.
    pub fn produce<B: AsRef<[u8]>>(&self, bodies: &[B]) -> Produced {
        let (produced, unreadable) = self.produce_any(bodies);
        assert!(
            unreadable.is_empty(),
            "a test body is unreadable: {unreadable:?}"
        );
        produced
    }

    /// [`Self::produce`] allowing bodies or records that cannot be read: their unreadable
    /// event ids (`topic/partition/offset[/index]`) besides the records.
    pub fn produce_any<B: AsRef<[u8]>>(&self, bodies: &[B]) -> (Produced, Vec<String>) {
        let batch = self
            .kafka
            .produce_batch(TOPIC, bodies.iter().map(AsRef::as_ref))
            .unwrap();
        let topic: Arc<str> = Arc::from(TOPIC);
        let mut out = Produced::new();
        let mut unreadable = Vec::new();
        for (body, &(partition, offset)) in bodies.iter().zip(&batch.positions) {
            let pos = StreamPos {
                topic: topic.clone(),
                partition,
                offset,
            };
            for event in parse_message(&pos, None, body.as_ref()) {
                match event {
                    StreamEvent::Record(r) => {
                        out.insert(r.record_id(), *r);
                    }
                    StreamEvent::Unreadable(u) => unreadable.push(u.id.unwrap_or_default()),
                }
            }
        }
        (out, unreadable)
    }

    /// The repository's sample messages, `rounds` times.
    pub fn produce_samples(&self, rounds: usize) -> Produced {
        let bodies: Vec<&str> = (0..rounds)
            .flat_map(|_| alert_model::samples::streaming_messages())
            .collect();
        self.produce(&bodies)
    }

    /// `group`'s committed offset per partition (None: nothing committed).
    pub fn committed(&self, group: &str) -> BTreeMap<i32, Option<i64>> {
        self.kafka
            .committed(group, TOPIC)
            .unwrap()
            .into_iter()
            .collect()
    }

    pub fn end_offsets(&self) -> BTreeMap<i32, i64> {
        self.kafka.end_offsets(TOPIC).unwrap().into_iter().collect()
    }

    /// Waits until `group` has committed every partition's end offset.
    pub async fn wait_committed_all(&self, group: &str, timeout: Duration) -> bool {
        let end = self.end_offsets();
        let start = Instant::now();
        while start.elapsed() < timeout {
            let c = self.committed(group);
            if end
                .iter()
                .all(|(p, e)| *e == 0 || c.get(p).copied().flatten() == Some(*e))
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        false
    }
}

/// Which format a frame is in (one collector receives all three).
pub fn format_of(line: &str) -> Fmt {
    if line.contains(" - LEEF:") {
        Fmt::Leef
    } else if line.contains(" - CEF:") {
        Fmt::Cef
    } else {
        Fmt::Rfc5424
    }
}

/// One received record message, decoded by the strict parsers and checked against the record
/// it names: the record id, the table / category, the alert identity where the table has one,
/// and for RFC 5424 the whole record JSON.
pub fn check_frame(raw: &[u8], produced: &Produced) -> Result<(Fmt, String), String> {
    let line = std::str::from_utf8(raw).map_err(|e| format!("not UTF-8: {e}"))?;
    let m = rfc5424::parse(line).map_err(|e| format!("not RFC 5424: {e}: {line}"))?;
    let loose = syslog_loose::parse_message(line, syslog_loose::Variant::RFC5424);
    if loose.appname != m.app_name.as_deref() || loose.hostname != m.hostname.as_deref() {
        return Err(format!("syslog_loose disagrees on the header: {line}"));
    }
    let fmt = format_of(line);
    let body = m.msg.clone().unwrap_or_default();
    let prop = |r: &StreamRecord, k: &str| r.prop_str(k).map(|v| v.into_owned());
    match fmt {
        Fmt::Rfc5424 => {
            let id = m
                .sd_param(SD_ID, "recordId")
                .ok_or_else(|| format!("no recordId: {line}"))?
                .to_owned();
            let r = produced
                .get(&id)
                .ok_or_else(|| format!("invented record {id}"))?;
            let sent: serde_json::Value =
                serde_json::from_str(&r.json).map_err(|e| e.to_string())?;
            let got: serde_json::Value =
                serde_json::from_str(&body).map_err(|e| format!("MSG is not JSON: {e}: {line}"))?;
            // A record cut to the size cap carries the marker and a shortened body.
            let truncated = m.sd_param(SD_ID, "truncated") == Some("true");
            if !truncated && got != sent {
                return Err(format!("{id}: the JSON body differs from the record"));
            }
            if m.msgid.as_deref() != r.table() {
                return Err(format!(
                    "{id}: MSGID {:?} is not the table {:?}",
                    m.msgid,
                    r.table()
                ));
            }
            let clean = |v: String| crate::oracle::no_controls(&v);
            if m.sd_param(SD_ID, "id").map(str::to_owned) != prop(r, "AlertId").map(clean) {
                return Err(format!("{id}: SD id is not AlertId"));
            }
            Ok((fmt, id))
        }
        Fmt::Leef => {
            let e = leef::parse(&body).map_err(|e| format!("not strict LEEF: {e}: {body}"))?;
            let id = e
                .get("recordId")
                .ok_or_else(|| format!("no recordId: {body}"))?
                .to_owned();
            let r = produced
                .get(&id)
                .ok_or_else(|| format!("invented record {id}"))?;
            if Some(e.event_id.as_str()) != r.category.as_deref() {
                return Err(format!("{id}: EventID {} is not the category", e.event_id));
            }
            let clean = |v: String| crate::oracle::leef_clean(&v, e.delimiter);
            if e.get("alertId").map(str::to_owned) != prop(r, "AlertId").map(clean) {
                return Err(format!("{id}: alertId is not AlertId"));
            }
            Ok((fmt, id))
        }
        Fmt::Cef => {
            let e = cef::parse(&body).map_err(|e| format!("not strict CEF: {e}: {body}"))?;
            let id = e
                .get("DefenderSyslogRecordId")
                .ok_or_else(|| format!("no DefenderSyslogRecordId: {body}"))?
                .to_owned();
            let r = produced
                .get(&id)
                .ok_or_else(|| format!("invented record {id}"))?;
            if Some(e.class_id.as_str()) != r.category.as_deref() {
                return Err(format!("{id}: class id {} is not the category", e.class_id));
            }
            let clean = |v: String| crate::oracle::cef_ext_clean(&v);
            if e.get("cs2").map(str::to_owned) != prop(r, "AlertId").map(clean) {
                return Err(format!("{id}: cs2 is not AlertId"));
            }
            let plain = |t: &str| t.len() < 256 && !t.chars().any(char::is_control);
            if let Some(title) = prop(r, "Title")
                && e.get("cn3").is_none()
                && plain(&title)
                && e.name != title
            {
                return Err(format!("{id}: Name {:?} is not the Title", e.name));
            }
            Ok((fmt, id))
        }
    }
}

/// Per format: how often each record id arrived.
#[derive(Debug, Default)]
pub struct Arrivals {
    pub counts: HashMap<Fmt, HashMap<String, usize>>,
    pub frames: usize,
}

impl Arrivals {
    pub fn of(frames: &[Vec<u8>], produced: &Produced) -> Result<Arrivals, String> {
        let mut a = Arrivals {
            frames: frames.len(),
            ..Arrivals::default()
        };
        for f in frames {
            let (fmt, id) = check_frame(f, produced)?;
            *a.counts.entry(fmt).or_default().entry(id).or_default() += 1;
        }
        Ok(a)
    }

    /// Records of `produced` not yet seen in `fmt`.
    pub fn missing(&self, fmt: Fmt, produced: &Produced) -> Vec<String> {
        let seen = self.counts.get(&fmt);
        produced
            .keys()
            .filter(|id| seen.is_none_or(|s| !s.contains_key(*id)))
            .cloned()
            .collect()
    }

    /// Messages beyond the first of each record in `fmt`.
    pub fn duplicates(&self, fmt: Fmt) -> usize {
        self.counts
            .get(&fmt)
            .map_or(0, |s| s.values().map(|n| n - 1).sum())
    }
}

/// Waits until every record of `produced` arrived in each of `fmts` (every frame checked on
/// the way); the arrivals, or what is still missing.
pub async fn wait_all(
    collector: &Running,
    produced: &Produced,
    fmts: &[Fmt],
    timeout: Duration,
) -> Result<Arrivals, String> {
    let start = Instant::now();
    loop {
        let a = Arrivals::of(&collector.messages(), produced)?;
        let missing: HashSet<(Fmt, String)> = fmts
            .iter()
            .flat_map(|f| a.missing(*f, produced).into_iter().map(move |id| (*f, id)))
            .collect();
        if missing.is_empty() {
            return Ok(a);
        }
        if start.elapsed() > timeout {
            let mut sample: Vec<_> = missing.iter().take(5).collect();
            sample.sort_by(|x, y| x.1.cmp(&y.1));
            return Err(format!(
                "{} record messages missing after {timeout:?} (e.g. {sample:?}); {} frames arrived",
                missing.len(),
                a.frames
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
