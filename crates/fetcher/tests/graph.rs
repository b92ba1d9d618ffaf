//! The poller and client against the simulated Microsoft Graph alerts_v2 API (which enforces
//! Graph's rules: `$top` ≤ 1000, `$skip` ≤ 500, newest first unless `$orderby`, documented
//! filter properties only, audience, permission, throttling, the Prefer header). Every paging
//! test ends with the conservation oracle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use alert_model::{FetchItem, GraphAlert, ResumePoint, Timestamp, VersionKey};
use common::*;
use fetcher::{ApiConfig, Client, FetchError, Source};
use sim::defender::store::quantize;
use sim::defender::{Endpoint, Fault, Generated, MockDefender, MockOptions, generated_id};

fn ago(secs: u64) -> Timestamp {
    quantize(Timestamp::now().saturating_sub(Duration::from_secs(secs)))
}

fn graph_config(mock: &MockDefender) -> ApiConfig {
    api_config(mock).with_source(Source::Graph)
}

fn graph_mock(generated: Option<Generated>) -> MockOptions {
    MockOptions {
        generated,
        ..MockOptions::graph()
    }
}

fn graph_alerts(items: &[FetchItem]) -> Vec<&GraphAlert> {
    items
        .iter()
        .filter_map(|i| match i {
            FetchItem::Graph(a) => Some(&**a),
            _ => None,
        })
        .collect()
}

/// Every alerts request stayed inside Graph's caps and asked for ascending order.
fn assert_graph_queries(mock: &MockDefender) {
    for r in mock.request_log() {
        if r.endpoint != Endpoint::Alerts {
            continue;
        }
        assert_eq!(r.path, "/v1.0/security/alerts_v2");
        assert!(r.status != 400, "refused query: {}", r.query);
        assert!(
            r.query.contains("$orderby=lastUpdateDateTime asc"),
            "{}",
            r.query
        );
        assert!(
            r.query.contains("lastUpdateDateTime ge") || r.query.contains("lastUpdateDateTime gt")
        );
    }
}

