//! The conservation oracle for Graph alerts_v2 messages: the same counting as [`crate::oracle`]
//! (every served version arrives, nothing invented), with each alert message decoded by the
//! strict parsers and compared field by field with the mock's alerts_v2 alert: identity in the
//! same places as for MDE (RFC 5424 SD `id`/`lastUpdateTime`, LEEF `alertId`/`lastUpdateTime`,
//! CEF `cs2`/`cs3`), title, category, status, severity, serviceSource, the device evidence, and
//! in RFC 5424 the whole JSON body.

use std::time::Duration;

use alert_model::{Timestamp, VersionKey};
use serde_json::Value;
use sim::defender::MockDefender;
use sim::parse::{cef, leef};

use crate::oracle::{
    Fmt, SD_ID, Tally, cef_ext_clean, envelope, key_of, leef_clean, no_controls,
    wait_conserved_with,
};

/// The fields a Graph alert message carries, as decoded.
#[derive(Debug, Default)]
struct Fields {
    truncated: bool,
    title: Option<String>,
    category: Option<String>,
    host: Option<String>,
    status: Option<String>,
    severity: Option<String>,
    service_source: Option<String>,
    body: Option<Value>,
    /// LEEF: the attribute delimiter.
    delimiter: char,
}

fn decode(fmt: Fmt, raw: &[u8]) -> Result<(VersionKey, Fields), String> {
    let (line, m) = envelope(raw)?;
    let body = m.msg.clone().unwrap_or_default();
    let own = |v: Option<&str>| v.map(str::to_owned);
    match fmt {
        Fmt::Rfc5424 => {
            let p = |k: &str| m.sd_param(SD_ID, k);
            let json: Value = serde_json::from_str(&body)
                .map_err(|e| format!("MSG is not the alert JSON: {e}: {line}"))?;
            Ok((
                key_of(line, p("id"), p("lastUpdateTime"))?,
                Fields {
                    truncated: p("truncated").is_some(),
                    title: own(p("title")),
                    category: own(p("category")),
                    host: own(p("deviceDnsName")),
                    status: own(p("status")),
                    severity: own(p("severity")),
                    service_source: own(p("serviceSource")),
                    body: Some(json),
                    delimiter: ' ',
                },
            ))
        }
        Fmt::Leef => {
            let e = leef::parse(&body).map_err(|e| format!("not strict LEEF: {e}: {body}"))?;
            Ok((
                key_of(line, e.get("alertId"), e.get("lastUpdateTime"))?,
                Fields {
                    truncated: e.get("truncated").is_some(),
                    title: own(e.get("title")),
                    category: own(e.get("cat")),
                    host: own(e.get("resource")),
                    status: own(e.get("status")),
                    severity: own(e.get("severity")),
                    service_source: own(e.get("serviceSource")),
                    body: None,
                    delimiter: e.delimiter,
                },
            ))
        }
        Fmt::Cef => {
            let e = cef::parse(&body).map_err(|e| format!("not strict CEF: {e}: {body}"))?;
            Ok((
                key_of(line, e.get("cs2"), e.get("cs3"))?,
                Fields {
                    truncated: e.get("cn3").is_some(),
                    title: Some(e.name.clone()),
                    category: own(e.get("cat")),
                    host: own(e.get("shost")),
                    status: own(e.get("cs5")),
                    severity: None,
                    service_source: own(e.get("deviceFacility")),
                    body: None,
                    delimiter: ' ',
                },
            ))
        }
    }
}

/// A text field as the formats show it: a string as it is, a number or boolean where text was
/// documented as its JSON text (a repaired `type:<field>`, formats.md), other shapes not at all.
fn text(v: &Value, field: &str) -> Option<String> {
    match v.get(field)? {
        Value::String(s) => Some(s.clone()),
        n @ (Value::Number(_) | Value::Bool(_)) => Some(n.to_string()),
        _ => None,
    }
}

