//! [`probe`]: what `check` asks of the brokers — reachable, SASL accepted, TLS trusted, each
//! topic present (with its partition count), and the consumer group if the broker lets us see
//! it — without joining the group.
//!
//! librdkafka reports *why* a connection failed only through its error callback, so the probe's
//! context collects those texts and the failure is classified from them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Offset, TopicPartitionList, config::FromClientConfigAndContext};

use crate::{Secret, Security, StreamConfig, StreamError};

/// How long `probe` waits for the brokers.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// What the brokers said.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeReport {
    /// The brokers of the cluster, `host:port` as they advertise themselves.
    pub brokers: Vec<String>,
    pub topics: Vec<TopicReport>,
    pub group: GroupReport,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopicReport {
    pub name: String,
    pub partitions: usize,
    /// The group's committed offset per partition (`None`: nothing committed yet).
    pub committed: Vec<(i32, Option<i64>)>,
}

/// The consumer group as the broker describes it.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupReport {
    /// Described: its state (`Stable`, `Empty`, `Dead` for a group not yet used, …) and members.
    Described { state: String, members: usize },
    /// The broker would not describe groups (Event Hubs may not); the reason.
    NotVisible(String),
}

#[derive(Debug)]
struct ProbeContext {
    errors: Mutex<Vec<String>>,
    secret: Option<Secret>,
}

impl ClientContext for ProbeContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let text = format!("{error}: {reason}");
        let text = match &self.secret {
            Some(s) => s.scrub(&text),
            None => text,
        };
        if let Ok(mut e) = self.errors.lock() {
            e.push(text);
        }
    }
}
impl ConsumerContext for ProbeContext {}

/// [`probe_with_timeout`] with [`PROBE_TIMEOUT`].
pub async fn probe(cfg: &StreamConfig) -> Result<ProbeReport, StreamError> {
    probe_with_timeout(cfg, PROBE_TIMEOUT).await
}

/// Metadata for every topic (and the group) within `timeout` per request; see the module docs.
pub async fn probe_with_timeout(
    cfg: &StreamConfig,
    timeout: Duration,
) -> Result<ProbeReport, StreamError> {
    let cfg = cfg.clone();
    // librdkafka's calls block: keep them off the async workers.
    tokio::task::spawn_blocking(move || probe_blocking(&cfg, timeout))
        .await
        .map_err(|e| StreamError::Kafka(format!("probe task failed: {e}")))?
}

fn probe_blocking(cfg: &StreamConfig, timeout: Duration) -> Result<ProbeReport, StreamError> {
    let client = cfg.client_config()?;
    let ctx = ProbeContext {
        errors: Mutex::new(Vec::new()),
        secret: cfg.secret().cloned(),
    };
    let consumer: BaseConsumer<ProbeContext> = BaseConsumer::from_config_and_context(&client, ctx)
        .map_err(|e| StreamError::Config(scrub(cfg, e.to_string())))?;
    let consumer = Arc::new(consumer);
    let mut report = ProbeReport {
        brokers: Vec::new(),
        topics: Vec::new(),
        group: GroupReport::NotVisible(String::new()),
    };
    for topic in &cfg.topics {
        let md = match consumer.fetch_metadata(Some(topic), timeout) {
            Ok(md) => md,
            Err(e) => return Err(classify(cfg, &consumer, e.to_string())),
        };
        if report.brokers.is_empty() {
            report.brokers = md
                .brokers()
                .iter()
                .map(|b| format!("{}:{}", b.host(), b.port()))
                .collect();
        }
        let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
            return Err(missing(cfg, topic, "not in the metadata".into()));
        };
        if let Some(err) = t.error() {
            let code = rdkafka::types::RDKafkaErrorCode::from(err);
            return Err(match code {
                rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition
                | rdkafka::types::RDKafkaErrorCode::UnknownTopic => {
                    missing(cfg, topic, code.to_string())
                }
                rdkafka::types::RDKafkaErrorCode::TopicAuthorizationFailed => {
                    StreamError::Kafka(format!(
                        "not authorized to read topic {topic:?}: {code} (Event Hubs: the \
                         connection string needs the Listen claim)"
                    ))
                }
                _ => StreamError::Kafka(format!("topic {topic:?}: {code}")),
            });
        }
        let mut tpl = TopicPartitionList::new();
        for p in t.partitions() {
            tpl.add_partition(topic, p.id());
        }
        let committed = consumer
            .committed_offsets(tpl, timeout)
            .map(|c| {
                c.elements()
                    .iter()
                    .map(|e| match e.offset() {
                        Offset::Offset(o) => (e.partition(), Some(o)),
                        _ => (e.partition(), None),
                    })
                    .collect()
            })
            .unwrap_or_default();
        report.topics.push(TopicReport {
            name: topic.clone(),
            partitions: t.partitions().len(),
            committed,
        });
    }
    report.group = match consumer.fetch_group_list(Some(&cfg.group_id), timeout) {
        Ok(list) => match list.groups().iter().find(|g| g.name() == cfg.group_id) {
            Some(g) => GroupReport::Described {
                state: g.state().to_owned(),
                members: g.members().len(),
            },
            None => GroupReport::NotVisible("the broker listed no such group".into()),
        },
        Err(e) => GroupReport::NotVisible(format!(
            "the broker did not describe the group ({}); consuming may still work",
            scrub(cfg, e.to_string())
        )),
    };
    Ok(report)
}

