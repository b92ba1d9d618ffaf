//! The conservation oracle: every `(id, lastUpdateTime)` the mock served, and the current
//! version of every alert it holds, reaches the destination at least once; nothing is invented
//! (every message parses strictly and maps to a served version); the content is intact (fields compared with the mock's alert, through
//! the strict parsers of `sim::parse`, written from the specs rather than from our formatters).
//! Duplicates are counted and reported as a figure, never hidden.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use alert_model::{Alert, Timestamp, VersionKey};
use sim::defender::MockDefender;
use sim::parse::{cef, leef, rfc5424};

/// The RFC 5424 SD-ID used by default.
pub const SD_ID: &str = "defender@32473";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fmt {
    Rfc5424,
    Leef,
    Cef,
}

impl Fmt {
    pub fn config_name(self) -> &'static str {
        match self {
            Fmt::Rfc5424 => "rfc5424",
            Fmt::Leef => "leef",
            Fmt::Cef => "cef",
        }
    }
}

/// One message as decoded by the strict parsers.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub key: VersionKey,
    pub truncated: bool,
    pub title: Option<String>,
    pub category: Option<String>,
    pub host: Option<String>,
    pub status: Option<String>,
    /// RFC 5424: the JSON MSG read back as an alert.
    pub body: Option<Alert>,
    /// LEEF: the attribute delimiter.
    pub delimiter: char,
}

/// The version an "unreadable alert" event stands for (`None` when the frame is not one), read
/// with the strict parsers: RFC 5424 MSGID `UNREADABLE`, LEEF EventID / CEF class id
/// `DefenderUnreadableAlert`.
pub fn decode_unreadable(fmt: Fmt, raw: &[u8]) -> Option<Result<VersionKey, String>> {
    let line = std::str::from_utf8(raw).ok()?;
    let m = rfc5424::parse(line).ok()?;
    if m.msgid.as_deref() != Some("UNREADABLE") {
        return None;
    }
    let body = m.msg.clone().unwrap_or_default();
    let (id, lut) = match fmt {
        Fmt::Rfc5424 => {
            if m.sd_param(SD_ID, "unreadable") != Some("true") {
                return Some(Err(format!("no unreadable marker: {line}")));
            }
            (
                own_str(m.sd_param(SD_ID, "id")),
                own_str(m.sd_param(SD_ID, "lastUpdateTime")),
            )
        }
        Fmt::Leef => match leef::parse(&body) {
            Ok(e)
                if e.event_id == "DefenderUnreadableAlert"
                    && e.get("unreadable") == Some("true") =>
            {
                (own_str(e.get("alertId")), own_str(e.get("lastUpdateTime")))
            }
            other => {
                return Some(Err(format!(
                    "not an unreadable LEEF event: {other:?}: {body}"
                )));
            }
        },
        Fmt::Cef => match cef::parse(&body) {
            Ok(e) if e.class_id == "DefenderUnreadableAlert" && e.get("reason").is_some() => {
                (own_str(e.get("cs2")), own_str(e.get("cs3")))
            }
            other => {
                return Some(Err(format!(
                    "not an unreadable CEF event: {other:?}: {body}"
                )));
            }
        },
    };
    Some(match (id, lut.and_then(|l| Timestamp::parse(&l).ok())) {
        (Some(id), Some(t)) => Ok(VersionKey {
            id,
            last_update_time: t,
        }),
        _ => Err(format!(
            "unreadable event without id or lastUpdateTime: {line}"
        )),
    })
}

fn own_str(v: Option<&str>) -> Option<String> {
    v.map(str::to_owned)
}

