//! ArcSight CEF 0 (formats.md §4), following Microsoft's Defender→ArcSight mapping (§4.6).
//!
//! `CEF:0|Microsoft|Defender for Endpoint|1.0|<class id>|<title>|<severity>|key=value …`
//! (vendor constants: vendor.rs; which field goes where: mde.rs, graph.rs)
//! Header fields escape `\` and `|`; extension values escape `\`, `=`, and encode CR/LF as `\r`
//! `\n`; other control characters become spaces. Values longer than the dictionary's cap for
//! their key are cut with `…` and the message is marked `cn3=1 cn3Label=Truncated`.
//! The whole alert id is always in `cs2` (cap 4000); `externalId` (cap 40) carries it only
//! when it fits.

use super::fields;
use super::text::{cut, push_cef_ext, push_cef_header, put};
use super::vendor::{DEFAULT_EVENT_ID, PRODUCT, PRODUCT_VERSION, VENDOR};
use super::view::AlertView;

/// Header Name of an alert whose title is absent or blank.
pub const UNTITLED: &str = "Defender alert";
/// Extension key of the repair marker (`utf8`, `surrogate`, `type:<field>`, `,`-joined).
pub const REPAIRED_KEY: &str = "DefenderSyslogRepaired";

pub fn write(alert: &impl AlertView, truncated: bool, out: &mut Vec<u8>) {
    let capped = std::cell::Cell::new(false);
    out.extend_from_slice(b"CEF:0|");
    let header = |s: &str, cap: usize, out: &mut Vec<u8>| {
        let (v, was) = cut(s, cap);
        capped.set(capped.get() | was);
        push_cef_header(out, &v);
        out.push(b'|');
    };
    header(VENDOR, 63, out);
    header(PRODUCT, 63, out);
    header(PRODUCT_VERSION, 31, out);
    header(
        alert
            .detector_id()
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_EVENT_ID),
        1023,
        out,
    );
    // Strict parsers reject an empty Name: a blank title gets the documented placeholder.
    let title = alert
        .title()
        .filter(|t| t.chars().any(|c| !c.is_whitespace() && !c.is_control()));
    header(title.unwrap_or(UNTITLED), 512, out);
    put(out, fields::cef_severity(alert.severity()).as_bytes());
    out.push(b'|');

    let mut first = true;
    // An empty value is left out with its key (liblognorm drops every field of an event
    // ending in `key=`); returns whether the pair was written.
    let mut ext = |key: &str, value: &str, cap: usize, out: &mut Vec<u8>| -> bool {
        let mark = out.len();
        if !first {
            out.push(b' ');
        }
        put(out, key.as_bytes());
        out.push(b'=');
        let at = out.len();
        let (v, was) = cut(value, cap);
        push_cef_ext(out, &v);
        if out.len() == at {
            out.truncate(mark);
            return false;
        }
        capped.set(capped.get() | was);
        first = false;
        true
    };
    // A label only follows a value that was written.
    let mut written = false;
    alert.cef_pairs(truncated, &mut |k, v, cap| {
        let is_label = k.ends_with("Label");
        written = match v {
            Some(v) if !is_label || written => ext(k, v, cap, out),
            _ => false,
        } || (is_label && written);
    });
    if let Some(r) = fields::repaired(alert.repairs()) {
        ext(REPAIRED_KEY, &r, 1023, out);
    }
    if let Some(d) = alert.description() {
        ext("msg", d, 1023, out);
    }
    if truncated || capped.get() {
        ext("cn3", "1", 8, out);
        ext("cn3Label", "Truncated", 1023, out);
    }
}
