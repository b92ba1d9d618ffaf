//! Values derived from an alert that more than one format uses: severities, the evidence entity
//! that supplies file / IP / URL fields, the portal link.

use alert_model::{Alert, Evidence};

/// Defender severity → RFC 5424 severity (0 emergency … 7 debug).
pub fn syslog_severity(alert: &Alert) -> u8 {
    match alert.severity.as_deref() {
        Some("High") => 2,
        Some("Medium") => 3,
        Some("Low") => 4,
        Some("Informational") => 6,
        _ => 5,
    }
}

/// Defender severity → LEEF `sev` (1–10), `None` when Defender gives none we know.
pub fn leef_severity(alert: &Alert) -> Option<u8> {
    match alert.severity.as_deref() {
        Some("High") => Some(8),
        Some("Medium") => Some(5),
        Some("Low") => Some(3),
        Some("Informational") => Some(1),
        _ => None,
    }
}

/// Defender severity → CEF header severity (0–10, or `Unknown`).
pub fn cef_severity(alert: &Alert) -> &'static str {
    match alert.severity.as_deref() {
        Some("High") => "8",
        Some("Medium") => "5",
        Some("Low") => "3",
        Some("Informational") => "1",
        _ => "Unknown",
    }
}

/// The first evidence entity that names a file (File or Process).
pub fn file_evidence(alert: &Alert) -> Option<&Evidence> {
    alert
        .evidence()
        .iter()
        .find(|e| e.file_name.is_some() || e.sha1.is_some())
}

/// IP addresses from Ip evidence, in order.
pub fn evidence_ips(alert: &Alert) -> impl Iterator<Item = &str> {
    alert
        .evidence()
        .iter()
        .filter_map(|e| e.ip_address.as_deref())
}

/// The first URL from Url evidence.
pub fn evidence_url(alert: &Alert) -> Option<&str> {
    alert.evidence().iter().find_map(|e| e.url.as_deref())
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
pub fn portal_link(alert: &Alert, truncated: bool) -> Option<String> {
    let id = alert.id.as_deref()?;
    let safe = percent_encoding::utf8_percent_encode(id, PATH_SEGMENT).to_string();
    if truncated && safe != id {
        return None;
    }
    Some(format!("https://security.microsoft.com/alerts/{safe}"))
}

/// The repair marker of an alert lenient decoding repaired (`None` for a clean alert).
pub fn repaired(alert: &Alert) -> Option<String> {
    (!alert.repairs.is_empty()).then(|| alert_model::repair::marker(&alert.repairs))
}

/// MITRE technique ids joined with `,`.
pub fn mitre(alert: &Alert) -> Option<String> {
    let m = alert.mitre_techniques.as_ref().filter(|m| !m.is_empty())?;
    Some(m.join(","))
}

/// A field's text, borrowed from the alert (no per-field copy).
pub fn text(o: &Option<String>) -> Option<std::borrow::Cow<'_, str>> {
    o.as_deref().map(std::borrow::Cow::Borrowed)
}

/// [`text`] for a value already looked up.
pub fn text_ref<'a>(o: &Option<&'a str>) -> Option<std::borrow::Cow<'a, str>> {
    o.map(std::borrow::Cow::Borrowed)
}
