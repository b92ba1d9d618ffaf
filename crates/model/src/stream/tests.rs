#![allow(clippy::unwrap_used)]

use super::*;

fn pos() -> StreamPos {
    StreamPos {
        topic: Arc::from("insights"),
        partition: 3,
        offset: 42,
    }
}

fn records(body: &[u8]) -> Vec<StreamEvent> {
    parse_message(&pos(), Timestamp::parse("2026-01-01T00:00:00Z").ok(), body)
}

fn record(e: &StreamEvent) -> &StreamRecord {
    match e {
        StreamEvent::Record(r) => r,
        StreamEvent::Unreadable(u) => panic!("unreadable: {}", u.error),
    }
}

#[test]
fn a_message_splits_into_its_records_in_order_with_the_row_kept_whole() {
    let body = br#"{"records":[
      {"time":"2026-01-01T10:00:00.1234567Z","tenantId":"t1","operationName":"Publish","category":"AdvancedHunting-AlertInfo","properties":{"AlertId":"da1","Title":"x","Unknown":[1,{"a":null}]}},
      {"time":"2026-01-01T10:00:01Z","category":"AdvancedHunting-DeviceProcessEvents","properties":{"DeviceName":"pc","ProcessId":4242,"IsAdmin":true}}
    ]}"#;
    let ev = records(body);
    assert_eq!(ev.len(), 2);
    let a = record(&ev[0]);
    assert_eq!(a.record_id(), "insights/3/42/0");
    assert_eq!(a.table(), Some("AlertInfo"));
    assert_eq!(a.tenant_id.as_deref(), Some("t1"));
    assert_eq!(a.prop_str("AlertId").as_deref(), Some("da1"));
    assert_eq!(a.properties["Unknown"], serde_json::json!([1, {"a": null}]));
    let back: Value = serde_json::from_str(&a.json).unwrap();
    assert_eq!(
        back["properties"]["Unknown"],
        serde_json::json!([1, {"a": null}])
    );
    assert!(
        a.json.contains("2026-01-01T10:00:00.1234567Z"),
        "the record's own text is kept"
    );
    let b = record(&ev[1]);
    assert_eq!(b.index, 1);
    assert_eq!(b.prop_str("ProcessId").as_deref(), Some("4242"));
    assert_eq!(b.prop_str("IsAdmin").as_deref(), Some("true"));
    assert!(a.repairs.is_empty() && b.repairs.is_empty());
}

#[test]
fn a_body_that_is_not_json_is_one_unreadable_event_with_its_position() {
    let ev = records(b"\x00\xff not json {");
    assert_eq!(ev.len(), 1);
    let StreamEvent::Unreadable(u) = &ev[0] else {
        panic!("expected unreadable")
    };
    assert_eq!(u.id.as_deref(), Some("insights/3/42"));
    assert!(u.key.id.starts_with(UNREADABLE_KEY_PREFIX));
    assert!(u.error.contains("insights/3/42"), "{}", u.error);
}

#[test]
fn a_record_that_is_not_an_object_is_unreadable_and_its_neighbours_are_not() {
    let body = br#"{"records":[{"category":"AdvancedHunting-AlertInfo","properties":{"AlertId":"a"}},"oops",{"category":"AdvancedHunting-AlertInfo","properties":{"AlertId":"b"}}]}"#;
    let ev = records(body);
    assert_eq!(ev.len(), 3);
    assert_eq!(record(&ev[0]).prop_str("AlertId").as_deref(), Some("a"));
    let StreamEvent::Unreadable(u) = &ev[1] else {
        panic!("expected unreadable")
    };
    assert_eq!(u.id.as_deref(), Some("insights/3/42/1"));
    assert_eq!(u.raw, "\"oops\"");
    assert_eq!(record(&ev[2]).index, 2);
}

#[test]
fn invalid_utf8_and_lone_surrogates_are_repaired_and_marked() {
    let body = b"{\"records\":[{\"category\":\"AdvancedHunting-DeviceFileEvents\",\"properties\":{\"FileName\":\"caf\xe9\\ud800.exe\"}}]}";
    let ev = records(body);
    let r = record(&ev[0]);
    assert_eq!(
        r.prop_str("FileName").as_deref(),
        Some("caf\u{fffd}\u{fffd}.exe")
    );
    assert!(r.repairs.contains(&Repair::InvalidUtf8));
    assert!(r.repairs.contains(&Repair::LoneSurrogate));
}

#[test]
fn odd_types_are_kept_and_marked() {
    let body =
        br#"{"records":[{"time":12,"category":"AdvancedHunting-AlertInfo","properties":"nope"}]}"#;
    let r = record(&records(body)[0]).clone();
    assert_eq!(r.time, None);
    assert!(r.properties.is_empty());
    assert!(r.repairs.contains(&Repair::Type("time")));
    assert!(r.repairs.contains(&Repair::Type("properties")));
    assert!(r.json.contains("\"nope\""));
}

#[test]
fn a_bare_record_object_is_read_as_one_record() {
    let body = br#"{"category":"AdvancedHunting-AlertEvidence","properties":{"AlertId":"z"}}"#;
    let ev = records(body);
    assert_eq!(ev.len(), 1);
    assert_eq!(record(&ev[0]).table(), Some("AlertEvidence"));
}

#[test]
fn an_empty_records_array_is_no_events() {
    assert!(records(br#"{"records":[]}"#).is_empty());
}
