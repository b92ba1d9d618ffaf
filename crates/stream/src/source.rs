//! [`StreamSource`]: reads the subscribed topics and sends one [`StreamMessage`] per Kafka
//! message into the bounded channel, tagged with its partition's assignment epoch.
//!
//! Backpressure: when the channel is full the whole assignment is paused (no fetching) while
//! the reader keeps polling the consumer, which serves rebalances and counts as a poll for
//! `max.poll.interval.ms`, so a stalled collector never gets this consumer thrown out of the
//! group. Messages that arrive while paused (already prefetched) are held in order and sent
//! first; held messages of a partition revoked meanwhile are dropped (not committed: the new
//! owner reads them).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use alert_model::Timestamp;
use alert_model::stream::{StreamEvent, StreamMessage, StreamPos, parse_message};
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::Consumer as _;
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::commit::{Committer, ConsumerSlot, Shared};
use crate::context::{Consumer, SourceContext};
use crate::{Security, StreamConfig, StreamError, StreamStats};

/// The Kafka consumer source; see the module docs.
pub struct StreamSource {
    name: String,
    client: ClientConfig,
    topics: Vec<String>,
    filter: Vec<String>,
    shared: Arc<Shared>,
    slot: ConsumerSlot,
}

impl std::fmt::Debug for StreamSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSource")
            .field("name", &self.name)
            .field("topics", &self.topics)
            .field("tables", &self.filter)
            .finish_non_exhaustive()
    }
}

impl StreamSource {
    /// Validates `cfg` and prepares the client; nothing touches the network before
    /// [`run`](Self::run).
    pub fn new(cfg: StreamConfig, name: &str) -> Result<Self, StreamError> {
        let client = cfg.client_config()?;
        // librdkafka checks every property's name and value here, without connecting.
        client
            .create_native_config()
            .map_err(|e| StreamError::Config(scrub(&cfg, e.to_string())))?;
        if cfg.security == Security::Plaintext {
            tracing::warn!(
                source = name,
                "streaming security = plaintext: records and credentials cross the network \
                 unencrypted and the brokers are not authenticated"
            );
        }
        let stats = Arc::new(StreamStats::default());
        Ok(Self {
            name: name.to_owned(),
            client,
            topics: cfg.topics.clone(),
            filter: cfg.table_filter(),
            shared: Arc::new(Shared::new(stats, cfg.secret().cloned())),
            slot: ConsumerSlot::default(),
        })
    }

    /// The pipeline's handle for committing delivered offsets.
    pub fn committer(&self) -> Committer {
        Committer {
            shared: self.shared.clone(),
            consumer: self.slot.clone(),
        }
    }

    pub fn stats(&self) -> Arc<StreamStats> {
        self.shared.stats.clone()
    }

