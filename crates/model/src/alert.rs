//! The Defender `/api/alerts` alert resource and its evidence (mde-api.md §3).
//!
//! Every field is optional because real payloads omit documented fields and add undocumented
//! ones (`loggedOnUsers`, `domains`, `registryValueName`). Unknown fields land in `extra` and are
//! serialised back, so RFC 5424's JSON body never silently loses what the API adds.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::cursor::VersionKey;
use crate::de::{
    LenientI64, LenientList, LenientObject, LenientString, LenientStrings, LenientTime,
    deserialize_keeping_unknown,
};
use crate::repair::Repair;
use crate::timestamp::Timestamp;

/// One alert version as returned by `GET /api/alerts?$expand=evidence`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub investigation_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    /// `UnSpecified`, `Informational`, `Low`, `Medium`, `High` (kept as text: new values must
    /// not make an alert unparseable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub determination: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub investigation_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threat_family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threat_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_creation_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_event_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_time: Option<Timestamp>,
    /// The cursor field: every update of an alert moves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computer_dns_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rbac_group_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitre_techniques: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_user: Option<RelatedUser>,
    /// Undocumented but present in real payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged_on_users: Option<Vec<LoggedOnUser>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<Vec<Comment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Vec<Evidence>>,
    /// Fields this model does not name (e.g. `domains`), kept verbatim; also the original of a
    /// known field that came with an unexpected type (see [`Alert::write_json`]).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// What lenient decoding repaired (empty for a clean alert); formats mark such alerts.
    #[serde(skip)]
    pub repairs: Vec<Repair>,
}

/// `relatedUser`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelatedUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An entry of the undocumented `loggedOnUsers` array.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedOnUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An entry of `comments`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<Timestamp>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One evidence entity. Defender uses one flat type for every `entityType`; fields that do not
/// apply are null.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_creation_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_command_line: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_creation_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_process_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_process_creation_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_process_file_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_process_file_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_hive: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_value_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_value: Option<String>,
    /// Undocumented but present in real payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_value_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection_status: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_keeping_unknown!(Alert {
    id: "id" => LenientString,
    incident_id: "incidentId" => LenientI64,
    investigation_id: "investigationId" => LenientI64,
    assigned_to: "assignedTo" => LenientString,
    severity: "severity" => LenientString,
    status: "status" => LenientString,
    classification: "classification" => LenientString,
    determination: "determination" => LenientString,
    investigation_state: "investigationState" => LenientString,
    detection_source: "detectionSource" => LenientString,
    detector_id: "detectorId" => LenientString,
    category: "category" => LenientString,
    threat_family_name: "threatFamilyName" => LenientString,
    threat_name: "threatName" => LenientString,
    title: "title" => LenientString,
    description: "description" => LenientString,
    alert_creation_time: "alertCreationTime" => LenientTime,
    first_event_time: "firstEventTime" => LenientTime,
    last_event_time: "lastEventTime" => LenientTime,
    last_update_time: "lastUpdateTime" => LenientTime,
    resolved_time: "resolvedTime" => LenientTime,
    machine_id: "machineId" => LenientString,
    computer_dns_name: "computerDnsName" => LenientString,
    rbac_group_name: "rbacGroupName" => LenientString,
    aad_tenant_id: "aadTenantId" => LenientString,
    mitre_techniques: "mitreTechniques" => LenientStrings,
    related_user: "relatedUser" => LenientObject<RelatedUser>,
    logged_on_users: "loggedOnUsers" => LenientList<LoggedOnUser>,
    comments: "comments" => LenientList<Comment>,
    evidence: "evidence" => LenientList<Evidence>,
});

deserialize_keeping_unknown!(RelatedUser {
    user_name: "userName" => LenientString,
    domain_name: "domainName" => LenientString,
});

deserialize_keeping_unknown!(LoggedOnUser {
    account_name: "accountName" => LenientString,
    domain_name: "domainName" => LenientString,
});

deserialize_keeping_unknown!(Comment {
    comment: "comment" => LenientString,
    created_by: "createdBy" => LenientString,
    created_time: "createdTime" => LenientTime,
});

deserialize_keeping_unknown!(Evidence {
    entity_type: "entityType" => LenientString,
    evidence_creation_time: "evidenceCreationTime" => LenientTime,
    sha1: "sha1" => LenientString,
    sha256: "sha256" => LenientString,
    file_name: "fileName" => LenientString,
    file_path: "filePath" => LenientString,
    process_id: "processId" => LenientI64,
    process_command_line: "processCommandLine" => LenientString,
    process_creation_time: "processCreationTime" => LenientTime,
    parent_process_id: "parentProcessId" => LenientI64,
    parent_process_creation_time: "parentProcessCreationTime" => LenientTime,
    parent_process_file_name: "parentProcessFileName" => LenientString,
    parent_process_file_path: "parentProcessFilePath" => LenientString,
    ip_address: "ipAddress" => LenientString,
    url: "url" => LenientString,
    registry_key: "registryKey" => LenientString,
    registry_hive: "registryHive" => LenientString,
    registry_value_type: "registryValueType" => LenientString,
    registry_value: "registryValue" => LenientString,
    registry_value_name: "registryValueName" => LenientString,
    account_name: "accountName" => LenientString,
    domain_name: "domainName" => LenientString,
    user_sid: "userSid" => LenientString,
    aad_user_id: "aadUserId" => LenientString,
    user_principal_name: "userPrincipalName" => LenientString,
    detection_status: "detectionStatus" => LenientString,
});

