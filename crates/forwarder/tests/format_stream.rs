//! Streamed records (Defender XDR streaming API) in every format: every sample record, parsed
//! back with the strict parsers (and syslog_loose for the envelope), compared field by field
//! with the record using the mapping written down in docs/formats.md ("Defender XDR streaming
//! records"); hostile values and column names at several caps; the unreadable event.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod format_common;
use format_common::*;

use alert_model::stream::{StreamEvent, StreamPos, StreamRecord, parse_message};
use alert_model::{Timestamp, samples};
use forwarder::format::Format;
use serde_json::{Map, Value};

// ---- the documented mapping (docs/formats.md), restated independently of the formatter ----

#[derive(Clone, Copy, PartialEq)]
enum K {
    Text,
    Ip,
    Ipv4,
    Port,
    Int,
}

/// A key, the columns that may fill it (first present and well formed wins), their kind, the
/// cap, the CEF label.
type Slot = (&'static str, &'static [&'static str], K, usize, Label);
type Slots = &'static [Slot];

const M: usize = usize::MAX;
const fn t(key: &'static str, cols: &'static [&'static str], cap: usize) -> Slot {
    (key, cols, K::Text, cap, None)
}
const fn typed(key: &'static str, cols: &'static [&'static str], k: K) -> Slot {
    (key, cols, k, M, None)
}
const fn cs(
    key: &'static str,
    col: &'static [&'static str],
    label: (&'static str, &'static str),
    cap: usize,
) -> Slot {
    (key, col, K::Text, cap, Some(label))
}

const SRC: &[&str] = &["LocalIP", "IPAddress", "SenderIPv4"];
const DST: &[&str] = &["RemoteIP", "DestinationIPAddress"];
const DPORT: &[&str] = &["RemotePort", "DestinationPort"];
const CAT: &[&str] = &["Category", "ActionType"];

const LEEF_PRE: Slots = &[
    t("cat", CAT, M),
    t("usrName", &["AccountName"], 255),
    t("domain", &["AccountDomain"], M),
    t("resource", &["DeviceName"], M),
    typed("src", SRC, K::Ip),
    typed("dst", DST, K::Ip),
    typed("srcPort", &["LocalPort"], K::Port),
    typed("dstPort", DPORT, K::Port),
    t("proto", &["Protocol"], M),
    t("url", &["RemoteUrl"], M),
];

const LEEF_ALERT: Slots = &[
    t("alertId", &["AlertId"], M),
    t("title", &["Title"], M),
    t("severity", &["Severity"], M),
    t("detectionSource", &["DetectionSource"], M),
    t("serviceSource", &["ServiceSource"], M),
];

const CEF_SLOTS: Slots = &[
    t("cat", CAT, 1023),
    t("sourceServiceName", &["DetectionSource"], 1023),
    t("deviceFacility", &["ServiceSource"], 1023),
    t("shost", &["DeviceName"], 1023),
    t("dhost", &["DestinationDeviceName"], 1023),
    t("suser", &["AccountName", "SenderFromAddress"], 1023),
    t("sntdom", &["AccountDomain"], 255),
    t("duser", &["RecipientEmailAddress"], 1023),
    t("fname", &["FileName"], 1023),
    t("filePath", &["FolderPath"], 1023),
    t("fileHash", &["SHA1"], 255),
    typed("fsize", &["FileSize"], K::Int),
    typed("src", SRC, K::Ipv4),
    typed("dst", DST, K::Ipv4),
    typed("spt", &["LocalPort"], K::Port),
    typed("dpt", DPORT, K::Port),
    t("proto", &["Protocol"], 31),
    t("request", &["RemoteUrl"], 1023),
    cs(
        "cs1",
        &["ProcessCommandLine"],
        ("cs1Label", "ProcessCommandLine"),
        4000,
    ),
    cs("cs2", &["AlertId"], ("cs2Label", "AlertId"), 4000),
    cs("cs4", &["ThreatFamily"], ("cs4Label", "ThreatFamily"), 4000),
    cs("cs6", &["SHA256"], ("cs6Label", "Sha256"), 4000),
    cs(
        "flexString2",
        &["AttackTechniques"],
        ("flexString2Label", "MitreTechniques"),
        1023,
    ),
];

const SD_COLUMNS: &[(&str, &str)] = &[
    ("id", "AlertId"),
    ("title", "Title"),
    ("severity", "Severity"),
    ("category", "Category"),
    ("serviceSource", "ServiceSource"),
    ("detectionSource", "DetectionSource"),
    ("entityType", "EntityType"),
    ("evidenceRole", "EvidenceRole"),
    ("actionType", "ActionType"),
    ("deviceName", "DeviceName"),
    ("accountName", "AccountName"),
];

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn scalar(r: &StreamRecord, col: &str) -> Option<String> {
    r.properties
        .get(col)
        .filter(|v| !v.is_array() && !v.is_object())
        .and_then(text)
}

/// A CEF label: key and text.
type Label = Option<(&'static str, &'static str)>;

fn ok(v: &str, k: K) -> bool {
    match k {
        K::Text => !v.is_empty(),
        K::Ip => v.parse::<std::net::IpAddr>().is_ok(),
        K::Ipv4 => v.parse::<std::net::Ipv4Addr>().is_ok(),
        K::Port => v.parse::<u16>().is_ok(),
        K::Int => v.parse::<i64>().is_ok(),
    }
}

/// `(key, value, cap, label)` for every slot filled, and the columns used.
fn fill(
    r: &StreamRecord,
    slots: Slots,
    used: &mut Vec<String>,
) -> Vec<(String, String, usize, Label)> {
    let mut out = Vec::new();
    for (key, cols, k, cap, label) in slots {
        if let Some((c, v)) = cols
            .iter()
            .find_map(|c| scalar(r, c).filter(|v| ok(v, *k)).map(|v| (c, v)))
        {
            used.push(c.to_string());
            out.push((key.to_string(), v, *cap, *label));
        }
    }
    out
}

fn plain(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_uppercase() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

fn severity(r: &StreamRecord) -> Option<&'static str> {
    let s = scalar(r, "Severity")?.to_ascii_lowercase();
    Some(match s.as_str() {
        "high" => "High",
        "medium" => "Medium",
        "low" => "Low",
        "informational" => "Informational",
        _ => "Other",
    })
}

/// Byte cut with `…`, as documented (cut at a character boundary).
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max - "…".len();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn record_time(r: &StreamRecord) -> Option<Timestamp> {
    r.time.or(r.kafka_time)
}

fn expected_msgid(r: &StreamRecord) -> String {
    match r.table() {
        Some(t)
            if !t.is_empty()
                && t.len() <= 32
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) =>
        {
            t.to_owned()
        }
        _ => "RECORD".to_owned(),
    }
}

fn category(r: &StreamRecord) -> String {
    r.category
        .clone()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| "DefenderStreamRecord".into())
}

fn check_envelope(r: &StreamRecord, m: &sim::parse::rfc5424::Message) {
    assert_eq!(m.msgid.as_deref(), Some(expected_msgid(r).as_str()));
    assert_eq!(m.app_name.as_deref(), Some("defender-syslog"));
    assert_eq!(m.timestamp, record_time(r).map(|t| t.to_rfc5424()));
    let sev = match severity(r) {
        None => 6,
        Some("High") => 2,
        Some("Medium") => 3,
        Some("Low") => 4,
        Some("Informational") => 6,
        Some(_) => 5,
    };
    assert_eq!((m.facility, m.severity), (10, sev));
}

fn expected_sd(r: &StreamRecord) -> Vec<(String, String)> {
    let mut p = vec![("recordId".to_string(), r.record_id())];
    let mut add = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            p.push((k.to_owned(), no_controls(&v)));
        }
    };
    add("table", r.table().map(str::to_owned));
    add("time", r.time.map(|t| t.to_string()));
    add("tenantId", r.tenant_id.clone());
    for (k, c) in SD_COLUMNS {
        add(k, scalar(r, c));
    }
    if !r.repairs.is_empty() {
        add("repaired", Some(alert_model::repair::marker(&r.repairs)));
    }
    p
}

