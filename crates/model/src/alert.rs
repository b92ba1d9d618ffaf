//! The Defender `/api/alerts` alert resource and its evidence (mde-api.md §3).
//!
//! Every field is optional because real payloads omit documented fields and add undocumented
//! ones (`loggedOnUsers`, `domains`, `registryValueName`). Unknown fields land in `extra` and are
//! serialised back, so RFC 5424's JSON body never silently loses what the API adds.

use crate::cursor::{FetchItem, VersionKey};
use crate::de::{
    LenientI64, LenientList, LenientObject, LenientString, LenientStrings, LenientTime,
    lenient_struct,
};
use crate::repair::Repair;
use crate::source::ApiAlert;
use crate::timestamp::Timestamp;

lenient_struct! {
    /// One alert version as returned by `GET /api/alerts?$expand=evidence`.
    pub struct Alert {
        pub id: Option<String> = "id" => LenientString,
        pub incident_id: Option<i64> = "incidentId" => LenientI64,
        pub investigation_id: Option<i64> = "investigationId" => LenientI64,
        pub assigned_to: Option<String> = "assignedTo" => LenientString,
        /// `UnSpecified`, `Informational`, `Low`, `Medium`, `High` (kept as text: new values must
        /// not make an alert unparseable).
        pub severity: Option<String> = "severity" => LenientString,
        pub status: Option<String> = "status" => LenientString,
        pub classification: Option<String> = "classification" => LenientString,
        pub determination: Option<String> = "determination" => LenientString,
        pub investigation_state: Option<String> = "investigationState" => LenientString,
        pub detection_source: Option<String> = "detectionSource" => LenientString,
        pub detector_id: Option<String> = "detectorId" => LenientString,
        pub category: Option<String> = "category" => LenientString,
        pub threat_family_name: Option<String> = "threatFamilyName" => LenientString,
        pub threat_name: Option<String> = "threatName" => LenientString,
        pub title: Option<String> = "title" => LenientString,
        pub description: Option<String> = "description" => LenientString,
        pub alert_creation_time: Option<Timestamp> = "alertCreationTime" => LenientTime,
        pub first_event_time: Option<Timestamp> = "firstEventTime" => LenientTime,
        pub last_event_time: Option<Timestamp> = "lastEventTime" => LenientTime,
        /// The cursor field: every update of an alert moves it.
        pub last_update_time: Option<Timestamp> = "lastUpdateTime" => LenientTime,
        pub resolved_time: Option<Timestamp> = "resolvedTime" => LenientTime,
        pub machine_id: Option<String> = "machineId" => LenientString,
        pub computer_dns_name: Option<String> = "computerDnsName" => LenientString,
        pub rbac_group_name: Option<String> = "rbacGroupName" => LenientString,
        pub aad_tenant_id: Option<String> = "aadTenantId" => LenientString,
        pub mitre_techniques: Option<Vec<String>> = "mitreTechniques" => LenientStrings,
        pub related_user: Option<RelatedUser> = "relatedUser" => LenientObject<RelatedUser>,
        /// Undocumented but present in real payloads.
        pub logged_on_users: Option<Vec<LoggedOnUser>> = "loggedOnUsers" => LenientList<LoggedOnUser>,
        pub comments: Option<Vec<Comment>> = "comments" => LenientList<Comment>,
        pub evidence: Option<Vec<Evidence>> = "evidence" => LenientList<Evidence>,
    }
    extra {
        /// What lenient decoding repaired (empty for a clean alert); formats mark such alerts.
        #[serde(skip)]
        pub repairs: Vec<Repair>,
    }
}

lenient_struct! {
    /// `relatedUser`.
    pub struct RelatedUser {
        pub user_name: Option<String> = "userName" => LenientString,
        pub domain_name: Option<String> = "domainName" => LenientString,
    }
}

lenient_struct! {
    /// An entry of the undocumented `loggedOnUsers` array.
    pub struct LoggedOnUser {
        pub account_name: Option<String> = "accountName" => LenientString,
        pub domain_name: Option<String> = "domainName" => LenientString,
    }
}

lenient_struct! {
    /// An entry of `comments`.
    pub struct Comment {
        pub comment: Option<String> = "comment" => LenientString,
        pub created_by: Option<String> = "createdBy" => LenientString,
        pub created_time: Option<Timestamp> = "createdTime" => LenientTime,
    }
}

lenient_struct! {
    /// One evidence entity. Defender uses one flat type for every `entityType`; fields that do not
    /// apply are null.
    pub struct Evidence {
        pub entity_type: Option<String> = "entityType" => LenientString,
        pub evidence_creation_time: Option<Timestamp> = "evidenceCreationTime" => LenientTime,
        pub sha1: Option<String> = "sha1" => LenientString,
        pub sha256: Option<String> = "sha256" => LenientString,
        pub file_name: Option<String> = "fileName" => LenientString,
        pub file_path: Option<String> = "filePath" => LenientString,
        pub process_id: Option<i64> = "processId" => LenientI64,
        pub process_command_line: Option<String> = "processCommandLine" => LenientString,
        pub process_creation_time: Option<Timestamp> = "processCreationTime" => LenientTime,
        pub parent_process_id: Option<i64> = "parentProcessId" => LenientI64,
        pub parent_process_creation_time: Option<Timestamp> = "parentProcessCreationTime" => LenientTime,
        pub parent_process_file_name: Option<String> = "parentProcessFileName" => LenientString,
        pub parent_process_file_path: Option<String> = "parentProcessFilePath" => LenientString,
        pub ip_address: Option<String> = "ipAddress" => LenientString,
        pub url: Option<String> = "url" => LenientString,
        pub registry_key: Option<String> = "registryKey" => LenientString,
        pub registry_hive: Option<String> = "registryHive" => LenientString,
        pub registry_value_type: Option<String> = "registryValueType" => LenientString,
        pub registry_value: Option<String> = "registryValue" => LenientString,
        /// Undocumented but present in real payloads.
        pub registry_value_name: Option<String> = "registryValueName" => LenientString,
        pub account_name: Option<String> = "accountName" => LenientString,
        pub domain_name: Option<String> = "domainName" => LenientString,
        pub user_sid: Option<String> = "userSid" => LenientString,
        pub aad_user_id: Option<String> = "aadUserId" => LenientString,
        pub user_principal_name: Option<String> = "userPrincipalName" => LenientString,
        pub detection_status: Option<String> = "detectionStatus" => LenientString,
    }
}

impl ApiAlert for Alert {
    const UPDATE_TIME_KEY: &'static str = "lastUpdateTime";

    fn version_key(&self) -> Option<VersionKey> {
        Alert::version_key(self)
    }

    fn update_time(&self) -> Option<Timestamp> {
        self.last_update_time
    }

    fn set_repairs(&mut self, repairs: Vec<Repair>) {
        self.repairs = repairs;
    }

    fn into_fetch_item(self) -> FetchItem {
        FetchItem::Alert(Box::new(self))
    }
}

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
        crate::source::write_json(self, !self.repairs.is_empty(), w)
    }

    /// Evidence entries, or an empty slice when the API sent none or null.
    pub fn evidence(&self) -> &[Evidence] {
        self.evidence.as_deref().unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

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