/// A failed metadata request → the most specific error the collected texts allow.
fn classify(cfg: &StreamConfig, consumer: &BaseConsumer<ProbeContext>, err: String) -> StreamError {
    // Error events are queued on the consumer's queue: serve them into the context.
    while consumer.poll(Duration::from_millis(50)).is_some() {}
    let mut texts = consumer
        .context()
        .errors
        .lock()
        .map(|e| e.clone())
        .unwrap_or_default();
    texts.push(scrub(cfg, err));
    // librdkafka repeats itself ("N identical error(s) suppressed"): keep each text once.
    let mut seen = std::collections::HashSet::new();
    texts.retain(|t| {
        let key = t.split(", ").next().unwrap_or(t).to_owned();
        seen.insert(key)
    });
    let all = texts.join("; ");
    let lower = all.to_ascii_lowercase();
    let bootstrap = cfg.bootstrap.clone();
    if lower.contains("sasl") && (lower.contains("authentication") || lower.contains("auth")) {
        let username = match &cfg.security {
            Security::SaslSsl { username, .. } => username.clone(),
            _ => String::new(),
        };
        return StreamError::SaslRefused {
            bootstrap,
            username,
            detail: pick(&texts, &["sasl"]),
        };
    }
    if lower.contains("certificate verify failed") || lower.contains("certificate") {
        return StreamError::TlsUntrusted {
            bootstrap,
            detail: pick(&texts, &["certificate"]),
        };
    }
    if lower.contains("ssl handshake failed") || lower.contains("ssl") {
        return StreamError::TlsFailed {
            bootstrap,
            detail: pick(&texts, &["ssl"]),
        };
    }
    StreamError::Unreachable {
        bootstrap,
        detail: all,
    }
}

/// The first text mentioning one of `words`, else all.
fn pick(texts: &[String], words: &[&str]) -> String {
    texts
        .iter()
        .find(|t| {
            let l = t.to_ascii_lowercase();
            words.iter().any(|w| l.contains(w))
        })
        .cloned()
        .unwrap_or_else(|| texts.join("; "))
}

fn missing(cfg: &StreamConfig, topic: &str, detail: String) -> StreamError {
    StreamError::TopicMissing {
        bootstrap: cfg.bootstrap.clone(),
        topic: topic.to_owned(),
        detail,
    }
}

fn scrub(cfg: &StreamConfig, text: String) -> String {
    match cfg.secret() {
        Some(s) => s.scrub(&text),
        None => text,
    }
}
