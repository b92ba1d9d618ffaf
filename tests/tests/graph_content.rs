//! Graph alerts_v2 content end to end: the built binary with `source = "graph"` against the
//! simulated Graph API, delivering to real rsyslog (mutual TLS) and in-process RFC 5425
//! receivers in every format. Hostile content (`| = \ ]`, newlines, NULs, forged syslog
//! headers and key=value pairs, a 1 MB title, fields of the wrong type) arrives as one message
//! per alert, no field or message forged, marked repaired where repaired; bytes the API cannot
//! serve as JSON values (invalid UTF-8, lone surrogates) go through `send --source graph`;
//! enum values added after `unknownFutureValue` (sent because we send `Prefer:
//! include-unknown-enum-members`), values nobody knows yet and unknown evidence types arrive
//! as themselves. Times keep the digits Graph wrote (`…00.7000000Z`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use alert_model::Timestamp;
use e2e::daemon::{Daemon, command};
use e2e::graph_oracle::{check_graph_message, wait_graph_conserved};
use e2e::oracle::{Fmt, SD_ID};
use e2e::setup::{Dest, World};
use serde_json::{Value, json};
use sim::collector::Collector;
use sim::defender::MockOptions;
use sim::external::Running;
use sim::parse::{cef, leef, rfc5424};

const WAIT: Duration = Duration::from_secs(120);
const FORMATS: [Fmt; 3] = [Fmt::Rfc5424, Fmt::Leef, Fmt::Cef];

/// Every trick that could forge a field or a message in one of the three formats.
const FORGE: &str = "a|b=c\\d]e\"f}\nforged=1\r\tforged2=2^forged3=3 cs2=forged \
                     cs3=2020-01-01T00:00:00Z\u{0}nul\u{85}nel\u{7f}del ] [forged@32473 id=\"x\"] \
                     \n<14>1 2026-01-01T00:00:00Z h defender-syslog - ALERT - \
                     CEF:0|Microsoft|Forged|1|x|forged|10|cs2=forged Zoë € 😀 日本語";

/// A time `secs` ago, whole milliseconds written with all seven digits: trailing zeros, as
/// Graph writes them (the RFC 5424 body must keep them).
fn seven_digits_ago(secs: u64) -> String {
    let now = Timestamp::now().unix_nanos() - i128::from(secs) * 1_000_000_000;
    let t = Timestamp::from_unix_nanos(now / 1_000_000 * 1_000_000).unwrap();
    let d = t.as_offset_date_time();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
        d.nanosecond() / 100
    )
}

/// The format of one frame, read from the strict parse of its MSG (rsyslog receives all three
/// formats on one port, and a hostile title may contain the text ` - CEF:`).
fn format_of(raw: &[u8]) -> Option<Fmt> {
    let m = rfc5424::parse(std::str::from_utf8(raw).ok()?).ok()?;
    let msg = m.msg.unwrap_or_default();
    Some(if msg.starts_with("LEEF:") {
        Fmt::Leef
    } else if msg.starts_with("CEF:") {
        Fmt::Cef
    } else {
        Fmt::Rfc5424
    })
}

/// The destinations of a test: an in-process TLS receiver per format and, when rsyslogd is
/// installed, one real rsyslog over mutual TLS receiving all three formats.
struct Sinks {
    tls: Vec<(Fmt, Collector)>,
    rsyslog: Option<Running>,
}

impl Sinks {
    async fn start(w: &World, test: &str) -> Sinks {
        let mut tls = Vec::new();
        for f in FORMATS {
            tls.push((f, w.tls_collector().await));
        }
        Sinks {
            tls,
            rsyslog: w.rsyslog_mtls(test),
        }
    }

    /// `(destination name, format)` of every destination.
    fn names(&self) -> Vec<(String, Fmt)> {
        let mut out: Vec<(String, Fmt)> = FORMATS
            .iter()
            .map(|f| (format!("tls-{}", f.config_name()), *f))
            .collect();
        if self.rsyslog.is_some() {
            out.extend(
                FORMATS
                    .iter()
                    .map(|f| (format!("rsyslog-{}", f.config_name()), *f)),
            );
        }
        out
    }

    fn dests(&self) -> Vec<Dest> {
        self.names()
            .into_iter()
            .map(|(name, f)| match name.strip_prefix("rsyslog-") {
                Some(_) => {
                    let r = self.rsyslog.as_ref().unwrap();
                    Dest::new(&name, f, r.address()).mtls()
                }
                None => {
                    let c = &self.tls.iter().find(|(g, _)| *g == f).unwrap().1;
                    Dest::new(&name, f, c.address())
                }
            })
            .collect()
    }