fn expected_leef(r: &StreamRecord, delim: char) -> Vec<(String, String)> {
    let mut a: Vec<(String, String)> = Vec::new();
    if let Some(t) = record_time(r) {
        a.push(("devTime".into(), t.unix_millis().to_string()));
    }
    let sev = match severity(r) {
        Some("High") => Some("8"),
        Some("Medium") => Some("5"),
        Some("Low") => Some("3"),
        Some("Informational") => Some("1"),
        _ => None,
    };
    if let Some(s) = sev {
        a.push(("sev".into(), s.into()));
    }
    let mut used = Vec::new();
    for (k, v, cap, _) in fill(r, LEEF_PRE, &mut used) {
        a.push((k, cut(&v, cap)));
    }
    a.push(("recordId".into(), r.record_id()));
    for (k, v) in [
        ("table", r.table().map(str::to_owned)),
        ("time", r.time.map(|t| t.to_string())),
        ("tenantId", r.tenant_id.clone()),
    ] {
        if let Some(v) = v {
            a.push((k.into(), v));
        }
    }
    for (k, v, _, _) in fill(r, LEEF_ALERT, &mut used) {
        a.push((k, v));
    }
    let mut other = Map::new();
    for (k, v) in &r.properties {
        let Some(t) = text(v) else { continue };
        if used.contains(k) {
            continue;
        }
        if plain(k) && !k.contains(delim) {
            a.push((k.clone(), t));
        } else {
            other.insert(k.clone(), Value::String(t));
        }
    }
    if !other.is_empty() {
        a.push(("otherProperties".into(), Value::Object(other).to_string()));
    }
    if !r.repairs.is_empty() {
        a.push(("repaired".into(), alert_model::repair::marker(&r.repairs)));
    }
    a.into_iter()
        .map(|(k, v)| (k, leef_clean(&v, delim)))
        .collect()
}