/// Strictly decodes one received frame.
/// The RFC 5424 envelope of an alert message, checked strictly and against syslog_loose.
pub fn envelope(raw: &[u8]) -> Result<(&str, rfc5424::Message), String> {
    let line = std::str::from_utf8(raw).map_err(|e| format!("not UTF-8: {e}"))?;
    let m = rfc5424::parse(line).map_err(|e| format!("not RFC 5424: {e}: {line}"))?;
    // An independent lenient reader must agree on the envelope.
    let loose = syslog_loose::parse_message(line, syslog_loose::Variant::RFC5424);
    if loose.hostname != m.hostname.as_deref() || loose.appname != m.app_name.as_deref() {
        return Err(format!("syslog_loose disagrees on the header: {line}"));
    }
    if m.app_name.as_deref() != Some("defender-syslog") || m.msgid.as_deref() != Some("ALERT") {
        return Err(format!("unexpected APP-NAME/MSGID: {line}"));
    }
    Ok((line, m))
}

/// The version key from an id and a `lastUpdateTime` field of `line`.
pub fn key_of(line: &str, id: Option<&str>, lut: Option<&str>) -> Result<VersionKey, String> {
    let id = id.ok_or_else(|| format!("no alert id: {line}"))?;
    let lut = lut.ok_or_else(|| format!("no lastUpdateTime: {line}"))?;
    Ok(VersionKey {
        id: id.to_owned(),
        last_update_time: Timestamp::parse(lut).map_err(|e| format!("{e}: {line}"))?,
    })
}

pub fn decode(fmt: Fmt, raw: &[u8]) -> Result<Decoded, String> {
    let (line, m) = envelope(raw)?;
    let body = m.msg.clone().unwrap_or_default();
    let own = |v: Option<&str>| v.map(str::to_owned);
    let key = |id: Option<&str>, lut: Option<&str>| key_of(line, id, lut);
    match fmt {
        Fmt::Rfc5424 => {
            let p = |k: &str| m.sd_param(SD_ID, k);
            let alert: Alert = serde_json::from_str(&body)
                .map_err(|e| format!("MSG is not the alert JSON: {e}: {line}"))?;
            Ok(Decoded {
                key: key(p("id"), p("lastUpdateTime"))?,
                truncated: p("truncated").is_some(),
                title: own(p("title")),
                category: own(p("category")),
                host: own(p("computerDnsName")),
                status: own(p("status")),
                body: Some(alert),
                delimiter: ' ',
            })
        }
        Fmt::Leef => {
            let e = leef::parse(&body).map_err(|e| format!("not strict LEEF: {e}: {body}"))?;
            Ok(Decoded {
                key: key(e.get("alertId"), e.get("lastUpdateTime"))?,
                truncated: e.get("truncated").is_some(),
                title: own(e.get("title")),
                category: own(e.get("cat")),
                host: own(e.get("resource")),
                status: own(e.get("status")),
                body: None,
                delimiter: e.delimiter,
            })
        }
        Fmt::Cef => {
            let e = cef::parse(&body).map_err(|e| format!("not strict CEF: {e}: {body}"))?;
            Ok(Decoded {
                key: key(e.get("cs2"), e.get("cs3"))?,
                truncated: e.get("cn3").is_some(),
                title: Some(e.name.clone()),
                category: own(e.get("cat")),
                host: own(e.get("shost")),
                status: own(e.get("cs5")),
                body: None,
                delimiter: ' ',
            })
        }
    }
}

pub fn no_controls(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

pub fn leef_clean(s: &str, delim: char) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '|' || c == delim {
                ' '
            } else {
                c
            }
        })
        .collect()
}

pub fn cef_ext_clean(s: &str) -> String {
    let v: String = s
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\r' {
                ' '
            } else {
                c
            }
        })
        .collect();
    v.trim_end_matches(' ').to_owned()
}

