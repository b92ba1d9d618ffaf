//! The consumer's librdkafka callbacks: rebalances (commit-on-revoke, epochs, keeping a paused
//! consumer paused), statistics into [`StreamStats`](crate::StreamStats), and librdkafka's log
//! and errors into `tracing`, secrets scrubbed.
//!
//! All of them run on the task that polls the consumer (`StreamSource::run`), or in the
//! consumer's close when its last handle is dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Statistics, TopicPartitionList, config::RDKafkaLogLevel};

use crate::commit::{Shared, Tp, commit_sync};

/// The consumer type of the source.
pub(crate) type Consumer = StreamConsumer<SourceContext>;

#[derive(Debug)]
pub(crate) struct SourceContext {
    pub(crate) shared: Arc<Shared>,
    /// The reader paused the assignment (full channel): new assignments are paused too.
    pub(crate) paused: AtomicBool,
    topics: std::sync::Mutex<HashMap<String, Arc<str>>>,
}

impl SourceContext {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            paused: AtomicBool::new(false),
            topics: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// One shared `Arc<str>` per topic name (every message carries it).
    pub(crate) fn topic(&self, name: &str) -> Arc<str> {
        let mut map = self
            .topics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = map.get(name) {
            return t.clone();
        }
        let t: Arc<str> = Arc::from(name);
        map.insert(name.to_owned(), t.clone());
        t
    }

    fn parts(&self, tpl: &TopicPartitionList) -> Vec<Tp> {
        tpl.elements()
            .iter()
            .map(|e| (self.topic(e.topic()), e.partition()))
            .collect()
    }
}

impl ClientContext for SourceContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let message = self.shared.scrub(message.to_owned());
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", "{fac}: {message}"),
            // The Event Hubs preset's request.timeout.ms (Azure's documented setting) is a
            // producer property that a consumer ignores (socket.timeout.ms is the consumer's):
            // not the user's problem.
            RDKafkaLogLevel::Warning
                if fac == "CONFWARN"
                    && message.contains("request.timeout.ms is a producer property") =>
            {
                tracing::debug!(target: "librdkafka", "{fac}: {message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", "{fac}: {message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "{fac}: {message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "{fac}: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let text = self.shared.scrub(format!("{error}: {reason}"));
        tracing::warn!(target: "stream_source", "kafka client error: {text}");
        self.shared.stats.error(text);
    }

    fn stats(&self, statistics: Statistics) {
        for (name, topic) in &statistics.topics {
            for (p, part) in &topic.partitions {
                if *p >= 0 {
                    self.shared
                        .stats
                        .broker_view(name, *p, part.hi_offset, part.committed_offset);
                }
            }
        }
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let parts = self.parts(tpl);
                // Held across the commit: a concurrent flush finishes first (see commit.rs).
                let mut st = self.shared.lock();
                let staged = st.revoke(&parts);
                self.shared.stats.revoked(&parts);
                if staged.is_empty() {
                    // Nothing delivered since the last flush: nothing to commit.
                } else if consumer.assignment_lost() {
                    // The group already gave them away: a commit now would be refused anyway.
                    tracing::warn!(
                        target: "stream_source",
                        "assignment lost (session timeout?): {} partition(s) not committed, \
                         their next owner redelivers from the last commit",
                        staged.len()
                    );
                } else if let Err(e) = commit_sync(consumer, &self.shared, &staged) {
                    tracing::warn!(
                        target: "stream_source",
                        "commit on revoke failed, the next owner redelivers: {e}"
                    );
                }
                drop(st);
                tracing::info!(target: "stream_source", "partitions revoked: {}", names(&parts));
            }
            Rebalance::Assign(tpl) => {
                let parts = self.parts(tpl);
                self.shared.lock().assign(&parts);
                self.shared.stats.assigned(&parts);
                tracing::info!(target: "stream_source", "partitions assigned: {}", names(&parts));
            }
            Rebalance::Error(e) => {
                let text = self.shared.scrub(e.to_string());
                tracing::warn!(target: "stream_source", "rebalance error: {text}");
                self.shared.stats.error(text);
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance
            && self.paused.load(Ordering::SeqCst)
            && tpl.count() > 0
            && let Err(e) = consumer.pause(tpl)
        {
            tracing::warn!(target: "stream_source", "pausing new partitions failed: {e}");
        }
    }
}

fn names(parts: &[Tp]) -> String {
    let v: Vec<String> = parts.iter().map(|(t, p)| format!("{t}/{p}")).collect();
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}