/// CEF header (class id, name, severity) and extension pairs.
fn expected_cef(r: &StreamRecord) -> ([String; 3], Vec<(String, String)>) {
    let mut capped = false;
    let mut e: Vec<(String, String)> = Vec::new();
    let mut ext = |k: &str, v: &str, cap: usize, e: &mut Vec<(String, String)>| {
        let c = cef_ext_clean(&cut(v, cap));
        if c.is_empty() {
            return false;
        }
        capped |= v.len() > cap;
        e.push((k.to_owned(), c));
        true
    };
    if let Some(t) = record_time(r) {
        ext("rt", &t.unix_millis().to_string(), 32, &mut e);
    }
    if let Some(id) = scalar(r, "AlertId").filter(|i| i.len() <= 40) {
        ext("externalId", &id, 40, &mut e);
    }
    let mut used = Vec::new();
    for (k, v, cap, label) in fill(r, CEF_SLOTS, &mut used) {
        if ext(&k, &v, cap, &mut e)
            && let Some((lk, l)) = label
        {
            ext(lk, l, 1023, &mut e);
        }
    }
    if let Some(t) = &r.tenant_id {
        ext("MicrosoftDefenderAadTenantId", t, 1023, &mut e);
    }
    ext("DefenderSyslogRecordId", &r.record_id(), 1023, &mut e);
    let mut other = Map::new();
    for (k, v) in &r.properties {
        let Some(t) = text(v) else { continue };
        if used.contains(k) {
            continue;
        }
        if plain(k) && k != "AadTenantId" {
            ext(&format!("MicrosoftDefender{k}"), &t, 1023, &mut e);
        } else {
            other.insert(k.clone(), Value::String(t));
        }
    }
    if !other.is_empty() {
        ext(
            "DefenderSyslogOtherProperties",
            &Value::Object(other).to_string(),
            1023,
            &mut e,
        );
    }
    if !r.repairs.is_empty() {
        ext(
            "DefenderSyslogRepaired",
            &alert_model::repair::marker(&r.repairs),
            1023,
            &mut e,
        );
    }
    let visible = |s: &String| s.chars().any(|c| !c.is_whitespace() && !c.is_control());
    let name = scalar(r, "Title")
        .filter(visible)
        .or_else(|| scalar(r, "ActionType").filter(visible))
        .or_else(|| r.table().map(str::to_owned).filter(visible))
        .unwrap_or_else(|| "Defender record".into());
    let class = category(r);
    capped |= name.len() > 512 || class.len() > 1023;
    if capped {
        e.push(("cn3".into(), "1".into()));
        e.push(("cn3Label".into(), "Truncated".into()));
    }
    let sev = match severity(r) {
        Some("High") => "8",
        Some("Medium") => "5",
        Some("Low") => "3",
        Some("Informational") => "1",
        _ => "Unknown",
    };
    (
        [
            no_controls(&cut(&class, 1023)),
            no_controls(&cut(&name, 512)),
            sev.into(),
        ],
        e,
    )
}