#[tokio::test]
async fn keyset_paging_reads_every_alert_and_update_once_and_sends_the_prefer_header() {
    let g = Generated {
        count: 350,
        start: ago(1800),
        step: Duration::from_secs(3),
        tie: 1,
    };
    let mock = start_mock(graph_mock(Some(g.clone()))).await;
    let client = Client::new(graph_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    let mut expected: HashSet<VersionKey> = mock.current_versions().into_iter().collect();
    assert_eq!(expected.len(), 350);
    run.settle(&expected, &mock).await;
    let ids: Vec<String> = (0..10).map(|i| generated_id(i * 7)).collect();
    expected.extend(mock.update(&ids));
    expected.extend(mock.insert_new(3));
    run.settle(&expected, &mock).await;
    let (items, stats) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    assert_graph_queries(&mock);
    let alerts = graph_alerts(&items);
    // Evolvable enum values after `unknownFutureValue` arrive as themselves (Prefer header).
    assert!(
        alerts
            .iter()
            .any(|a| a.service_source.as_deref() == Some("microsoftSentinel")),
        "no Sentinel alert came as itself"
    );
    assert!(
        !alerts
            .iter()
            .any(|a| a.service_source.as_deref() == Some("unknownFutureValue"))
    );
    assert_eq!(stats.alerts_fetched.load(Relaxed), expected.len() as u64);
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn a_service_that_ignores_orderby_stops_the_poller_with_a_clear_error() {
    let g = Generated {
        count: 30,
        start: ago(600),
        step: Duration::from_secs(2),
        tie: 1,
    };
    let mock = start_mock(MockOptions {
        graph_ignores_orderby: true,
        ..graph_mock(Some(g))
    })
    .await;
    let client = Client::new(graph_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    let r = tokio::time::timeout(Duration::from_secs(30), run.task)
        .await
        .unwrap()
        .unwrap();
    let e = r.unwrap_err();
    assert!(matches!(e, FetchError::OrderIgnored { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("ignored $orderby=lastUpdateDateTime asc"),
        "{msg}"
    );
    assert!(!e.is_transient());
    let items = run.items.lock().unwrap();
    assert!(
        !items.iter().any(|i| matches!(i, FetchItem::Checkpoint(_))),
        "no checkpoint may pass alerts read out of order"
    );
}

#[tokio::test]
async fn a_tie_larger_than_skip_and_top_reach_is_read_whole_by_created_date_time() {
    let mock = start_mock(MockOptions::graph()).await;
    let tie = ago(900);
    let mut expected = keys(&mock.insert_ties(1300, tie));
    expected.extend(mock.insert_late(20, Duration::from_secs(1000)));
    expected.extend(mock.insert_late(20, Duration::from_secs(800)));
    let client = Client::new(graph_config(&mock)).unwrap();
    let mut cfg = poller_config();
    cfg.page_size = 200; // $skip 500 + $top 200 reach 700 of the 1300
    let run = spawn(&client, cfg, ResumePoint::default());
    run.settle(&expected, &mock).await;
    let (items, _) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    assert_graph_queries(&mock);
    let log = mock.request_log();
    assert!(
        log.iter().any(|r| r.query.contains("createdDateTime")),
        "the tie was narrowed by createdDateTime"
    );
    let tied = graph_alerts(&items)
        .iter()
        .filter(|a| a.last_update_date_time == Some(tie))
        .count();
    assert_eq!(tied, 1300);
    // (The log is shared by the tests of this binary: look for this tie's time.)
    assert!(!log_text().contains(&format!("share lastUpdateDateTime {tie}")));
}

#[tokio::test]
async fn an_unwalkable_tie_is_one_loud_warning_and_the_alerts_after_it_still_arrive() {
    let mock = start_mock(MockOptions::graph()).await;
    let tie = ago(900);
    let created = ago(2000);
    let tied = keys(&mock.insert_ties_created(700, tie, created));
    let after = keys(&mock.insert_late(30, Duration::from_secs(600)));
    let client = Client::new(graph_config(&mock)).unwrap();
    let mut cfg = poller_config();
    cfg.page_size = 50; // reach: $skip 500 + $top 50 = 550 of the 700
    let run = spawn(&client, cfg, ResumePoint::default());
    run.settle(&after, &mock).await;
    // More cycles re-read the tie inside the overlap: still one warning.
    let before = alerts_requests(&mock);
    run.wait_for("more cycles", |_| alerts_requests(&mock) > before + 40)
        .await;
    let (items, stats) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    assert_graph_queries(&mock);
    let emitted: HashSet<VersionKey> = items.iter().filter_map(item_key).collect();
    let read = tied.intersection(&emitted).count();
    assert!((550..700).contains(&read), "{read} of the tie read");
    let text = log_text();
    let warning = format!("share lastUpdateDateTime {tie} and createdDateTime {created}");
    assert_eq!(
        text.matches(&warning).count(),
        1,
        "one warning naming the tie"
    );
    assert!(text.contains("more than 550 alert versions"));
    // The watermark moved past the tie: no stall.
    assert!(stats.watermark_unix_ms.load(Relaxed) > u64::try_from(tie.unix_millis()).unwrap());
}

#[tokio::test]
async fn a_poison_alert_deep_in_a_narrowed_tie_is_isolated_within_the_skip_cap() {
    let mock = start_mock(MockOptions::graph()).await;
    let tie = ago(900);
    let tied = mock.insert_ties(1300, tie);
    // Position 650 of the tie: the page at `$skip` 500 breaks 150 elements in, so isolating
    // it by index alone would ask for `$skip` 650 (Graph answers 400).
    let poison = tied[650].id.clone();
    mock.poison(&poison);
    let mut expected = keys(&tied);
    expected.extend(mock.insert_late(20, Duration::from_secs(600)));
    let others: HashSet<VersionKey> = expected
        .iter()
        .filter(|k| k.id != poison)
        .cloned()
        .collect();
    let client = Client::new(graph_config(&mock)).unwrap();
    let mut cfg = poller_config();
    cfg.page_size = 200;
    let run = spawn(&client, cfg, ResumePoint::default());
    run.settle(&others, &mock).await;
    run.wait_for("the poison forwarded as unreadable", |r| {
        r.stats.alerts_unreadable.load(Relaxed) >= 1
    })
    .await;
    assert_graph_queries(&mock);
    let unreadable: Vec<Option<String>> = run
        .items
        .lock()
        .unwrap()
        .iter()
        .filter_map(|i| match i {
            FetchItem::Unreadable(u) => Some(u.id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(unreadable, vec![Some(poison.clone())], "forwarded once");
    // Once the API serves it properly (inside the overlap), it arrives as itself.
    mock.unpoison(&poison);
    run.settle(&expected, &mock).await;
    let (items, _) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    assert_graph_queries(&mock);
}

#[tokio::test]
async fn late_visible_alerts_inside_the_overlap_are_caught() {
    let mock = start_mock(MockOptions::graph()).await;
    let mut expected = keys(&mock.insert_late(40, Duration::from_secs(700)));
    let client = Client::new(graph_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    run.settle(&expected, &mock).await;
    // Visible only now, dated 5 minutes before the watermark: inside the 10-minute overlap.
    expected.extend(mock.insert_late(6, Duration::from_secs(1000)));
    run.settle(&expected, &mock).await;
    let (items, _) = run.stop().await;
    check_conservation_allowing_late(&mock, &items, &HashSet::new());
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let mock = start_mock(MockOptions::graph()).await;
    let expected = keys(&mock.insert_late(120, Duration::from_secs(300)));
    mock.push_faults([
        Fault::TooManyRequests {
            retry_after_secs: 2,
        },
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    ]);
    let client = Client::new(graph_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    run.settle(&expected, &mock).await;
    let (items, stats) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    assert_eq!(stats.throttled.load(Relaxed), 2);
    let log: Vec<_> = mock
        .request_log()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::Alerts)
        .collect();
    for (i, r) in log.iter().enumerate() {
        if let Some(secs) = r.retry_after {
            let gap = log[i + 1].at.duration_since(r.at);
            assert!(
                gap >= Duration::from_secs(secs),
                "{gap:?} after a 429 asking for {secs}s"
            );
        }
    }
}

#[tokio::test]
async fn the_mock_throttles_above_its_per_minute_limit_and_the_poller_waits() {
    let mock = start_mock(MockOptions {
        graph_requests_per_minute: Some(4),
        ..MockOptions::graph()
    })
    .await;
    let expected = keys(&mock.insert_late(30, Duration::from_secs(300)));
    let client = Client::new(graph_config(&mock)).unwrap();
    let mut cfg = poller_config();
    cfg.page_size = 10;
    cfg.poll_interval = Duration::from_secs(5);
    let run = spawn(&client, cfg, ResumePoint::default());
    run.wait_for("a 429", |r| r.stats.throttled.load(Relaxed) > 0)
        .await;
    let (items, _) = run.stop().await;
    let log: Vec<_> = mock
        .request_log()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::Alerts)
        .collect();
    let throttled = log.iter().find(|r| r.status == 429).unwrap();
    assert!(throttled.retry_after.is_some_and(|s| (1..=61).contains(&s)));
    assert_eq!(log.iter().filter(|r| r.status == 200).count(), 4);
    // Three pages of 10 (and one empty) were served before the limit: nothing lost so far.
    let got: HashSet<VersionKey> = items.iter().filter_map(item_key).collect();
    assert!(got.is_subset(&expected) && got.len() == 30);
}

#[tokio::test]
async fn missing_permission_names_the_graph_permission_with_admin_consent() {
    let mock = start_mock(MockOptions::graph()).await;
    mock.set_forbidden(true);
    let client = Client::new(graph_config(&mock)).unwrap();
    let e = client.probe().await.unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::Forbidden {
                api: Source::Graph,
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("Microsoft Graph → Application → SecurityAlert.Read.All with admin consent"),
        "{msg}"
    );
    assert!(msg.contains("does not cover Graph"), "{msg}");
    let run = spawn(&client, poller_config(), ResumePoint::default());
    let r = tokio::time::timeout(Duration::from_secs(30), run.task)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(r, Err(FetchError::Forbidden { .. })), "{r:?}");
}

#[tokio::test]
async fn a_token_for_the_mde_api_is_refused_with_an_actionable_audience_error() {
    let mock = start_mock(MockOptions::graph()).await;
    mock.insert_late(1, Duration::from_secs(60));
    let mut cfg = graph_config(&mock);
    cfg.scope = Some("https://api.securitycenter.microsoft.com/.default".into());
    let client = Client::new(cfg).unwrap();
    let e = client.probe().await.unwrap_err();
    assert!(matches!(e, FetchError::WrongAudience { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("https://graph.microsoft.com/.default"),
        "{msg}"
    );
    assert!(msg.contains("defender.scope"), "{msg}");
    assert!(!e.is_transient());
    // The right scope works.
    let client = Client::new(graph_config(&mock)).unwrap();
    let p = client.probe().await.unwrap();
    assert_eq!(p.alerts_returned, 1);
    assert_eq!(p.scope, "https://graph.microsoft.com/.default");
    assert!(p.alerts_url.ends_with("/v1.0/security/alerts_v2"));
}

#[tokio::test]
async fn the_real_documented_sample_pages_through_unchanged() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/graph-fixtures/list-alerts_v2_response.json"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        sim::skip_notice(&format!(
            "{path} is absent: the real alerts_v2 sample was not tested"
        ));
        return;
    };
    let page: serde_json::Value = serde_json::from_str(&text).unwrap();
    let values = page["value"].as_array().unwrap().clone();
    assert!(!values.is_empty());
    let mock = start_mock(MockOptions::graph()).await;
    mock.insert_values(values.clone());
    let client = Client::new(graph_config(&mock)).unwrap();
    let mut cfg = poller_config();
    // The sample is from 2021.
    cfg.initial_lookback = Duration::from_secs(10 * 365 * 24 * 3600);
    let run = spawn(&client, cfg, ResumePoint::default());
    let expected: HashSet<VersionKey> = mock.current_versions().into_iter().collect();
    run.settle(&expected, &mock).await;
    let (items, _) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    let alerts = graph_alerts(&items);
    for v in &values {
        let a = alerts
            .iter()
            .find(|a| a.id.as_deref() == v["id"].as_str())
            .unwrap();
        assert!(a.repairs.is_empty(), "{:?}", a.repairs);
        assert_eq!(a.title.as_deref(), v["title"].as_str());
        assert_eq!(a.incident_id.as_deref(), v["incidentId"].as_str());
        assert_eq!(a.service_source.as_deref(), v["serviceSource"].as_str());
        assert_eq!(
            a.last_update_date_time.map(|t| t.to_string()).as_deref(),
            v["lastUpdateDateTime"].as_str()
        );
        assert_eq!(
            a.evidence().len(),
            v["evidence"].as_array().map_or(0, Vec::len)
        );
    }
}
