//! IBM LEEF 1.0 / 2.0 (formats.md §3).
//!
//! `LEEF:2.0|Microsoft|Defender for Endpoint|1.0|<EventID>|<delimiter>|key=value<delimiter>…`
//! (1.0: no delimiter field, attributes separated by TAB). LEEF defines no escape, so in every
//! value the delimiter, `|`, and control characters (CR, LF, NUL, TAB, …) are replaced by a space;
//! header fields get the same treatment. EventID = the alert's `detectorId` (stable per detection
//! rule, the QID-map key together with `cat`), or `DefenderAlert` when absent.

use std::borrow::Cow;

use alert_model::{Alert, Timestamp};

use super::LeefVersion;
use super::fields;
use super::text::{cut, push_replaced};

pub const VENDOR: &str = "Microsoft";
pub const PRODUCT: &str = "Defender for Endpoint";
/// The Defender API version our mapping follows.
pub const PRODUCT_VERSION: &str = "1.0";
/// EventID when the alert has no `detectorId`.
pub const DEFAULT_EVENT_ID: &str = "DefenderAlert";

pub fn write(
    version: LeefVersion,
    delimiter: char,
    alert: &Alert,
    truncated: bool,
    out: &mut Vec<u8>,
) {
    let delim = header_start(version, delimiter, out);
    let bad = ['|', delim];
    let event_id = alert
        .detector_id
        .as_deref()
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
    let ms = |t: &Option<Timestamp>| t.map(|t| Cow::Owned(t.unix_millis().to_string()));
    let ts = |t: &Option<Timestamp>| t.map(|t| Cow::Owned(t.to_string()));
    // Borrowed wherever the alert holds the text: no per-field copy.
    let s = fields::text;
    let n = |o: &Option<i64>| o.map(|n| Cow::Owned(n.to_string()));
    let file = fields::file_evidence(alert);
    let ips: Vec<&str> = fields::evidence_ips(alert).collect();
    let user = alert.related_user.as_ref();
    let attrs: [(&str, Option<Cow<'_, str>>); 35] = [
        ("devTime", ms(&alert.last_update_time)),
        (
            "sev",
            fields::leef_severity(alert).map(|s| Cow::Owned(s.to_string())),
        ),
        ("cat", s(&alert.category)),
        (
            "usrName",
            user.and_then(|u| u.user_name.as_deref())
                .map(|u| cut(u, 255).0),
        ),
        (
            "domain",
            user.and_then(|u| u.domain_name.as_deref())
                .map(Cow::Borrowed),
        ),
        ("resource", s(&alert.computer_dns_name)),
        ("dst", ips.first().map(|s| Cow::Borrowed(*s))),
        ("url", fields::evidence_url(alert).map(Cow::Borrowed)),
        ("alertId", s(&alert.id)),
        ("lastUpdateTime", ts(&alert.last_update_time)),
        ("title", s(&alert.title)),
        ("severity", s(&alert.severity)),
        ("status", s(&alert.status)),
        ("classification", s(&alert.classification)),
        ("determination", s(&alert.determination)),
        ("detectionSource", s(&alert.detection_source)),
        ("threatName", s(&alert.threat_name)),
        ("threatFamilyName", s(&alert.threat_family_name)),
        ("incidentId", n(&alert.incident_id)),
        ("investigationId", n(&alert.investigation_id)),
        ("investigationState", s(&alert.investigation_state)),
        ("assignedTo", s(&alert.assigned_to)),
        ("machineId", s(&alert.machine_id)),
        ("rbacGroupName", s(&alert.rbac_group_name)),
        ("aadTenantId", s(&alert.aad_tenant_id)),
        ("mitreTechniques", fields::mitre(alert).map(Cow::Owned)),
        ("alertCreationTime", ts(&alert.alert_creation_time)),
        ("firstEventTime", ts(&alert.first_event_time)),
        ("lastEventTime", ts(&alert.last_event_time)),
        ("resolvedTime", ts(&alert.resolved_time)),
        (
            "fileName",
            file.and_then(|e| e.file_name.as_deref()).map(Cow::Borrowed),
        ),
        (
            "filePath",
            file.and_then(|e| e.file_path.as_deref()).map(Cow::Borrowed),
        ),
        (
            "sha1",
            file.and_then(|e| e.sha1.as_deref()).map(Cow::Borrowed),
        ),
        (
            "sha256",
            file.and_then(|e| e.sha256.as_deref()).map(Cow::Borrowed),
        ),
        (
            "evidenceIps",
            (ips.len() > 1).then(|| Cow::Owned(ips.join(","))),
        ),
    ];
    for (k, v) in attrs {
        if let Some(v) = v {
            attr(k, &v);
        }
    }
    attr("evidenceCount", &alert.evidence().len().to_string());
    if let Some(link) = fields::portal_link(alert, truncated) {
        attr("portalUrl", &link);
    }
    if let Some(r) = fields::repaired(alert) {
        attr("repaired", &r);
    }
    if let Some(d) = &alert.description {
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
