//! The Defender XDR streaming source: a Kafka consumer (Azure Event Hubs' Kafka endpoint, or
//! any Kafka cluster the stream is routed through) whose committed offsets are the cursor.
#![forbid(unsafe_code)]

pub use rdkafka;