fn device_dns_name(v: &Value) -> Option<String> {
    // A lone object where the list was documented is read as a one-element list (repaired).
    let evidence = match v.get("evidence")? {
        Value::Array(a) => a.as_slice(),
        one @ Value::Object(_) => std::slice::from_ref(one),
        _ => return None,
    };
    evidence.iter().find_map(|e| {
        (e.get("@odata.type")?.as_str()? == "#microsoft.graph.security.deviceEvidence")
            .then(|| text(e, "deviceDnsName"))?
    })
}

/// Compares one message with the mock's current alert (for an older version, the fields an
/// update changes are taken from the message's own body).
fn compare(fmt: Fmt, key: &VersionKey, f: &Fields, current: &Value) -> Result<(), String> {
    // The instants are compared, not their text (`…00.7Z` and `…00.7000000Z` are one version).
    let lut = text(current, "lastUpdateDateTime").and_then(|t| Timestamp::parse(&t).ok());
    let same_version = lut == Some(key.last_update_time);
    if f.truncated {
        return Ok(()); // only the identity is promised for a cut message
    }
    let clean = |s: &str, kind: u8| match (fmt, kind) {
        (Fmt::Leef, _) => leef_clean(s, f.delimiter),
        (Fmt::Cef, 1) => cef_ext_clean(s),
        _ => no_controls(s),
    };
    let want = |field: Option<String>, kind: u8| field.map(|s| clean(&s, kind));
    let mut diffs = Vec::new();
    let mut cmp = |name: &str, got: &Option<String>, want: Option<String>| {
        if *got != want {
            diffs.push(format!("{name} {got:?} != {want:?}"));
        }
    };
    cmp("title", &f.title, want(text(current, "title"), 0));
    cmp("category", &f.category, want(text(current, "category"), 1));
    cmp("host", &f.host, want(device_dns_name(current), 1));
    cmp(
        "serviceSource",
        &f.service_source,
        want(text(current, "serviceSource"), 1),
    );
    if fmt != Fmt::Cef {
        cmp("severity", &f.severity, want(text(current, "severity"), 1));
    }
    if same_version {
        cmp("status", &f.status, want(text(current, "status"), 1));
    }
    if let Some(body) = &f.body {
        let mut expected = current.clone();
        if !same_version && let Some(obj) = expected.as_object_mut() {
            for k in [
                "status",
                "assignedTo",
                "resolvedDateTime",
                "lastUpdateDateTime",
            ] {
                obj.insert(k.into(), body.get(k).cloned().unwrap_or(Value::Null));
            }
        }
        // null and absent mean the same (as the MDE oracle's typed comparison has it).
        if strip_nulls(body.clone()) != strip_nulls(expected.clone()) {
            diffs.push(format!(
                "the JSON MSG differs from the alert: {body} != {expected}"
            ));
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!("{key:?}: {}", diffs.join("; ")))
    }
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        v => v,
    }
}

fn graph_message(mock: &MockDefender, fmt: Fmt, raw: &[u8]) -> Result<VersionKey, String> {
    check_graph_message(fmt, raw, |id| mock.alert(id))
}

/// Decodes one Graph alert message with the strict parsers and compares it field by field
/// with the alerts_v2 JSON `current(id)` returns (the alert as sent); returns its key.
pub fn check_graph_message(
    fmt: Fmt,
    raw: &[u8],
    current: impl Fn(&str) -> Option<Value>,
) -> Result<VersionKey, String> {
    let (key, fields) = decode(fmt, raw)?;
    let current = current(&key.id).ok_or_else(|| format!("{key:?}: invented (not sent)"))?;
    compare(fmt, &key, &fields, &current)?;
    Ok(key)
}

/// Waits until every version the Graph mock served has reached `dest` intact.
pub async fn wait_graph_conserved(
    mock: &MockDefender,
    dest: &str,
    fmt: Fmt,
    messages: impl Fn() -> Vec<Vec<u8>>,
    timeout: Duration,
) -> Tally {
    let message = |raw: &[u8]| graph_message(mock, fmt, raw);
    wait_conserved_with(mock, dest, fmt, messages, timeout, 0, &message).await
}
