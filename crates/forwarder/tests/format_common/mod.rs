//! Shared by the format tests: the formats under test, and expectations written from
//! docs/formats.md (not from the formatter code).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use alert_model::Alert;
use forwarder::format::{Format, FormatOptions, Formatter, LeefVersion};
use sim::parse::{cef, leef, rfc5424};

pub const HOST: &str = "collector01.example.test";
pub const SD_ID: &str = "defender@32473";

pub fn formats() -> Vec<(&'static str, Format)> {
    vec![
        ("rfc5424", Format::Rfc5424),
        (
            "leef1",
            Format::Leef {
                version: LeefVersion::V1,
                delimiter: '\t',
            },
        ),
        (
            "leef2",
            Format::Leef {
                version: LeefVersion::V2,
                delimiter: '^',
            },
        ),
        (
            "leef2-tab",
            Format::Leef {
                version: LeefVersion::V2,
                delimiter: '\t',
            },
        ),
        ("cef", Format::Cef),
    ]
}

pub fn formatter(format: Format, max: usize) -> Formatter {
    let mut o = FormatOptions::new(format, HOST);
    o.max_message_bytes = max;
    Formatter::new(o).unwrap()
}

pub fn format_one(f: &mut Formatter, a: &Alert) -> String {
    let mut out = Vec::new();
    f.format(a, &mut out);
    String::from_utf8(out).expect("formatter output is UTF-8")
}

/// LEEF has no escapes: control characters, `|` and the delimiter become spaces (formats.md).
pub fn leef_clean(s: &str, delim: char) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '|' || c == delim {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// 5424 SD values and CEF header fields: control characters become spaces.
pub fn no_controls(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// CEF extension values: CR/LF survive (as `\r` `\n` escapes), other controls become spaces,
/// trailing spaces are lost.
pub fn cef_ext_clean(s: &str) -> String {
    let v: String = s
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\r' {
                ' '
            } else {
                c
            }
        })
        .collect();
    v.trim_end_matches(' ').to_owned()
}

/// Parsed message: the 5424 envelope plus the LEEF/CEF payload where there is one.
#[derive(Debug)]
pub enum Parsed {
    Rfc5424(rfc5424::Message),
    Leef(rfc5424::Message, leef::LeefEvent),
    Cef(rfc5424::Message, cef::CefEvent),
}

pub fn parse(format: Format, line: &str) -> Parsed {
    assert!(
        !line.contains(['\r', '\n', '\0']),
        "raw CR/LF/NUL in {line:?}"
    );
    let m = rfc5424::parse(line).unwrap_or_else(|e| panic!("not RFC 5424: {e}: {line}"));
    // syslog_loose, an independent reader, must agree on the envelope.
    let loose = syslog_loose::parse_message(line, syslog_loose::Variant::RFC5424);
    assert_eq!(loose.hostname, m.hostname.as_deref());
    assert_eq!(loose.appname, m.app_name.as_deref());
    assert_eq!(loose.msgid, m.msgid.as_deref());
    match format {
        Format::Rfc5424 => {
            assert_eq!(loose.structured_data.len(), m.sd.len());
            Parsed::Rfc5424(m)
        }
        Format::Leef { .. } => {
            let body = m.msg.clone().expect("LEEF payload");
            let e = leef::parse(&body).unwrap_or_else(|e| panic!("not strict LEEF: {e}: {body}"));
            Parsed::Leef(m, e)
        }
        Format::Cef => {
            let body = m.msg.clone().expect("CEF payload");
            let e = cef::parse(&body).unwrap_or_else(|e| panic!("not strict CEF: {e}: {body}"));
            Parsed::Cef(m, e)
        }
    }
}

/// What a CEF parser reads back for a value: `None` when it is empty after cleaning (the
/// formatter leaves such pairs out).
fn cef_value(s: &str) -> Option<String> {
    Some(cef_ext_clean(s)).filter(|v| !v.is_empty())
}

