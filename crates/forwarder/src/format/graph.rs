//! Where each field of a Microsoft Graph `alerts_v2` alert goes in each format
//! (docs/formats.md, "alerts_v2"). The identity and core fields are where they are for MDE
//! alerts (SD `id`/`lastUpdateTime`/`title`/`severity`, LEEF `alertId`/`lastUpdateTime`, CEF
//! `cs2`/`cs3` and the Name), so a SIEM rule keeps working when a user switches source; the
//! rest uses Graph's own names. Evidence: the first entry of each kind supplies the device,
//! user, file, URL and mailbox fields; every IP evidence address is listed.

use std::borrow::Cow;
use std::net::IpAddr;

use alert_model::graph::{FileDetails, UserAccount};
use alert_model::{GraphAlert, GraphEvidence, Repair, Timestamp};

use super::fields::{self, label, ms, text as s, text_ref as b, ts};
use super::limit::{self, Level};
use super::text::cut;
use super::view::{AlertView, Emit, EmitCef, Severity};

/// The evidence fields the formats show, found once per message.
struct Found<'a> {
    device: Option<&'a alert_model::graph::DeviceEvidence>,
    user: Option<&'a UserAccount>,
    file: Option<&'a FileDetails>,
    url: Option<&'a str>,
    mailbox: Option<&'a str>,
    ips: Vec<&'a str>,
}

fn found(a: &GraphAlert) -> Found<'_> {
    let ev = a.evidence();
    Found {
        device: ev.iter().find_map(|e| match e {
            GraphEvidence::Device(d) => Some(d),
            _ => None,
        }),
        user: ev.iter().find_map(|e| match e {
            GraphEvidence::User(u) => u.user_account.as_ref(),
            _ => None,
        }),
        file: ev.iter().find_map(GraphEvidence::file),
        url: ev.iter().find_map(|e| match e {
            GraphEvidence::Url(u) => u.url.as_deref(),
            _ => None,
        }),
        mailbox: ev.iter().find_map(|e| match e {
            GraphEvidence::Mailbox(m) => m.primary_address.as_deref(),
            _ => None,
        }),
        ips: ev
            .iter()
            .filter_map(|e| match e {
                GraphEvidence::Ip(i) => i.ip_address.as_deref(),
                _ => None,
            })
            .collect(),
    }
}

impl Found<'_> {
    fn device_name(&self) -> Option<&str> {
        self.device.and_then(|d| d.device_dns_name.as_deref())
    }
    fn user_field(&self, f: fn(&UserAccount) -> &Option<String>) -> Option<Cow<'_, str>> {
        self.user.and_then(|u| s(f(u)))
    }
    fn file_field(&self, f: fn(&FileDetails) -> &Option<String>) -> Option<Cow<'_, str>> {
        self.file.and_then(|d| s(f(d)))
    }
}

/// The alert's portal link: Graph's `alertWebUrl`, or the one MDE alerts get from the id.
fn alert_link(a: &GraphAlert, truncated: bool) -> Option<Cow<'_, str>> {
    match a.alert_web_url.as_deref() {
        Some(u) => Some(Cow::Borrowed(u)),
        None => fields::portal_link(a.id.as_deref(), truncated).map(Cow::Owned),
    }
}

/// CEF: times, identity, product and where (device, user, mailbox, file, addresses).
fn cef_where(a: &GraphAlert, pair: EmitCef<'_>) {
    let ev = found(a);
    let ips: Vec<IpAddr> = ev.ips.iter().filter_map(|s| s.parse().ok()).collect();
    let (v4, v6) = fields::first_v4_v6(&ips);
    let id = a.id.as_deref();
    let pairs: [(&'static str, Option<Cow<'_, str>>, usize); 19] = [
        ("rt", ms(&a.last_update_date_time), 32),
        ("start", ms(&a.first_activity_date_time), 32),
        ("end", ms(&a.last_activity_date_time), 32),
        ("externalId", b(&id.filter(|i| i.len() <= 40)), 40),
        ("cat", s(&a.category), 1023),
        ("sourceServiceName", s(&a.detection_source), 1023),
        ("deviceFacility", s(&a.service_source), 1023),
        ("shost", b(&ev.device_name()), 1023),
        ("suser", ev.user_field(|u| &u.account_name), 1023),
        ("sntdom", ev.user_field(|u| &u.domain_name), 255),
        ("suid", ev.user_field(|u| &u.user_sid), 1023),
        ("duser", b(&ev.mailbox), 1023),
        ("fname", ev.file_field(|f| &f.file_name), 1023),
        ("filePath", ev.file_field(|f| &f.file_path), 1023),
        ("fileHash", ev.file_field(|f| &f.sha1), 255),
        ("src", v4.map(|v| Cow::Owned(v.to_string())), 64),
        ("c6a1", v6.map(|v| Cow::Owned(v.to_string())), 64),
        ("c6a1Label", label(v6.is_some(), "EvidenceIPv6"), 1023),
        ("request", b(&ev.url), 1023),
    ];
    fields::emit_all_cef(pairs, pair);
}

