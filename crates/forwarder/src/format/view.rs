//! What the writers need from an alert, whichever source it came from: the identity and core
//! fields they place themselves (header, severity, id, time, title, markers, description), and
//! per format the list of the source's own fields in order. The escaping, caps, labels,
//! truncation and markers stay in one place each (rfc5424.rs, leef.rs, cef.rs, limit.rs);
//! mde.rs and graph.rs only say which field goes where.

use alert_model::{Repair, Timestamp};

use super::limit::Level;

/// A severity in either source's spelling (`High` / `high`), mapped the same in every format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    High,
    Medium,
    Low,
    Informational,
    /// Absent, `UnSpecified`, `unknownFutureValue` or a value added later.
    Other,
}

/// A callback receiving one field: key and value.
pub type Emit<'e> = &'e mut dyn FnMut(&str, &str);
/// A callback receiving one CEF extension pair: key, value if any, the dictionary's cap. A key
/// ending in `Label` is written only when the pair before it was.
pub type EmitCef<'e> = &'e mut dyn FnMut(&'static str, Option<&str>, usize);

pub trait AlertView: Clone {
    fn id(&self) -> Option<&str>;
    /// This version's time (MDE `lastUpdateTime`, Graph `lastUpdateDateTime`).
    fn update_time(&self) -> Option<Timestamp>;
    /// When the alert was created: the header's time when the version time is missing.
    fn created_time(&self) -> Option<Timestamp>;
    fn severity(&self) -> Severity;
    /// The severity as the API spelled it.
    fn severity_text(&self) -> Option<&str>;
    fn title(&self) -> Option<&str>;
    /// The detection rule: LEEF EventID and CEF class id.
    fn detector_id(&self) -> Option<&str>;
    fn description(&self) -> Option<&str>;
    fn repairs(&self) -> &[Repair];
    /// The alert as compact JSON, lossless.
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()>;
    /// `(category, device, status)` for the summary line.
    fn summary_fields(&self) -> [Option<&str>; 3];
    /// RFC 5424 SD params after none, before `repaired` / `truncated`.
    fn sd_params(&self, param: Emit<'_>);
    /// LEEF attributes after the header, before `repaired`, `description`, `truncated`.
    fn leef_attrs(&self, truncated: bool, attr: Emit<'_>);
    /// CEF extension pairs after the header, before the repaired marker, `msg`, `cn3`.
    fn cef_pairs(&self, truncated: bool, pair: EmitCef<'_>);
    /// A copy cut according to `level` (limit.rs).
    fn cut(&self, level: &Level) -> Self;
}
