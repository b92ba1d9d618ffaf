//! Defender XDR streaming API records (Event Hubs / Kafka), shared by the stream source and
//! the forwarder's formats.
//!
//! A Kafka message's body is `{"records":[{"time":…,"tenantId":…,"category":
//! "AdvancedHunting-<Table>","properties":{<row>}},…]}`. [`parse_message`] splits it into one
//! [`StreamEvent`] per record, leniently: bytes that are not UTF-8 and lone surrogates are
//! repaired and marked, a record that is not an object (or a body that is not JSON) becomes an
//! [`Unreadable`] event, so no record is lost and none holds the offsets back.
//!
//! The cursor of this source is Kafka's committed offsets: [`offsets::OffsetTracker`] says
//! which offset of a partition may be committed once the transport reports delivery.

pub mod offsets;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::cursor::{UNREADABLE_KEY_PREFIX, Unreadable, VersionKey};
use crate::repair::{Repair, fix_lone_surrogates};
use crate::timestamp::Timestamp;

/// The prefix of a streamed record's `category`; the rest is the advanced-hunting table.
pub const CATEGORY_PREFIX: &str = "AdvancedHunting-";

/// Where a Kafka message sits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamPos {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
}

impl fmt::Display for StreamPos {
    /// `topic/partition/offset`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.topic, self.partition, self.offset)
    }
}

/// One record of a streamed message: one row of an advanced-hunting table.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRecord {
    pub pos: StreamPos,
    /// Its index in the message's `records` array: with `pos`, what identifies it (a
    /// redelivered record repeats the same identity).
    pub index: u32,
    /// The Kafka message timestamp (Event Hubs: when the hub received it).
    pub kafka_time: Option<Timestamp>,
    /// The record's `time`.
    pub time: Option<Timestamp>,
    pub tenant_id: Option<String>,
    /// `AdvancedHunting-<Table>`.
    pub category: Option<String>,
    pub operation_name: Option<String>,
    /// The row (`properties`); empty when absent or not an object (then marked repaired).
    pub properties: serde_json::Map<String, Value>,
    /// The record's JSON exactly as received (after the marked repairs): the lossless body.
    pub json: String,
    pub repairs: Vec<Repair>,
}

impl StreamRecord {
    /// `topic/partition/offset/index`: unique per record, repeated on redelivery.
    pub fn record_id(&self) -> String {
        format!("{}/{}", self.pos, self.index)
    }

    /// The advanced-hunting table (`category` without `AdvancedHunting-`).
    pub fn table(&self) -> Option<&str> {
        let c = self.category.as_deref()?;
        Some(c.strip_prefix(CATEGORY_PREFIX).unwrap_or(c))
    }

    /// A property as text: strings as they are, numbers and booleans written out, `None` for
    /// null, absent, arrays and objects.
    pub fn prop_str(&self, key: &str) -> Option<Cow<'_, str>> {
        match self.properties.get(key)? {
            Value::String(s) => Some(Cow::Borrowed(s)),
            Value::Number(n) => Some(Cow::Owned(n.to_string())),
            Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        }
    }
}

/// One event of a message, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Record(Box<StreamRecord>),
    /// Forwarded as a marked "unreadable" event.
    Unreadable(Box<Unreadable>),
}

/// One Kafka message on the source → pipeline channel: its events (possibly none, when a
/// table filter dropped them all: its offset must still be committable), and the assignment
/// epoch it was read under (a commit from an older epoch than the partition's current one is
/// refused, so a revoked partition is never committed by its old owner).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamMessage {
    pub pos: StreamPos,
    pub epoch: u64,
    pub events: Vec<StreamEvent>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    records: Vec<&'a RawValue>,
}

