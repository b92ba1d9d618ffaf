//! What gets cut when a message would exceed `max_message_bytes`, least important first:
//!
//! 1. evidence (the alert's entity list);
//! 2. the description;
//! 3. every other free-text value, ever shorter;
//! 4. everything but the identity (id, lastUpdateTime, severity, title) and, in RFC 5424, the
//!    JSON body;
//! 5. as a last resort the id itself (only a hostile, kilobyte-long id gets there).
//!
//! Each cut value ends in `…`, and the message carries a `truncated` marker.

use alert_model::{Alert, GraphAlert};

use super::text::cut;

/// One level of cutting; levels are tried in order until the message fits.
#[derive(Debug, Clone, Copy)]
pub struct Level {
    drop_evidence: bool,
    description_max: Option<usize>,
    value_max: Option<usize>,
    /// Keep only the identity fields; RFC 5424 also drops its MSG.
    pub minimal: bool,
    cut_id: bool,
}

const fn minimal(cut_id: bool) -> Level {
    Level {
        drop_evidence: true,
        description_max: Some(8),
        value_max: Some(24),
        minimal: true,
        cut_id,
    }
}

const fn level(description_max: Option<usize>, value_max: Option<usize>, cut_id: bool) -> Level {
    Level {
        drop_evidence: true,
        description_max,
        value_max,
        minimal: false,
        cut_id,
    }
}

pub const LEVELS: &[Level] = &[
    level(None, None, false),
    level(Some(1024), None, false),
    level(Some(256), None, false),
    level(Some(64), Some(1024), false),
    level(Some(32), Some(256), false),
    level(Some(16), Some(64), false),
    level(Some(8), Some(24), false),
    minimal(false),
    minimal(true),
];

/// Cuts `s` to `max` bytes (with `…`) when both are present.
fn shorten(s: &mut Option<String>, max: Option<usize>) {
    if let (Some(v), Some(max)) = (s.as_mut(), max) {
        let (c, was) = cut(v, max);
        if was {
            *v = c.into_owned();
        }
    }
}

/// At most 8 entries of a list of strings (MITRE techniques, tags), each cut to `max`.
fn shorten_list(m: &mut Option<Vec<String>>, max: usize) {
    if let Some(m) = m.as_mut() {
        m.truncate(8);
        for t in m.iter_mut() {
            let mut o = Some(std::mem::take(t));
            shorten(&mut o, Some(max));
            *t = o.unwrap_or_default();
        }
    }
}

/// A copy of `alert` cut according to `l`.
pub fn apply(alert: &Alert, l: &Level) -> Alert {
    let mut a = alert.clone();
    if l.drop_evidence {
        a.evidence = None;
    }
    shorten(&mut a.description, l.description_max);
    if let Some(max) = l.value_max {
        for s in [
            &mut a.title,
            &mut a.assigned_to,
            &mut a.severity,
            &mut a.status,
            &mut a.classification,
            &mut a.determination,
            &mut a.investigation_state,
            &mut a.detection_source,
            &mut a.detector_id,
            &mut a.category,
            &mut a.threat_family_name,
            &mut a.threat_name,
            &mut a.machine_id,
            &mut a.computer_dns_name,
            &mut a.rbac_group_name,
            &mut a.aad_tenant_id,
        ] {
            shorten(s, Some(max));
        }
        if let Some(u) = a.related_user.as_mut() {
            shorten(&mut u.user_name, Some(max));
            shorten(&mut u.domain_name, Some(max));
            u.extra.clear();
        }
        shorten_list(&mut a.mitre_techniques, max);
        a.logged_on_users = None;
        a.comments = None;
        // Unknown fields may be anything; at this level they are dropped from the JSON body.
        a.extra.clear();
    }
    if l.minimal {
        a = Alert {
            id: a.id,
            last_update_time: a.last_update_time,
            severity: a.severity,
            title: a.title,
            ..Alert::default()
        };
    }
    if l.cut_id {
        shorten(&mut a.id, Some(64));
    }
    a
}

/// [`apply`] for a Graph alert: the same levels, Graph's fields.
pub fn apply_graph(alert: &GraphAlert, l: &Level) -> GraphAlert {
    let mut a = alert.clone();
    if l.drop_evidence {
        a.evidence = None;
    }
    shorten(&mut a.description, l.description_max);
    shorten(&mut a.recommended_actions, l.description_max);
    if let Some(max) = l.value_max {
        for s in [
            &mut a.provider_alert_id,
            &mut a.incident_id,
            &mut a.status,
            &mut a.severity,
            &mut a.classification,
            &mut a.determination,
            &mut a.service_source,
            &mut a.detection_source,
            &mut a.product_name,
            &mut a.detector_id,
            &mut a.tenant_id,
            &mut a.title,
            &mut a.category,
            &mut a.assigned_to,
            &mut a.alert_web_url,
            &mut a.incident_web_url,
            &mut a.actor_display_name,
            &mut a.threat_display_name,
            &mut a.threat_family_name,
            &mut a.alert_policy_id,
        ] {
            shorten(s, Some(max));
        }
        shorten_list(&mut a.mitre_techniques, max);
        shorten_list(&mut a.system_tags, max);
        a.comments = None;
        // Unknown fields may be anything; at this level they are dropped from the JSON body.
        a.extra.clear();
    }
    if l.minimal {
        a = GraphAlert {
            id: a.id,
            last_update_date_time: a.last_update_date_time,
            severity: a.severity,
            title: a.title,
            ..GraphAlert::default()
        };
    }
    if l.cut_id {
        shorten(&mut a.id, Some(64));
    }
    a
}
