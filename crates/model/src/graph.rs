//! The Microsoft Graph security `alerts_v2` alert resource (graph-api.md): every Defender XDR
//! product's alerts, not only Endpoint's.
//!
//! Like [`crate::Alert`]: every field optional, unknown fields kept in `extra` and serialised
//! back (the RFC 5424 JSON body stays lossless), lenient decoding with repairs marked. Enums
//! (`status`, `severity`, `serviceSource`, …) are kept as text: Graph adds values, and with
//! `Prefer: include-unknown-enum-members` they arrive as themselves. `incidentId` is a string.
//! `evidence` is polymorphic by `@odata.type` ([`GraphEvidence`]): the types the formats use are
//! mapped; any other type is carried generically ([`OtherEvidence`]), never dropped.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::cursor::{FetchItem, VersionKey};
use crate::de::{
    LenientI64, LenientList, LenientObject, LenientString, LenientStrings, LenientTime,
    lenient_struct,
};
use crate::repair::Repair;
use crate::source::ApiAlert;
use crate::timestamp::Timestamp;

lenient_struct! {
    /// One alert version as returned by `GET /v1.0/security/alerts_v2`.
    pub struct GraphAlert {
        pub id: Option<String> = "id" => LenientString,
        /// The product's own id (for Endpoint alerts, the MDE alert id).
        pub provider_alert_id: Option<String> = "providerAlertId" => LenientString,
        /// A string in Graph (a number in the MDE API).
        pub incident_id: Option<String> = "incidentId" => LenientString,
        /// `new`, `inProgress`, `resolved`, …
        pub status: Option<String> = "status" => LenientString,
        /// `informational`, `low`, `medium`, `high`, …
        pub severity: Option<String> = "severity" => LenientString,
        pub classification: Option<String> = "classification" => LenientString,
        pub determination: Option<String> = "determination" => LenientString,
        /// Which Defender product raised it (`microsoftDefenderForEndpoint`, …).
        pub service_source: Option<String> = "serviceSource" => LenientString,
        pub detection_source: Option<String> = "detectionSource" => LenientString,
        pub product_name: Option<String> = "productName" => LenientString,
        pub detector_id: Option<String> = "detectorId" => LenientString,
        pub tenant_id: Option<String> = "tenantId" => LenientString,
        pub title: Option<String> = "title" => LenientString,
        pub description: Option<String> = "description" => LenientString,
        pub recommended_actions: Option<String> = "recommendedActions" => LenientString,
        pub category: Option<String> = "category" => LenientString,
        pub assigned_to: Option<String> = "assignedTo" => LenientString,
        pub alert_web_url: Option<String> = "alertWebUrl" => LenientString,
        pub incident_web_url: Option<String> = "incidentWebUrl" => LenientString,
        pub actor_display_name: Option<String> = "actorDisplayName" => LenientString,
        pub threat_display_name: Option<String> = "threatDisplayName" => LenientString,
        pub threat_family_name: Option<String> = "threatFamilyName" => LenientString,
        pub alert_policy_id: Option<String> = "alertPolicyId" => LenientString,
        pub mitre_techniques: Option<Vec<String>> = "mitreTechniques" => LenientStrings,
        pub system_tags: Option<Vec<String>> = "systemTags" => LenientStrings,
        pub created_date_time: Option<Timestamp> = "createdDateTime" => LenientTime,
        /// The cursor field: every update of an alert moves it.
        pub last_update_date_time: Option<Timestamp> = "lastUpdateDateTime" => LenientTime,
        pub resolved_date_time: Option<Timestamp> = "resolvedDateTime" => LenientTime,
        pub first_activity_date_time: Option<Timestamp> = "firstActivityDateTime" => LenientTime,
        pub last_activity_date_time: Option<Timestamp> = "lastActivityDateTime" => LenientTime,
        pub comments: Option<Vec<GraphComment>> = "comments" => LenientList<GraphComment>,
        pub evidence: Option<Vec<GraphEvidence>> = "evidence" => LenientList<GraphEvidence>,
    }
    extra {
        /// What lenient decoding repaired (empty for a clean alert); formats mark such alerts.
        #[serde(skip)]
        pub repairs: Vec<Repair>,
    }
}

