//! Microsoft Graph `alerts_v2` alerts in every format: the repository's samples, the real
//! documentation sample (../shared), hostile content, small caps and generated alerts, read back
//! with the strict parsers of `sim::parse` and syslog_loose and compared field by field with the
//! source alert (expectations from docs/formats.md, "alerts_v2").
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod format_common;
use format_common::*;

use alert_model::graph::{
    DeviceEvidence, FileDetails, FileEvidence, IpEvidence, MailboxEvidence, OtherEvidence,
    UrlEvidence, UserAccount, UserEvidence,
};
use alert_model::{GraphAlert, GraphEvidence, Timestamp};
use forwarder::format::{Format, Formatter};
use proptest::prelude::*;

fn format_graph(f: &Formatter, a: &GraphAlert) -> String {
    let mut out = Vec::new();
    f.format_graph(a, &mut out);
    String::from_utf8(out).expect("formatter output is UTF-8")
}

/// The evidence values the mapping shows: the first of each kind, every IP.
struct Expect<'a> {
    device: Option<&'a str>,
    user: Option<&'a UserAccount>,
    file: Option<&'a FileDetails>,
    url: Option<&'a str>,
    mailbox: Option<&'a str>,
    ips: Vec<&'a str>,
}

fn expect(a: &GraphAlert) -> Expect<'_> {
    let ev = a.evidence();
    Expect {
        device: ev
            .iter()
            .find_map(|e| match e {
                GraphEvidence::Device(d) => Some(d.device_dns_name.as_deref()),
                _ => None,
            })
            .flatten(),
        user: ev.iter().find_map(|e| match e {
            GraphEvidence::User(u) => u.user_account.as_ref(),
            _ => None,
        }),
        file: ev.iter().find_map(|e| match e {
            GraphEvidence::File(f) => f.file_details.as_ref(),
            GraphEvidence::Process(p) => p.image_file.as_ref(),
            _ => None,
        }),
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

fn graph_sev(a: &GraphAlert) -> (u8, Option<&'static str>, &'static str) {
    match a.severity.as_deref() {
        Some("high") => (2, Some("8"), "8"),
        Some("medium") => (3, Some("5"), "5"),
        Some("low") => (4, Some("3"), "3"),
        Some("informational") => (6, Some("1"), "1"),
        _ => (5, None, "Unknown"),
    }
}

fn id_survives(a: &GraphAlert) -> bool {
    a.id.as_deref().is_none_or(|i| i.len() <= 60)
}

fn cef_value(s: &str) -> Option<String> {
    Some(cef_ext_clean(s)).filter(|v| !v.is_empty())
}

/// Checks a message against its source Graph alert, field by field.
fn check_graph(format: Format, a: &GraphAlert, line: &str) {
    let lut = a.last_update_date_time.map(|t| t.to_string());
    let ms = a.last_update_date_time.map(|t| t.unix_millis().to_string());
    let x = expect(a);
    let (syslog_sev, leef_sev, cef_sev) = graph_sev(a);
    match parse(format, line) {
        Parsed::Rfc5424(m) => {
            assert_eq!(m.severity, syslog_sev);
            let cut = m.sd_param(SD_ID, "truncated").is_some();
            if !cut || id_survives(a) {
                assert_eq!(
                    m.sd_param(SD_ID, "id"),
                    a.id.as_deref().map(no_controls).as_deref()
                );
            }
            assert_eq!(m.sd_param(SD_ID, "lastUpdateTime"), lut.as_deref());
            let header_time = a.last_update_date_time.or(a.created_date_time);
            assert_eq!(m.timestamp, header_time.map(|t| t.to_rfc5424()));
            if cut {
                return;
            }
            let sd = |k: &str, v: Option<&str>| {
                assert_eq!(
                    m.sd_param(SD_ID, k),
                    v.map(no_controls).as_deref(),
                    "SD {k}"
                )
            };
            sd("title", a.title.as_deref());
            sd("severity", a.severity.as_deref());
            sd("serviceSource", a.service_source.as_deref());
            sd("classification", a.classification.as_deref());
            sd("determination", a.determination.as_deref());
            sd("incidentId", a.incident_id.as_deref());
            sd("deviceDnsName", x.device);
            // The JSON body is lossless: it parses back into the very same alert.
            // (Repairs are a marker, not part of the body.)
            let mut back: GraphAlert = serde_json::from_str(m.msg.as_deref().unwrap()).unwrap();
            back.repairs.clone_from(&a.repairs);
            assert_eq!(&back, a);
        }
        Parsed::Leef(_, e) => {
            let d = e.delimiter;
            assert_eq!(
                (e.vendor.as_str(), e.product.as_str()),
                ("Microsoft", "Defender for Endpoint")
            );
            let cut = e.get("truncated").is_some();
            if !cut || id_survives(a) {
                assert_eq!(
                    e.get("alertId"),
                    a.id.as_deref().map(|s| leef_clean(s, d)).as_deref()
                );
            }
            assert_eq!(e.get("lastUpdateTime"), lut.as_deref());
            assert_eq!(e.get("devTime"), ms.as_deref());
            assert_eq!(e.get("sev"), leef_sev);
            if cut {
                return;
            }
            let attr = |k: &str, v: Option<&str>| {
                assert_eq!(e.get(k), v.map(|s| leef_clean(s, d)).as_deref(), "LEEF {k}")
            };
            attr("title", a.title.as_deref());
            attr("cat", a.category.as_deref());
            attr("serviceSource", a.service_source.as_deref());
            attr("classification", a.classification.as_deref());
            attr("determination", a.determination.as_deref());
            attr("incidentId", a.incident_id.as_deref());
            attr("incidentUrl", a.incident_web_url.as_deref());
            attr("description", a.description.as_deref());
            attr("resource", x.device);
            attr("usrName", x.user.and_then(|u| u.account_name.as_deref()));
            attr("domain", x.user.and_then(|u| u.domain_name.as_deref()));
            attr("fileName", x.file.and_then(|f| f.file_name.as_deref()));
            attr("sha256", x.file.and_then(|f| f.sha256.as_deref()));
            attr("url", x.url);
            attr("mailbox", x.mailbox);
            attr("dst", x.ips.first().copied());
            assert_eq!(
                e.get("evidenceCount"),
                Some(a.evidence().len().to_string().as_str())
            );
        }
        Parsed::Cef(_, e) => {
            assert_eq!(e.vendor, "Microsoft");
            assert_eq!(e.severity, cef_sev);
            let cut = e.get("cn3Label").is_some();
            if !cut || id_survives(a) {
                assert_eq!(e.get("cs2"), a.id.as_deref().and_then(cef_value).as_deref());
            }
            assert_eq!(e.get("cs2Label"), e.get("cs2").map(|_| "AlertId"));
            assert_eq!(e.get("cs3"), lut.as_deref());
            assert_eq!(e.get("cs3Label"), lut.as_ref().map(|_| "LastUpdateTime"));
            assert_eq!(e.get("rt"), ms.as_deref());
            if cut {
                return;
            }
            let name = a
                .title
                .as_deref()
                .filter(|t| t.chars().any(|c| !c.is_whitespace() && !c.is_control()));
            assert_eq!(
                e.name,
                name.map(no_controls)
                    .unwrap_or_else(|| "Defender alert".into())
            );
            let ext = |k: &str, v: Option<&str>| {
                assert_eq!(e.get(k), v.and_then(cef_value).as_deref(), "CEF {k}")
            };
            ext("deviceFacility", a.service_source.as_deref());
            ext(
                "MicrosoftDefenderClassification",
                a.classification.as_deref(),
            );
            ext("MicrosoftDefenderDetermination", a.determination.as_deref());
            ext(
                "MicrosoftDefenderIncidentLink",
                a.incident_web_url.as_deref(),
            );
            ext("msg", a.description.as_deref());
            ext("shost", x.device);
            ext("suser", x.user.and_then(|u| u.account_name.as_deref()));
            ext("sntdom", x.user.and_then(|u| u.domain_name.as_deref()));
            ext("fname", x.file.and_then(|f| f.file_name.as_deref()));
            ext("fileHash", x.file.and_then(|f| f.sha1.as_deref()));
            ext("cs6", x.file.and_then(|f| f.sha256.as_deref()));
            ext("request", x.url);
            ext("duser", x.mailbox);
            let numeric = a
                .incident_id
                .as_deref()
                .filter(|i| i.parse::<i64>().is_ok());
            ext("cn1", numeric);
            let v4 = x
                .ips
                .iter()
                .find(|i| i.parse::<std::net::Ipv4Addr>().is_ok());
            ext("src", v4.copied());
        }
    }
}

#[test]
fn samples_round_trip_in_every_format() {
    let alerts = alert_model::samples::graph_alerts();
    assert!(alerts.len() >= 8);
    for (name, format) in formats() {
        let f = formatter(format, 64 * 1024);
        for a in &alerts {
            let line = format_graph(&f, a);
            check_graph(format, a, &line);
            assert!(
                !line.contains("truncated=") && !line.contains("cn3="),
                "{name}: no cut at 64 KiB"
            );
        }
    }
}

#[test]
fn samples_at_small_caps_are_cut_in_order_and_marked() {
    let alerts = alert_model::samples::graph_alerts();
    for (name, format) in formats() {
        for max in [480, 600, 1024, 2048] {
            let f = formatter(format, max);
            for a in &alerts {
                let line = format_graph(&f, a);
                assert!(line.len() <= max, "{name} {max}: {} bytes", line.len());
                check_graph(format, a, &line);
            }
        }
    }
}

/// The real documentation sample (../shared/graph-fixtures, never copied here).
#[test]
fn the_documentation_sample_in_every_format() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/graph-fixtures/list-alerts_v2_response.json");
    let Ok(page) = std::fs::read(&path) else {
        sim::skip_notice(&format!(
            "{} is absent; the real-sample checks did not run",
            path.display()
        ));
        return;
    };
    let alerts: Vec<GraphAlert> = alert_model::parse_alerts_of(&page)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    for (name, format) in formats() {
        for max in [480, 2048, 8192, 64 * 1024] {
            let f = formatter(format, max);
            let line = format_graph(&f, a);
            assert!(line.len() <= max, "{name} {max}");
            check_graph(format, a, &line);
        }
    }
    // Spot checks written from the sample itself, not from the mapping code.
    let f = formatter(Format::Cef, 8192);
    let Parsed::Cef(_, e) = parse(Format::Cef, &format_graph(&f, a)) else {
        unreachable!()
    };
    assert_eq!(e.get("cs2"), Some("da637551227677560813_-961444813"));
    assert_eq!(e.get("cs3"), Some("2021-05-02T14:19:01.3266667Z"));
    assert_eq!(e.get("shost"), Some("tempDns"));
    assert_eq!(e.get("fname"), Some("MsSense.exe"));
    assert_eq!(e.get("filePath"), Some("C:\\Program Files\\temp"));
    assert_eq!(e.get("cn1"), Some("28282"));
    assert_eq!(
        e.get("deviceFacility"),
        Some("microsoftDefenderForEndpoint")
    );
    assert_eq!(e.get("sourceServiceName"), Some("antivirus"));
    assert_eq!(e.class_id, "e0da400f-affd-43ef-b1d5-afc2eb6f2756");
    assert_eq!(e.severity, "3");
}

