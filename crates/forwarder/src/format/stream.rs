//! Defender XDR streaming records (one advanced-hunting row each, `alert_model::stream`) in the
//! three formats: one message per record, behind the same RFC 5424 header as alerts, with the
//! same escaping (text.rs), caps, markers and size guarantee. docs/formats.md, "Defender XDR
//! streaming records", maps every column.
//!
//! - Every message carries the record id `topic/partition/offset/index`: it identifies a record
//!   across redeliveries (delivery is at least once).
//! - RFC 5424: MSGID = the table, SD = key fields, MSG = the record's lossless JSON.
//! - LEEF / CEF: well-known columns go to the format's own keys (`LEEF_MAP`, `CEF_MAP`); the
//!   alert tables' identity columns go where the alert formats put them (AlertId in `alertId` /
//!   `cs2` + `externalId`, Title in `title` / the CEF Name, Severity mapped as for alerts); every
//!   other column is an attribute under its own name (CEF: `MicrosoftDefender<Column>`); a column
//!   whose name is not a plain word travels in one JSON attribute (`otherProperties` /
//!   `DefenderSyslogOtherProperties`), so no name can forge a key.

use std::borrow::Cow;
use std::net::IpAddr;

use alert_model::stream::StreamRecord;
use serde_json::{Map, Value};

use super::fields;
use super::leef;
use super::rfc5424::write_header_with;
use super::text::{cut, push_cef_ext, push_cef_header, push_replaced, push_sd_value, put};
use super::vendor::{PRODUCT, PRODUCT_VERSION, VENDOR};
use super::view::Severity;
use super::{Format, FormatOptions, LeefVersion, MsgBody};

/// RFC 5424 MSGID when the table is not a clean 1–32 character token.
pub const MSGID: &str = "RECORD";
/// LEEF EventID / CEF class id of a record without `category`.
pub const DEFAULT_EVENT_ID: &str = "DefenderStreamRecord";
/// CEF Name of a record with no Title, no ActionType and no table.
pub const UNNAMED: &str = "Defender record";
/// CEF key of the record id.
pub const CEF_RECORD_ID: &str = "DefenderSyslogRecordId";
/// CEF key of the JSON object of the columns whose names are not plain words.
pub const CEF_OTHER: &str = "DefenderSyslogOtherProperties";
/// LEEF key of the same.
pub const LEEF_OTHER: &str = "otherProperties";
/// CEF prefix of a column written under its own name (custom keys are `VendorProductKey`).
pub const CEF_PREFIX: &str = "MicrosoftDefender";
/// RFC 5424 severity of a record without a `Severity` column: informational telemetry.
const NO_SEVERITY: u8 = 6;

/// How a column's value must look to fill a typed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    /// Any IP address (LEEF `src`/`dst`).
    Ip,
    /// IPv4 only (CEF `src`/`dst`); an IPv6 value stays under the column's own name.
    Ipv4,
    Port,
    Int,
}

/// A key filled by the first present (and well-formed) column of `columns`; that column is
/// then not repeated under its own name. `label`: the CEF label key and text.
struct Slot {
    key: &'static str,
    columns: &'static [&'static str],
    kind: Kind,
    cap: usize,
    label: Option<(&'static str, &'static str)>,
}