impl Alert {
    /// `(id, lastUpdateTime)`: the identity of this alert version, if both are present.
    pub fn version_key(&self) -> Option<VersionKey> {
        Some(VersionKey {
            id: self.id.clone()?,
            last_update_time: self.last_update_time?,
        })
    }

    /// Writes the alert as compact JSON, every field as it came. A repaired alert holds the
    /// original of each oddly typed field in `extra` as well; going through a `Value` map lets
    /// that original replace the typed copy (its keys then come out sorted).
    pub fn write_json<W: std::io::Write>(&self, w: W) -> serde_json::Result<()> {
        if self.repairs.is_empty() {
            serde_json::to_writer(w, self)
        } else {
            serde_json::to_writer(w, &serde_json::to_value(self)?)
        }
    }

    /// Evidence entries, or an empty slice when the API sent none or null.
    pub fn evidence(&self) -> &[Evidence] {
        self.evidence.as_deref().unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_kept_and_written_back() {
        let json = r#"{"id":"da1_1","lastUpdateTime":"2023-04-25T22:58:00.55Z","domains":[],"newThing":{"a":1}}"#;
        let a: Alert = serde_json::from_str(json).unwrap();
        assert_eq!(a.extra.len(), 2);
        let back = serde_json::to_value(&a).unwrap();
        assert_eq!(back["newThing"]["a"], 1);
        assert_eq!(back["lastUpdateTime"], "2023-04-25T22:58:00.55Z");
    }

    #[test]
    fn nulls_and_missing_fields_are_none() {
        let a: Alert =
            serde_json::from_str(r#"{"id":"x","classification":null,"evidence":null}"#).unwrap();
        assert_eq!(a.classification, None);
        assert!(a.evidence().is_empty());
        assert_eq!(a.version_key(), None, "no lastUpdateTime, no version key");
    }

    #[test]
    fn incident_id_accepts_a_numeric_string() {
        let a: Alert = serde_json::from_str(r#"{"incidentId":"42"}"#).unwrap();
        assert_eq!(a.incident_id, Some(42));
        // Not a number: kept as it came, the typed field empty.
        let odd: Alert = serde_json::from_str(r#"{"incidentId":"abc"}"#).unwrap();
        assert_eq!(
            (odd.incident_id, &odd.extra["incidentId"]),
            (None, &Value::from("abc"))
        );
    }

    #[test]
    fn escaped_keys_duplicates_and_odd_values() {
        // An escaped key is the same key; nested unknowns survive in evidence too.
        let a: Alert = serde_json::from_str(
            r#"{"i\u0064":"x","evidence":[{"sha1":"ab","new":[1,{"b":null}]}],"z":null}"#,
        )
        .unwrap();
        assert_eq!(a.id.as_deref(), Some("x"));
        assert_eq!(a.evidence()[0].sha1.as_deref(), Some("ab"));
        assert_eq!(a.evidence()[0].extra["new"][1]["b"], Value::Null);
        assert_eq!(a.extra["z"], Value::Null, "an unknown null is kept as null");
        // A known key twice is ambiguous: refuse rather than pick one.
        let dup = serde_json::from_str::<Alert>(r#"{"id":"a","id":"b"}"#).unwrap_err();
        assert!(dup.to_string().contains("duplicate field `id`"), "{dup}");
        // Lenient integers: null, number, numeric string; not a float, not out of range.
        let e: Evidence =
            serde_json::from_str(r#"{"processId":null,"parentProcessId":" 7 "}"#).unwrap();
        assert_eq!((e.process_id, e.parent_process_id), (None, Some(7)));
        // Not an integer: kept as it came in `extra`, the typed field empty.
        for odd in [
            r#"{"processId":1.5}"#,
            r#"{"processId":18446744073709551615}"#,
        ] {
            let e: Evidence = serde_json::from_str(odd).unwrap();
            assert_eq!(e.process_id, None);
            assert!(e.extra.contains_key("processId"), "{odd}");
        }
        // Not an object: an error, as with the derive.
        assert!(serde_json::from_str::<Alert>(r#"["x"]"#).is_err());
        // A text field of another type: text in the field, the original in the JSON body.
        let a =
            crate::repair::parse_alert(br#"{"title":5,"comments":[{"comment":"c"},7]}"#).unwrap();
        assert_eq!(a.title.as_deref(), Some("5"));
        let mut body = Vec::new();
        a.write_json(&mut body).unwrap();
        let back: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"title":5,"comments":[{"comment":"c"},7]})
        );
    }

    #[test]
    fn samples_round_trip_through_json_unchanged() {
        for a in crate::samples::alerts() {
            let json = serde_json::to_string(&a).unwrap();
            let back: Alert = serde_json::from_str(&json).unwrap();
            assert_eq!(back, a);
            assert_eq!(serde_json::to_string(&back).unwrap(), json);
        }
    }
}