/// The hostile sample: one event, no forged field, every value where it belongs.
#[test]
fn hostile_content_forges_nothing() {
    let alerts = alert_model::samples::graph_alerts();
    let a = alerts
        .iter()
        .find(|a| a.title.as_deref().is_some_and(|t| t.contains("Evil")))
        .unwrap();
    for (name, format) in formats() {
        let f = formatter(format, 64 * 1024);
        let line = format_graph(&f, a);
        check_graph(format, a, &line);
        match parse(format, &line) {
            Parsed::Rfc5424(m) => assert_eq!(m.sd.len(), 1, "{name}"),
            Parsed::Leef(_, e) => {
                assert!(
                    e.get("forged").is_none() && e.get("sev") == Some("8"),
                    "{name}"
                );
                let keys: Vec<_> = e.attributes.iter().map(|(k, _)| k.as_str()).collect();
                let mut dedup = keys.clone();
                dedup.sort();
                dedup.dedup();
                assert_eq!(dedup.len(), keys.len(), "{name}: a key twice: {keys:?}");
            }
            Parsed::Cef(_, e) => {
                assert!(
                    e.get("forged").is_none() && e.get("src").is_none(),
                    "{name}: {line}"
                );
                assert_eq!(e.severity, "8");
            }
        }
    }
}

