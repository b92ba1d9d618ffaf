//! The alerts_v2 alerts the Graph mock synthesises, two ways that give the same bytes:
//! [`synth`] builds a `serde_json::Value` (tests, `insert_new`, updates), [`write_synth`] writes
//! the serialised JSON straight into a page (a generated backlog of millions, where building
//! `Value`s made the mock, not the daemon, the bench's bottleneck).

use std::io::Write;
use std::time::Duration;

use alert_model::Timestamp;
use serde_json::{Value, json};

/// Evolvable enum values that come after `unknownFutureValue` (sent only with the Prefer header).
const LATE_ENUM_VALUES: [(&str, &str); 7] = [
    ("serviceSource", "microsoftDefenderForCloud"),
    ("serviceSource", "microsoftSentinel"),
    ("serviceSource", "microsoftInsiderRiskManagement"),
    ("detectionSource", "microsoftSentinel"),
    ("detectionSource", "nrtAlerts"),
    ("detectionSource", "scheduledAlerts"),
    ("detectionSource", "builtInMl"),
];

/// The Defender XDR products a synthesised alert comes from, in turn.
const PRODUCTS: [(&str, &str, &str); 6] = [
    (
        "microsoftDefenderForEndpoint",
        "antivirus",
        "Suspicious execution of hidden file",
    ),
    (
        "microsoftDefenderForOffice365",
        "microsoftDefenderForOffice365",
        "Email messages containing malicious URL removed after delivery",
    ),
    (
        "microsoftDefenderForIdentity",
        "microsoftDefenderForIdentity",
        "Suspected DCSync attack (replication of directory services)",
    ),
    (
        "microsoftDefenderForCloudApps",
        "microsoftDefenderForCloudApps",
        "Impossible travel activity",
    ),
    (
        "azureAdIdentityProtection",
        "azureAdIdentityProtection",
        "Unfamiliar sign-in properties",
    ),
    (
        "microsoftSentinel",
        "scheduledAlerts",
        "Rare RDP connections",
    ),
];

const TENANT: &str = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const SEVERITIES: [&str; 4] = ["low", "medium", "high", "informational"];
const CATEGORIES: [&str; 4] = [
    "DefenseEvasion",
    "InitialAccess",
    "CredentialAccess",
    "Exfiltration",
];

fn product(seed: u64) -> (&'static str, &'static str, &'static str) {
    PRODUCTS[(seed % PRODUCTS.len() as u64) as usize]
}

fn first_activity(seed: u64, created: Timestamp) -> Timestamp {
    created.saturating_sub(Duration::from_secs(60 + seed % 240))
}

fn incident(seed: u64) -> u64 {
    20_000 + seed / 3
}

/// A synthetic alerts_v2 alert shaped like the documented sample: 7-digit fractions, nulls,
/// lowercase enums, an incident id string, `@odata.type` on every evidence item (one of them a
/// type a client may not know).
pub fn synth(seed: u64, id: &str, lut: Timestamp, created: Timestamp) -> Value {
    let (service, detection, title) = product(seed);
    let incident = incident(seed).to_string();
    json!({
        "@odata.type": "#microsoft.graph.security.alert",
        "id": id,
        "providerAlertId": id,
        "incidentId": incident,
        "status": "new",
        "severity": SEVERITIES[(seed % 4) as usize],
        "classification": null,
        "determination": null,
        "serviceSource": service,
        "detectionSource": detection,
        "productName": null,
        "detectorId": format!("e0da400f-affd-43ef-b1d5-{:012x}", seed),
        "tenantId": TENANT,
        "title": title,
        "description": format!("Synthetic alert {seed} for tests and demo."),
        "recommendedActions": "Collect artifacts and determine scope\n\tReview the device timeline",
        "category": CATEGORIES[(seed % 4) as usize],
        "assignedTo": null,
        "alertWebUrl": format!("https://security.microsoft.com/alerts/{id}?tid={TENANT}"),
        "incidentWebUrl": format!("https://security.microsoft.com/incidents/{incident}?tid={TENANT}"),
        "actorDisplayName": null,
        "threatDisplayName": null,
        "threatFamilyName": null,
        "mitreTechniques": ["T1564.001"],
        "createdDateTime": created.to_string(),
        "lastUpdateDateTime": lut.to_string(),
        "resolvedDateTime": null,
        "firstActivityDateTime": first_activity(seed, created).to_string(),
        "lastActivityDateTime": created.to_string(),
        "comments": [],
        "systemTags": [],
        "evidence": evidence(seed, created),
    })
}