const fn slot(key: &'static str, columns: &'static [&'static str], kind: Kind) -> Slot {
    Slot {
        key,
        columns,
        kind,
        cap: 1023,
        label: None,
    }
}

/// A LEEF slot: LEEF has no length caps but `usrName`'s 255.
const fn leef(key: &'static str, columns: &'static [&'static str], kind: Kind) -> Slot {
    Slot {
        cap: usize::MAX,
        ..slot(key, columns, kind)
    }
}

/// A labelled custom string: `(key, label key)`, the column, the label, the cap.
const fn cs(
    keys: (&'static str, &'static str),
    columns: &'static [&'static str],
    label: &'static str,
    cap: usize,
) -> Slot {
    Slot {
        key: keys.0,
        columns,
        kind: Kind::Text,
        cap,
        label: Some((keys.1, label)),
    }
}

const T: Kind = Kind::Text;
const SRC_IP: &[&str] = &["LocalIP", "IPAddress", "SenderIPv4"];
const DST_IP: &[&str] = &["RemoteIP", "DestinationIPAddress"];
const DST_PORT: &[&str] = &["RemotePort", "DestinationPort"];
const CATEGORY: &[&str] = &["Category", "ActionType"];

/// LEEF: predefined keys, before the record identity.
const LEEF_MAP: &[Slot] = &[
    leef("cat", CATEGORY, T),
    Slot {
        cap: 255,
        ..leef("usrName", &["AccountName"], T)
    },
    leef("domain", &["AccountDomain"], T),
    leef("resource", &["DeviceName"], T),
    leef("src", SRC_IP, Kind::Ip),
    leef("dst", DST_IP, Kind::Ip),
    leef("srcPort", &["LocalPort"], Kind::Port),
    leef("dstPort", DST_PORT, Kind::Port),
    leef("proto", &["Protocol"], T),
    leef("url", &["RemoteUrl"], T),
];

/// LEEF: the alert tables' identity, after the record identity (the alert formats' keys).
const LEEF_ALERT: &[Slot] = &[
    leef("alertId", &["AlertId"], T),
    leef("title", &["Title"], T),
    leef("severity", &["Severity"], T),
    leef("detectionSource", &["DetectionSource"], T),
    leef("serviceSource", &["ServiceSource"], T),
];

/// CEF: dictionary keys and labelled custom strings (caps from the dictionary).
const CEF_MAP: &[Slot] = &[
    slot("cat", CATEGORY, T),
    slot("sourceServiceName", &["DetectionSource"], T),
    slot("deviceFacility", &["ServiceSource"], T),
    slot("shost", &["DeviceName"], T),
    slot("dhost", &["DestinationDeviceName"], T),
    slot("suser", &["AccountName", "SenderFromAddress"], T),
    Slot {
        cap: 255,
        ..slot("sntdom", &["AccountDomain"], T)
    },
    slot("duser", &["RecipientEmailAddress"], T),
    slot("fname", &["FileName"], T),
    slot("filePath", &["FolderPath"], T),
    Slot {
        cap: 255,
        ..slot("fileHash", &["SHA1"], T)
    },
    slot("fsize", &["FileSize"], Kind::Int),
    slot("src", SRC_IP, Kind::Ipv4),
    slot("dst", DST_IP, Kind::Ipv4),
    slot("spt", &["LocalPort"], Kind::Port),
    slot("dpt", DST_PORT, Kind::Port),
    Slot {
        cap: 31,
        ..slot("proto", &["Protocol"], T)
    },
    slot("request", &["RemoteUrl"], T),
    cs(
        ("cs1", "cs1Label"),
        &["ProcessCommandLine"],
        "ProcessCommandLine",
        4000,
    ),
    cs(("cs2", "cs2Label"), &["AlertId"], "AlertId", 4000),
    cs(("cs4", "cs4Label"), &["ThreatFamily"], "ThreatFamily", 4000),
    cs(("cs6", "cs6Label"), &["SHA256"], "Sha256", 4000),
    cs(
        ("flexString2", "flexString2Label"),
        &["AttackTechniques"],
        "MitreTechniques",
        1023,
    ),
];

/// RFC 5424 SD params copied from columns (the JSON MSG has every column anyway).
const SD_MAP: &[(&str, &str)] = &[
    ("id", "AlertId"),
    ("title", "Title"),
    ("severity", "Severity"),
    ("category", "Category"),
    ("serviceSource", "ServiceSource"),
    ("detectionSource", "DetectionSource"),
    ("entityType", "EntityType"),
    ("evidenceRole", "EvidenceRole"),
    ("actionType", "ActionType"),
    ("deviceName", "DeviceName"),
    ("accountName", "AccountName"),
];
/// The SD params a minimal (last-resort) message keeps.
const SD_MINIMAL: usize = 3;

/// One level of cutting, tried in order until the message fits (as limit.rs for alerts):
/// every column value ever shorter, then fewer columns, then only the identity, then an
/// over-long alert id, table or tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Level {
    value_max: Option<usize>,
    max_props: Option<usize>,
    minimal: bool,
    /// The cap of the alert id, table and tenant (never cut before the minimal levels).
    ids_max: Option<usize>,
}