/// Compares a decoded message with the mock's alert. `current` is the alert as the mock holds
/// it now; when the message is an older version, only the fields an update does not change
/// (everything but status, assignedTo, resolvedTime, lastUpdateTime) are compared.
pub fn check_content(fmt: Fmt, d: &Decoded, current: &Alert) -> Result<(), String> {
    let same_version = current.last_update_time == Some(d.key.last_update_time);
    if !same_version && current.last_update_time < Some(d.key.last_update_time) {
        return Err(format!("{:?} is newer than the mock's alert", d.key));
    }
    if d.truncated {
        return Ok(()); // only the identity is promised for a cut message (checked by the key)
    }
    let clean = |s: &str, kind: u8| match (fmt, kind) {
        (Fmt::Leef, _) => leef_clean(s, d.delimiter),
        (Fmt::Cef, 1) => cef_ext_clean(s),
        _ => no_controls(s),
    };
    let want = |v: &Option<String>, kind: u8| v.as_deref().map(|s| clean(s, kind));
    let mut diffs = Vec::new();
    if d.title != want(&current.title, 0) {
        diffs.push(format!("title {:?} != {:?}", d.title, current.title));
    }
    if d.category != want(&current.category, 1) {
        diffs.push(format!(
            "category {:?} != {:?}",
            d.category, current.category
        ));
    }
    if d.host != want(&current.computer_dns_name, 1) {
        diffs.push(format!(
            "host {:?} != {:?}",
            d.host, current.computer_dns_name
        ));
    }
    if same_version && d.status != want(&current.status, 1) {
        diffs.push(format!("status {:?} != {:?}", d.status, current.status));
    }
    if let Some(body) = &d.body {
        let mut expected = current.clone();
        if !same_version {
            expected.status.clone_from(&body.status);
            expected.assigned_to.clone_from(&body.assigned_to);
            expected.resolved_time = body.resolved_time;
            expected.last_update_time = body.last_update_time;
        }
        if body != &expected {
            diffs.push("the JSON MSG differs from the alert".into());
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!("{:?}: {}", d.key, diffs.join("; ")))
    }
}

/// Figures of one destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub served: usize,
    pub messages: usize,
    pub distinct: usize,
    pub duplicates: usize,
}

/// Why the oracle refused.
#[derive(Debug, Clone)]
pub enum Violation {
    /// Served versions not (yet) received.
    Missing(Vec<VersionKey>),
    /// A message that is unparseable, not a served version, or altered: never acceptable.
    Wrong(String),
}

/// Checks an alert message's content against the mock's alert; its version key if intact.
pub type MessageCheck<'a> = &'a dyn Fn(&[u8]) -> Result<VersionKey, String>;

/// Checks `messages` (everything one destination received) against what the mock served.
/// Only versions served by requests after `since` (a request sequence number) are required: a
/// destination added later cannot receive a version superseded before it existed.
pub fn check(
    mock: &MockDefender,
    fmt: Fmt,
    messages: &[Vec<u8>],
    since: u64,
) -> Result<Tally, Violation> {
    check_with(mock, fmt, messages, since, &|raw| {
        mde_message(mock, fmt, raw)
    })
}

/// One MDE alert message: decoded strictly and compared with the mock's alert.
fn mde_message(mock: &MockDefender, fmt: Fmt, raw: &[u8]) -> Result<VersionKey, String> {
    let d = decode(fmt, raw)?;
    let current: Alert = mock
        .alert(&d.key.id)
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| format!("{:?}: unknown to the mock", d.key))?;
    check_content(fmt, &d, &current)?;
    Ok(d.key)
}