lenient_struct! {
    /// An entry of `comments` (`alertComment`).
    pub struct GraphComment {
        pub comment: Option<String> = "comment" => LenientString,
        pub created_by_display_name: Option<String> = "createdByDisplayName" => LenientString,
        pub created_date_time: Option<Timestamp> = "createdDateTime" => LenientTime,
    }
}

lenient_struct! {
    /// `userAccount` of user, process and mailbox evidence.
    pub struct UserAccount {
        pub account_name: Option<String> = "accountName" => LenientString,
        pub domain_name: Option<String> = "domainName" => LenientString,
        pub user_sid: Option<String> = "userSid" => LenientString,
        pub azure_ad_user_id: Option<String> = "azureAdUserId" => LenientString,
        pub user_principal_name: Option<String> = "userPrincipalName" => LenientString,
        pub display_name: Option<String> = "displayName" => LenientString,
    }
}

lenient_struct! {
    /// `fileDetails` of file evidence, `imageFile` of process evidence.
    pub struct FileDetails {
        pub file_name: Option<String> = "fileName" => LenientString,
        pub file_path: Option<String> = "filePath" => LenientString,
        pub sha1: Option<String> = "sha1" => LenientString,
        pub sha256: Option<String> = "sha256" => LenientString,
        pub file_size: Option<i64> = "fileSize" => LenientI64,
        pub file_publisher: Option<String> = "filePublisher" => LenientString,
        pub signer: Option<String> = "signer" => LenientString,
        pub issuer: Option<String> = "issuer" => LenientString,
    }
}

lenient_struct! {
    /// An entry of device evidence's `loggedOnUsers`.
    pub struct LoggedOnUser {
        pub account_name: Option<String> = "accountName" => LenientString,
        pub domain_name: Option<String> = "domainName" => LenientString,
    }
}

