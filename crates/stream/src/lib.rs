//! The Defender XDR streaming source: a Kafka consumer (Azure Event Hubs' Kafka endpoint, or
//! any Kafka cluster the stream is routed through) whose committed offsets are the cursor.
//!
//! The source sends one [`StreamMessage`](alert_model::stream::StreamMessage) per Kafka
//! message (its records parsed leniently, other tables filtered out) into a bounded channel.
//! The pipeline feeds an [`OffsetTracker`](alert_model::stream::offsets::OffsetTracker) with
//! what it handed the transport and what was delivered, and gives the tracker's ready offsets
//! to a [`Committer`]: an offset is committed only past messages whose every record the
//! collector acknowledged, so a crash or a rebalance redelivers and never loses.
//!
//! Modules:
//! - [`config`]: [`StreamConfig`], [`Security`], [`Secret`] (prints `[redacted]`), and the one
//!   translation into librdkafka properties (Event Hubs preset, bounded prefetch, no
//!   auto-commit).
//! - [`source`]: [`StreamSource`], the reader task: subscribe, parse, filter, epoch-tag, and
//!   pause the assignment while the channel is full (without leaving the group).
//! - `context`: librdkafka's callbacks: commit-on-revoke and assignment epochs, statistics,
//!   log and errors into `tracing` (secrets scrubbed).
//! - `commit`: the shared epochs and staged offsets, and [`Committer`] (stage, is_current,
//!   flush).
//! - [`stats`]: [`StreamStats`], per partition: assigned, consumed, last offset, committed,
//!   high watermark, lag in messages and seconds.
//! - [`mod@probe`]: [`probe()`](fn@probe) for `check`: brokers, SASL, TLS, topics, the group.
//! - [`error`]: [`StreamError`], each message saying what to check (never a secret).
#![forbid(unsafe_code)]

mod commit;
pub mod config;
mod context;
pub mod error;
pub mod probe;
pub mod source;
pub mod stats;

pub use commit::Committer;
pub use config::{EVENTHUBS_USERNAME, SaslMechanism, Secret, Security, StartAt, StreamConfig};
pub use error::StreamError;
pub use probe::{GroupReport, ProbeReport, TopicReport, probe, probe_with_timeout};
pub use rdkafka;
pub use source::StreamSource;
pub use stats::{PartitionStats, StreamStats};