fn evidence(seed: u64, created: Timestamp) -> Value {
    let created = created.to_string();
    json!([
            {"@odata.type": "#microsoft.graph.security.deviceEvidence",
             "createdDateTime": created, "verdict": "unknown", "remediationStatus": "none",
             "roles": [], "tags": [], "deviceDnsName": format!("ws-{:04}.contoso.test", seed % 10_000),
             "mdeDeviceId": format!("{:040x}", seed), "osPlatform": "Windows10", "healthStatus": "active",
             "loggedOnUsers": [{"accountName": "alex", "domainName": "CONTOSO"}]},
            {"@odata.type": "#microsoft.graph.security.userEvidence",
             "createdDateTime": created, "verdict": "suspicious", "remediationStatus": "none",
             "userAccount": {"accountName": "alex", "domainName": "CONTOSO",
                             "userPrincipalName": "alex@contoso.test", "azureAdUserId": null}},
            {"@odata.type": "#microsoft.graph.security.ipEvidence",
             "createdDateTime": created, "verdict": "unknown", "remediationStatus": "none",
             "ipAddress": format!("203.0.113.{}", seed % 250 + 1)},
            {"@odata.type": "#microsoft.graph.security.aiAgentEvidence",
             "createdDateTime": created, "verdict": "unknown", "agentName": "helper"}
    ])
}

/// The value of a string field `$filter` can test (`eq`) on `synth(seed, …)`; `None` for null.
pub fn synth_field(seed: u64, field: &str) -> Option<&'static str> {
    match field {
        "status" => Some("new"),
        "severity" => Some(SEVERITIES[(seed % 4) as usize]),
        "serviceSource" => Some(product(seed).0),
        _ => None,
    }
}

/// As a client without `Prefer: include-unknown-enum-members` sees a stored value.
fn as_seen(field: &str, value: &'static str, prefer: bool) -> &'static str {
    if !prefer && LATE_ENUM_VALUES.contains(&(field, value)) {
        "unknownFutureValue"
    } else {
        value
    }
}

/// `alert` as a client without the Prefer header sees it, if that differs from the stored one.
pub(super) fn hide_late_values(alert: &Value) -> Option<Value> {
    let late =
        |(field, value): &(&str, &str)| alert.get(field).and_then(Value::as_str) == Some(value);
    if !LATE_ENUM_VALUES.iter().any(late) {
        return None;
    }
    let mut seen = alert.clone();
    if let Some(obj) = seen.as_object_mut() {
        for (field, value) in LATE_ENUM_VALUES {
            if obj.get(field).and_then(Value::as_str) == Some(value) {
                obj.insert(field.into(), "unknownFutureValue".into());
            }
        }
    }
    Some(seen)
}

/// Appends `serde_json::to_vec(&synth(seed, id, lut, created))` as served (late enum values
/// hidden unless `prefer`), byte for byte, without building a `Value`: keys in serde_json's
/// (sorted) order, every string here free of characters JSON escapes.
pub fn write_synth(
    seed: u64,
    id: &str,
    lut: Timestamp,
    created: Timestamp,
    prefer: bool,
    out: &mut Vec<u8>,
) {
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        // An id JSON would escape: the slow path is exact by construction.
        let v = synth(seed, id, lut, created);
        let _ = serde_json::to_writer(&mut *out, &hide(&v, prefer).unwrap_or(v));
        return;
    }
    let (service, detection, title) = product(seed);
    let (service, detection) = (
        as_seen("serviceSource", service, prefer),
        as_seen("detectionSource", detection, prefer),
    );
    let incident = incident(seed);
    let first = first_activity(seed, created);
    let _ = write!(
        out,
        "{{\"@odata.type\":\"#microsoft.graph.security.alert\",\"actorDisplayName\":null,\
         \"alertWebUrl\":\"https://security.microsoft.com/alerts/{id}?tid={TENANT}\",\"assignedTo\":null,\
         \"category\":\"{category}\",\"classification\":null,\"comments\":[],\"createdDateTime\":\"{created}\",\
         \"description\":\"Synthetic alert {seed} for tests and demo.\",\"detectionSource\":\"{detection}\",\
         \"detectorId\":\"e0da400f-affd-43ef-b1d5-{seed:012x}\",\"determination\":null,\"evidence\":[\
         {{\"@odata.type\":\"#microsoft.graph.security.deviceEvidence\",\"createdDateTime\":\"{created}\",\
         \"deviceDnsName\":\"ws-{host:04}.contoso.test\",\"healthStatus\":\"active\",\
         \"loggedOnUsers\":[{{\"accountName\":\"alex\",\"domainName\":\"CONTOSO\"}}],\
         \"mdeDeviceId\":\"{seed:040x}\",\"osPlatform\":\"Windows10\",\"remediationStatus\":\"none\",\
         \"roles\":[],\"tags\":[],\"verdict\":\"unknown\"}},\
         {{\"@odata.type\":\"#microsoft.graph.security.userEvidence\",\"createdDateTime\":\"{created}\",\
         \"remediationStatus\":\"none\",\"userAccount\":{{\"accountName\":\"alex\",\"azureAdUserId\":null,\
         \"domainName\":\"CONTOSO\",\"userPrincipalName\":\"alex@contoso.test\"}},\"verdict\":\"suspicious\"}},\
         {{\"@odata.type\":\"#microsoft.graph.security.ipEvidence\",\"createdDateTime\":\"{created}\",\
         \"ipAddress\":\"203.0.113.{ip}\",\"remediationStatus\":\"none\",\"verdict\":\"unknown\"}},\
         {{\"@odata.type\":\"#microsoft.graph.security.aiAgentEvidence\",\"agentName\":\"helper\",\
         \"createdDateTime\":\"{created}\",\"verdict\":\"unknown\"}}],\
         \"firstActivityDateTime\":\"{first}\",\"id\":\"{id}\",\"incidentId\":\"{incident}\",\
         \"incidentWebUrl\":\"https://security.microsoft.com/incidents/{incident}?tid={TENANT}\",\
         \"lastActivityDateTime\":\"{created}\",\"lastUpdateDateTime\":\"{lut}\",\"mitreTechniques\":[\"T1564.001\"],\
         \"productName\":null,\"providerAlertId\":\"{id}\",\
         \"recommendedActions\":\"Collect artifacts and determine scope\\n\\tReview the device timeline\",\
         \"resolvedDateTime\":null,\"serviceSource\":\"{service}\",\"severity\":\"{severity}\",\"status\":\"new\",\
         \"systemTags\":[],\"tenantId\":\"{TENANT}\",\"threatDisplayName\":null,\"threatFamilyName\":null,\
         \"title\":\"{title}\"}}",
        category = CATEGORIES[(seed % 4) as usize],
        severity = SEVERITIES[(seed % 4) as usize],
        host = seed % 10_000,
        ip = seed % 250 + 1,
    );
}