/// CEF: the labelled custom fields (`cs1`…`deviceCustomDate1`), then the custom keys.
fn cef_what(a: &GraphAlert, truncated: bool, pair: EmitCef<'_>) {
    let ev = found(a);
    let id = a.id.as_deref();
    let mitre = fields::mitre(&a.mitre_techniques);
    let sha256 = ev.file_field(|f| &f.sha256);
    // cn1 is a number in ArcSight; a non-numeric incident id goes to a custom key.
    let incident = a.incident_id.as_deref();
    let numeric = incident.filter(|i| i.parse::<i64>().is_ok());
    let pairs: [(&'static str, Option<Cow<'_, str>>, usize); 28] = [
        ("cs1", s(&a.threat_display_name), 4000),
        ("cs1Label", label(true, "ThreatName"), 1023),
        ("cs2", b(&id), 4000),
        ("cs2Label", label(true, "AlertId"), 1023),
        ("cs3", ts(&a.last_update_date_time), 4000),
        ("cs3Label", label(true, "LastUpdateTime"), 1023),
        ("cs4", s(&a.threat_family_name), 4000),
        ("cs4Label", label(true, "ThreatFamily"), 1023),
        ("cs5", s(&a.status), 4000),
        ("cs5Label", label(true, "Status"), 1023),
        ("cs6", sha256, 4000),
        ("cs6Label", label(true, "Sha256"), 1023),
        ("cn1", b(&numeric), 32),
        ("cn1Label", label(true, "IncidentId"), 1023),
        ("flexString1", alert_link(a, truncated), 1023),
        ("flexString1Label", label(true, "AlertLink"), 128),
        ("flexString2", mitre.as_deref().map(Cow::Borrowed), 1023),
        ("flexString2Label", label(true, "MitreTechniques"), 128),
        ("deviceCustomDate1", ms(&a.created_date_time), 32),
        (
            "deviceCustomDate1Label",
            label(true, "AlertCreationTime"),
            1023,
        ),
        (
            "MicrosoftDefenderClassification",
            s(&a.classification),
            1023,
        ),
        ("MicrosoftDefenderDetermination", s(&a.determination), 1023),
        ("MicrosoftDefenderAssignedTo", s(&a.assigned_to), 1023),
        (
            "MicrosoftDefenderMachineId",
            ev.device.and_then(|d| s(&d.mde_device_id)),
            1023,
        ),
        (
            "MicrosoftDefenderRbacGroupName",
            ev.device.and_then(|d| s(&d.rbac_group_name)),
            1023,
        ),
        ("MicrosoftDefenderAadTenantId", s(&a.tenant_id), 1023),
        (
            "MicrosoftDefenderIncidentId",
            b(&incident.filter(|_| numeric.is_none())),
            1023,
        ),
        (
            "MicrosoftDefenderIncidentLink",
            s(&a.incident_web_url),
            1023,
        ),
    ];
    fields::emit_all_cef(pairs, pair);
}