const fn level(value_max: usize, max_props: Option<usize>) -> Level {
    Level {
        value_max: Some(value_max),
        max_props,
        minimal: false,
        ids_max: None,
    }
}

const FULL: Level = Level {
    value_max: None,
    max_props: None,
    minimal: false,
    ids_max: None,
};

const LEVELS: &[Level] = &[
    level(1024, None),
    level(256, None),
    level(256, Some(128)),
    level(64, Some(64)),
    level(24, Some(16)),
    Level {
        minimal: true,
        ..level(24, Some(0))
    },
    Level {
        minimal: true,
        ids_max: Some(64),
        ..level(24, Some(0))
    },
    // Escaping can double a value (CEF `\=`): the last level leaves room for four of them.
    Level {
        minimal: true,
        ids_max: Some(16),
        ..level(16, Some(0))
    },
];

/// Appends one message for `r`, at most `max_message_bytes` long.
pub fn write(opts: &FormatOptions, r: &StreamRecord, out: &mut Vec<u8>) {
    let max = opts.max_message_bytes;
    let start = out.len();
    render(opts, &View { r, l: FULL }, out);
    if out.len() - start <= max {
        return;
    }
    for &l in LEVELS {
        out.truncate(start);
        render(opts, &View { r, l }, out);
        if out.len() - start <= max {
            return;
        }
    }
    // Only a topic name of hundreds of bytes (Kafka allows 249) with a long hostname gets
    // here: keep the cap a guarantee.
    let mut end = start + max;
    while end > start && (out[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    out.truncate(end);
}

/// A record seen through a cut level.
struct View<'a> {
    r: &'a StreamRecord,
    l: Level,
}

impl<'a> View<'a> {
    fn truncated(&self) -> bool {
        self.l != FULL
    }

    fn short(&self, s: Cow<'a, str>) -> Cow<'a, str> {
        shorten(s, self.l.value_max)
    }

    /// Table, tenant, alert id: cut only by the last two levels.
    fn ident(&self, s: &'a str) -> Cow<'a, str> {
        shorten(Cow::Borrowed(s), self.l.ids_max)
    }

    /// A scalar column as text, cut to the level.
    fn prop(&self, column: &str) -> Option<Cow<'a, str>> {
        let v = self.r.prop_str(column)?;
        Some(if column == "AlertId" {
            match v {
                Cow::Borrowed(b) => self.ident(b),
                Cow::Owned(o) => Cow::Owned(self.ident(&o).into_owned()),
            }
        } else {
            self.short(v)
        })
    }

    fn table(&self) -> Option<Cow<'a, str>> {
        self.r.table().map(|t| self.ident(t))
    }

    fn tenant(&self) -> Option<Cow<'a, str>> {
        self.r.tenant_id.as_deref().map(|t| self.ident(t))
    }

    fn category(&self) -> &'a str {
        self.r
            .category
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .unwrap_or(DEFAULT_EVENT_ID)
    }

    fn time(&self) -> Option<alert_model::Timestamp> {
        self.r.time.or(self.r.kafka_time)
    }

    fn severity(&self) -> Option<Severity> {
        let s = self.r.prop_str("Severity")?;
        let is = |name: &str| s.eq_ignore_ascii_case(name);
        Some(if is("High") {
            Severity::High
        } else if is("Medium") {
            Severity::Medium
        } else if is("Low") {
            Severity::Low
        } else if is("Informational") {
            Severity::Informational
        } else {
            Severity::Other
        })
    }

    /// The columns not written by a slot, in record order, as `(name, text)`: scalars as
    /// text, arrays and objects as compact JSON, nulls left out. At most `max_props`.
    fn rest<'s>(
        &'s self,
        used: &'s [&'static str],
    ) -> impl Iterator<Item = (&'a str, Cow<'a, str>)> + 's {
        let max = if self.l.minimal {
            0
        } else {
            self.l.max_props.unwrap_or(usize::MAX)
        };
        self.r
            .properties
            .iter()
            .filter(|(k, v)| !v.is_null() && !used.contains(&k.as_str()))
            .take(max)
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => Cow::Borrowed(s.as_str()),
                    other => Cow::Owned(other.to_string()),
                };
                (k.as_str(), self.short(text))
            })
    }

    /// Fills `slots` in order; returns the columns used.
    fn slots(&self, slots: &[Slot], mut emit: impl FnMut(&Slot, &str)) -> Vec<&'static str> {
        let mut used = Vec::new();
        if self.l.minimal {
            return used;
        }
        for s in slots {
            let hit = s.columns.iter().find_map(|&c| {
                let raw = self.r.prop_str(c)?;
                well_formed(&raw, s.kind).then(|| (c, self.prop(c)))
            });
            if let Some((c, Some(v))) = hit {
                used.push(c);
                emit(s, &v);
            }
        }
        used
    }
}

