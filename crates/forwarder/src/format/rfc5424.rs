//! RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME defender-syslog - ALERT [sd-id k="v" …] MSG`.
//!
//! - PRI = facility × 8 + a severity mapped from Defender's (High 2, Medium 3, Low 4,
//!   Informational 6, other 5).
//! - TIMESTAMP = the alert's `lastUpdateTime` (Graph: `lastUpdateDateTime`), this version's
//!   time, six fractional digits, `Z`.
//! - MSGID `ALERT`; PROCID `-`.
//! - One SD-ELEMENT with the key fields (docs/formats.md lists them); `"` `\` `]` escaped.
//! - MSG: the alert as compact JSON (lossless: unknown fields included; JSON escapes every
//!   control character) or a summary line. No BOM: MSG-ANY, as most collectors expect.

use super::fields;
use super::text::{push_replaced, push_sd_value};
use super::view::AlertView;
use super::{FormatOptions, MsgBody};

/// APP-NAME of every message.
pub const APP_NAME: &str = "defender-syslog";
/// MSGID of alert messages.
pub const MSGID: &str = "ALERT";

/// Writes `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID` (no trailing space).
pub fn write_header(opts: &FormatOptions, alert: &impl AlertView, out: &mut Vec<u8>) {
    write_header_with(
        opts,
        fields::syslog_severity(alert.severity()),
        alert.update_time().or(alert.created_time()),
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
    alert: &impl AlertView,
    truncated: bool,
    body: bool,
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
            let mark = out.len();
            if alert.write_json(out).is_err() {
                out.truncate(mark);
                out.extend_from_slice(b"{}");
            }
        }
        MsgBody::Summary => write_summary(alert, out),
    }
}

fn write_sd(opts: &FormatOptions, alert: &impl AlertView, truncated: bool, out: &mut Vec<u8>) {
    out.push(b'[');
    out.extend_from_slice(opts.sd_id.as_bytes());
    let mut param = |name: &str, value: &str| {
        out.push(b' ');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        push_sd_value(out, value);
        out.push(b'"');
    };
    alert.sd_params(&mut param);
    if let Some(r) = fields::repaired(alert.repairs()) {
        param("repaired", &r);
    }
    if truncated {
        param("truncated", "true");
    }
    out.push(b']');
}

fn write_summary(alert: &impl AlertView, out: &mut Vec<u8>) {
    let or = |o: Option<&str>, d: &'static str| o.unwrap_or(d).to_owned();
    let [category, device, status] = alert.summary_fields();
    let line = format!(
        "{} {} alert \"{}\" on {} (status {}, id {}, lastUpdateTime {})",
        or(alert.severity_text(), "Unknown-severity"),
        or(category, "uncategorised"),
        or(alert.title(), "untitled"),
        or(device, "no device"),
        or(status, "unknown"),
        or(alert.id(), "-"),
        alert
            .update_time()
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