/// Declares one evidence type: the fields every `alertEvidence` has, then its own.
macro_rules! evidence_struct {
    ($(#[$meta:meta])* $name:ident { $($own:tt)* }) => {
        lenient_struct! {
            $(#[$meta])*
            pub struct $name {
                pub odata_type: Option<String> = "@odata.type" => LenientString,
                pub created_date_time: Option<Timestamp> = "createdDateTime" => LenientTime,
                pub verdict: Option<String> = "verdict" => LenientString,
                pub remediation_status: Option<String> = "remediationStatus" => LenientString,
                pub remediation_status_details: Option<String> = "remediationStatusDetails" => LenientString,
                pub roles: Option<Vec<String>> = "roles" => LenientStrings,
                pub detailed_roles: Option<Vec<String>> = "detailedRoles" => LenientStrings,
                pub tags: Option<Vec<String>> = "tags" => LenientStrings,
                $($own)*
            }
        }
    };
}

evidence_struct!(
    /// `#microsoft.graph.security.deviceEvidence`.
    DeviceEvidence {
        pub device_dns_name: Option<String> = "deviceDnsName" => LenientString,
        pub mde_device_id: Option<String> = "mdeDeviceId" => LenientString,
        pub azure_ad_device_id: Option<String> = "azureAdDeviceId" => LenientString,
        pub os_platform: Option<String> = "osPlatform" => LenientString,
        pub os_build: Option<i64> = "osBuild" => LenientI64,
        pub health_status: Option<String> = "healthStatus" => LenientString,
        pub risk_score: Option<String> = "riskScore" => LenientString,
        pub rbac_group_id: Option<i64> = "rbacGroupId" => LenientI64,
        pub rbac_group_name: Option<String> = "rbacGroupName" => LenientString,
        pub onboarding_status: Option<String> = "onboardingStatus" => LenientString,
        pub ip_interfaces: Option<Vec<String>> = "ipInterfaces" => LenientStrings,
        pub logged_on_users: Option<Vec<LoggedOnUser>> = "loggedOnUsers" => LenientList<LoggedOnUser>,
    }
);

evidence_struct!(
    /// `#microsoft.graph.security.userEvidence`.
    UserEvidence {
        pub user_account: Option<UserAccount> = "userAccount" => LenientObject<UserAccount>,
    }
);

evidence_struct!(
    /// `#microsoft.graph.security.fileEvidence`.
    FileEvidence {
        pub detection_status: Option<String> = "detectionStatus" => LenientString,
        pub mde_device_id: Option<String> = "mdeDeviceId" => LenientString,
        pub file_details: Option<FileDetails> = "fileDetails" => LenientObject<FileDetails>,
    }
);

evidence_struct!(
    /// `#microsoft.graph.security.processEvidence`.
    ProcessEvidence {
        pub process_id: Option<i64> = "processId" => LenientI64,
        pub parent_process_id: Option<i64> = "parentProcessId" => LenientI64,
        pub process_command_line: Option<String> = "processCommandLine" => LenientString,
        pub process_creation_date_time: Option<Timestamp> = "processCreationDateTime" => LenientTime,
        pub parent_process_creation_date_time: Option<Timestamp> = "parentProcessCreationDateTime" => LenientTime,
        pub detection_status: Option<String> = "detectionStatus" => LenientString,
        pub mde_device_id: Option<String> = "mdeDeviceId" => LenientString,
        pub image_file: Option<FileDetails> = "imageFile" => LenientObject<FileDetails>,
        pub parent_process_image_file: Option<FileDetails> = "parentProcessImageFile" => LenientObject<FileDetails>,
        pub user_account: Option<UserAccount> = "userAccount" => LenientObject<UserAccount>,
    }
);

evidence_struct!(
    /// `#microsoft.graph.security.ipEvidence`.
    IpEvidence {
        pub ip_address: Option<String> = "ipAddress" => LenientString,
        pub country_letter_code: Option<String> = "countryLetterCode" => LenientString,
    }
);

evidence_struct!(
    /// `#microsoft.graph.security.urlEvidence`.
    UrlEvidence {
        pub url: Option<String> = "url" => LenientString,
    }
);

evidence_struct!(
    /// `#microsoft.graph.security.mailboxEvidence`.
    MailboxEvidence {
        pub primary_address: Option<String> = "primaryAddress" => LenientString,
        pub display_name: Option<String> = "displayName" => LenientString,
        pub user_account: Option<UserAccount> = "userAccount" => LenientObject<UserAccount>,
    }
);

evidence_struct!(
    /// `#microsoft.graph.security.registryKeyEvidence`.
    RegistryKeyEvidence {
        pub registry_key: Option<String> = "registryKey" => LenientString,
        pub registry_hive: Option<String> = "registryHive" => LenientString,
    }
);

evidence_struct!(
    /// Any other `@odata.type` (Microsoft documents over 40 and adds more): the common fields
    /// typed, everything else in `extra`, the type name in `odata_type`.
    OtherEvidence {}
);

/// One `evidence[]` entry, by `@odata.type`.
// An alert has a handful of entries, each allocated once in its Vec: boxing the larger
// variants would add an allocation per entry to save little.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum GraphEvidence {
    Device(DeviceEvidence),
    User(UserEvidence),
    File(FileEvidence),
    Process(ProcessEvidence),
    Ip(IpEvidence),
    Url(UrlEvidence),
    Mailbox(MailboxEvidence),
    RegistryKey(RegistryKeyEvidence),
    /// An evidence type this model does not map (or one without `@odata.type`).
    Other(OtherEvidence),
}

/// The `@odata.type` prefix of every evidence type.
pub const EVIDENCE_TYPE_PREFIX: &str = "#microsoft.graph.security.";

impl<'de> Deserialize<'de> for GraphEvidence {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // The type tag may come anywhere in the object: read it whole, then pick the variant.
        let map = Map::<String, Value>::deserialize(d)?;
        let kind = map
            .get("@odata.type")
            .and_then(Value::as_str)
            .and_then(|t| t.strip_prefix(EVIDENCE_TYPE_PREFIX))
            .unwrap_or_default()
            .to_owned();
        let v = Value::Object(map);
        let e = match kind.as_str() {
            "deviceEvidence" => DeviceEvidence::deserialize(v).map(GraphEvidence::Device),
            "userEvidence" => UserEvidence::deserialize(v).map(GraphEvidence::User),
            "fileEvidence" => FileEvidence::deserialize(v).map(GraphEvidence::File),
            "processEvidence" => ProcessEvidence::deserialize(v).map(GraphEvidence::Process),
            "ipEvidence" => IpEvidence::deserialize(v).map(GraphEvidence::Ip),
            "urlEvidence" => UrlEvidence::deserialize(v).map(GraphEvidence::Url),
            "mailboxEvidence" => MailboxEvidence::deserialize(v).map(GraphEvidence::Mailbox),
            "registryKeyEvidence" => {
                RegistryKeyEvidence::deserialize(v).map(GraphEvidence::RegistryKey)
            }
            _ => OtherEvidence::deserialize(v).map(GraphEvidence::Other),
        };
        e.map_err(D::Error::custom)
    }
}

