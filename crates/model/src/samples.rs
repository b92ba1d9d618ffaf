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
}
