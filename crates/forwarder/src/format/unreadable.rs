//! The "unreadable alert" event: what is sent for a page element that could not be read even
//! leniently, so that it is never lost silently. Minimal and the same in spirit in every format:
//! the id and `lastUpdateTime` when they could be recovered, the parse error, the raw element
//! (escaped by the format's own rules) cut so the message fits `max_message_bytes`.
//!
//! - RFC 5424: MSGID `UNREADABLE`, SD params `id`, `lastUpdateTime`, `unreadable="true"`,
//!   `error`, `rawBytes`; MSG = JSON `{"unreadable":true,"id":…,"lastUpdateTime":…,"error":…,
//!   "rawBytes":…,"raw":"…"}` (also with `msg_body = "summary"`).
//! - LEEF: EventID `DefenderUnreadableAlert`; `devTime`, `alertId`, `lastUpdateTime`,
//!   `unreadable=true`, `parseError`, `rawBytes`, `raw`.
//! - CEF: class id `DefenderUnreadableAlert`, Name `Unreadable alert`, severity `Unknown`;
//!   `rt`, `cs2`/`cs2Label=AlertId`, `cs3`/`cs3Label=LastUpdateTime`, `reason` (the error),
//!   `cn1=<raw bytes>`/`cn1Label=RawBytes`, `msg` (the raw element).

use alert_model::Unreadable;

use super::leef;
use super::rfc5424::write_header_with;
use super::text::{cut, push_cef_ext, push_cef_header, push_replaced, push_sd_value, put};
use super::vendor::{PRODUCT, PRODUCT_VERSION, VENDOR};
use super::{Format, FormatOptions};

/// RFC 5424 MSGID of unreadable-alert events.
pub const MSGID: &str = "UNREADABLE";
/// LEEF EventID and CEF class id of unreadable-alert events.
pub const EVENT_ID: &str = "DefenderUnreadableAlert";
/// CEF Name of unreadable-alert events.
pub const NAME: &str = "Unreadable alert";
/// RFC 5424 severity: error (3), the alert's own severity is unknown.
const SEVERITY: u8 = 3;

/// Appends one unreadable-alert event, the raw element cut until it fits `max`.
pub fn write(opts: &FormatOptions, u: &Unreadable, out: &mut Vec<u8>) {
    let start = out.len();
    let mut raw_max = opts.max_message_bytes;
    loop {
        out.truncate(start);
        let (raw, _) = cut(&u.raw, raw_max);
        render(opts, u, &raw, out);
        if out.len() - start <= opts.max_message_bytes || raw_max == 0 {
            break;
        }
        // Escaping can grow the raw text up to 6×; halve until it fits.
        raw_max /= 2;
    }
    if out.len() - start > opts.max_message_bytes {
        // Only a pathological error text gets here: keep the cap a guarantee.
        let mut end = start + opts.max_message_bytes;
        while end > start && (out[end] & 0xC0) == 0x80 {
            end -= 1;
        }
        out.truncate(end);
    }
}

fn render(opts: &FormatOptions, u: &Unreadable, raw: &str, out: &mut Vec<u8>) {
    let time = u.last_update_time;
    let lut = time.map(|t| t.to_string());
    let error = cut(&u.error, 512).0;
    let raw_bytes = u.raw_len.to_string();
    write_header_with(opts, SEVERITY, time, MSGID, out);
    match opts.format {
        Format::Rfc5424 => {
            out.push(b' ');
            out.push(b'[');
            out.extend_from_slice(opts.sd_id.as_bytes());
            let param = |name: &str, value: &str, out: &mut Vec<u8>| {
                out.push(b' ');
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"=\"");
                push_sd_value(out, value);
                out.push(b'"');
            };
            if let Some(id) = &u.id {
                param("id", id, out);
            }
            if let Some(l) = &lut {
                param("lastUpdateTime", l, out);
            }
            param("unreadable", "true", out);
            param("error", &error, out);
            param("rawBytes", &raw_bytes, out);
            out.extend_from_slice(b"] ");
            let body = serde_json::json!({
                "unreadable": true,
                "id": u.id,
                "lastUpdateTime": lut,
                "error": error,
                "rawBytes": u.raw_len,
                "raw": raw,
            });
            let mark = out.len();
            if serde_json::to_writer(&mut *out, &body).is_err() {
                out.truncate(mark);
            }
        }
        Format::Leef { version, delimiter } => {
            out.extend_from_slice(b" - ");
            let delim = leef::header_start(version, delimiter, out);
            let bad = ['|', delim];
            out.extend_from_slice(EVENT_ID.as_bytes());
            out.push(b'|');
            leef::delimiter_field(version, delim, out);
            let ms = time.map(|t| t.unix_millis().to_string());
            let attrs = [
                ("devTime", ms.as_deref()),
                ("alertId", u.id.as_deref()),
                ("lastUpdateTime", lut.as_deref()),
                ("unreadable", Some("true")),
                ("parseError", Some(&*error)),
                ("rawBytes", Some(&*raw_bytes)),
                ("raw", Some(raw)),
            ];
            let mut first = true;
            for (k, v) in attrs {
                let Some(v) = v else { continue };
                if !first {
                    let mut b = [0u8; 4];
                    out.extend_from_slice(delim.encode_utf8(&mut b).as_bytes());
                }
                first = false;
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                push_replaced(out, v, &bad);
            }
        }
        Format::Cef => {
            out.extend_from_slice(b" - CEF:0|");
            for h in [VENDOR, PRODUCT, PRODUCT_VERSION, EVENT_ID, NAME] {
                push_cef_header(out, h);
                out.push(b'|');
            }
            out.extend_from_slice(b"Unknown|");
            let ms = time.map(|t| t.unix_millis().to_string());
            let pairs = [
                ("rt", ms.as_deref()),
                ("cs2", u.id.as_deref()),
                ("cs2Label", u.id.as_ref().map(|_| "AlertId")),
                ("cs3", lut.as_deref()),
                ("cs3Label", lut.as_ref().map(|_| "LastUpdateTime")),
                ("reason", Some(&*error)),
                ("cn1", Some(&*raw_bytes)),
                ("cn1Label", Some("RawBytes")),
                ("msg", Some(raw)),
            ];
            let mut first = true;
            for (k, v) in pairs {
                let Some(v) = v else { continue };
                let mark = out.len();
                if !first {
                    out.push(b' ');
                }
                put(out, k.as_bytes());
                out.push(b'=');
                let at = out.len();
                push_cef_ext(out, v);
                if out.len() == at {
                    // No empty values in CEF (see cef.rs).
                    out.truncate(mark);
                    continue;
                }
                first = false;
            }
        }
    }
}