    /// Joins the group and reads until `cancel` (or the channel closes). The consumer stays a
    /// group member while a [`Committer`] lives, so the pipeline's final flush after the drain
    /// still commits; dropping the last handle leaves the group (committing what is staged for
    /// its partitions, in the revoke callback) and blocks for that round trip, so drop the last
    /// one where blocking is allowed (`spawn_blocking`, `block_in_place`, or after the runtime).
    pub async fn run(
        self,
        tx: mpsc::Sender<StreamMessage>,
        cancel: CancellationToken,
    ) -> Result<(), StreamError> {
        let ctx = SourceContext::new(self.shared.clone());
        let consumer = Consumer::from_config_and_context(&self.client, ctx)
            .map_err(|e| StreamError::Kafka(self.shared.scrub(e.to_string())))?;
        let consumer = Arc::new(consumer);
        if self.slot.set(consumer.clone()).is_err() {
            return Err(StreamError::Config("StreamSource::run called twice".into()));
        }
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| StreamError::Kafka(self.shared.scrub(e.to_string())))?;
        tracing::info!(source = %self.name, topics = ?self.topics, "stream source started");
        let mut held: VecDeque<StreamMessage> = VecDeque::new();
        loop {
            if held.is_empty() {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => break,
                    m = consumer.recv() => {
                        let Some(msg) = self.read(&consumer, m)? else { continue };
                        match tx.try_send(msg) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(msg)) => {
                                // Under a backlog the channel is full nearly all the time and a
                                // slot frees within milliseconds: wait for it. Pausing purges
                                // librdkafka's prefetched queue (refetched on resume), so pause
                                // only when the pipeline is held for longer (a stalled
                                // collector), to keep serving the consumer within
                                // max.poll.interval.ms.
                                tokio::select! {
                                    biased;
                                    _ = cancel.cancelled() => break,
                                    permit = tokio::time::timeout(PAUSE_AFTER, tx.reserve()) => match permit {
                                        Ok(Ok(permit)) => permit.send(msg),
                                        Ok(Err(_)) => break,
                                        Err(_) => {
                                            held.push_back(msg);
                                            self.pause(&consumer, true);
                                        }
                                    },
                                }
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => break,
                        }
                    }
                }
            } else {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => break,
                    permit = tx.reserve() => {
                        let Ok(permit) = permit else { break };
                        if let Some(msg) = self.next_current(&mut held) {
                            permit.send(msg);
                        }
                        if held.is_empty() {
                            self.pause(&consumer, false);
                        }
                    }
                    // Keeps serving the consumer (rebalances, the poll interval) while paused.
                    m = consumer.recv() => {
                        if let Some(msg) = self.read(&consumer, m)? {
                            held.push_back(msg);
                        }
                    }
                }
            }
        }
        tracing::info!(source = %self.name, "stream source stopped");
        Ok(())
    }

    /// The first held message whose partition epoch is still current.
    fn next_current(&self, held: &mut VecDeque<StreamMessage>) -> Option<StreamMessage> {
        let st = self.shared.lock();
        while let Some(msg) = held.pop_front() {
            if st.epoch(&(msg.pos.topic.clone(), msg.pos.partition)) == Some(msg.epoch) {
                return Some(msg);
            }
        }
        None
    }

    fn pause(&self, consumer: &Consumer, pause: bool) {
        let ctx = consumer.context();
        ctx.paused.store(pause, Ordering::SeqCst);
        let result = consumer.assignment().and_then(|a| {
            if a.count() == 0 {
                Ok(())
            } else if pause {
                consumer.pause(&a)
            } else {
                consumer.resume(&a)
            }
        });
        match result {
            Ok(()) if pause => tracing::debug!(source = %self.name, "channel full: paused"),
            Ok(()) => tracing::debug!(source = %self.name, "resumed"),
            Err(e) => tracing::warn!(source = %self.name, "pause/resume failed: {e}"),
        }
    }

    /// One polled item → the channel's message; `Ok(None)` for a transient error or a message
    /// of a partition not assigned (any more).
    fn read(
        &self,
        consumer: &Consumer,
        m: Result<BorrowedMessage<'_>, KafkaError>,
    ) -> Result<Option<StreamMessage>, StreamError> {
        let m = match m {
            Ok(m) => m,
            Err(KafkaError::MessageConsumptionFatal(code)) => {
                return Err(StreamError::Kafka(format!("fatal consumer error: {code}")));
            }
            Err(e) => {
                // Transport and authentication trouble: librdkafka retries with backoff, and
                // the context's error callback has logged it already.
                tracing::debug!(source = %self.name, "kafka: {}", self.shared.scrub(e.to_string()));
                return Ok(None);
            }
        };
        let topic = consumer.context().topic(m.topic());
        let partition = m.partition();
        let Some(epoch) = self.shared.lock().epoch(&(topic.clone(), partition)) else {
            return Ok(None);
        };
        let pos = StreamPos {
            topic: topic.clone(),
            partition,
            offset: m.offset(),
        };
        let kafka_time = m
            .timestamp()
            .to_millis()
            .and_then(|ms| Timestamp::from_unix_nanos(i128::from(ms) * 1_000_000));
        let mut events = parse_message(&pos, kafka_time, m.payload().unwrap_or_default());
        let before = events.len();
        if !self.filter.is_empty() {
            events.retain(|e| self.keep(e));
        }
        let kept = events.len();
        self.shared.stats.message(
            &topic,
            partition,
            pos.offset,
            kafka_time,
            kept as u64,
            (before - kept) as u64,
        );
        Ok(Some(StreamMessage { pos, epoch, events }))
    }

    /// The table filter: unreadable events and records without a category are always kept
    /// (what cannot be classified is forwarded, never silently dropped).
    fn keep(&self, e: &StreamEvent) -> bool {
        match e {
            StreamEvent::Unreadable(_) => true,
            StreamEvent::Record(r) => match r.table() {
                None => true,
                Some(t) => self.filter.iter().any(|f| f.eq_ignore_ascii_case(t)),
            },
        }
    }
}

/// How long a full channel is waited for before the assignment is paused.
const PAUSE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

fn scrub(cfg: &StreamConfig, text: String) -> String {
    match cfg.secret() {
        Some(s) => s.scrub(&text),
        None => text,
    }
}
