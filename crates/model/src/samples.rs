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
}
