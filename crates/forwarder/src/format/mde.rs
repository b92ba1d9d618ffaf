//! Where each field of a Defender for Endpoint alert (`/api/alerts`) goes in each format
//! (docs/formats.md, "MDE alerts"). Order matters: it is the order on the wire.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

use alert_model::{Alert, Repair, Timestamp};

use super::fields::{self, ms, n, text as s, text_ref as b, ts};
use super::limit::{self, Level};
use super::text::cut;
use super::view::{AlertView, Emit, EmitCef, Severity};

impl AlertView for Alert {
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    fn update_time(&self) -> Option<Timestamp> {
        self.last_update_time
    }
    fn created_time(&self) -> Option<Timestamp> {
        self.alert_creation_time
    }
    fn severity(&self) -> Severity {
        match self.severity.as_deref() {
            Some("High") => Severity::High,
            Some("Medium") => Severity::Medium,
            Some("Low") => Severity::Low,
            Some("Informational") => Severity::Informational,
            _ => Severity::Other,
        }
    }
    fn severity_text(&self) -> Option<&str> {
        self.severity.as_deref()
    }
    fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }
    fn detector_id(&self) -> Option<&str> {
        self.detector_id.as_deref()
    }
    fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    fn repairs(&self) -> &[Repair] {
        &self.repairs
    }
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        Alert::write_json(self, out)
    }
    fn summary_fields(&self) -> [Option<&str>; 3] {
        [
            self.category.as_deref(),
            self.computer_dns_name.as_deref(),
            self.status.as_deref(),
        ]
    }

    fn sd_params(&self, param: Emit<'_>) {
        let a = self;
        let entries: [(&str, Option<Cow<'_, str>>); 15] = [
            ("id", s(&a.id)),
            ("lastUpdateTime", ts(&a.last_update_time)),
            ("severity", s(&a.severity)),
            ("status", s(&a.status)),
            ("category", s(&a.category)),
            ("title", s(&a.title)),
            ("detectionSource", s(&a.detection_source)),
            ("computerDnsName", s(&a.computer_dns_name)),
            ("incidentId", n(&a.incident_id)),
            ("classification", s(&a.classification)),
            ("determination", s(&a.determination)),
            ("assignedTo", s(&a.assigned_to)),
            ("threatName", s(&a.threat_name)),
            (
                "mitreTechniques",
                fields::mitre(&a.mitre_techniques).map(Cow::Owned),
            ),
            ("alertCreationTime", ts(&a.alert_creation_time)),
        ];
        fields::emit_all(entries, param);
    }

    fn leef_attrs(&self, truncated: bool, attr: Emit<'_>) {
        let a = self;
        let file = file_evidence(a);
        let ips: Vec<&str> = evidence_ips(a).collect();
        let user = a.related_user.as_ref();
        let f = |g: fn(&alert_model::Evidence) -> &Option<String>| file.and_then(|e| s(g(e)));
        let attrs: [(&str, Option<Cow<'_, str>>); 35] = [
            ("devTime", ms(&a.last_update_time)),
            (
                "sev",
                fields::leef_severity(a.severity()).map(|s| Cow::Owned(s.to_string())),
            ),
            ("cat", s(&a.category)),
            (
                "usrName",
                user.and_then(|u| u.user_name.as_deref())
                    .map(|u| cut(u, 255).0),
            ),
            ("domain", user.and_then(|u| s(&u.domain_name))),
            ("resource", s(&a.computer_dns_name)),
            ("dst", ips.first().map(|s| Cow::Borrowed(*s))),
            ("url", b(&evidence_url(a))),
            ("alertId", s(&a.id)),
            ("lastUpdateTime", ts(&a.last_update_time)),
            ("title", s(&a.title)),
            ("severity", s(&a.severity)),
            ("status", s(&a.status)),
            ("classification", s(&a.classification)),
            ("determination", s(&a.determination)),
            ("detectionSource", s(&a.detection_source)),
            ("threatName", s(&a.threat_name)),
            ("threatFamilyName", s(&a.threat_family_name)),
            ("incidentId", n(&a.incident_id)),
            ("investigationId", n(&a.investigation_id)),
            ("investigationState", s(&a.investigation_state)),
            ("assignedTo", s(&a.assigned_to)),
            ("machineId", s(&a.machine_id)),
            ("rbacGroupName", s(&a.rbac_group_name)),
            ("aadTenantId", s(&a.aad_tenant_id)),
            (
                "mitreTechniques",
                fields::mitre(&a.mitre_techniques).map(Cow::Owned),
            ),
            ("alertCreationTime", ts(&a.alert_creation_time)),
            ("firstEventTime", ts(&a.first_event_time)),
            ("lastEventTime", ts(&a.last_event_time)),
            ("resolvedTime", ts(&a.resolved_time)),
            ("fileName", f(|e| &e.file_name)),
            ("filePath", f(|e| &e.file_path)),
            ("sha1", f(|e| &e.sha1)),
            ("sha256", f(|e| &e.sha256)),
            (
                "evidenceIps",
                (ips.len() > 1).then(|| Cow::Owned(ips.join(","))),
            ),
        ];
        fields::emit_all(attrs, &mut *attr);
        attr("evidenceCount", &a.evidence().len().to_string());
        if let Some(link) = fields::portal_link(a.id.as_deref(), truncated) {
            attr("portalUrl", &link);
        }
    }

    fn cef_pairs(&self, truncated: bool, pair: EmitCef<'_>) {
        cef_where(self, &mut *pair);
        cef_what(self, truncated, &mut *pair);
        let a = self;
        let custom: [(&'static str, &Option<String>); 7] = [
            ("MicrosoftDefenderClassification", &a.classification),
            ("MicrosoftDefenderDetermination", &a.determination),
            ("MicrosoftDefenderAssignedTo", &a.assigned_to),
            (
                "MicrosoftDefenderInvestigationState",
                &a.investigation_state,
            ),
            ("MicrosoftDefenderMachineId", &a.machine_id),
            ("MicrosoftDefenderRbacGroupName", &a.rbac_group_name),
            ("MicrosoftDefenderAadTenantId", &a.aad_tenant_id),
        ];
        for (k, v) in custom {
            pair(k, v.as_deref(), 1023);
        }
    }

    fn cut(&self, level: &Level) -> Self {
        limit::apply(self, level)
    }
}

/// CEF: times, identity and where (device, user, file, addresses), up to `request`.
fn cef_where(a: &Alert, pair: EmitCef<'_>) {
    let file = file_evidence(a);
    let user = a.related_user.as_ref();
    let ips: Vec<IpAddr> = evidence_ips(a).filter_map(|s| s.parse().ok()).collect();
    let (v4, v6) = fields::first_v4_v6(&ips);
    let id = a.id.as_deref();
    let label = fields::label;
    let f = |g: fn(&alert_model::Evidence) -> &Option<String>| file.and_then(|e| s(g(e)));
    let pairs: [(&'static str, Option<Cow<'_, str>>, usize); 16] = [
        ("rt", ms(&a.last_update_time), 32),
        ("start", ms(&a.first_event_time), 32),
        ("end", ms(&a.last_event_time), 32),
        ("externalId", b(&id.filter(|i| i.len() <= 40)), 40),
        ("cat", s(&a.category), 1023),
        ("sourceServiceName", s(&a.detection_source), 1023),
        ("shost", s(&a.computer_dns_name), 1023),
        ("suser", b(&user.and_then(|u| u.user_name.as_deref())), 1023),
        (
            "sntdom",
            b(&user.and_then(|u| u.domain_name.as_deref())),
            255,
        ),
        ("fname", f(|e| &e.file_name), 1023),
        ("filePath", f(|e| &e.file_path), 1023),
        ("fileHash", f(|e| &e.sha1), 255),
        ("src", v4.map(|v: Ipv4Addr| Cow::Owned(v.to_string())), 64),
        ("c6a1", v6.map(|v| Cow::Owned(v.to_string())), 64),
        ("c6a1Label", label(v6.is_some(), "EvidenceIPv6"), 1023),
        ("request", b(&evidence_url(a)), 1023),
    ];
    fields::emit_all_cef(pairs, pair);
}

/// CEF: the labelled custom fields (`cs1`…`deviceCustomDate1`).
fn cef_what(a: &Alert, truncated: bool, pair: EmitCef<'_>) {
    let file = file_evidence(a);
    let id = a.id.as_deref();
    let label = fields::label;
    let mitre = fields::mitre(&a.mitre_techniques);
    let f = |g: fn(&alert_model::Evidence) -> &Option<String>| file.and_then(|e| s(g(e)));
    let pairs: [(&'static str, Option<Cow<'_, str>>, usize); 22] = [
        ("cs1", s(&a.threat_name), 4000),
        (
            "cs1Label",
            label(a.threat_name.is_some(), "ThreatName"),
            1023,
        ),
        ("cs2", b(&id), 4000),
        ("cs2Label", label(id.is_some(), "AlertId"), 1023),
        ("cs3", ts(&a.last_update_time), 4000),
        (
            "cs3Label",
            label(a.last_update_time.is_some(), "LastUpdateTime"),
            1023,
        ),
        ("cs4", s(&a.threat_family_name), 4000),
        (
            "cs4Label",
            label(a.threat_family_name.is_some(), "ThreatFamily"),
            1023,
        ),
        ("cs5", s(&a.status), 4000),
        ("cs5Label", label(a.status.is_some(), "Status"), 1023),
        ("cs6", f(|e| &e.sha256), 4000),
        (
            "cs6Label",
            label(file.is_some_and(|e| e.sha256.is_some()), "Sha256"),
            1023,
        ),
        ("cn1", n(&a.incident_id), 32),
        (
            "cn1Label",
            label(a.incident_id.is_some(), "IncidentId"),
            1023,
        ),
        ("cn2", n(&a.investigation_id), 32),
        (
            "cn2Label",
            label(a.investigation_id.is_some(), "InvestigationId"),
            1023,
        ),
        (
            "flexString1",
            fields::portal_link(id, truncated).map(Cow::Owned),
            1023,
        ),
        ("flexString1Label", label(id.is_some(), "AlertLink"), 128),
        ("flexString2", mitre.as_deref().map(Cow::Borrowed), 1023),
        (
            "flexString2Label",
            label(mitre.is_some(), "MitreTechniques"),
            128,
        ),
        ("deviceCustomDate1", ms(&a.alert_creation_time), 32),
        (
            "deviceCustomDate1Label",
            Some(Cow::Borrowed("AlertCreationTime")),
            1023,
        ),
    ];
    fields::emit_all_cef(pairs, pair);
}

/// The first evidence entity that names a file (File or Process).
fn file_evidence(alert: &Alert) -> Option<&alert_model::Evidence> {
    alert
        .evidence()
        .iter()
        .find(|e| e.file_name.is_some() || e.sha1.is_some())
}

/// IP addresses from Ip evidence, in order.
fn evidence_ips(alert: &Alert) -> impl Iterator<Item = &str> {
    alert
        .evidence()
        .iter()
        .filter_map(|e| e.ip_address.as_deref())
}

/// The first URL from Url evidence.
fn evidence_url(alert: &Alert) -> Option<&str> {
    alert.evidence().iter().find_map(|e| e.url.as_deref())
}
