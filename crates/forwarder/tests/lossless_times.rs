//! Times keep the digits they came with (issue 11): Graph writes `…00.7000000Z`, and the RFC 5424
//! JSON body, which must be a lossless copy of the alert, carried it as `…00.7Z`. Every time
//! field of an MDE and a Graph alert, with trailing zeros and with none, goes through the
//! formatters and is read back with the strict parsers: the JSON MSG holds each time exactly as
//! sent, the version's time in SD / LEEF / CEF is the alert's own text, and the forms that are
//! not copies (the RFC 5424 TIMESTAMP, epoch milliseconds) are unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod format_common;
use format_common::*;

use alert_model::{GraphAlert, parse_alert, parse_lenient};
use forwarder::format::{Format, Formatter};
use serde_json::{Value, json};
use sim::parse::{cef, leef, rfc5424};

const LUT: &str = "2024-01-01T00:00:00.7000000Z";

fn mde_alert() -> Value {
    json!({
        "id": "da637000000000000000_1",
        "title": "Lossless times",
        "severity": "High",
        "status": "New",
        "category": "Execution",
        "lastUpdateTime": LUT,
        "alertCreationTime": "2024-01-01T00:00:00.0000000Z",
        "firstEventTime": "2023-12-31T23:59:59.120Z",
        "lastEventTime": "2023-12-31T23:59:59Z",
        "resolvedTime": "2024-01-01T00:00:00.1234500Z",
        "comments": [{"comment": "c", "createdBy": "a@b", "createdTime": "2024-01-01T00:00:00.500Z"}],
        "evidence": [{
            "entityType": "Process",
            "evidenceCreationTime": "2024-01-01T00:00:00.3000000Z",
            "processCreationTime": "2023-12-31T23:00:00.0Z",
            "parentProcessCreationTime": "2023-12-31T22:00:00.4108067Z"
        }]
    })
}

fn graph_alert() -> Value {
    json!({
        "id": "da637000000000000000_2",
        "title": "Lossless times",
        "severity": "high",
        "status": "new",
        "category": "Execution",
        "serviceSource": "microsoftDefenderForEndpoint",
        "lastUpdateDateTime": LUT,
        "createdDateTime": "2024-01-01T00:00:00.0000000Z",
        "firstActivityDateTime": "2023-12-31T23:59:59.120Z",
        "lastActivityDateTime": "2023-12-31T23:59:59Z",
        "resolvedDateTime": "2024-01-01T00:00:00.1234500Z",
        "comments": [{"comment": "c", "createdByDisplayName": "a", "createdDateTime": "2024-01-01T00:00:00.500Z"}],
        "evidence": [
            {
                "@odata.type": "#microsoft.graph.security.processEvidence",
                "createdDateTime": "2024-01-01T00:00:00.3000000Z",
                "processCreationDateTime": "2023-12-31T23:00:00.0Z",
                "parentProcessCreationDateTime": "2023-12-31T22:00:00.4108067Z"
            },
            {
                "@odata.type": "#microsoft.graph.security.deviceEvidence",
                "createdDateTime": "2024-01-01T00:00:00.0000000Z",
                "deviceDnsName": "host.example.test"
            }
        ]
    })
}

fn format(source: &Value, fmt: Format, graph: bool) -> String {
    let bytes = serde_json::to_vec(source).unwrap();
    let f: Formatter = formatter(fmt, 64 * 1024);
    let mut out = Vec::new();
    if graph {
        f.format_graph(&parse_lenient::<GraphAlert>(&bytes).unwrap(), &mut out);
    } else {
        f.format(&parse_alert(&bytes).unwrap(), &mut out);
    }
    String::from_utf8(out).unwrap()
}

/// The RFC 5424 message: the JSON MSG equals the source (every time as sent), the SD
/// `lastUpdateTime` is the source's text, the header TIMESTAMP keeps RFC 5424's six digits.
fn check_rfc5424(source: &Value, graph: bool) {
    let line = format(source, Format::Rfc5424, graph);
    let m = rfc5424::parse(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let body: Value = serde_json::from_str(m.msg.as_deref().unwrap()).unwrap();
    assert_eq!(&body, source, "the JSON MSG is a lossless copy: {line}");
    assert_eq!(m.sd_param(SD_ID, "lastUpdateTime"), Some(LUT), "{line}");
    assert_eq!(
        m.timestamp.as_deref(),
        Some("2024-01-01T00:00:00.700000Z"),
        "{line}"
    );
}

#[test]
fn mde_trailing_zeros_survive_the_rfc5424_json_body() {
    check_rfc5424(&mde_alert(), false);
}

#[test]
fn graph_trailing_zeros_survive_the_rfc5424_json_body() {
    check_rfc5424(&graph_alert(), true);
}

/// LEEF and CEF carry the version's time as the alert's own text and `devTime` / `rt` as epoch
/// milliseconds, as docs/formats.md says.
#[test]
fn leef_and_cef_carry_the_version_time_as_sent() {
    for (source, graph) in [(mde_alert(), false), (graph_alert(), true)] {
        let created = if graph {
            "createdDateTime"
        } else {
            "alertCreationTime"
        };
        for (name, fmt) in formats() {
            let line = format(&source, fmt, graph);
            let m = rfc5424::parse(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let body = m.msg.clone().unwrap_or_default();
            match fmt {
                Format::Leef { .. } => {
                    let e = leef::parse(&body).unwrap_or_else(|e| panic!("{name}: {e}: {body}"));
                    assert_eq!(e.get("lastUpdateTime"), Some(LUT), "{name}: {body}");
                    assert_eq!(e.get("devTime"), Some("1704067200700"), "{name}: {body}");
                    assert_eq!(
                        e.get(created),
                        Some("2024-01-01T00:00:00.0000000Z"),
                        "{name}: {body}"
                    );
                }
                Format::Cef => {
                    let e = cef::parse(&body).unwrap_or_else(|e| panic!("{name}: {e}: {body}"));
                    assert_eq!(e.get("cs3"), Some(LUT), "{name}: {body}");
                    assert_eq!(e.get("rt"), Some("1704067200700"), "{name}: {body}");
                    assert_eq!(
                        e.get("deviceCustomDate1"),
                        Some("1704067200000"),
                        "{name}: {body}"
                    );
                }
                _ => {}
            }
        }
    }
}