fn shorten(s: Cow<'_, str>, max: Option<usize>) -> Cow<'_, str> {
    match max {
        Some(m) if s.len() > m => Cow::Owned(cut(&s, m).0.into_owned()),
        _ => s,
    }
}

fn well_formed(v: &str, kind: Kind) -> bool {
    match kind {
        Kind::Text => !v.is_empty(),
        Kind::Ip => v.parse::<IpAddr>().is_ok(),
        Kind::Ipv4 => v.parse::<std::net::Ipv4Addr>().is_ok(),
        Kind::Port => v.parse::<u16>().is_ok(),
        Kind::Int => v.parse::<i64>().is_ok(),
    }
}

/// A column name that can be a key as it is: 1–64 ASCII letters, digits or `_`, starting with
/// an uppercase letter or `_` (every LEEF/CEF dictionary key and every key of ours starts
/// lowercase, so none can be forged).
pub fn plain_column(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_uppercase() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// The RFC 5424 MSGID: the table when it is a clean token, else [`MSGID`].
fn msgid(r: &StreamRecord) -> &str {
    r.table()
        .filter(|t| {
            !t.is_empty()
                && t.len() <= 32
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .unwrap_or(MSGID)
}

fn render(opts: &FormatOptions, v: &View<'_>, out: &mut Vec<u8>) {
    let sev = v
        .severity()
        .map(fields::syslog_severity)
        .unwrap_or(NO_SEVERITY);
    write_header_with(opts, sev, v.time(), msgid(v.r), out);
    match opts.format {
        Format::Rfc5424 => rfc5424(opts, v, out),
        Format::Leef { version, delimiter } => {
            out.extend_from_slice(b" - ");
            leef_body(version, delimiter, v, out);
        }
        Format::Cef => {
            out.extend_from_slice(b" - ");
            cef_body(v, out);
        }
    }
}

fn rfc5424(opts: &FormatOptions, v: &View<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b" [");
    out.extend_from_slice(opts.sd_id.as_bytes());
    let mut param = |name: &str, value: &str| {
        out.push(b' ');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        push_sd_value(out, value);
        out.push(b'"');
    };
    param("recordId", &v.r.record_id());
    if let Some(t) = v.table() {
        param("table", &t);
    }
    if let Some(t) = v.r.time {
        param("time", &t.to_string());
    }
    if let Some(t) = v.tenant() {
        param("tenantId", &t);
    }
    let n = if v.l.minimal {
        SD_MINIMAL
    } else {
        SD_MAP.len()
    };
    for (name, column) in &SD_MAP[..n] {
        if let Some(val) = v.prop(column) {
            param(name, &val);
        }
    }
    if let Some(r) = fields::repaired(&v.r.repairs) {
        param("repaired", &r);
    }
    if v.truncated() {
        param("truncated", "true");
    }
    out.push(b']');
    if v.l.minimal {
        return;
    }
    out.push(b' ');
    match opts.msg_body {
        MsgBody::Json if !v.truncated() => push_json_line(out, &v.r.json),
        MsgBody::Json => {
            let mark = out.len();
            if serde_json::to_writer(&mut *out, &cut_json(v)).is_err() {
                out.truncate(mark);
                out.extend_from_slice(b"{}");
            }
        }
        MsgBody::Summary => summary(v, out),
    }
}

/// The record's JSON on one line: JSON has no raw control character inside a string, so
/// whitespace outside strings (a pretty-printed record) is all that can break the line, and it
/// is dropped. Most records are compact and copied as they are.
fn push_json_line(out: &mut Vec<u8>, json: &str) {
    let b = json.as_bytes();
    if !b.iter().any(|c| matches!(c, b'\n' | b'\r' | b'\t')) {
        out.extend_from_slice(b);
        return;
    }
    let (mut in_str, mut esc) = (false, false);
    for &c in b {
        if in_str {
            out.push(c);
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
        } else if c == b'"' {
            in_str = true;
            out.push(c);
        } else if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
            out.push(c);
        }
    }
}

/// The JSON body of a cut message: the envelope fields and the kept columns, each value cut
/// (arrays and objects as their cut JSON text); other record-level fields are dropped.
fn cut_json(v: &View<'_>) -> Value {
    let mut props = Map::new();
    for (k, text) in v.rest(&[]) {
        let key = v.short(Cow::Borrowed(k)).into_owned();
        let val = match v.r.properties.get(k) {
            Some(Value::String(_)) | Some(Value::Array(_)) | Some(Value::Object(_)) | None => {
                Value::String(text.into_owned())
            }
            Some(other) => other.clone(),
        };
        props.insert(key, val);
    }
    let mut m = Map::new();
    let mut put_str = |k: &str, s: Option<Cow<'_, str>>| {
        if let Some(s) = s {
            m.insert(k.to_owned(), Value::String(s.into_owned()));
        }
    };
    put_str("time", v.r.time.map(|t| Cow::Owned(t.to_string())));
    put_str("tenantId", v.tenant());
    put_str(
        "operationName",
        v.r.operation_name
            .as_deref()
            .map(|o| v.short(Cow::Borrowed(o))),
    );
    put_str("category", v.r.category.as_deref().map(|c| v.ident(c)));
    m.insert("properties".to_owned(), Value::Object(props));
    Value::Object(m)
}

fn summary(v: &View<'_>, out: &mut Vec<u8>) {
    let or = |o: Option<Cow<'_, str>>, d: &str| o.map(Cow::into_owned).unwrap_or(d.to_owned());
    let head = format!("{} record {}: ", or(v.table(), "untabled"), v.r.record_id());
    let line = match v.prop("AlertId") {
        Some(id) => format!(
            "{head}{} alert \"{}\" (id {id})",
            or(v.prop("Severity"), "Unknown-severity"),
            or(v.prop("Title"), "untitled"),
        ),
        None => format!(
            "{head}{} on {}",
            or(v.prop("ActionType"), "-"),
            or(v.prop("DeviceName"), "no device"),
        ),
    };
    push_replaced(out, &line, &[]);
}

fn leef_body(version: LeefVersion, delimiter: char, v: &View<'_>, out: &mut Vec<u8>) {
    let delim = leef::header_start(version, delimiter, out);
    let bad = ['|', delim];
    push_replaced(out, &cut(&v.ident(v.category()), 255).0, &bad);
    out.push(b'|');
    leef::delimiter_field(version, delim, out);

    let mut first = true;
    let mut attr = |key: &str, value: &str, out: &mut Vec<u8>| {
        if !first {
            let mut b = [0u8; 4];
            out.extend_from_slice(delim.encode_utf8(&mut b).as_bytes());
        }
        first = false;
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        push_replaced(out, value, &bad);
    };
    if let Some(t) = v.time() {
        attr("devTime", &t.unix_millis().to_string(), out);
    }
    if let Some(s) = v.severity().and_then(fields::leef_severity) {
        attr("sev", &s.to_string(), out);
    }
    let mut used = v.slots(LEEF_MAP, |s, val| attr(s.key, &cut(val, s.cap).0, out));
    attr("recordId", &v.r.record_id(), out);
    if let Some(t) = v.table() {
        attr("table", &t, out);
    }
    if let Some(t) = v.r.time {
        attr("time", &t.to_string(), out);
    }
    if let Some(t) = v.tenant() {
        attr("tenantId", &t, out);
    }
    if v.l.minimal {
        for (key, column) in [("alertId", "AlertId"), ("title", "Title")] {
            if let Some(val) = v.prop(column).filter(|val| !val.is_empty()) {
                attr(key, &val, out);
            }
        }
    }
    used.extend(v.slots(LEEF_ALERT, |s, val| attr(s.key, val, out)));
    let mut other = Map::new();
    for (k, val) in v.rest(&used) {
        if plain_column(k) && !k.contains(delim) {
            attr(k, &val, out);
        } else {
            other.insert(
                v.short(Cow::Borrowed(k)).into_owned(),
                Value::String(val.into_owned()),
            );
        }
    }
    if !other.is_empty() {
        attr(LEEF_OTHER, &Value::Object(other).to_string(), out);
    }
    if let Some(r) = fields::repaired(&v.r.repairs) {
        attr("repaired", &r, out);
    }
    if v.truncated() {
        attr("truncated", "true", out);
    }
}

fn cef_body(v: &View<'_>, out: &mut Vec<u8>) {
    let capped = std::cell::Cell::new(false);
    out.extend_from_slice(b"CEF:0|");
    let header = |s: &str, cap: usize, out: &mut Vec<u8>| {
        let (c, was) = cut(s, cap);
        capped.set(capped.get() | was);
        push_cef_header(out, &c);
        out.push(b'|');
    };
    header(VENDOR, 63, out);
    header(PRODUCT, 63, out);
    header(PRODUCT_VERSION, 31, out);
    header(&v.ident(v.category()), 1023, out);
    // Strict parsers reject an empty Name.
    let visible = |t: &Cow<'_, str>| t.chars().any(|c| !c.is_whitespace() && !c.is_control());
    let name = v
        .prop("Title")
        .filter(visible)
        .or_else(|| v.prop("ActionType").filter(visible))
        .or_else(|| v.table().filter(visible));
    header(name.as_deref().unwrap_or(UNNAMED), 512, out);
    put(
        out,
        fields::cef_severity(v.severity().unwrap_or(Severity::Other)).as_bytes(),
    );
    out.push(b'|');

    let mut first = true;
    // As cef.rs: an empty value is left out with its key; returns whether it was written.
    let mut ext = |key: &str, value: &str, cap: usize, out: &mut Vec<u8>| -> bool {
        let mark = out.len();
        if !first {
            out.push(b' ');
        }
        put(out, key.as_bytes());
        out.push(b'=');
        let at = out.len();
        let (c, was) = cut(value, cap);
        push_cef_ext(out, &c);
        if out.len() == at {
            out.truncate(mark);
            return false;
        }
        capped.set(capped.get() | was);
        first = false;
        true
    };
    if let Some(t) = v.time() {
        ext("rt", &t.unix_millis().to_string(), 32, out);
    }
    if let Some(id) = v.prop("AlertId").filter(|i| i.len() <= 40) {
        ext("externalId", &id, 40, out);
    }
    let used = v.slots(CEF_MAP, |s, val| {
        if ext(s.key, val, s.cap, out)
            && let Some((k, l)) = s.label
        {
            ext(k, l, 1023, out);
        }
    });
    if v.l.minimal
        && let Some(id) = v.prop("AlertId")
        && ext("cs2", &id, 4000, out)
    {
        ext("cs2Label", "AlertId", 1023, out);
    }
    if let Some(t) = v.tenant() {
        ext("MicrosoftDefenderAadTenantId", &t, 1023, out);
    }
    ext(CEF_RECORD_ID, &v.r.record_id(), 1023, out);
    let mut other = Map::new();
    let mut key = String::new();
    for (k, val) in v.rest(&used) {
        if plain_column(k) && k != "AadTenantId" {
            key.clear();
            key.push_str(CEF_PREFIX);
            key.push_str(k);
            ext(&key, &val, 1023, out);
        } else {
            other.insert(
                v.short(Cow::Borrowed(k)).into_owned(),
                Value::String(val.into_owned()),
            );
        }
    }
    if !other.is_empty() {
        ext(CEF_OTHER, &Value::Object(other).to_string(), 1023, out);
    }
    if let Some(r) = fields::repaired(&v.r.repairs) {
        ext(super::cef::REPAIRED_KEY, &r, 1023, out);
    }
    if v.truncated() || capped.get() {
        ext("cn3", "1", 8, out);
        ext("cn3Label", "Truncated", 1023, out);
    }
}
