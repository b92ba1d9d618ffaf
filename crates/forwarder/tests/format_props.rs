//! Property tests: arbitrary text — `|`, `=`, `\`, `]`, `"`, `^`, tabs, CR, LF, NUL, emoji,
//! escape look-alikes, huge values — in every field never yields a second event or a second
//! field, never breaks the size cap, and keeps the alert's identity.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod format_common;
use format_common::*;

use alert_model::{Alert, Evidence, RelatedUser, Timestamp};
use proptest::prelude::*;

fn hostile() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "|",
        "=",
        "\\",
        "]",
        "[",
        "\"",
        "^",
        "\t",
        "\r",
        "\n",
        "\0",
        " ",
        "\\n",
        "\\=",
        "\\|",
        "x=1",
        "cs2=evil",
        "^sev=10",
        "\tsev=10",
        "] [x@1 a=\"b\"",
        "CEF:0|",
        "LEEF:2.0|",
        "🔥",
        "é",
        "\u{200b}",
        "\u{2028}",
        "a",
        "Z",
    ]);
    prop::collection::vec(atoms, 0..24).prop_map(|v| v.concat())
}

fn alert_strategy() -> impl Strategy<Value = Alert> {
    (
        prop::collection::vec(hostile(), 12),
        prop::option::of(0i64..=4_000_000_000_000_000),
        0usize..4,
    )
        .prop_map(|(s, lut, n_ev)| {
            let mut a = Alert {
                id: Some(format!("da{}", s[0])),
                title: Some(s[1].clone()),
                description: Some(s[2].clone()),
                category: Some(s[3].clone()),
                computer_dns_name: Some(s[4].clone()),
                severity: Some(
                    ["High", "Medium", "Low", "Informational", "UnSpecified"][s[5].len() % 5]
                        .to_owned(),
                ),
                status: Some(s[6].clone()),
                detector_id: Some(s[7].clone()),
                threat_name: Some(s[8].clone()),
                related_user: Some(RelatedUser {
                    user_name: Some(s[9].clone()),
                    domain_name: Some(s[10].clone()),
                    ..Default::default()
                }),
                last_update_time: lut.and_then(|n| Timestamp::from_unix_nanos(i128::from(n) * 100)),
                ..Default::default()
            };
            a.evidence = Some(
                (0..n_ev)
                    .map(|i| Evidence {
                        entity_type: Some("File".into()),
                        file_name: Some(format!("{}{i}", s[11])),
                        url: Some(s[11].clone()),
                        ip_address: Some(s[0].clone()),
                        ..Default::default()
                    })
                    .collect(),
            );
            a
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn hostile_text_never_forges_events_or_fields(a in alert_strategy(), max in 480usize..6000) {
        for (_, format) in formats() {
            let mut f = formatter(format, max);
            let line = format_one(&mut f, &a);
            prop_assert!(line.len() <= max);
            check_fields(format, &a, &line);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// A 1 MB value anywhere still gives one valid event within the cap.
    #[test]
    fn megabyte_values_are_cut_not_forwarded(a in alert_strategy(), field in 0usize..4, max in prop::sample::select(vec![480usize, 8192, 65536])) {
        let big = "x|=\\]\"^\n".repeat(1024 * 1024 / 8);
        let mut a = a;
        match field {
            0 => a.title = Some(big),
            1 => a.description = Some(big),
            2 => a.id = Some(big),
            _ => a.evidence = Some(vec![Evidence { process_command_line: Some(big), ..Default::default() }]),
        }
        for (_, format) in formats() {
            let mut f = formatter(format, max);
            let line = format_one(&mut f, &a);
            prop_assert!(line.len() <= max);
            let parsed = parse(format, &line);
            let _ = parsed;
        }
    }
}