/// Every CEF key a record may produce (values that clean to nothing included: a cut value
/// `…` is not empty).
fn cef_keys(r: &StreamRecord) -> Vec<String> {
    let mut used = Vec::new();
    let mut keys: Vec<String> = [
        "rt",
        "externalId",
        "MicrosoftDefenderAadTenantId",
        "DefenderSyslogRecordId",
        "DefenderSyslogOtherProperties",
        "DefenderSyslogRepaired",
    ]
    .map(String::from)
    .into();
    for (k, _, _, label) in fill(r, CEF_SLOTS, &mut used) {
        keys.push(k);
        keys.extend(label.map(|(l, _)| l.to_owned()));
    }
    keys.extend(
        r.properties
            .keys()
            .filter(|k| plain(k))
            .map(|k| format!("MicrosoftDefender{k}")),
    );
    keys
}

// ---- helpers ----

fn sample_records() -> Vec<StreamRecord> {
    let topic: std::sync::Arc<str> = "defender-events".into();
    let mut out = Vec::new();
    for (i, body) in samples::streaming_messages().iter().enumerate() {
        let pos = StreamPos {
            topic: topic.clone(),
            partition: (i % 3) as i32,
            offset: 1000 + i as i64,
        };
        let kafka_time = Timestamp::parse("2026-11-20T10:00:00Z").ok();
        for e in parse_message(&pos, kafka_time, body.as_bytes()) {
            match e {
                StreamEvent::Record(r) => out.push(*r),
                StreamEvent::Unreadable(u) => panic!("sample unreadable: {u:?}"),
            }
        }
    }
    out
}

fn render(f: &forwarder::format::Formatter, r: &StreamRecord) -> String {
    let mut out = Vec::new();
    f.format_record(r, &mut out);
    String::from_utf8(out).expect("UTF-8")
}

fn delim_of(format: Format) -> char {
    match format {
        Format::Leef {
            version: forwarder::format::LeefVersion::V1,
            ..
        } => '\t',
        Format::Leef { delimiter, .. } => delimiter,
        _ => ' ',
    }
}

/// Checks one message against its record, field by field; `full` when no cut is expected.
fn check(format: Format, r: &StreamRecord, line: &str) {
    match parse(format, line) {
        Parsed::Rfc5424(m) => {
            check_envelope(r, &m);
            assert_eq!(m.sd.len(), 1);
            assert_eq!(m.sd[0].params, expected_sd(r), "{line}");
            let body: Value =
                serde_json::from_str(m.msg.as_deref().expect("MSG")).expect("JSON MSG");
            let want: Value = serde_json::from_str(&r.json).unwrap();
            assert_eq!(body, want, "the MSG is the record, losslessly");
        }
        Parsed::Leef(m, e) => {
            check_envelope(r, &m);
            let d = delim_of(format);
            assert_eq!(
                (e.vendor.as_str(), e.product.as_str()),
                ("Microsoft", "Defender for Endpoint")
            );
            assert_eq!(e.event_id, leef_clean(&cut(&category(r), 255), d));
            assert_eq!(e.attributes, expected_leef(r, d), "{line}");
        }
        Parsed::Cef(m, e) => {
            check_envelope(r, &m);
            let (header, ext) = expected_cef(r);
            assert_eq!([e.class_id, e.name, e.severity], header);
            assert_eq!(e.extensions, ext, "{line}");
        }
    }
}

#[test]
fn every_sample_record_in_every_format_field_by_field() {
    let records = sample_records();
    assert!(records.len() >= 10);
    for (name, format) in formats() {
        let f = formatter(format, 8192);
        for r in &records {
            let line = render(&f, r);
            assert!(line.len() <= 8192, "{name}: {} bytes", line.len());
            check(format, r, &line);
        }
    }
}