impl GraphEvidence {
    /// The `@odata.type` as it came (`None` when absent).
    pub fn odata_type(&self) -> Option<&str> {
        match self {
            GraphEvidence::Device(e) => e.odata_type.as_deref(),
            GraphEvidence::User(e) => e.odata_type.as_deref(),
            GraphEvidence::File(e) => e.odata_type.as_deref(),
            GraphEvidence::Process(e) => e.odata_type.as_deref(),
            GraphEvidence::Ip(e) => e.odata_type.as_deref(),
            GraphEvidence::Url(e) => e.odata_type.as_deref(),
            GraphEvidence::Mailbox(e) => e.odata_type.as_deref(),
            GraphEvidence::RegistryKey(e) => e.odata_type.as_deref(),
            GraphEvidence::Other(e) => e.odata_type.as_deref(),
        }
    }

    /// The user account the entry names (user, process or mailbox evidence).
    pub fn user_account(&self) -> Option<&UserAccount> {
        match self {
            GraphEvidence::User(e) => e.user_account.as_ref(),
            GraphEvidence::Process(e) => e.user_account.as_ref(),
            GraphEvidence::Mailbox(e) => e.user_account.as_ref(),
            _ => None,
        }
    }

    /// The file the entry names (file evidence's file, process evidence's image).
    pub fn file(&self) -> Option<&FileDetails> {
        match self {
            GraphEvidence::File(e) => e.file_details.as_ref(),
            GraphEvidence::Process(e) => e.image_file.as_ref(),
            _ => None,
        }
    }
}

impl GraphAlert {
    /// `(id, lastUpdateDateTime)`: the identity of this alert version, if both are present.
    pub fn version_key(&self) -> Option<VersionKey> {
        Some(VersionKey {
            id: self.id.clone()?,
            last_update_time: self.last_update_date_time?,
        })
    }

    /// Writes the alert as compact JSON, every field as it came (see
    /// [`crate::Alert::write_json`] for how repaired fields are shown).
    pub fn write_json<W: std::io::Write>(&self, w: W) -> serde_json::Result<()> {
        crate::source::write_json(self, !self.repairs.is_empty(), w)
    }

    /// Evidence entries, or an empty slice when the API sent none or null.
    pub fn evidence(&self) -> &[GraphEvidence] {
        self.evidence.as_deref().unwrap_or(&[])
    }
}

impl ApiAlert for GraphAlert {
    const UPDATE_TIME_KEY: &'static str = "lastUpdateDateTime";

    fn version_key(&self) -> Option<VersionKey> {
        GraphAlert::version_key(self)
    }

    fn update_time(&self) -> Option<Timestamp> {
        self.last_update_date_time
    }

    fn set_repairs(&mut self, repairs: Vec<Repair>) {
        self.repairs = repairs;
    }

