//! IBM LEEF 1.0 / 2.0 (formats.md §3).
//!
//! `LEEF:2.0|Microsoft|Defender for Endpoint|1.0|<EventID>|<delimiter>|key=value<delimiter>…`
//! (1.0: no delimiter field, attributes separated by TAB). LEEF defines no escape, so in every
//! value the delimiter, `|`, and control characters (CR, LF, NUL, TAB, …) are replaced by a space;
//! header fields get the same treatment. EventID = the alert's `detectorId` (stable per detection
//! rule, the QID-map key together with `cat`), or `DefenderAlert` when absent.

use super::LeefVersion;
use super::fields;
use super::text::{cut, push_replaced};
use super::vendor::{DEFAULT_EVENT_ID, PRODUCT, PRODUCT_VERSION, VENDOR};
use super::view::AlertView;

pub fn write(
    version: LeefVersion,
    delimiter: char,
    alert: &impl AlertView,
    truncated: bool,
    out: &mut Vec<u8>,
) {
    let delim = header_start(version, delimiter, out);
    let bad = ['|', delim];
    let event_id = alert
        .detector_id()
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_EVENT_ID);
    push_replaced(out, &cut(event_id, 255).0, &bad);
    out.push(b'|');
    delimiter_field(version, delim, out);

    let mut first = true;
    let mut attr = |key: &str, value: &str| {
        if !first {
            let mut b = [0u8; 4];
            out.extend_from_slice(delim.encode_utf8(&mut b).as_bytes());
        }
        first = false;
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        push_replaced(out, value, &bad);
    };
    alert.leef_attrs(truncated, &mut attr);
    if let Some(r) = fields::repaired(alert.repairs()) {
        attr("repaired", &r);
    }
    if let Some(d) = alert.description() {
        attr("description", d);
    }
    if truncated {
        attr("truncated", "true");
    }
}

/// The header up to the EventID (`LEEF:V|Vendor|Product|Version|`); returns the attribute
/// delimiter in force (always tab for LEEF 1.0).
pub(super) fn header_start(version: LeefVersion, delimiter: char, out: &mut Vec<u8>) -> char {
    out.extend_from_slice(match version {
        LeefVersion::V1 => b"LEEF:1.0|",
        LeefVersion::V2 => b"LEEF:2.0|",
    });
    for h in [VENDOR, PRODUCT, PRODUCT_VERSION] {
        out.extend_from_slice(h.as_bytes());
        out.push(b'|');
    }
    match version {
        LeefVersion::V1 => '\t',
        LeefVersion::V2 => delimiter,
    }
}

/// LEEF 2.0's header field that declares the attribute delimiter (after the EventID).
pub(super) fn delimiter_field(version: LeefVersion, delim: char, out: &mut Vec<u8>) {
    if version == LeefVersion::V2 {
        if delim.is_ascii_graphic() {
            out.push(delim as u8);
        } else {
            // Tab and non-ASCII delimiters are declared in the hex form the guide allows.
            out.extend_from_slice(format!("x{:02X}", u32::from(delim)).as_bytes());
        }
        out.push(b'|');
    }
}