    /// What destination `name` (of format `fmt`) received.
    fn messages(&self, name: &str, fmt: Fmt) -> Vec<Vec<u8>> {
        if name.starts_with("rsyslog-") {
            let all = self.rsyslog.as_ref().map(Running::messages);
            all.unwrap_or_default()
                .into_iter()
                .filter(|m| format_of(m) == Some(fmt))
                .collect()
        } else {
            let c = &self.tls.iter().find(|(g, _)| *g == fmt).unwrap().1;
            c.messages()
        }
    }
}

/// One message's named fields, read with the strict parsers: the SD params of our SD element
/// (RFC 5424), the attributes (LEEF) or the extension pairs plus the header (CEF). Also the SD
/// element ids, so that a forged element would show.
#[derive(Debug)]
struct Named {
    id: String,
    fields: Vec<(String, String)>,
    sd_ids: Vec<String>,
}

impl Named {
    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn keys(&self) -> BTreeSet<String> {
        self.fields.iter().map(|(k, _)| k.clone()).collect()
    }
    fn repaired(&self, fmt: Fmt) -> Option<&str> {
        self.get(match fmt {
            Fmt::Cef => "DefenderSyslogRepaired",
            _ => "repaired",
        })
    }
}

fn named(fmt: Fmt, raw: &[u8]) -> Named {
    let line = std::str::from_utf8(raw).expect("UTF-8 on the wire");
    assert!(
        !line.contains('\n') && !line.contains('\r'),
        "one line: {line}"
    );
    let m = rfc5424::parse(line).unwrap_or_else(|e| panic!("not RFC 5424: {e}: {line}"));
    let sd_ids = m.sd.iter().map(|e| e.id.clone()).collect();
    let body = m.msg.clone().unwrap_or_default();
    let fields: Vec<(String, String)> = match fmt {
        Fmt::Rfc5424 => {
            m.sd.iter()
                .filter(|e| e.id == SD_ID)
                .flat_map(|e| e.params.clone())
                .collect()
        }
        Fmt::Leef => {
            let e = leef::parse(&body).unwrap_or_else(|e| panic!("not strict LEEF: {e}: {body}"));
            e.attributes
        }
        Fmt::Cef => {
            let e = cef::parse(&body).unwrap_or_else(|e| panic!("not strict CEF: {e}: {body}"));
            let mut f = vec![
                ("header.name".to_owned(), e.name.clone()),
                ("header.severity".to_owned(), e.severity.clone()),
            ];
            f.extend(e.extensions);
            f
        }
    };
    let id_key = match fmt {
        Fmt::Rfc5424 => "id",
        Fmt::Leef => "alertId",
        Fmt::Cef => "cs2",
    };
    let id = fields
        .iter()
        .find(|(k, _)| k == id_key)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no alert id: {line}"));
    Named { id, fields, sd_ids }
}

/// The keys a cut or repaired message may add to an intact one's.
fn marker_keys(fmt: Fmt) -> &'static [&'static str] {
    match fmt {
        Fmt::Rfc5424 | Fmt::Leef => &["repaired", "truncated"],
        Fmt::Cef => &["DefenderSyslogRepaired", "cn3", "cn3Label"],
    }
}

