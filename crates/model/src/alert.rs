//! The Defender `/api/alerts` alert resource and its evidence (mde-api.md §3).
//!
//! Every field is optional because real payloads omit documented fields and add undocumented
//! ones (`loggedOnUsers`, `domains`, `registryValueName`). Unknown fields land in `extra` and are
//! serialised back, so RFC 5424's JSON body never silently loses what the API adds.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::cursor::VersionKey;
use crate::timestamp::Timestamp;

/// One alert version as returned by `GET /api/alerts?$expand=evidence`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_i64"
    )]
    pub incident_id: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_i64"
    )]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_i64"
    )]
    pub process_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_command_line: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_creation_time: Option<Timestamp>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_i64"
    )]
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

/// Accepts an integer, a numeric string, or null: Defender documents `incidentId` as a Long,
/// and one mistyped field must not make a whole alert unforwardable.
fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Loose {
        Int(i64),
        Text(String),
    }
    match Option::<Loose>::deserialize(d)? {
        None => Ok(None),
        Some(Loose::Int(i)) => Ok(Some(i)),
        Some(Loose::Text(s)) => s.trim().parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!(
                "expected an integer, got {:?}",
                s.chars().take(40).collect::<String>()
            ))
        }),
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
}