#[test]
fn the_documented_examples_hold() {
    let records = sample_records();
    let by = |table: &str| records.iter().find(|r| r.table() == Some(table)).unwrap();
    let cef = formatter(Format::Cef, 8192);
    let Parsed::Cef(m, e) = parse(Format::Cef, &render(&cef, by("AlertInfo"))) else {
        panic!()
    };
    assert_eq!(m.msgid.as_deref(), Some("AlertInfo"));
    assert_eq!(e.class_id, "AdvancedHunting-AlertInfo");
    assert_eq!(e.name, "Suspicious access to LSASS service memory");
    assert_eq!(e.severity, "8");
    assert_eq!(e.get("cs2"), Some("da638351234567890123_-1029384756"));
    assert_eq!(e.get("externalId"), e.get("cs2"));
    assert_eq!(e.get("cat"), Some("CredentialAccess"));
    assert_eq!(
        e.get("DefenderSyslogRecordId"),
        Some("defender-events/0/1000/0")
    );
    let Parsed::Cef(_, e) = parse(Format::Cef, &render(&cef, by("DeviceNetworkEvents"))) else {
        panic!()
    };
    assert_eq!(e.name, "ConnectionSuccess");
    assert_eq!(
        (e.get("src"), e.get("dst")),
        (Some("10.20.30.42"), Some("203.0.113.77"))
    );
    assert_eq!((e.get("spt"), e.get("dpt")), (Some("50122"), Some("443")));
    assert_eq!(e.get("shost"), Some("ws-0042.contoso.test"));
    assert_eq!(e.get("MicrosoftDefenderIsRemoteSession"), Some("false"));
    assert_eq!(e.severity, "Unknown");
    // IPv6 addresses do not fit CEF src/dst: they stay under their own names.
    let v6 = records
        .iter()
        .find(|r| r.prop_str("RemoteIP").as_deref() == Some("2001:db8::77"))
        .unwrap();
    let Parsed::Cef(_, e) = parse(Format::Cef, &render(&cef, v6)) else {
        panic!()
    };
    assert_eq!(e.get("dst"), None);
    assert_eq!(e.get("MicrosoftDefenderRemoteIP"), Some("2001:db8::77"));

    let leef = formatter(
        Format::Leef {
            version: forwarder::format::LeefVersion::V2,
            delimiter: '^',
        },
        8192,
    );
    let Parsed::Leef(_, e) = parse(
        leef.options().format,
        &render(&leef, by("DeviceProcessEvents")),
    ) else {
        panic!()
    };
    assert_eq!(e.event_id, "AdvancedHunting-DeviceProcessEvents");
    assert_eq!(e.get("cat"), Some("ProcessCreated"));
    assert_eq!(e.get("usrName"), Some("jdoe"));
    assert_eq!(e.get("resource"), Some("ws-0042.contoso.test"));
    assert_eq!(e.get("ProcessId"), Some("7316"));
    assert_eq!(
        e.get("_TimeReceivedBySvc"),
        Some("2026-11-20T08:14:30.9000001Z")
    );
    assert_eq!(
        e.get("AdditionalFields"),
        Some(r#"{"ProcessStartKey":1688849860263425}"#)
    );
    assert_eq!(e.get("time"), Some("2026-11-20T08:13:59.0012345Z"));
    assert_eq!(e.get("AccountObjectId"), None, "nulls are left out");
    let Parsed::Leef(_, e) = parse(
        leef.options().format,
        &render(&leef, by("IdentityLogonEvents")),
    ) else {
        panic!()
    };
    assert_eq!(
        (e.get("src"), e.get("dst"), e.get("dstPort")),
        (Some("10.20.30.42"), Some("10.20.0.10"), Some("445"))
    );
}

#[test]
fn hostile_sample_forges_nothing() {
    let records = sample_records();
    let evil = records
        .iter()
        .find(|r| r.properties.contains_key("odd key=1|x"))
        .unwrap();
    let cef = formatter(Format::Cef, 8192);
    let Parsed::Cef(_, e) = parse(Format::Cef, &render(&cef, evil)) else {
        panic!()
    };
    let other: Value =
        serde_json::from_str(e.get("DefenderSyslogOtherProperties").unwrap()).unwrap();
    assert_eq!(other["odd key=1|x"], "forged?");
    assert_eq!(other["lowercaseColumn"], "v");
    assert_eq!(other["AadTenantId"], "evil");
    assert_eq!(
        e.get("MicrosoftDefenderAadTenantId"),
        Some("0b9c1f7e-5d2a-4c3b-9e8f-1a2b3c4d5e6f")
    );
    assert_eq!(
        e.get("DefenderSyslogRecordId"),
        Some(evil.record_id().as_str())
    );
    assert_eq!(
        e.get("cn3"),
        Some("1"),
        "the 5 KB command line was cut to cs1's cap"
    );
    assert_eq!(e.get("MicrosoftDefenderRemoteIP"), Some("not-an-ip"));
    assert_eq!(e.get("MicrosoftDefenderRemotePort"), Some("99999"));
}

// ---- hostile values at several caps ----

mod props {
    use super::*;
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
            "x=1",
            "cs2=evil",
            "^sev=10",
            "\tsev=10",
            "] [x@1 a=\"b\"",
            "CEF:0|",
            "LEEF:2.0|",
            "🔥",
            "é",
            "\u{2028}",
            "a",
            "Z",
        ]);
        let short = prop::collection::vec(atoms, 0..16).prop_map(|v| v.concat());
        prop_oneof![
            4 => short,
            1 => (0usize..6000, any::<char>()).prop_map(|(n, c)| {
                std::iter::repeat_n(c, n).collect()
            }),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "DeviceName",
                "AccountName",
                "RemoteIP",
                "ProcessCommandLine",
                "Title",
                "AlertId",
                "ActionType",
                "Severity",
                "FileName",
                "SHA256",
                "Extra_Col",
                "_TimeReceivedBySvc",
                "AadTenantId",
                "cs2",
                "sev",
                "devTime",
            ])
            .prop_map(str::to_owned),
            super::props::hostile(),
        ]
    }

    fn record() -> impl Strategy<Value = String> {
        (
            prop::collection::vec((key(), hostile()), 0..10),
            hostile(),
            hostile(),
            prop::sample::select(vec!["High", "Medium", "low", "Informational", "odd"]),
        )
            .prop_map(|(props, table, tenant, sev)| {
                let mut p = Map::new();
                for (k, v) in props {
                    p.insert(k, Value::String(v));
                }
                p.insert("Severity".into(), Value::String(sev.into()));
                serde_json::json!({"records": [{
                    "time": "2026-11-20T08:14:05.3966667Z",
                    "tenantId": tenant,
                    "category": format!("AdvancedHunting-{table}"),
                    "properties": p,
                }]})
                .to_string()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        #[test]
        fn hostile_records_never_forge_and_fit(body in record(), cap in prop::sample::select(vec![480usize, 1024, 8192])) {
            let pos = StreamPos { topic: "t-1".into(), partition: 7, offset: 42 };
            let events = parse_message(&pos, None, body.as_bytes());
            prop_assert_eq!(events.len(), 1);
            let StreamEvent::Record(r) = &events[0] else { panic!("{events:?}") };
            for (_, format) in formats() {
                let f = formatter(format, cap);
                let line = render(&f, r);
                prop_assert!(line.len() <= cap, "{} > {cap}", line.len());
                let parsed = parse(format, &line);
                let full_len = render(&formatter(format, 1 << 24), r).len();
                // The identity survives every cut; an uncut message matches field by field.
                match &parsed {
                    Parsed::Rfc5424(m) => {
                        prop_assert_eq!(m.sd_param(SD_ID, "recordId"), Some("t-1/7/42/0"));
                        if m.sd_param(SD_ID, "truncated").is_none() {
                            check(format, r, &line);
                        } else {
                            prop_assert!(full_len > cap, "cut though the whole message fits");
                            let allowed: Vec<String> = expected_sd(r).into_iter().map(|(k, _)| k).collect();
                            for (k, _) in &m.sd[0].params {
                                prop_assert!(allowed.contains(k) || k == "truncated", "forged {k}");
                            }
                            if let Some(msg) = &m.msg {
                                serde_json::from_str::<Value>(msg).expect("cut MSG is still JSON");
                            }
                        }
                    }
                    Parsed::Leef(_, e) => {
                        prop_assert_eq!(e.get("recordId"), Some("t-1/7/42/0"));
                        if e.get("truncated").is_none() {
                            check(format, r, &line);
                        } else {
                            prop_assert!(full_len > cap, "cut though the whole message fits");
                            let allowed: Vec<String> = expected_leef(r, delim_of(format)).into_iter().map(|(k, _)| k).collect();
                            for (k, _) in &e.attributes {
                                prop_assert!(allowed.contains(k) || k == "truncated", "forged {k}");
                            }
                        }
                    }
                    Parsed::Cef(_, e) => {
                        prop_assert_eq!(e.get("DefenderSyslogRecordId"), Some("t-1/7/42/0"));
                        let (header, want) = expected_cef(r);
                        let same = [e.class_id.clone(), e.name.clone(), e.severity.clone()] == header
                            && e.extensions == want;
                        // cn3 also marks a value cut to its dictionary cap (then `want` has it).
                        if e.get("cn3").is_none() || same {
                            check(format, r, &line);
                        } else {
                            prop_assert!(full_len > cap, "cut though the whole message fits");
                            let allowed = cef_keys(r);
                            for (k, _) in &e.extensions {
                                prop_assert!(allowed.contains(k) || k.starts_with("cn3"), "forged {k}");
                            }
                        }
                    }
                }
            }
        }
    }
}

// ---- unreadable records ----

#[test]
fn unreadable_records_are_marked_events_with_their_record_id() {
    let pos = StreamPos {
        topic: "defender-events".into(),
        partition: 3,
        offset: 77,
    };
    let body = br#"{"records":[{"time":"2026-11-20T08:14:05.3966667Z","category":"AdvancedHunting-AlertInfo","properties":{"AlertId":"da1"}},42,"x|=\n]"]}"#;
    let events = parse_message(&pos, None, body);
    assert_eq!(events.len(), 3);
    for (_, format) in formats() {
        let f = formatter(format, 1024);
        let lines: Vec<String> = events
            .iter()
            .map(|e| {
                let mut out = Vec::new();
                f.format_stream_event(e, &mut out);
                String::from_utf8(out).unwrap()
            })
            .collect();
        let StreamEvent::Record(r) = &events[0] else {
            panic!()
        };
        check(format, r, &lines[0]);
        for (i, line) in lines.iter().enumerate().skip(1) {
            let id = format!("defender-events/3/77/{i}");
            match parse(format, line) {
                Parsed::Rfc5424(m) => {
                    assert_eq!(m.msgid.as_deref(), Some("UNREADABLE"));
                    assert_eq!(m.sd_param(SD_ID, "id"), Some(id.as_str()));
                    assert_eq!(m.sd_param(SD_ID, "unreadable"), Some("true"));
                    let body: Value = serde_json::from_str(m.msg.as_deref().unwrap()).unwrap();
                    assert_eq!(body["id"], id.as_str());
                }
                Parsed::Leef(_, e) => {
                    assert_eq!(e.event_id, "DefenderUnreadableAlert");
                    assert_eq!(e.get("alertId"), Some(id.as_str()));
                    assert_eq!(e.get("unreadable"), Some("true"));
                }
                Parsed::Cef(_, e) => {
                    assert_eq!(e.class_id, "DefenderUnreadableAlert");
                    assert_eq!(e.get("cs2"), Some(id.as_str()));
                }
            }
        }
        // A body that is not a streaming message at all: one event, the message's position.
        let bad = parse_message(&pos, None, b"not json | = \n");
        let mut out = Vec::new();
        f.format_stream_event(&bad[0], &mut out);
        let line = String::from_utf8(out).unwrap();
        assert!(line.contains("defender-events/3/77"), "{line}");
        parse(format, &line);
    }
}

#[test]
fn a_pretty_printed_record_stays_on_one_line() {
    let pos = StreamPos {
        topic: "t".into(),
        partition: 0,
        offset: 1,
    };
    let body = "{\"records\": [\n  {\n\t\"time\": \"2026-11-20T08:14:05Z\",\r\n  \"category\": \"AdvancedHunting-DeviceEvents\",\n  \"properties\": {\"A\": \"x \\n y\\t\", \"B\": [1, 2]}\n  }\n]}";
    let events = parse_message(&pos, None, body.as_bytes());
    let StreamEvent::Record(r) = &events[0] else {
        panic!("{events:?}")
    };
    for (_, format) in formats() {
        let line = render(&formatter(format, 8192), r);
        check(format, r, &line);
    }
    let line = render(&formatter(Format::Rfc5424, 8192), r);
    assert!(line.ends_with(r#"{"time":"2026-11-20T08:14:05Z","category":"AdvancedHunting-DeviceEvents","properties":{"A":"x \n y\t","B":[1,2]}}"#), "{line}");
}