impl AlertView for GraphAlert {
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    fn update_time(&self) -> Option<Timestamp> {
        self.last_update_date_time
    }
    fn created_time(&self) -> Option<Timestamp> {
        self.created_date_time
    }
    fn severity(&self) -> Severity {
        match self.severity.as_deref() {
            Some("high") => Severity::High,
            Some("medium") => Severity::Medium,
            Some("low") => Severity::Low,
            Some("informational") => Severity::Informational,
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
        GraphAlert::write_json(self, out)
    }
    fn summary_fields(&self) -> [Option<&str>; 3] {
        let device = self.evidence().iter().find_map(|e| match e {
            GraphEvidence::Device(d) => d.device_dns_name.as_deref(),
            _ => None,
        });
        [self.category.as_deref(), device, self.status.as_deref()]
    }

    fn sd_params(&self, param: Emit<'_>) {
        let a = self;
        let ev = found(a);
        let entries: [(&str, Option<Cow<'_, str>>); 16] = [
            ("id", s(&a.id)),
            ("lastUpdateTime", ts(&a.last_update_date_time)),
            ("severity", s(&a.severity)),
            ("status", s(&a.status)),
            ("category", s(&a.category)),
            ("title", s(&a.title)),
            ("serviceSource", s(&a.service_source)),
            ("detectionSource", s(&a.detection_source)),
            ("deviceDnsName", b(&ev.device_name())),
            ("incidentId", s(&a.incident_id)),
            ("classification", s(&a.classification)),
            ("determination", s(&a.determination)),
            ("assignedTo", s(&a.assigned_to)),
            ("threatDisplayName", s(&a.threat_display_name)),
            (
                "mitreTechniques",
                fields::mitre(&a.mitre_techniques).map(Cow::Owned),
            ),
            ("createdDateTime", ts(&a.created_date_time)),
        ];
        fields::emit_all(entries, param);
    }

    fn leef_attrs(&self, truncated: bool, attr: Emit<'_>) {
        let a = self;
        let ev = found(a);
        let attrs: [(&str, Option<Cow<'_, str>>); 44] = [
            ("devTime", ms(&a.last_update_date_time)),
            (
                "sev",
                fields::leef_severity(a.severity()).map(|s| Cow::Owned(s.to_string())),
            ),
            ("cat", s(&a.category)),
            (
                "usrName",
                ev.user
                    .and_then(|u| u.account_name.as_deref())
                    .map(|u| cut(u, 255).0),
            ),
            ("domain", ev.user_field(|u| &u.domain_name)),
            ("resource", b(&ev.device_name())),
            ("dst", ev.ips.first().map(|s| Cow::Borrowed(*s))),
            ("url", b(&ev.url)),
            ("alertId", s(&a.id)),
            ("lastUpdateTime", ts(&a.last_update_date_time)),
            ("title", s(&a.title)),
            ("severity", s(&a.severity)),
            ("status", s(&a.status)),
            ("serviceSource", s(&a.service_source)),
            ("productName", s(&a.product_name)),
            ("classification", s(&a.classification)),
            ("determination", s(&a.determination)),
            ("detectionSource", s(&a.detection_source)),
            ("threatName", s(&a.threat_display_name)),
            ("threatFamilyName", s(&a.threat_family_name)),
            ("actorDisplayName", s(&a.actor_display_name)),
            ("incidentId", s(&a.incident_id)),
            ("incidentUrl", s(&a.incident_web_url)),
            ("providerAlertId", s(&a.provider_alert_id)),
            ("assignedTo", s(&a.assigned_to)),
            ("machineId", ev.device.and_then(|d| s(&d.mde_device_id))),
            (
                "rbacGroupName",
                ev.device.and_then(|d| s(&d.rbac_group_name)),
            ),
            ("tenantId", s(&a.tenant_id)),
            (
                "userPrincipalName",
                ev.user_field(|u| &u.user_principal_name),
            ),
            ("userSid", ev.user_field(|u| &u.user_sid)),
            ("mailbox", b(&ev.mailbox)),
            (
                "mitreTechniques",
                fields::mitre(&a.mitre_techniques).map(Cow::Owned),
            ),
            ("systemTags", fields::mitre(&a.system_tags).map(Cow::Owned)),
            ("createdDateTime", ts(&a.created_date_time)),
            ("firstActivityDateTime", ts(&a.first_activity_date_time)),
            ("lastActivityDateTime", ts(&a.last_activity_date_time)),
            ("resolvedDateTime", ts(&a.resolved_date_time)),
            ("fileName", ev.file_field(|f| &f.file_name)),
            ("filePath", ev.file_field(|f| &f.file_path)),
            ("sha1", ev.file_field(|f| &f.sha1)),
            ("sha256", ev.file_field(|f| &f.sha256)),
            (
                "evidenceIps",
                (ev.ips.len() > 1).then(|| Cow::Owned(ev.ips.join(","))),
            ),
            (
                "evidenceCount",
                Some(Cow::Owned(a.evidence().len().to_string())),
            ),
            ("portalUrl", alert_link(a, truncated)),
        ];
        fields::emit_all(attrs, attr);
    }

    fn cef_pairs(&self, truncated: bool, pair: EmitCef<'_>) {
        cef_where(self, &mut *pair);
        cef_what(self, truncated, pair);
    }

    fn cut(&self, level: &Level) -> Self {
        limit::apply_graph(self, level)
    }
}