/// Checks a message against its source alert, field by field (docs/formats.md mapping).
pub fn check_fields(format: Format, a: &Alert, line: &str) {
    let parsed = parse(format, line);
    let lut = a.last_update_time.map(|t| t.to_string());
    match parsed {
        Parsed::Rfc5424(m) => {
            let cut = m.sd_param(SD_ID, "truncated").is_some();
            if !cut || id_survives_cuts(a) {
                assert_eq!(
                    m.sd_param(SD_ID, "id"),
                    a.id.as_deref().map(no_controls).as_deref()
                );
            }
            assert_eq!(m.sd_param(SD_ID, "lastUpdateTime"), lut.as_deref());
            assert_eq!(
                m.timestamp,
                a.last_update_time
                    .or(a.alert_creation_time)
                    .map(|t| t.to_rfc5424())
            );
            if !cut {
                assert_eq!(
                    m.sd_param(SD_ID, "title"),
                    a.title.as_deref().map(no_controls).as_deref()
                );
                assert_eq!(
                    m.sd_param(SD_ID, "severity"),
                    a.severity.as_deref().map(no_controls).as_deref()
                );
                assert_eq!(
                    m.sd_param(SD_ID, "computerDnsName"),
                    a.computer_dns_name.as_deref().map(no_controls).as_deref()
                );
                // The JSON body is lossless: it parses back into the very same alert.
                let back: Alert = serde_json::from_str(m.msg.as_deref().unwrap()).unwrap();
                assert_eq!(&back, a);
            }
        }
        Parsed::Leef(_, e) => {
            let d = e.delimiter;
            assert_eq!(e.vendor, "Microsoft");
            assert_eq!(e.product, "Defender for Endpoint");
            let cut = e.get("truncated").is_some();
            if !cut || id_survives_cuts(a) {
                assert_eq!(
                    e.get("alertId"),
                    a.id.as_deref().map(|s| leef_clean(s, d)).as_deref()
                );
            }
            assert_eq!(e.get("lastUpdateTime"), lut.as_deref());
            assert_eq!(
                e.get("devTime"),
                a.last_update_time
                    .map(|t| t.unix_millis().to_string())
                    .as_deref()
            );
            if !cut {
                assert_eq!(
                    e.get("cat"),
                    a.category.as_deref().map(|s| leef_clean(s, d)).as_deref()
                );
                assert_eq!(
                    e.get("resource"),
                    a.computer_dns_name
                        .as_deref()
                        .map(|s| leef_clean(s, d))
                        .as_deref()
                );
                assert_eq!(
                    e.get("title"),
                    a.title.as_deref().map(|s| leef_clean(s, d)).as_deref()
                );
                assert_eq!(
                    e.get("description"),
                    a.description
                        .as_deref()
                        .map(|s| leef_clean(s, d))
                        .as_deref()
                );
                assert_eq!(
                    e.get("evidenceCount"),
                    Some(a.evidence().len().to_string().as_str())
                );
            }
            let sev = match a.severity.as_deref() {
                Some("High") => Some("8"),
                Some("Medium") => Some("5"),
                Some("Low") => Some("3"),
                Some("Informational") => Some("1"),
                _ => None,
            };
            assert_eq!(e.get("sev"), sev);
        }
        Parsed::Cef(_, e) => {
            assert_eq!(e.vendor, "Microsoft");
            let cut = e.get("cn3Label").is_some();
            if !cut || id_survives_cuts(a) {
                assert_eq!(e.get("cs2"), a.id.as_deref().and_then(cef_value).as_deref());
                let ext_id =
                    a.id.as_deref()
                        .filter(|i| i.len() <= 40)
                        .and_then(cef_value);
                assert_eq!(e.get("externalId"), ext_id.as_deref());
            }
            // No empty values in CEF: an empty id has neither cs2 nor its label.
            let id_written = e.get("cs2").is_some();
            assert_eq!(e.get("cs2Label"), id_written.then_some("AlertId"));
            assert_eq!(e.get("cs3"), lut.as_deref());
            assert_eq!(
                e.get("rt"),
                a.last_update_time
                    .map(|t| t.unix_millis().to_string())
                    .as_deref()
            );
            if !cut {
                assert_eq!(
                    e.get("cat"),
                    a.category.as_deref().and_then(cef_value).as_deref()
                );
                assert_eq!(
                    e.name,
                    a.title
                        .as_deref()
                        .filter(|t| t.chars().any(|c| !c.is_whitespace() && !c.is_control()))
                        .map(no_controls)
                        .unwrap_or_else(|| "Defender alert".into())
                );
                assert_eq!(
                    e.get("msg"),
                    a.description.as_deref().and_then(cef_value).as_deref()
                );
                assert_eq!(
                    e.get("shost"),
                    a.computer_dns_name
                        .as_deref()
                        .and_then(cef_value)
                        .as_deref()
                );
            }
            let sev = match a.severity.as_deref() {
                Some("High") => "8",
                Some("Medium") => "5",
                Some("Low") => "3",
                Some("Informational") => "1",
                _ => "Unknown",
            };
            assert_eq!(e.severity, sev);
        }
    }
}

/// Only a hostile id (longer than any Defender id, docs/formats.md) is ever cut.
pub fn id_survives_cuts(a: &Alert) -> bool {
    a.id.as_deref().is_none_or(|i| i.len() <= 60)
}

/// Real Defender captures from ../shared, when present (third-party data: never copied here).
pub fn fixture_alerts() -> Option<Vec<(String, Alert)>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/mde-fixtures/swimlane");
    if !dir.is_dir() {
        sim::skip_notice(&format!(
            "{} is absent; the real-capture checks did not run",
            dir.display()
        ));
        return None;
    }
    let mut out = Vec::new();
    let nd = std::fs::read(dir.join("alerts_with_evidence.ndjson")).unwrap();
    for (i, a) in alert_model::parse_alerts(&nd).into_iter().enumerate() {
        out.push((format!("alerts_with_evidence.ndjson #{i}"), a.unwrap()));
    }
    for name in [
        "mde_list_alerts.capture.json",
        "mde_machine_related_alerts.capture.json",
        "mde_get_alert.capture.json",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let captures: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        for c in captures {
            let Some(body) = c.get("json_body") else {
                continue;
            };
            let items = match body.get("value") {
                Some(v) => v.as_array().cloned().unwrap_or_default(),
                None => vec![body.clone()],
            };
            for (i, v) in items.into_iter().enumerate() {
                out.push((format!("{name} #{i}"), serde_json::from_value(v).unwrap()));
            }
        }
    }
    Some(out)
}
