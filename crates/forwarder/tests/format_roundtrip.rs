//! Every format, over the repository's samples and the real captures: one strictly parseable
//! event per alert, field by field equal to the source, within the size cap.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod format_common;
use format_common::*;

#[test]
fn samples_round_trip_in_every_format() {
    let alerts = alert_model::samples::alerts();
    for (name, format) in formats() {
        let mut f = formatter(format, 64 * 1024);
        for a in &alerts {
            let line = format_one(&mut f, a);
            check_fields(format, a, &line);
            assert!(
                !line.contains("truncated") || name.starts_with("cef"),
                "{name}: no sample needs cutting at 64 KiB"
            );
        }
    }
}

#[test]
fn real_captures_round_trip_in_every_format() {
    let Some(alerts) = fixture_alerts() else {
        return;
    };
    assert!(
        alerts.len() >= 40,
        "expected the 21 + 21 + 1 captured alerts, got {}",
        alerts.len()
    );
    for (name, format) in formats() {
        for max in [2048, 8192, 64 * 1024] {
            let mut f = formatter(format, max);
            for (src, a) in &alerts {
                let line = format_one(&mut f, a);
                assert!(line.len() <= max, "{name} {src}: {} > {max}", line.len());
                check_fields(format, a, &line);
            }
        }
    }
}

#[test]
fn samples_at_small_caps_are_cut_in_order_and_marked() {
    let alerts = alert_model::samples::alerts();
    for (name, format) in formats() {
        for max in [480, 600, 1024, 2048] {
            let mut f = formatter(format, max);
            for a in &alerts {
                let line = format_one(&mut f, a);
                assert!(line.len() <= max, "{name} {max}: {} bytes", line.len());
                // Still one strictly valid event carrying the whole id and lastUpdateTime.
                check_fields(format, a, &line);
            }
        }
    }
}

#[test]
fn golden_outputs_match() {
    let alerts = alert_model::samples::alerts();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (name, format) in formats() {
        let mut f = formatter(format, 8192);
        let mut got = String::new();
        for a in &alerts {
            got.push_str(&format_one(&mut f, a));
            got.push('\n');
        }
        let path = dir.join(format!("{name}.txt"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1 once)", path.display()));
        assert_eq!(
            got, want,
            "{name}: output changed; review the diff, then UPDATE_GOLDEN=1"
        );
    }
}

#[test]
fn leef_delimiter_declared_in_hex_for_tab() {
    use forwarder::format::{Format, LeefVersion};
    let a = &alert_model::samples::alerts()[0];
    let mut f = formatter(
        Format::Leef {
            version: LeefVersion::V2,
            delimiter: '\t',
        },
        8192,
    );
    let line = format_one(&mut f, a);
    assert!(line.contains("|x09|"), "{line}");
}
