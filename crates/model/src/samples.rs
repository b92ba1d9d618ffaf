//! The repository's own synthetic alerts (not real tenant data), shaped like real Defender
//! captures: 7-digit fractions, nulls, undocumented fields, evidence of every common type,
//! ties on `lastUpdateTime`, a 47-character id, and one alert full of hostile characters.

/// NDJSON, one alert per line.
pub const ALERTS_NDJSON: &str = include_str!("../samples/alerts.ndjson");

/// The samples parsed. They are part of the build, so a parse failure is a bug caught by the
/// test below, never a runtime condition.
pub fn alerts() -> Vec<crate::Alert> {
    crate::parse_alerts(ALERTS_NDJSON.as_bytes())
        .into_iter()
        .filter_map(Result::ok)
        .collect()
}

/// Synthetic Microsoft Graph `alerts_v2` alerts, NDJSON (samples/generate_graph.py): the shape of
/// the public documentation sample, several products (`serviceSource`) and evidence types,
/// unknown evidence types and enum values, a tie on `lastUpdateDateTime`, one hostile alert.
pub const GRAPH_ALERTS_NDJSON: &str = include_str!("../samples/graph_alerts.ndjson");

/// The Graph samples parsed (see [`alerts`] for why a failure cannot happen at run time).
pub fn graph_alerts() -> Vec<crate::GraphAlert> {
    crate::parse_alerts_of(GRAPH_ALERTS_NDJSON.as_bytes())
        .into_iter()
        .filter_map(Result::ok)
        .collect()
}

/// Synthetic Defender XDR streaming API messages (samples/generate_streaming.py), one Event Hubs /
/// Kafka message body per line: AlertInfo, AlertEvidence, DeviceProcessEvents,
/// DeviceNetworkEvents, EmailEvents and IdentityLogonEvents rows with nulls, 7-digit fractions,
/// an undocumented column, the MachineGroup / _TimeReceivedBySvc / Tenant decorations, and one
/// message of hostile values and column names.
pub const STREAMING_NDJSON: &str = include_str!("../samples/streaming.ndjson");

/// The streaming samples as message bodies, in order (what a producer writes to the topic;
/// [`crate::stream::parse_message`] splits each into its records).
pub fn streaming_messages() -> Vec<&'static str> {
    STREAMING_NDJSON
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_sample_parses() {
        let all = crate::parse_alerts(super::ALERTS_NDJSON.as_bytes());
        assert!(all.len() >= 10);
        for r in &all {
            assert!(r.is_ok(), "{r:?}");
        }
        assert_eq!(super::alerts().len(), all.len());
    }

    #[test]
    fn every_graph_sample_parses_cleanly() {
        let all =
            crate::parse_alerts_of::<crate::GraphAlert>(super::GRAPH_ALERTS_NDJSON.as_bytes());
        assert!(all.len() >= 8);
        for r in &all {
            let a = r.as_ref().unwrap();
            assert!(a.repairs.is_empty(), "{:?}: {:?}", a.id, a.repairs);
            assert!(a.version_key().is_some());
        }
        assert_eq!(super::graph_alerts().len(), all.len());
    }

    #[test]
    fn every_streaming_sample_is_readable() {
        use crate::stream::{StreamEvent, StreamPos, parse_message};
        let msgs = super::streaming_messages();
        assert!(msgs.len() >= 6);
        let mut tables = std::collections::BTreeSet::new();
        for (i, body) in msgs.iter().enumerate() {
            let pos = StreamPos {
                topic: "samples".into(),
                partition: 0,
                offset: i as i64,
            };
            let events = parse_message(&pos, None, body.as_bytes());
            assert!(!events.is_empty());
            for e in events {
                let StreamEvent::Record(r) = e else {
                    panic!("message {i}: unreadable {e:?}")
                };
                assert!(r.repairs.is_empty(), "{:?}", r.repairs);
                assert!(r.time.is_some() && r.tenant_id.is_some());
                assert!(r.properties.contains_key("_TimeReceivedBySvc"));
                tables.insert(r.table().unwrap_or_default().to_owned());
            }
        }
        for t in [
            "AlertInfo",
            "AlertEvidence",
            "DeviceProcessEvents",
            "DeviceNetworkEvents",
            "EmailEvents",
            "IdentityLogonEvents",
        ] {
            assert!(tables.contains(t), "{t} missing from {tables:?}");
        }
    }
}
