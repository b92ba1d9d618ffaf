//! Issue 12 in the formats: unreadable-alert events (every format, hostile raw bytes, the cap),
//! repair markers, no empty CEF values, the CEF Name placeholder, percent-encoded portal links.
//! Read back with the strict parsers of `sim::parse` and syslog_loose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod format_common;
use format_common::*;

use alert_model::{Alert, Timestamp, parse_alert, unreadable};
use forwarder::format::Format;
use proptest::prelude::*;

fn event_of(raw: &[u8]) -> alert_model::Unreadable {
    let t = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    let e = parse_alert(raw).unwrap_err();
    unreadable(raw, format!("value[3]: {e}"), t)
}

#[test]
fn an_unreadable_event_is_one_marked_message_in_every_format() {
    let raw = br#"{"id":"da1","lastUpdateTime":"2026-11-20T08:14:05.3966667Z","title":"x|y=z\n] [a@1 b=\"c\"^","broken":tru}"#;
    let u = event_of(raw);
    for (name, format) in formats() {
        let f = formatter(format, 8192);
        let mut out = Vec::new();
        f.format_unreadable(&u, &mut out);
        let line = String::from_utf8(out).unwrap();
        let lut = Some("2026-11-20T08:14:05.3966667Z");
        match parse(format, &line) {
            Parsed::Rfc5424(m) => {
                assert_eq!(m.msgid.as_deref(), Some("UNREADABLE"), "{name}");
                assert_eq!(m.sd_param(SD_ID, "id"), Some("da1"));
                assert_eq!(m.sd_param(SD_ID, "lastUpdateTime"), lut);
                assert_eq!(m.sd_param(SD_ID, "unreadable"), Some("true"));
                assert!(m.sd_param(SD_ID, "error").unwrap().starts_with("value[3]"));
                let body: serde_json::Value =
                    serde_json::from_str(m.msg.as_deref().unwrap()).unwrap();
                assert_eq!(
                    body["raw"].as_str().unwrap().as_bytes(),
                    raw,
                    "exact raw in JSON"
                );
            }
            Parsed::Leef(_, e) => {
                assert_eq!(e.event_id, "DefenderUnreadableAlert", "{name}");
                assert_eq!(e.get("alertId"), Some("da1"));
                assert_eq!(e.get("lastUpdateTime"), lut);
                assert_eq!(e.get("unreadable"), Some("true"));
                assert!(e.get("raw").unwrap().contains(r#""broken":tru}"#));
            }
            Parsed::Cef(_, e) => {
                assert_eq!(e.class_id, "DefenderUnreadableAlert");
                assert_eq!(e.name, "Unreadable alert");
                assert_eq!(e.get("cs2"), Some("da1"));
                assert_eq!(e.get("cs3"), lut);
                assert!(e.get("reason").unwrap().starts_with("value[3]"));
                assert!(e.get("msg").unwrap().contains(r#""broken":tru}"#));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any raw bytes (hostile characters, invalid UTF-8, huge) give one valid event within the cap.
    #[test]
    fn unreadable_events_hold_the_cap_and_never_forge(
        junk in proptest::collection::vec(prop::sample::select(vec![
            &b"|"[..], b"=", b"\\", b"]", b"\"", b"^", b"\t", b"\r", b"\n", b"\0", b"\xff", b"\xe9",
            b"cs2=evil", b"] [x@1 a=\"b\"", b"CEF:0|", b"x"]), 0..200),
        repeat in 1usize..2000,
        max in 480usize..9000,
    ) {
        let mut raw = br#"{"id":"da1","t":""#.to_vec();
        for _ in 0..repeat.min(50) {
            for j in &junk {
                raw.extend_from_slice(j);
            }
        }
        raw.extend_from_slice(b"\",tru}");
        let t = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let u = unreadable(&raw, "value[0]: expected value".into(), t);
        for (_, format) in formats() {
            let f = formatter(format, max);
            let mut out = Vec::new();
            f.format_unreadable(&u, &mut out);
            prop_assert!(out.len() <= max);
            let line = String::from_utf8(out).unwrap();
            let _ = parse(format, &line);
        }
    }
}

#[test]
fn repaired_alerts_carry_the_marker_in_every_format() {
    let a = parse_alert(
        br#"{"id":"da1","lastUpdateTime":"2026-11-20T08:14:05Z","title":12345,"x":"\ud800"}"#,
    )
    .unwrap();
    for (name, format) in formats() {
        let line = format_one(&mut formatter(format, 8192), &a);
        let marker = match parse(format, &line) {
            Parsed::Rfc5424(m) => {
                // The JSON body keeps the number as it came.
                let body: serde_json::Value =
                    serde_json::from_str(m.msg.as_deref().unwrap()).unwrap();
                assert_eq!(body["title"], 12345);
                m.sd_param(SD_ID, "repaired").map(str::to_owned)
            }
            Parsed::Leef(_, e) => {
                assert_eq!(e.get("title"), Some("12345"));
                e.get("repaired").map(str::to_owned)
            }
            Parsed::Cef(_, e) => {
                assert_eq!(e.name, "12345");
                e.get("DefenderSyslogRepaired").map(str::to_owned)
            }
        };
        assert_eq!(marker.as_deref(), Some("surrogate,type:title"), "{name}");
    }
}

#[test]
fn cef_leaves_empty_values_out_and_names_an_untitled_alert() {
    let a = Alert {
        id: Some("da1".into()),
        title: Some(" \t ".into()),
        description: Some("   ".into()),
        category: Some(String::new()),
        threat_name: Some(String::new()),
        ..Alert::default()
    };
    let line = format_one(&mut formatter(Format::Cef, 8192), &a);
    let Parsed::Cef(_, e) = parse(Format::Cef, &line) else {
        unreachable!()
    };
    assert_eq!(e.name, "Defender alert");
    for k in ["msg", "cat", "cs1", "cs1Label"] {
        assert_eq!(e.get(k), None, "{k} in {line}");
    }
    assert!(!line.ends_with('='), "{line}");
    assert!(e.extensions.iter().all(|(_, v)| !v.is_empty()), "{line}");
}

#[test]
fn portal_links_percent_encode_the_real_id() {
    let a = Alert {
        id: Some("da1/../da2?x=1#é".into()),
        ..Alert::default()
    };
    let want = "https://security.microsoft.com/alerts/da1%2F..%2Fda2%3Fx%3D1%23%C3%A9";
    let line = format_one(&mut formatter(Format::Cef, 8192), &a);
    let Parsed::Cef(_, e) = parse(Format::Cef, &line) else {
        unreachable!()
    };
    assert_eq!(e.get("flexString1"), Some(want));
    let leef = Format::Leef {
        version: forwarder::format::LeefVersion::V2,
        delimiter: '^',
    };
    let line = format_one(&mut formatter(leef, 8192), &a);
    let Parsed::Leef(_, e) = parse(leef, &line) else {
        unreachable!()
    };
    assert_eq!(e.get("portalUrl"), Some(want));
    // A real id needs no encoding: the link is the id.
    let real = Alert {
        id: Some("da638380000000000000_-1234567".into()),
        ..Alert::default()
    };
    let line = format_one(&mut formatter(Format::Cef, 8192), &real);
    assert!(line.contains(
        "flexString1=https://security.microsoft.com/alerts/da638380000000000000_-1234567"
    ));
}