/// Unknown evidence types reach the JSON body whole and count as evidence in LEEF.
#[test]
fn unknown_evidence_types_are_forwarded() {
    let alerts = alert_model::samples::graph_alerts();
    let a = alerts
        .iter()
        .find(|a| a.service_source.as_deref() == Some("microsoftSentinel"))
        .unwrap();
    assert!(
        a.evidence()
            .iter()
            .all(|e| matches!(e, GraphEvidence::Other(_)))
    );
    let f = formatter(Format::Rfc5424, 64 * 1024);
    let Parsed::Rfc5424(m) = parse(Format::Rfc5424, &format_graph(&f, a)) else {
        unreachable!()
    };
    let body: serde_json::Value = serde_json::from_str(m.msg.as_deref().unwrap()).unwrap();
    assert_eq!(body["evidence"][0]["resourceName"], "rg-prod");
    assert_eq!(
        body["evidence"][1]["@odata.type"],
        "#microsoft.graph.security.aiAgentEvidence"
    );
    assert_eq!(
        m.severity, 5,
        "unknownFutureValue maps like any unknown severity"
    );
}

fn hostile() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "|",
        "=",
        "\\",
        "]",
        "[",
        "\"",
        "^",
        "\t",
        "\r",
        "\n",
        "\0",
        " ",
        "\\n",
        "x=1",
        "cs2=evil",
        "^sev=10",
        "] [x@1 a=\"b\"",
        "CEF:0|",
        "LEEF:2.0|",
        "🔥",
        "é",
        "\u{2028}",
        "a",
        "Z",
    ]);
    prop::collection::vec(atoms, 0..24).prop_map(|v| v.concat())
}