/// A synthetic alerts_v2 alert of the mock with `change` applied, dated `secs` ago (seven digits).
fn altered(w: &World, id: &str, secs: u64, change: impl FnOnce(&mut Value)) -> Value {
    let mut v = w.mock.alert(id).unwrap();
    v["lastUpdateDateTime"] = seven_digits_ago(secs).into();
    v["firstActivityDateTime"] = seven_digits_ago(secs + 600).into();
    change(&mut v);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_hostile_content_arrives_as_one_message_per_alert_in_every_format() {
    let w = World::with_mock(MockOptions::graph()).await;
    // Older than the overlap: each is read once per destination (the 1 MB one too).
    let base = w.mock.insert_new(7);
    let id = |i: usize| base[i].id.clone();
    // Every text field the formats show, set to `text`: the hostile alert and its benign twin
    // (whose message's keys are the most an intact message may have).
    let fill = |v: &mut Value, text: &str| {
        for k in [
            "title",
            "category",
            "status",
            "serviceSource",
            "detectionSource",
            "classification",
            "determination",
            "description",
            "recommendedActions",
            "assignedTo",
            "threatDisplayName",
            "threatFamilyName",
            "actorDisplayName",
            "productName",
            "alertWebUrl",
        ] {
            v[k] = text.into();
        }
        v["mitreTechniques"] = json!([text, "T1003"]);
        v["evidence"][0]["deviceDnsName"] = text.into();
        v["evidence"][1]["userAccount"]["accountName"] = text.into();
    };
    let everywhere = altered(&w, &id(0), 90, |v| {
        fill(v, FORGE);
        v["severity"] = FORGE.into();
        v["evidence"][2]["ipAddress"] = FORGE.into();
        v[format!("unknown{FORGE}")] = FORGE.into();
    });
    let twin = altered(&w, &id(6), 84, |v| fill(v, "benign text"));
    let megabyte = altered(&w, &id(1), 89, |v| {
        v["title"] = FORGE.repeat((1 << 20) / FORGE.len() + 1).into();
    });
    let number = altered(&w, &id(2), 88, |v| v["title"] = 12345.into());
    let lone_evidence = altered(&w, &id(3), 87, |v| {
        let device = v["evidence"][0].clone();
        v["evidence"] = device;
    });
    let shapes = altered(&w, &id(4), 86, |v| {
        v["comments"] = "oops".into();
        v["mitreTechniques"] = "T1003".into();
    });
    let plain = altered(&w, &id(5), 85, |_| {});
    let expected: HashMap<String, Option<&str>> = [
        (id(0), None),
        (id(1), None),
        (id(2), Some("type:title")),
        (id(3), Some("type:evidence")),
        (id(4), Some("type:comments,type:mitreTechniques")),
        (id(5), None),
        (id(6), None),
    ]
    .into_iter()
    .collect();
    w.mock.insert_values([
        everywhere,
        megabyte,
        number,
        lone_evidence,
        shapes,
        plain,
        twin,
    ]);

    let sinks = Sinks::start(
        &w,
        "graph_hostile_content_arrives_as_one_message_per_alert_in_every_format",
    )
    .await;
    // Room for the alert with every field hostile to arrive whole (its escapes more than
    // double it); the 1 MB one is still cut.
    let config = w.config_path();
    let text = w.config_text(&sinks.dests(), "");
    let text = text.replace(
        "[[destination]]\n",
        "[[destination]]\nmax_message_bytes = 65536\n",
    );
    assert_eq!(
        text.matches("max_message_bytes").count(),
        sinks.names().len()
    );
    std::fs::write(&config, text).unwrap();
    let d = Daemon::start(&config, &w.log_path());
    for (name, fmt) in sinks.names() {
        // Content against the mock's alert, field by field; nothing invented.
        wait_graph_conserved(&w.mock, &name, fmt, || sinks.messages(&name, fmt), WAIT).await;
        let frames = sinks.messages(&name, fmt);
        let by_id: HashMap<String, Vec<Named>> =
            frames.iter().fold(HashMap::new(), |mut m, raw| {
                let n = named(fmt, raw);
                m.entry(n.id.clone()).or_default().push(n);
                m
            });
        assert_eq!(by_id.len(), expected.len(), "{name}: {:?}", by_id.keys());
        let reference = by_id[&id(6)][0].keys();
        for (alert, marker) in &expected {
            let got = &by_id[alert];
            assert_eq!(got.len(), 1, "{name}: {alert} arrives as one message");
            let n = &got[0];
            assert_eq!(n.repaired(fmt), *marker, "{name}: marker of {alert}");
            // RFC 5424: our one SD element; LEEF and CEF: none (`-`), the payload is in MSG.
            let sd: &[&str] = if fmt == Fmt::Rfc5424 { &[SD_ID] } else { &[] };
            assert_eq!(n.sd_ids, sd, "{name}: no forged SD element");
            let forged: Vec<String> = n
                .keys()
                .into_iter()
                .filter(|k| !reference.contains(k) && !marker_keys(fmt).contains(&k.as_str()))
                .collect();
            assert!(
                forged.is_empty(),
                "{name}: {alert} has forged keys {forged:?}"
            );
        }
        // The hostile values themselves, as the format may show them, in one field each.
        let all = &by_id[&id(0)][0];
        // Whole: every key of its twin but the typed ones a hostile value cannot fill (LEEF
        // `sev` needs a known severity, `dst` and CEF `src` an IP address).
        let lost: Vec<String> = reference
            .difference(&all.keys())
            .filter(|k| !["sev", "dst", "src"].contains(&k.as_str()))
            .cloned()
            .collect();
        assert!(lost.is_empty(), "{name}: the hostile alert lost {lost:?}");
        let (title_key, dns_key) = match fmt {
            Fmt::Rfc5424 => ("title", "deviceDnsName"),
            Fmt::Leef => ("title", "resource"),
            Fmt::Cef => ("header.name", "shost"),
        };
        for key in [title_key, dns_key] {
            let v = all.get(key).unwrap_or_else(|| panic!("{name}: no {key}"));
            assert!(
                v.contains("forged@32473") && v.contains("日本語"),
                "{name}: {key}={v:?}"
            );
        }
        let cut = &by_id[&id(1)][0];
        assert!(
            marker_keys(fmt)
                .iter()
                .skip(1)
                .any(|k| cut.get(k).is_some()),
            "{name}: the 1 MB alert is marked truncated"
        );
        e2e::report!(
            "GRAPH HOSTILE {name}: {} alerts, {} frames, each one message, no forged key",
            by_id.len(),
            frames.len()
        );
    }
    d.stop().await;
}

/// Waits until every destination holds `n` frames (rsyslog: `n` of each format).
async fn wait_frames(sinks: &Sinks, n: usize) {
    let start = std::time::Instant::now();
    while sinks
        .names()
        .iter()
        .any(|(name, f)| sinks.messages(name, *f).len() < n)
    {
        assert!(start.elapsed() < WAIT, "not every frame arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Bytes no JSON value can hold, so the simulated API cannot serve them: `send --source graph`
/// reads them from a file through the same decoding, formats and transports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_invalid_utf8_and_lone_surrogates_arrive_marked_through_send() {
    let w = World::with_mock(MockOptions::graph()).await;
    let template: Value = serde_json::from_str(
        alert_model::samples::GRAPH_ALERTS_NDJSON
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    // (raw title bytes as JSON text, the title after repair, the marker: repairs in the
    // documented order utf8, surrogate, type:…)
    let cases: [(&[u8], &str, &str); 3] = [
        (b"\"caf\xe9 cr\xe8me\"", "caf\u{FFFD} cr\u{FFFD}me", "utf8"),
        (
            br#""C:\\Users\\x\ud800.exe""#,
            "C:\\Users\\x\u{FFFD}.exe",
            "surrogate",
        ),
        (
            b"\"\xff|=\\\\]\\n\\ud83d\"",
            "\u{FFFD}|=\\]\n\u{FFFD}",
            "utf8,surrogate",
        ),
    ];
    let mut file = Vec::new();
    let mut sent: HashMap<String, (Value, &str)> = HashMap::new();
    for (i, (raw, title, marker)) in cases.iter().enumerate() {
        let mut v = template.clone();
        let id = format!("da639999999999999999_{i}");
        v["id"] = id.clone().into();
        v["providerAlertId"] = id.clone().into();
        v["lastUpdateDateTime"] = seven_digits_ago(60).into();
        v["title"] = "@@TITLE@@".into();
        let text = serde_json::to_vec(&v).unwrap();
        let at = text
            .windows(11)
            .position(|w| w == b"\"@@TITLE@@\"")
            .unwrap();
        file.extend_from_slice(&text[..at]);
        file.extend_from_slice(raw);
        file.extend_from_slice(&text[at + 11..]);
        file.push(b'\n');
        v["title"] = (*title).into();
        sent.insert(id, (v, *marker));
    }
    let input = w.path("hostile.ndjson");
    std::fs::write(&input, &file).unwrap();
    let sinks = Sinks::start(
        &w,
        "graph_invalid_utf8_and_lone_surrogates_arrive_marked_through_send",
    )
    .await;
    let config = w.write_config(&sinks.dests());
    let out = tokio::task::spawn_blocking(move || {
        command()
            .args(["send", "--config"])
            .arg(&config)
            .arg("--input")
            .arg(&input)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "repaired alerts are sent, not refused: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_frames(&sinks, cases.len()).await;
    for (name, fmt) in sinks.names() {
        let frames = sinks.messages(&name, fmt);
        assert_eq!(frames.len(), cases.len(), "{name}: one message per alert");
        for raw in &frames {
            // Field by field (and the whole JSON body) against the repaired alert.
            let key = check_graph_message(fmt, raw, |id| sent.get(id).map(|(v, _)| v.clone()))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let n = named(fmt, raw);
            assert_eq!(n.repaired(fmt), Some(sent[&key.id].1), "{name}: {}", key.id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_unknown_enum_values_and_evidence_types_arrive_as_themselves_in_every_format() {
    let w = World::with_mock(MockOptions::graph()).await;
    let base = w.mock.insert_new(3);
    // serviceSource, detectionSource, status, severity, classification, determination: the
    // first two rows hold values Graph lists after `unknownFutureValue` (the mock sends them
    // only to a client that sends `Prefer: include-unknown-enum-members`); the last row values
    // no enum has yet.
    let rows: [[&str; 6]; 3] = [
        [
            "microsoftSentinel",
            "nrtAlerts",
            "new",
            "high",
            "truePositive",
            "malware",
        ],
        [
            "microsoftInsiderRiskManagement",
            "builtInMl",
            "inProgress",
            "low",
            "falsePositive",
            "notMalicious",
        ],
        [
            "microsoftDefenderForQuantum",
            "quantumSensor",
            "awaitingCustomer",
            "critical",
            "probablyBenign",
            "qubitTampering",
        ],
    ];
    const KEYS: [&str; 6] = [
        "serviceSource",
        "detectionSource",
        "status",
        "severity",
        "classification",
        "determination",
    ];
    let unknown_evidence = json!({
        "@odata.type": "#microsoft.graph.security.quantumDeviceEvidence",
        "createdDateTime": seven_digits_ago(120),
        "verdict": "malicious",
        "qubits": 7,
        "entanglement": {"partners": ["a", "b"], "fidelity": 0.5},
    });
    let mut want: HashMap<String, [&str; 6]> = HashMap::new();
    let values: Vec<Value> = base
        .iter()
        .zip(rows)
        .enumerate()
        .map(|(i, (k, row))| {
            let mut v = altered(&w, &k.id, 60 + i as u64, |_| {});
            for (key, value) in KEYS.iter().zip(row) {
                v[*key] = value.into();
            }
            v["evidence"]
                .as_array_mut()
                .unwrap()
                .insert(0, unknown_evidence.clone());
            want.insert(k.id.clone(), row);
            v
        })
        .collect();
    let evidence_count = values[0]["evidence"].as_array().unwrap().len().to_string();
    w.mock.insert_values(values);

    let sinks = Sinks::start(
        &w,
        "graph_unknown_enum_values_and_evidence_types_arrive_as_themselves_in_every_format",
    )
    .await;
    let config = w.write_config(&sinks.dests());
    let d = Daemon::start(&config, &w.log_path());
    for (name, fmt) in sinks.names() {
        wait_graph_conserved(&w.mock, &name, fmt, || sinks.messages(&name, fmt), WAIT).await;
        for raw in sinks.messages(&name, fmt) {
            let text = String::from_utf8_lossy(&raw);
            assert!(!text.contains("unknownFutureValue"), "{name}: {text}");
            let n = named(fmt, &raw);
            let row = want[&n.id];
            let keys: [&str; 6] = match fmt {
                Fmt::Rfc5424 | Fmt::Leef => KEYS,
                Fmt::Cef => [
                    "deviceFacility",
                    "sourceServiceName",
                    "cs5",
                    "",
                    "MicrosoftDefenderClassification",
                    "MicrosoftDefenderDetermination",
                ],
            };
            for (key, value) in keys.iter().zip(row).filter(|(k, _)| !k.is_empty()) {
                assert_eq!(n.get(key), Some(value), "{name}: {key} of {}", n.id);
            }
            // An unknown severity is an unknown severity, as for MDE (formats.md).
            let critical = row[3] == "critical";
            match fmt {
                Fmt::Rfc5424 => {
                    let m = rfc5424::parse(&text).unwrap();
                    let body: Value = serde_json::from_str(m.msg.as_deref().unwrap()).unwrap();
                    assert_eq!(body["evidence"][0], unknown_evidence, "{name}: kept whole");
                    assert!(
                        n.get("deviceDnsName").is_some(),
                        "{name}: device still mapped"
                    );
                    assert_eq!(
                        m.severity == 5,
                        critical,
                        "{name}: PRI severity {}",
                        m.severity
                    );
                }
                Fmt::Leef => {
                    assert_eq!(
                        n.get("evidenceCount"),
                        Some(evidence_count.as_str()),
                        "{name}"
                    );
                    assert!(n.get("resource").is_some(), "{name}: device still mapped");
                    assert_eq!(
                        n.get("sev").is_none(),
                        critical,
                        "{name}: sev {:?}",
                        n.get("sev")
                    );
                }
                Fmt::Cef => {
                    assert!(n.get("shost").is_some(), "{name}: device still mapped");
                    assert_eq!(
                        n.get("header.severity") == Some("Unknown"),
                        critical,
                        "{name}: severity {:?}",
                        n.get("header.severity")
                    );
                }
            }
        }
    }
    d.stop().await;
}