fn hide(v: &Value, prefer: bool) -> Option<Value> {
    if prefer { None } else { hide_late_values(v) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_alerts_are_the_synthesised_ones_byte_for_byte() {
        let lut = Timestamp::parse("2026-01-01T00:00:01.1234567Z").unwrap();
        let created = Timestamp::parse("2026-01-01T00:00:00.5Z").unwrap();
        for seed in [0, 1, 5, 11, 12, 9_999, 10_001, 123_456_789] {
            for prefer in [false, true] {
                for id in ["da638300000000000005_-6", "odd \"id\"\n"] {
                    let v = synth(seed, id, lut, created);
                    let want = serde_json::to_vec(&hide(&v, prefer).unwrap_or(v)).unwrap();
                    let mut got = Vec::new();
                    write_synth(seed, id, lut, created, prefer, &mut got);
                    assert_eq!(
                        String::from_utf8_lossy(&got),
                        String::from_utf8_lossy(&want),
                        "seed {seed}, prefer {prefer}, id {id:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn filterable_fields_are_those_of_the_synthesised_alert() {
        let t = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        for seed in 0..24 {
            let v = synth(seed, "da1_1", t, t);
            for field in [
                "status",
                "severity",
                "serviceSource",
                "classification",
                "determination",
                "assignedTo",
            ] {
                assert_eq!(
                    synth_field(seed, field),
                    v[field].as_str(),
                    "{seed} {field}"
                );
            }
        }
    }

    #[test]
    fn late_enum_values_are_hidden_without_the_prefer_header() {
        let t = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        // Seed 5: Microsoft Sentinel, scheduledAlerts (both after unknownFutureValue).
        let v = synth(5, "da1_1", t, t);
        let seen = hide_late_values(&v).unwrap();
        assert_eq!(seen["serviceSource"], "unknownFutureValue");
        assert_eq!(seen["detectionSource"], "unknownFutureValue");
        assert!(hide_late_values(&synth(0, "da1_1", t, t)).is_none());
    }
}
