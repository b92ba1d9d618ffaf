//! The Defender `/api/alerts` alert resource and its evidence (mde-api.md §3).
//!
//! Every field is optional because real payloads omit documented fields and add undocumented
//! ones (`loggedOnUsers`, `domains`, `registryValueName`). Unknown fields land in `extra` and are
//! serialised back, so RFC 5424's JSON body never silently loses what the API adds.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::cursor::VersionKey;
use crate::de::{LenientI64, deserialize_keeping_unknown};
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
    /// Fields this model does not name (e.g. `domains`), kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
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
    id: "id" => Option<String>,
    incident_id: "incidentId" => LenientI64,
    investigation_id: "investigationId" => LenientI64,
    assigned_to: "assignedTo" => Option<String>,
    severity: "severity" => Option<String>,
    status: "status" => Option<String>,
    classification: "classification" => Option<String>,
    determination: "determination" => Option<String>,
    investigation_state: "investigationState" => Option<String>,
    detection_source: "detectionSource" => Option<String>,
    detector_id: "detectorId" => Option<String>,
    category: "category" => Option<String>,
    threat_family_name: "threatFamilyName" => Option<String>,
    threat_name: "threatName" => Option<String>,
    title: "title" => Option<String>,
    description: "description" => Option<String>,
    alert_creation_time: "alertCreationTime" => Option<Timestamp>,
    first_event_time: "firstEventTime" => Option<Timestamp>,
    last_event_time: "lastEventTime" => Option<Timestamp>,
    last_update_time: "lastUpdateTime" => Option<Timestamp>,
    resolved_time: "resolvedTime" => Option<Timestamp>,
    machine_id: "machineId" => Option<String>,
    computer_dns_name: "computerDnsName" => Option<String>,
    rbac_group_name: "rbacGroupName" => Option<String>,
    aad_tenant_id: "aadTenantId" => Option<String>,
    mitre_techniques: "mitreTechniques" => Option<Vec<String>>,
    related_user: "relatedUser" => Option<RelatedUser>,
    logged_on_users: "loggedOnUsers" => Option<Vec<LoggedOnUser>>,
    comments: "comments" => Option<Vec<Comment>>,
    evidence: "evidence" => Option<Vec<Evidence>>,
});

deserialize_keeping_unknown!(RelatedUser {
    user_name: "userName" => Option<String>,
    domain_name: "domainName" => Option<String>,
});

deserialize_keeping_unknown!(LoggedOnUser {
    account_name: "accountName" => Option<String>,
    domain_name: "domainName" => Option<String>,
});

deserialize_keeping_unknown!(Comment {
    comment: "comment" => Option<String>,
    created_by: "createdBy" => Option<String>,
    created_time: "createdTime" => Option<Timestamp>,
});

deserialize_keeping_unknown!(Evidence {
    entity_type: "entityType" => Option<String>,
    evidence_creation_time: "evidenceCreationTime" => Option<Timestamp>,
    sha1: "sha1" => Option<String>,
    sha256: "sha256" => Option<String>,
    file_name: "fileName" => Option<String>,
    file_path: "filePath" => Option<String>,
    process_id: "processId" => LenientI64,
    process_command_line: "processCommandLine" => Option<String>,
    process_creation_time: "processCreationTime" => Option<Timestamp>,
    parent_process_id: "parentProcessId" => LenientI64,
    parent_process_creation_time: "parentProcessCreationTime" => Option<Timestamp>,
    parent_process_file_name: "parentProcessFileName" => Option<String>,
    parent_process_file_path: "parentProcessFilePath" => Option<String>,
    ip_address: "ipAddress" => Option<String>,
    url: "url" => Option<String>,
    registry_key: "registryKey" => Option<String>,
    registry_hive: "registryHive" => Option<String>,
    registry_value_type: "registryValueType" => Option<String>,
    registry_value: "registryValue" => Option<String>,
    registry_value_name: "registryValueName" => Option<String>,
    account_name: "accountName" => Option<String>,
    domain_name: "domainName" => Option<String>,
    user_sid: "userSid" => Option<String>,
    aad_user_id: "aadUserId" => Option<String>,
    user_principal_name: "userPrincipalName" => Option<String>,
    detection_status: "detectionStatus" => Option<String>,
});

impl Alert {
    /// `(id, lastUpdateTime)`: the identity of this alert version, if both are present.
    pub fn version_key(&self) -> Option<VersionKey> {
        Some(VersionKey {
            id: self.id.clone()?,
            last_update_time: self.last_update_time?,
        })
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
        assert!(serde_json::from_str::<Alert>(r#"{"incidentId":"abc"}"#).is_err());
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
        assert!(serde_json::from_str::<Evidence>(r#"{"processId":1.5}"#).is_err());
        assert!(serde_json::from_str::<Evidence>(r#"{"processId":18446744073709551615}"#).is_err());
        // Not an object: an error, as with the derive.
        assert!(serde_json::from_str::<Alert>(r#"["x"]"#).is_err());
        assert!(serde_json::from_str::<Alert>(r#"{"title":5}"#).is_err());
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