/// Splits a message body into its records (see the module docs). A body that is one record
/// object (a stream routed through a user's own pipeline) is read as that record.
pub fn parse_message(
    pos: &StreamPos,
    kafka_time: Option<Timestamp>,
    body: &[u8],
) -> Vec<StreamEvent> {
    let mut repairs = Vec::new();
    let text = match std::str::from_utf8(body) {
        Ok(t) => Cow::Borrowed(t),
        Err(_) => {
            repairs.push(Repair::InvalidUtf8);
            String::from_utf8_lossy(body)
        }
    };
    let text = match fix_lone_surrogates(&text) {
        Some(fixed) => {
            repairs.push(Repair::LoneSurrogate);
            Cow::Owned(fixed)
        }
        None => text,
    };
    let fallback = kafka_time.unwrap_or_else(Timestamp::now);
    let records: Vec<&RawValue> = match serde_json::from_str::<Envelope<'_>>(&text) {
        Ok(e) => e.records,
        Err(envelope_err) => match serde_json::from_str::<&RawValue>(&text) {
            Ok(one) if one.get().trim_start().starts_with('{') && looks_like_record(one) => {
                vec![one]
            }
            _ => {
                let error = format!("message {pos}: not a streaming API message: {envelope_err}");
                return vec![unreadable_event(pos, None, &text, error, fallback)];
            }
        },
    };
    records
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            record(pos, index, kafka_time, raw, &repairs)
                .map(|r| StreamEvent::Record(Box::new(r)))
                .unwrap_or_else(|error| {
                    unreadable_event(pos, Some(index), raw.get(), error, fallback)
                })
        })
        .collect()
}

fn looks_like_record(raw: &RawValue) -> bool {
    serde_json::from_str::<serde_json::Map<String, Value>>(raw.get())
        .map(|m| m.contains_key("category") || m.contains_key("properties"))
        .unwrap_or(false)
}

fn record(
    pos: &StreamPos,
    index: u32,
    kafka_time: Option<Timestamp>,
    raw: &RawValue,
    message_repairs: &[Repair],
) -> Result<StreamRecord, String> {
    let mut map = match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::Object(m)) => m,
        Ok(other) => {
            return Err(format!(
                "record {pos}/{index}: a {} where a record object was expected",
                json_kind(&other)
            ));
        }
        Err(e) => return Err(format!("record {pos}/{index}: {e}")),
    };
    let mut repairs = message_repairs.to_vec();
    let text = |key: &'static str, repairs: &mut Vec<Repair>| match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            repairs.push(Repair::Type(key));
            Some(other.to_string())
        }
    };
    let time_text = text("time", &mut repairs);
    let tenant_id = text("tenantId", &mut repairs);
    let category = text("category", &mut repairs);
    let operation_name = text("operationName", &mut repairs);
    let time = time_text.and_then(|t| match Timestamp::parse(&t) {
        Ok(t) => Some(t),
        Err(_) => {
            repairs.push(Repair::Type("time"));
            None
        }
    });
    let properties = match map.remove("properties") {
        Some(Value::Object(p)) => p,
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(_) => {
            repairs.push(Repair::Type("properties"));
            serde_json::Map::new()
        }
    };
    Ok(StreamRecord {
        pos: pos.clone(),
        index,
        kafka_time,
        time,
        tenant_id,
        category,
        operation_name,
        properties,
        json: raw.get().to_owned(),
        repairs,
    })
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The unreadable event of a message (`index` None) or of one of its records.
fn unreadable_event(
    pos: &StreamPos,
    index: Option<u32>,
    text: &str,
    error: String,
    fallback_time: Timestamp,
) -> StreamEvent {
    let id = match index {
        Some(i) => format!("{pos}/{i}"),
        None => pos.to_string(),
    };
    let mut end = text.len().min(Unreadable::MAX_RAW);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    StreamEvent::Unreadable(Box::new(Unreadable {
        key: VersionKey {
            id: format!("{UNREADABLE_KEY_PREFIX}{id}"),
            last_update_time: fallback_time,
        },
        id: Some(id),
        last_update_time: None,
        error,
        raw: text[..end].to_owned(),
        raw_len: text.len(),
    }))
}

#[cfg(test)]
mod tests;
