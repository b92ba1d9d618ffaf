//! ArcSight CEF 0 (formats.md §4), following Microsoft's Defender→ArcSight mapping (§4.6).
//!
//! `CEF:0|Microsoft|Defender for Endpoint|1.0|<class id>|<title>|<severity>|key=value …`
//! Header fields escape `\` and `|`; extension values escape `\`, `=`, and encode CR/LF as `\r`
//! `\n`; other control characters become spaces. Values longer than the dictionary's cap for
//! their key are cut with `…` and the message is marked `cn3=1 cn3Label=Truncated`.
//! The whole alert id is always in `cs2` (cap 4000); `externalId` (cap 40) carries it only
//! when it fits.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

use alert_model::{Alert, Timestamp};

use super::fields;
use super::leef::{DEFAULT_EVENT_ID, PRODUCT, PRODUCT_VERSION, VENDOR};
use super::text::{cut, push_cef_ext, push_cef_header, put};

/// Header Name of an alert whose title is absent or blank.
pub const UNTITLED: &str = "Defender alert";
/// Extension key of the repair marker (`utf8`, `surrogate`, `type:<field>`, `,`-joined).
pub const REPAIRED_KEY: &str = "DefenderSyslogRepaired";

pub fn write(alert: &Alert, truncated: bool, out: &mut Vec<u8>) {
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
            .detector_id
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_EVENT_ID),
        1023,
        out,
    );
    // Strict parsers reject an empty Name: a blank title gets the documented placeholder.
    let title = alert
        .title
        .as_deref()
        .filter(|t| t.chars().any(|c| !c.is_whitespace() && !c.is_control()));
    header(title.unwrap_or(UNTITLED), 512, out);
    put(out, fields::cef_severity(alert).as_bytes());
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
    let ms = |t: &Option<Timestamp>| t.map(|t| Cow::Owned(t.unix_millis().to_string()));
    let file = fields::file_evidence(alert);
    let user = alert.related_user.as_ref();
    let ips: Vec<IpAddr> = fields::evidence_ips(alert)
        .filter_map(|s| s.parse().ok())
        .collect();
    let v4: Option<Ipv4Addr> = ips.iter().find_map(|ip| match ip {
        IpAddr::V4(v) => Some(*v),
        IpAddr::V6(_) => None,
    });
    let v6 = ips.iter().find(|ip| ip.is_ipv6());
    let id = alert.id.as_deref();
    // Borrowed wherever the alert holds the text: no per-field copy.
    let opt = fields::text;
    let b = fields::text_ref;
    let label = |present: bool, l: &'static str| present.then_some(Cow::Borrowed(l));
    let mitre = fields::mitre(alert);
    let pairs: [(&str, Option<Cow<'_, str>>, usize); 37] = [
        ("rt", ms(&alert.last_update_time), 32),
        ("start", ms(&alert.first_event_time), 32),
        ("end", ms(&alert.last_event_time), 32),
        ("externalId", b(&id.filter(|i| i.len() <= 40)), 40),
        ("cat", opt(&alert.category), 1023),
        ("sourceServiceName", opt(&alert.detection_source), 1023),
        ("shost", opt(&alert.computer_dns_name), 1023),
        ("suser", b(&user.and_then(|u| u.user_name.as_deref())), 1023),
        (
            "sntdom",
            b(&user.and_then(|u| u.domain_name.as_deref())),
            255,
        ),
        ("fname", b(&file.and_then(|e| e.file_name.as_deref())), 1023),
        (
            "filePath",
            b(&file.and_then(|e| e.file_path.as_deref())),
            1023,
        ),
        ("fileHash", b(&file.and_then(|e| e.sha1.as_deref())), 255),
        ("src", v4.map(|v| Cow::Owned(v.to_string())), 64),
        ("c6a1", v6.map(|v| Cow::Owned(v.to_string())), 64),
        ("c6a1Label", label(v6.is_some(), "EvidenceIPv6"), 1023),
        ("request", b(&fields::evidence_url(alert)), 1023),
        ("cs1", opt(&alert.threat_name), 4000),
        (
            "cs1Label",
            label(alert.threat_name.is_some(), "ThreatName"),
            1023,
        ),
        ("cs2", b(&id), 4000),
        ("cs2Label", label(id.is_some(), "AlertId"), 1023),
        (
            "cs3",
            alert.last_update_time.map(|t| Cow::Owned(t.to_string())),
            4000,
        ),
        (
            "cs3Label",
            label(alert.last_update_time.is_some(), "LastUpdateTime"),
            1023,
        ),
        ("cs4", opt(&alert.threat_family_name), 4000),
        (
            "cs4Label",
            label(alert.threat_family_name.is_some(), "ThreatFamily"),
            1023,
        ),
        ("cs5", opt(&alert.status), 4000),
        ("cs5Label", label(alert.status.is_some(), "Status"), 1023),
        ("cs6", b(&file.and_then(|e| e.sha256.as_deref())), 4000),
        (
            "cs6Label",
            label(file.is_some_and(|e| e.sha256.is_some()), "Sha256"),
            1023,
        ),
        (
            "cn1",
            alert.incident_id.map(|n| Cow::Owned(n.to_string())),
            32,
        ),
        (
            "cn1Label",
            label(alert.incident_id.is_some(), "IncidentId"),
            1023,
        ),
        (
            "cn2",
            alert.investigation_id.map(|n| Cow::Owned(n.to_string())),
            32,
        ),
        (
            "cn2Label",
            label(alert.investigation_id.is_some(), "InvestigationId"),
            1023,
        ),
        (
            "flexString1",
            fields::portal_link(alert, truncated).map(Cow::Owned),
            1023,
        ),
        ("flexString1Label", label(id.is_some(), "AlertLink"), 128),
        ("flexString2", mitre.as_deref().map(Cow::Borrowed), 1023),
        (
            "flexString2Label",
            label(mitre.is_some(), "MitreTechniques"),
            128,
        ),
        ("deviceCustomDate1", ms(&alert.alert_creation_time), 32),
    ];
    // A label only follows a value that was written.
    let mut written = false;
    for (k, v, cap) in pairs {
        let is_label = k.ends_with("Label");
        written = match v {
            Some(v) if !is_label || written => ext(k, &v, cap, out),
            _ => false,
        } || (is_label && written);
    }
    if written {
        ext("deviceCustomDate1Label", "AlertCreationTime", 1023, out);
    }
    let custom: [(&str, &Option<String>); 7] = [
        ("MicrosoftDefenderClassification", &alert.classification),
        ("MicrosoftDefenderDetermination", &alert.determination),
        ("MicrosoftDefenderAssignedTo", &alert.assigned_to),
        (
            "MicrosoftDefenderInvestigationState",
            &alert.investigation_state,
        ),
        ("MicrosoftDefenderMachineId", &alert.machine_id),
        ("MicrosoftDefenderRbacGroupName", &alert.rbac_group_name),
        ("MicrosoftDefenderAadTenantId", &alert.aad_tenant_id),
    ];
    for (k, v) in custom {
        if let Some(v) = v {
            ext(k, v, 1023, out);
        }
    }
    if let Some(r) = fields::repaired(alert) {
        ext(REPAIRED_KEY, &r, 1023, out);
    }
    if let Some(d) = &alert.description {
        ext("msg", d, 1023, out);
    }
    if truncated || capped.get() {
        ext("cn3", "1", 8, out);
        ext("cn3Label", "Truncated", 1023, out);
    }
}