/// [`check`] with the alert messages checked by `message` (per source).
pub fn check_with(
    mock: &MockDefender,
    fmt: Fmt,
    messages: &[Vec<u8>],
    since: u64,
    message: MessageCheck<'_>,
) -> Result<Tally, Violation> {
    let all = mock.served_versions();
    let served: HashSet<VersionKey> = all
        .iter()
        .filter_map(sim::defender::ServedVersion::key)
        .collect();
    let due: Vec<VersionKey> = all
        .iter()
        .filter(|s| s.request > since)
        .filter_map(sim::defender::ServedVersion::key)
        .collect();
    let mut received = HashSet::new();
    for raw in messages {
        // An "unreadable alert" event delivers its version (the SIEM got a marked event).
        if let Some(u) = decode_unreadable(fmt, raw) {
            let key = u.map_err(Violation::Wrong)?;
            if !served.contains(&key) {
                return Err(Violation::Wrong(format!(
                    "invented unreadable event {key:?}"
                )));
            }
            received.insert(key);
            continue;
        }
        let key = message(raw).map_err(Violation::Wrong)?;
        if !served.contains(&key) {
            return Err(Violation::Wrong(format!(
                "invented: {key:?} was never served"
            )));
        }
        received.insert(key);
    }
    // The current version of every alert must arrive too: otherwise a fetcher that never
    // fetched anything would pass vacuously. (Tests keep every alert inside initial_lookback.)
    let required: HashSet<VersionKey> = due.into_iter().chain(mock.current_versions()).collect();
    let mut missing: Vec<VersionKey> = required.difference(&received).cloned().collect();
    if !missing.is_empty() {
        missing.sort();
        return Err(Violation::Missing(missing));
    }
    Ok(Tally {
        served: required.len(),
        messages: messages.len(),
        distinct: received.len(),
        duplicates: messages.len() - received.len(),
    })
}

/// Waits until [`check`] passes for `dest` (polling `messages`), panics with the reason after
/// `timeout` or at once on a wrong message; prints the figures.
pub async fn wait_conserved(
    mock: &MockDefender,
    dest: &str,
    fmt: Fmt,
    messages: impl Fn() -> Vec<Vec<u8>>,
    timeout: Duration,
) -> Tally {
    wait_conserved_since(mock, dest, fmt, messages, timeout, 0).await
}

/// [`wait_conserved`] for a destination that exists since request `since` of the mock.
pub async fn wait_conserved_since(
    mock: &MockDefender,
    dest: &str,
    fmt: Fmt,
    messages: impl Fn() -> Vec<Vec<u8>>,
    timeout: Duration,
    since: u64,
) -> Tally {
    let message = |raw: &[u8]| mde_message(mock, fmt, raw);
    wait_conserved_with(mock, dest, fmt, messages, timeout, since, &message).await
}

/// [`wait_conserved_since`] with the alert messages checked by `message` (per source).
pub async fn wait_conserved_with(
    mock: &MockDefender,
    dest: &str,
    fmt: Fmt,
    messages: impl Fn() -> Vec<Vec<u8>>,
    timeout: Duration,
    since: u64,
    message: MessageCheck<'_>,
) -> Tally {
    let start = Instant::now();
    loop {
        match check_with(mock, fmt, &messages(), since, message) {
            Ok(t) => {
                crate::report!(
                    "CONSERVATION {dest} ({}): served={} messages={} distinct={} duplicates={}",
                    fmt.config_name(),
                    t.served,
                    t.messages,
                    t.distinct,
                    t.duplicates
                );
                return t;
            }
            Err(Violation::Wrong(w)) => panic!("{dest}: {w}"),
            Err(Violation::Missing(m)) if start.elapsed() > timeout => {
                let got: Vec<VersionKey> = messages()
                    .iter()
                    .filter_map(|r| message(r).ok())
                    .filter(|k| m.iter().any(|x| x.id == k.id))
                    .collect();
                let served: Vec<_> = mock
                    .served_versions()
                    .into_iter()
                    .filter(|s| m.iter().any(|x| Some(&x.id) == s.id.as_ref()))
                    .map(|s| (s.request, s.last_update_time))
                    .collect();
                panic!(
                    "{dest}: {} served version(s) never arrived within {timeout:?}, e.g. {:?}; \
                     received versions of those ids: {got:?}; served (request, lut): {served:?}",
                    m.len(),
                    &m[..m.len().min(5)]
                )
            }
            Err(Violation::Missing(_)) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}