    fn into_fetch_item(self) -> FetchItem {
        FetchItem::Graph(Box::new(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repair::{marker, parse_lenient};
    use serde_json::json;

    fn parse(v: Value) -> GraphAlert {
        parse_lenient(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn fields_enums_and_unknowns() {
        let a = parse(json!({
            "@odata.type": "#microsoft.graph.security.alert",
            "id": "da1_2", "incidentId": "28282", "severity": "someFutureSeverity",
            "serviceSource": "microsoftDefenderForOffice365",
            "lastUpdateDateTime": "2021-05-02T14:19:01.3266667Z",
            "assignedTo": null, "newThing": {"a": [1, null]}
        }));
        assert_eq!(a.incident_id.as_deref(), Some("28282"));
        assert_eq!(a.severity.as_deref(), Some("someFutureSeverity"));
        assert_eq!(a.assigned_to, None);
        assert_eq!(a.extra["newThing"], json!({"a": [1, null]}));
        assert_eq!(a.extra["@odata.type"], "#microsoft.graph.security.alert");
        let k = a.version_key().unwrap();
        assert_eq!(k.id, "da1_2");
        assert_eq!(
            k.last_update_time.to_string(),
            "2021-05-02T14:19:01.3266667Z"
        );
        assert!(a.repairs.is_empty());
        // A numeric incident id is the documented type in another spelling: shown as text,
        // the original kept for the JSON body, the alert marked.
        let n = parse(json!({"id": "x", "incidentId": 42}));
        assert_eq!(n.incident_id.as_deref(), Some("42"));
        assert_eq!(marker(&n.repairs), "type:incidentId");
    }

    #[test]
    fn evidence_is_polymorphic_and_unknown_types_are_carried() {
        let a = parse(json!({"id": "x", "evidence": [
            {"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": "h",
             "osBuild": 22424, "vmMetadata": {"vmId": "v"}},
            {"@odata.type": "#microsoft.graph.security.userEvidence",
             "userAccount": {"accountName": "SYSTEM", "domainName": "NT AUTHORITY"}},
            {"@odata.type": "#microsoft.graph.security.fileEvidence",
             "fileDetails": {"fileName": "a.exe", "sha1": "ab"}},
            {"@odata.type": "#microsoft.graph.security.aiAgentEvidence", "agentName": "x",
             "verdict": "malicious"},
            {"verdict": "unknown", "ipAddress": "1.2.3.4"},
            7
        ]}));
        let ev = a.evidence();
        assert_eq!(ev.len(), 5, "the odd element is kept in the JSON body only");
        let GraphEvidence::Device(d) = &ev[0] else {
            panic!("{:?}", ev[0])
        };
        assert_eq!(
            (d.device_dns_name.as_deref(), d.os_build),
            (Some("h"), Some(22424))
        );
        assert_eq!(d.extra["vmMetadata"], json!({"vmId": "v"}));
        assert_eq!(
            ev[1].user_account().and_then(|u| u.account_name.as_deref()),
            Some("SYSTEM")
        );
        assert_eq!(ev[2].file().and_then(|f| f.sha1.as_deref()), Some("ab"));
        let GraphEvidence::Other(o) = &ev[3] else {
            panic!("{:?}", ev[3])
        };
        assert_eq!(o.verdict.as_deref(), Some("malicious"));
        assert_eq!(o.extra["agentName"], "x");
        assert_eq!(
            ev[3].odata_type(),
            Some("#microsoft.graph.security.aiAgentEvidence")
        );
        // No type: generic too; its fields are not read as another type's.
        let GraphEvidence::Other(o) = &ev[4] else {
            panic!("{:?}", ev[4])
        };
        assert_eq!(o.extra["ipAddress"], "1.2.3.4");
        assert_eq!(marker(&a.repairs), "type:evidence");
        // Lossless: the JSON body is the input, unknown and odd entries included.
        let mut body = Vec::new();
        a.write_json(&mut body).unwrap();
        let back: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(back["evidence"][3]["agentName"], "x");
        assert_eq!(back["evidence"][5], 7);
        assert_eq!(back["evidence"][0]["osBuild"], 22424);
    }

    #[test]
    fn odd_types_in_evidence_are_repaired_not_fatal() {
        let a = parse(json!({"id": "x", "evidence": [
            {"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": ["1.1.1.1"]}
        ]}));
        let GraphEvidence::Ip(ip) = &a.evidence()[0] else {
            panic!()
        };
        assert_eq!(ip.ip_address.as_deref(), Some(r#"["1.1.1.1"]"#));
        assert_eq!(ip.extra["ipAddress"], json!(["1.1.1.1"]));
        assert_eq!(marker(&a.repairs), "type:ipAddress");
        // A duplicate known key at the top level is refused, as for MDE alerts.
        assert!(parse_lenient::<GraphAlert>(br#"{"id":"a","id":"b"}"#).is_err());
    }

    #[test]
    fn unreadable_elements_recover_the_graph_time() {
        let t = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let raw = br#"{"id":"g1","lastUpdateDateTime":"2026-11-21T09:02:44.5566667Z","x":tru}"#;
        let u = crate::repair::unreadable_of::<GraphAlert>(raw, "bad".into(), t);
        assert_eq!(u.id.as_deref(), Some("g1"));
        assert_eq!(
            u.last_update_time.map(|t| t.to_string()).as_deref(),
            Some("2026-11-21T09:02:44.5566667Z")
        );
        assert_eq!(u.key.id, "!unreadable:g1");
    }

    #[test]
    fn samples_round_trip_through_json_unchanged() {
        let all = crate::samples::graph_alerts();
        let kinds: std::collections::HashSet<_> = all
            .iter()
            .flat_map(|a| a.evidence().iter().map(std::mem::discriminant))
            .collect();
        assert_eq!(kinds.len(), 9, "every evidence variant, Other included");
        for a in all {
            let json = serde_json::to_string(&a).unwrap();
            let back: GraphAlert = serde_json::from_str(&json).unwrap();
            assert_eq!(back, a);
            assert_eq!(serde_json::to_string(&back).unwrap(), json);
        }
    }

    /// The real public sample (../shared, never copied here) reads cleanly and losslessly.
    #[test]
    fn the_documentation_sample_reads_losslessly() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/graph-fixtures/list-alerts_v2_response.json");
        let Ok(page) = std::fs::read(&path) else {
            eprintln!(
                "SKIPPED: {} is absent; the real-sample check did not run",
                path.display()
            );
            return;
        };
        let alerts = crate::parse_alerts_of::<GraphAlert>(&page);
        assert_eq!(alerts.len(), 1);
        let a = alerts[0].as_ref().unwrap();
        assert!(a.repairs.is_empty(), "{:?}", a.repairs);
        assert_eq!(a.incident_id.as_deref(), Some("28282"));
        assert_eq!(
            a.service_source.as_deref(),
            Some("microsoftDefenderForEndpoint")
        );
        let kinds: Vec<_> = a.evidence().iter().map(GraphEvidence::odata_type).collect();
        assert_eq!(kinds.len(), 4);
        assert!(matches!(a.evidence()[3], GraphEvidence::RegistryKey(_)));
        let mut body = Vec::new();
        a.write_json(&mut body).unwrap();
        let original: Value = serde_json::from_slice::<Value>(&page).unwrap()["value"][0].clone();
        let back: Value = serde_json::from_slice(&body).unwrap();
        // A known field's `null` means absent (as for MDE alerts); everything else is kept.
        fn without_nulls(v: Value) -> Value {
            match v {
                Value::Object(m) => Value::Object(
                    m.into_iter()
                        .filter(|(_, v)| !v.is_null())
                        .map(|(k, v)| (k, without_nulls(v)))
                        .collect(),
                ),
                Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
                v => v,
            }
        }
        assert_eq!(
            back,
            without_nulls(original),
            "the JSON body is the alert as it came"
        );
    }
}
