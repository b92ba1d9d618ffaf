//! RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME defender-syslog - ALERT [sd-id k="v" …] MSG`.
//!
//! - PRI = facility × 8 + a severity mapped from Defender's (High 2, Medium 3, Low 4,
//!   Informational 6, other 5).
//! - TIMESTAMP = the alert's `lastUpdateTime` (this version's time), six fractional digits, `Z`.
//! - MSGID `ALERT`; PROCID `-`.
//! - One SD-ELEMENT with the key fields (docs/formats.md lists them); `"` `\` `]` escaped.
//! - MSG: the alert as compact JSON (lossless: unknown fields included; JSON escapes every
//!   control character) or a summary line. No BOM: MSG-ANY, as most collectors expect.

use std::borrow::Cow;

use alert_model::Alert;

use super::fields;
use super::text::{push_replaced, push_sd_value};
use super::{FormatOptions, MsgBody};

/// APP-NAME of every message.
pub const APP_NAME: &str = "defender-syslog";
/// MSGID of alert messages.
pub const MSGID: &str = "ALERT";

/// Writes `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID` (no trailing space).
pub fn write_header(opts: &FormatOptions, alert: &Alert, out: &mut Vec<u8>) {
    write_header_with(
        opts,
        fields::syslog_severity(alert),
        alert.last_update_time.or(alert.alert_creation_time),
        MSGID,
        out,
    );
}

/// [`write_header`] from its parts (also for "unreadable alert" events).
pub fn write_header_with(
    opts: &FormatOptions,
    severity: u8,
    time: Option<alert_model::Timestamp>,
    msgid: &str,
    out: &mut Vec<u8>,
) {
    let pri = u16::from(opts.facility) * 8 + u16::from(severity);
    out.push(b'<');
    push_u64(out, u64::from(pri));
    out.extend_from_slice(b">1 ");
    match time {
        Some(t) => match t.rfc5424_bytes() {
            Some(b) => out.extend_from_slice(&b),
            None => out.extend_from_slice(t.to_rfc5424().as_bytes()),
        },
        None => out.push(b'-'),
    }
    out.push(b' ');
    out.extend_from_slice(opts.hostname.as_bytes());
    out.push(b' ');
    out.extend_from_slice(APP_NAME.as_bytes());
    out.extend_from_slice(b" - ");
    out.extend_from_slice(msgid.as_bytes());
}

/// A whole RFC 5424 message; without `body`, no MSG (the last resort of truncation).
pub fn write(
    opts: &FormatOptions,
    alert: &Alert,
    truncated: bool,
    body: bool,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    write_header(opts, alert, out);
    out.push(b' ');
    write_sd(opts, alert, truncated, out);
    if !body {
        return;
    }
    out.push(b' ');
    match opts.msg_body {
        MsgBody::Json => {
            // Straight into `out`; serialising our own model into a Vec cannot fail (no maps
            // with non-string keys), but if it did, what was written is taken back.
            let _ = scratch;
            let mark = out.len();
            if alert.write_json(&mut *out).is_err() {
                out.truncate(mark);
                out.extend_from_slice(b"{}");
            }
        }
        MsgBody::Summary => write_summary(alert, out),
    }
}

fn write_sd(opts: &FormatOptions, alert: &Alert, truncated: bool, out: &mut Vec<u8>) {
    out.push(b'[');
    out.extend_from_slice(opts.sd_id.as_bytes());
    let mut param = |name: &str, value: &str| {
        out.push(b' ');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        push_sd_value(out, value);
        out.push(b'"');
    };
    let s = fields::text;
    let t = |o: &Option<alert_model::Timestamp>| o.map(|t| Cow::Owned(t.to_string()));
    let n = |o: &Option<i64>| o.map(|n| Cow::Owned(n.to_string()));
    let entries: [(&str, Option<Cow<'_, str>>); 17] = [
        ("id", s(&alert.id)),
        ("lastUpdateTime", t(&alert.last_update_time)),
        ("severity", s(&alert.severity)),
        ("status", s(&alert.status)),
        ("category", s(&alert.category)),
        ("title", s(&alert.title)),
        ("detectionSource", s(&alert.detection_source)),
        ("computerDnsName", s(&alert.computer_dns_name)),
        ("incidentId", n(&alert.incident_id)),
        ("classification", s(&alert.classification)),
        ("determination", s(&alert.determination)),
        ("assignedTo", s(&alert.assigned_to)),
        ("threatName", s(&alert.threat_name)),
        ("mitreTechniques", fields::mitre(alert).map(Cow::Owned)),
        ("alertCreationTime", t(&alert.alert_creation_time)),
        ("repaired", fields::repaired(alert).map(Cow::Owned)),
        ("truncated", truncated.then_some(Cow::Borrowed("true"))),
    ];
    for (name, value) in entries {
        if let Some(v) = value {
            param(name, &v);
        }
    }
    out.push(b']');
}

fn write_summary(alert: &Alert, out: &mut Vec<u8>) {
    let or = |o: &Option<String>, d: &'static str| o.clone().unwrap_or_else(|| d.to_owned());
    let line = format!(
        "{} {} alert \"{}\" on {} (status {}, id {}, lastUpdateTime {})",
        or(&alert.severity, "Unknown-severity"),
        or(&alert.category, "uncategorised"),
        or(&alert.title, "untitled"),
        or(&alert.computer_dns_name, "no device"),
        or(&alert.status, "unknown"),
        or(&alert.id, "-"),
        alert
            .last_update_time
            .map(|t| t.to_string())
            .unwrap_or_else(|| "-".into()),
    );
    push_replaced(out, &line, &[]);
}

pub(crate) fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}
