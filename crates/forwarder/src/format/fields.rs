//! Values derived from an alert that more than one format (or both sources) use: severities,
//! the portal link, markers, and the small conversions of the field lists.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

use alert_model::{Repair, Timestamp};

use super::view::{Emit, EmitCef, Severity};

/// Defender severity → RFC 5424 severity (0 emergency … 7 debug).
pub fn syslog_severity(s: Severity) -> u8 {
    match s {
        Severity::High => 2,
        Severity::Medium => 3,
        Severity::Low => 4,
        Severity::Informational => 6,
        Severity::Other => 5,
    }
}

/// Defender severity → LEEF `sev` (1–10), `None` when Defender gives none we know.
pub fn leef_severity(s: Severity) -> Option<u8> {
    match s {
        Severity::High => Some(8),
        Severity::Medium => Some(5),
        Severity::Low => Some(3),
        Severity::Informational => Some(1),
        Severity::Other => None,
    }
}

/// Defender severity → CEF header severity (0–10, or `Unknown`).
pub fn cef_severity(s: Severity) -> &'static str {
    match s {
        Severity::High => "8",
        Severity::Medium => "5",
        Severity::Low => "3",
        Severity::Informational => "1",
        Severity::Other => "Unknown",
    }
}

/// Everything but RFC 3986 unreserved characters is percent-encoded in a path segment.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The Defender portal page of the alert: the real id, percent-encoded, so an odd id can never
/// point at another alert (dropping characters could). In a cut message an id that needs
/// encoding gets no link: it may be the cut id (a link to another alert), and its encoded form
/// (up to 3× as long) must not push the message over the cap. Real ids need no encoding.
pub fn portal_link(id: Option<&str>, truncated: bool) -> Option<String> {
    let id = id?;
    let safe = percent_encoding::utf8_percent_encode(id, PATH_SEGMENT).to_string();
    if truncated && safe != id {
        return None;
    }
    Some(format!("https://security.microsoft.com/alerts/{safe}"))
}

/// The repair marker of an alert lenient decoding repaired (`None` for a clean alert).
pub fn repaired(repairs: &[Repair]) -> Option<String> {
    (!repairs.is_empty()).then(|| alert_model::repair::marker(repairs))
}

/// A list of strings (MITRE technique ids, tags) joined with `,`.
pub fn mitre(m: &Option<Vec<String>>) -> Option<String> {
    let m = m.as_ref().filter(|m| !m.is_empty())?;
    Some(m.join(","))
}

/// A field's text, borrowed from the alert (no per-field copy).
pub fn text(o: &Option<String>) -> Option<Cow<'_, str>> {
    o.as_deref().map(Cow::Borrowed)
}

/// [`text`] for a value already looked up.
pub fn text_ref<'a>(o: &Option<&'a str>) -> Option<Cow<'a, str>> {
    o.map(Cow::Borrowed)
}

/// A time as epoch milliseconds (LEEF `devTime`, CEF `rt`).
pub fn ms(t: &Option<Timestamp>) -> Option<Cow<'static, str>> {
    t.map(|t| Cow::Owned(t.unix_millis().to_string()))
}

/// A time as Defender wrote it (up to 7 fractional digits, `Z`).
pub fn ts(t: &Option<Timestamp>) -> Option<Cow<'static, str>> {
    t.map(|t| Cow::Owned(t.to_string()))
}

/// An integer as text.
pub fn n(o: &Option<i64>) -> Option<Cow<'static, str>> {
    o.map(|n| Cow::Owned(n.to_string()))
}

/// A CEF label, present when its value is.
pub fn label(present: bool, l: &'static str) -> Option<Cow<'static, str>> {
    present.then_some(Cow::Borrowed(l))
}

/// The first IPv4 and the first IPv6 address.
pub fn first_v4_v6(ips: &[IpAddr]) -> (Option<Ipv4Addr>, Option<&IpAddr>) {
    let v4 = ips.iter().find_map(|ip| match ip {
        IpAddr::V4(v) => Some(*v),
        IpAddr::V6(_) => None,
    });
    (v4, ips.iter().find(|ip| ip.is_ipv6()))
}

/// Hands every present field to `emit`, in order.
pub fn emit_all<const N: usize>(fields: [(&str, Option<Cow<'_, str>>); N], emit: Emit<'_>) {
    for (k, v) in fields {
        if let Some(v) = v {
            emit(k, &v);
        }
    }
}

/// Hands every CEF pair to `pair`, in order (absent ones too: a label follows its value).
pub fn emit_all_cef<const N: usize>(
    pairs: [(&'static str, Option<Cow<'_, str>>, usize); N],
    pair: EmitCef<'_>,
) {
    for (k, v, cap) in pairs {
        pair(k, v.as_deref(), cap);
    }
}