fn account(name: &str, domain: &str) -> Option<UserAccount> {
    Some(UserAccount {
        account_name: Some(name.to_owned()),
        domain_name: Some(domain.to_owned()),
        ..Default::default()
    })
}

fn t(kind: &str) -> Option<String> {
    Some(format!(
        "{}{kind}",
        alert_model::graph::EVIDENCE_TYPE_PREFIX
    ))
}

fn graph_strategy() -> impl Strategy<Value = GraphAlert> {
    (
        prop::collection::vec(hostile(), 12),
        prop::option::of(0i64..=4_000_000_000_000_000),
    )
        .prop_map(|(s, lut)| {
            let ev = vec![
                GraphEvidence::Device(DeviceEvidence {
                    odata_type: t("deviceEvidence"),
                    device_dns_name: Some(s[4].clone()),
                    ..Default::default()
                }),
                GraphEvidence::User(UserEvidence {
                    odata_type: t("userEvidence"),
                    user_account: account(&s[9], &s[10]),
                    ..Default::default()
                }),
                GraphEvidence::File(FileEvidence {
                    odata_type: t("fileEvidence"),
                    file_details: Some(FileDetails {
                        file_name: Some(s[11].clone()),
                        sha256: Some(s[8].clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                GraphEvidence::Ip(IpEvidence {
                    odata_type: t("ipEvidence"),
                    ip_address: Some(s[0].clone()),
                    ..Default::default()
                }),
                GraphEvidence::Url(UrlEvidence {
                    odata_type: t("urlEvidence"),
                    url: Some(s[11].clone()),
                    ..Default::default()
                }),
                GraphEvidence::Mailbox(MailboxEvidence {
                    odata_type: t("mailboxEvidence"),
                    primary_address: Some(s[7].clone()),
                    ..Default::default()
                }),
                GraphEvidence::Other(OtherEvidence {
                    verdict: Some(s[3].clone()),
                    ..Default::default()
                }),
            ];
            GraphAlert {
                id: Some(format!("da{}", s[0])),
                title: Some(s[1].clone()),
                description: Some(s[2].clone()),
                category: Some(s[3].clone()),
                severity: Some(
                    [
                        "high",
                        "medium",
                        "low",
                        "informational",
                        "unknownFutureValue",
                    ][s[5].len() % 5]
                        .to_owned(),
                ),
                status: Some(s[6].clone()),
                service_source: Some(s[6].clone()),
                classification: Some(s[7].clone()),
                determination: Some(s[8].clone()),
                incident_id: Some(s[9].clone()),
                incident_web_url: Some(s[10].clone()),
                detector_id: Some(s[7].clone()),
                last_update_date_time: lut
                    .and_then(|n| Timestamp::from_unix_nanos(i128::from(n) * 100)),
                evidence: Some(ev),
                ..Default::default()
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn hostile_graph_alerts_never_forge_events_or_fields(a in graph_strategy(), max in 480usize..6000) {
        for (_, format) in formats() {
            let f = formatter(format, max);
            let line = format_graph(&f, &a);
            prop_assert!(line.len() <= max);
            check_graph(format, &a, &line);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// A 1 MB value anywhere still gives one valid event within the cap.
    #[test]
    fn megabyte_values_are_cut_not_forwarded(a in graph_strategy(), field in 0usize..4, max in prop::sample::select(vec![480usize, 8192, 65536])) {
        let big = "x|=\\]\"^\n".repeat(1024 * 1024 / 8);
        let mut a = a;
        match field {
            0 => a.title = Some(big),
            1 => a.description = Some(big),
            2 => a.id = Some(big),
            _ => a.evidence = Some(vec![GraphEvidence::Url(UrlEvidence { url: Some(big), ..Default::default() })]),
        }
        for (_, format) in formats() {
            let f = formatter(format, max);
            let line = format_graph(&f, &a);
            prop_assert!(line.len() <= max);
            check_graph(format, &a, &line);
        }
    }
}

/// A repaired Graph alert carries the same marker as a repaired MDE alert, in every format.
#[test]
fn repaired_graph_alerts_are_marked() {
    let raw = b"{\"id\":\"g1\",\"lastUpdateDateTime\":\"2026-11-21T09:02:44.5566667Z\",\"title\":\"caf\xe9\",\"incidentId\":42}";
    let a: GraphAlert = alert_model::parse_lenient(raw).unwrap();
    for (name, format) in formats() {
        let f = formatter(format, 8192);
        let line = format_graph(&f, &a);
        check_graph(format, &a, &line);
        let marker = match parse(format, &line) {
            Parsed::Rfc5424(m) => m.sd_param(SD_ID, "repaired").map(str::to_owned),
            Parsed::Leef(_, e) => e.get("repaired").map(str::to_owned),
            Parsed::Cef(_, e) => e.get("DefenderSyslogRepaired").map(str::to_owned),
        };
        assert_eq!(marker.as_deref(), Some("utf8,type:incidentId"), "{name}");
    }
}

/// `format_ref` (what the delivery loop calls for any channel item) is `format` / `format_graph`.
#[test]
fn format_ref_picks_the_source() {
    let g = alert_model::samples::graph_alerts().remove(0);
    let m = alert_model::samples::alerts().remove(0);
    let f = formatter(Format::Cef, 8192);
    let item = alert_model::FetchItem::Graph(Box::new(g.clone()));
    let alert = item.alert().unwrap();
    assert_eq!(alert.version_key(), g.version_key());
    let (mut via_ref, mut direct) = (Vec::new(), Vec::new());
    f.format_ref(alert, &mut via_ref);
    f.format_graph(&g, &mut direct);
    assert_eq!(via_ref, direct);
    let item = alert_model::FetchItem::Alert(Box::new(m.clone()));
    let (mut via_ref, mut direct) = (Vec::new(), Vec::new());
    f.format_ref(item.alert().unwrap(), &mut via_ref);
    f.format(&m, &mut direct);
    assert_eq!(via_ref, direct);
    let cp = alert_model::FetchItem::Checkpoint(alert_model::Checkpoint {
        watermark: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
    });
    assert!(cp.alert().is_none());
}
