//! The poller against the simulated Defender API: paging (keyset and tie walk), updates during
//! a poll, late visibility, faults, resume. Every test ends with the conservation oracle
//! (`common::check_conservation`) and the secret-leak check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use alert_model::{FetchItem, ResumePoint, Timestamp, Unreadable, VersionKey};
use common::*;
use fetcher::Client;
use sim::defender::store::quantize;
use sim::defender::{Compression, Endpoint, Fault, Generated, MockOptions, generated_id};

fn ago(secs: u64) -> Timestamp {
    quantize(Timestamp::now().saturating_sub(Duration::from_secs(secs)))
}

fn generated(count: u64, start_secs_ago: u64, step_ms: u64, tie: u64) -> Generated {
    Generated {
        count,
        start: ago(start_secs_ago),
        step: Duration::from_millis(step_ms),
        tie,
    }
}

fn all_generated(g: &Generated) -> HashSet<VersionKey> {
    (0..g.count)
        .map(|i| VersionKey {
            id: generated_id(i),
            last_update_time: g.start.saturating_add(g.step * (i / g.tie) as u32),
        })
        .collect()
}

#[tokio::test]
async fn keyset_paging_forwards_every_alert_and_every_update_once() {
    let g = generated(250, 1800, 5000, 1);
    let mock = start_mock(MockOptions {
        generated: Some(g.clone()),
        compression: Compression::Gzip,
        ..Default::default()
    })
    .await;
    let client = Client::new(api_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    let mut expected = all_generated(&g);
    run.settle(&expected, &mock).await;
    // Analysts update ten alerts: each update is a new version, forwarded once.
    let ids: Vec<String> = (0..250).step_by(25).map(generated_id).collect();
    expected.extend(mock.update(&ids));
    expected.extend(mock.insert_new(3));
    run.settle(&expected, &mock).await;
    let (items, stats) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    assert_eq!(
        stats
            .alerts_fetched
            .load(std::sync::atomic::Ordering::Relaxed),
        expected.len() as u64
    );
    assert!(
        stats
            .versions_deduplicated
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0,
        "overlap re-reads happened"
    );
    // Keyset paging: full pages move the lower bound, never $skip.
    let log = mock.request_log();
    let alerts: Vec<_> = log
        .iter()
        .filter(|r| r.endpoint == Endpoint::Alerts)
        .collect();
    assert!(
        alerts.iter().all(|r| !r.query.contains("$skip")),
        "keyset path uses no $skip"
    );
    assert!(
        alerts
            .iter()
            .all(|r| r.query.contains("$orderby=lastUpdateTime asc")
                && r.query.contains("$expand=evidence"))
    );
    let froms: HashSet<&str> = alerts.iter().map(|r| r.query.as_str()).collect();
    assert!(froms.len() >= 3, "the lower bound moved");
    // The evidence arrived (gzip-compressed) and parsed.
    let with_evidence = items.iter().filter(|i| matches!(i, FetchItem::Alert(a) if a.evidence.as_ref().is_some_and(|e| !e.is_empty()))).count();
    assert!(with_evidence > 200);
    // The final watermark is the newest version's time.
    let last_w = items
        .iter()
        .rev()
        .find_map(|i| match i {
            FetchItem::Checkpoint(c) => Some(c.watermark),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        last_w,
        expected.iter().map(|k| k.last_update_time).max().unwrap()
    );
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn updates_between_two_page_requests_are_not_lost() {
    let g = generated(300, 1800, 3000, 1);
    let mock = start_mock(MockOptions {
        generated: Some(g.clone()),
        compression: Compression::Deflate,
        ..Default::default()
    })
    .await;
    // Before the 2nd and 3rd page: alerts already read, alerts on the next page and alerts
    // further ahead are updated, which shifts the ordered result under the pager's feet.
    let moved = [5u64, 60, 101, 102, 150, 299];
    for (n, ids) in [(2u64, &moved[..3]), (3, &moved[3..])] {
        let ids: Vec<String> = ids.iter().map(|i| generated_id(*i)).collect();
        mock.before_alerts_request(n, move |store| {
            for id in &ids {
                store.update(id, Timestamp::now());
            }
        });
    }
    let client = Client::new(api_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    // Everything served, including both versions of the moved alerts where both were shown.
    run.wait_for("updated versions", |r| {
        let e = r.emitted_keys();
        moved.iter().all(|i| {
            e.iter().any(|k| {
                k.id == generated_id(*i)
                    && k.last_update_time > g.start.saturating_add(g.step * 299)
            })
        })
    })
    .await;
    let mut expected: HashSet<VersionKey> = all_generated(&g)
        .into_iter()
        .filter(|k| !moved.iter().any(|i| generated_id(*i) == k.id))
        .collect();
    for i in moved {
        let v = mock.alert(&generated_id(i)).unwrap();
        expected.insert(VersionKey {
            id: generated_id(i),
            last_update_time: Timestamp::parse(v["lastUpdateTime"].as_str().unwrap()).unwrap(),
        });
    }
    run.settle(&expected, &mock).await;
    let (items, _) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn fifteen_hundred_alerts_with_one_last_update_time_are_walked_with_skip() {
    let mock = start_mock(MockOptions::default()).await;
    let tie = ago(900);
    let mut expected = keys(&mock.insert_ties(1500, tie));
    expected.extend(mock.insert_late(40, Duration::from_secs(1000))); // before the tie
    expected.extend(mock.insert_late(40, Duration::from_secs(800))); // after it
    let client = Client::new(api_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    run.settle(&expected, &mock).await;
    // A new batch update produces another tie while polling.
    expected.extend(mock.insert_ties(250, quantize(Timestamp::now())));
    run.settle(&expected, &mock).await;
    let (items, _) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    let log = mock.request_log();
    let walk: Vec<_> = log
        .iter()
        .filter(|r| r.query.contains("lastUpdateTime le") && r.query.contains("$skip"))
        .collect();
    assert!(walk.len() >= 14, "tie walk pages: {}", walk.len());
    assert!(
        log.iter()
            .any(|r| r.query.contains(&format!("lastUpdateTime gt {tie}"))),
        "continues after the tie"
    );
    let emitted_tie = items
        .iter()
        .filter(|i| matches!(i, FetchItem::Alert(a) if a.last_update_time == Some(tie)))
        .count();
    assert_eq!(emitted_tie, 1500);
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn late_visible_alerts_inside_the_overlap_are_caught() {
    let g = generated(120, 1200, 5000, 1);
    let mock = start_mock(MockOptions {
        generated: Some(g.clone()),
        ..Default::default()
    })
    .await;
    let client = Client::new(api_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    let mut expected = all_generated(&g);
    run.settle(&expected, &mock).await;
    // The watermark is now at the newest alert (~10 min ago); these become visible only now,
    // carrying times up to 5 minutes before it: inside the 10-minute overlap.
    let w = g.start.saturating_add(g.step * 119);
    let late = mock.insert_ties(7, w.saturating_sub(Duration::from_secs(300)));
    expected.extend(late.clone());
    expected.extend(mock.insert_ties(3, w));
    // The limit, made visible: an alert appearing with a time further back than the overlap
    // is never asked for (raise `overlap` if a tenant shows such delays).
    let too_late = mock.insert_ties(2, w.saturating_sub(Duration::from_secs(900)));
    run.settle(&expected, &mock).await;
    let (items, _) = run.stop().await;
    let emitted: HashSet<VersionKey> = items
        .iter()
        .filter_map(|i| match i {
            FetchItem::Alert(a) => a.version_key(),
            _ => None,
        })
        .collect();
    assert!(too_late.iter().all(|k| !emitted.contains(k)));
    check_conservation_allowing_late(&mock, &items, &HashSet::new());
    for k in late {
        assert!(k.last_update_time < w);
    }
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn transient_faults_are_retried_without_loss() {
    let g = generated(230, 1800, 5000, 1);
    let mock = start_mock(MockOptions {
        generated: Some(g.clone()),
        ..Default::default()
    })
    .await;
    mock.push_faults([
        Fault::Status500,
        Fault::Empty404,
        Fault::Malformed,
        Fault::Truncated,
        Fault::Status500,
    ]);
    let client = Client::new(api_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    let expected = all_generated(&g);
    run.settle(&expected, &mock).await;
    // More faults mid-run, between pages.
    mock.push_faults([Fault::Truncated, Fault::Status500]);
    let more = keys(&mock.insert_new(5));
    run.settle(&more, &mock).await;
    let (items, stats) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    assert!(stats.errors.load(std::sync::atomic::Ordering::Relaxed) >= 7);
    assert_eq!(
        stats
            .poison_alerts
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    let statuses: Vec<u16> = mock
        .request_log()
        .iter()
        .filter(|r| r.endpoint == Endpoint::Alerts)
        .map(|r| r.status)
        .collect();
    assert!(statuses.contains(&500) && statuses.contains(&404));
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn a_hung_server_times_out_and_is_retried() {
    let mock = start_mock(MockOptions::default()).await;
    let expected = keys(&mock.insert_late(12, Duration::from_secs(100)));
    mock.push_faults([Fault::Delay(Duration::from_secs(3)), Fault::Status500]);
    let mut cfg = api_config(&mock);
    cfg.request_timeout = Duration::from_millis(500);
    let client = Client::new(cfg).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    run.settle(&expected, &mock).await;
    let (items, stats) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    assert!(stats.errors.load(std::sync::atomic::Ordering::Relaxed) >= 2);
    assert!(log_text().contains("timed out"), "the timeout was reported");
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn retry_after_is_honoured_and_learnt() {
    let g = generated(150, 1800, 5000, 1);
    let mock = start_mock(MockOptions {
        generated: Some(g.clone()),
        ..Default::default()
    })
    .await;
    mock.push_faults([Fault::TooManyRequests {
        retry_after_secs: 1,
    }]);
    let client = Client::new(api_config(&mock)).unwrap();
    // Slower polling: after a 429 the budget allows only part of the last minute's rate.
    let mut cfg = poller_config();
    cfg.poll_interval = Duration::from_millis(300);
    let run = spawn(&client, cfg, ResumePoint::default());
    run.settle(&all_generated(&g), &mock).await;
    mock.push_faults([Fault::TooManyRequests {
        retry_after_secs: 2,
    }]);
    let more = keys(&mock.insert_new(2));
    run.settle(&more, &mock).await;
    let (items, stats) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    assert_eq!(
        stats.throttled.load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    let log: Vec<_> = mock
        .request_log()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::Alerts)
        .collect();
    let mut seen = 0;
    for (i, r) in log.iter().enumerate() {
        if let Some(secs) = r.retry_after {
            seen += 1;
            let next = &log[i + 1];
            assert!(
                next.at.duration_since(r.at) >= Duration::from_secs(secs),
                "request {} came {:?} after a 429 asking for {secs}s",
                next.seq,
                next.at.duration_since(r.at)
            );
        }
    }
    assert_eq!(seen, 2);
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn a_poison_alert_is_isolated_by_index_forwarded_as_unreadable_and_does_not_hold_the_cursor()
{
    // 450 s of alerts: the poison stays inside the overlap (600 s) of the final watermark.
    let g = generated(150, 1800, 3000, 1);
    let mock = start_mock(MockOptions {
        generated: Some(g.clone()),
        ..Default::default()
    })
    .await;
    let poison = generated_id(137);
    let poison_time = g.start.saturating_add(g.step * 137);
    mock.poison(&poison);
    let client = Client::new(api_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    let others: HashSet<VersionKey> = all_generated(&g)
        .into_iter()
        .filter(|k| k.id != poison)
        .collect();
    // Alerts after the poison still flow, and the cursor passes it.
    run.settle(&others, &mock).await;
    let newest = others.iter().map(|k| k.last_update_time).max().unwrap();
    run.wait_for("the watermark past the poison", |r| {
        r.items
            .lock()
            .unwrap()
            .iter()
            .any(|i| matches!(i, FetchItem::Checkpoint(c) if c.watermark == newest))
    })
    .await;
    let unreadable: Vec<Unreadable> = run
        .items
        .lock()
        .unwrap()
        .iter()
        .filter_map(|i| match i {
            FetchItem::Unreadable(u) => Some((**u).clone()),
            _ => None,
        })
        .collect();
    assert_eq!(unreadable.len(), 1, "forwarded once, not once per cycle");
    assert_eq!(unreadable[0].id.as_deref(), Some(poison.as_str()));
    assert!(newest > poison_time);
    assert_eq!(run.stats.alerts_unreadable.load(Relaxed), 1);
    // Isolation went straight to the element by its index: `$top=1`, never a `$top=10` step.
    let queries: Vec<String> = mock.request_log().iter().map(|r| r.query.clone()).collect();
    assert!(
        queries.iter().any(|q| q.contains("$top=1&")),
        "{queries:#?}"
    );
    assert!(
        !queries.iter().any(|q| q.contains("$top=10&")),
        "{queries:#?}"
    );
    // Once the API serves it properly (inside the overlap), it is forwarded as a new version.
    mock.unpoison(&poison);
    let all = all_generated(&g);
    run.settle(&all, &mock).await;
    let (items, _) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn a_broken_element_is_forwarded_as_unreadable_once_and_the_page_goes_on() {
    let g = generated(250, 1800, 4000, 1);
    let mock = start_mock(MockOptions {
        generated: Some(g.clone()),
        ..Default::default()
    })
    .await;
    let bad = generated_id(38);
    let bad_time = g.start.saturating_add(g.step * 38);
    mock.set_broken(&bad, true);
    // Another one whose time cannot be recovered: recognised by its id on every re-read.
    let timeless = generated_id(120);
    mock.set_raw(
        &timeless,
        Some(format!(r#"{{"id":"{timeless}","broken":tru}}"#).into_bytes()),
    );
    let client = Client::new(api_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    let others: HashSet<VersionKey> = all_generated(&g)
        .into_iter()
        .filter(|k| k.id != bad && k.id != timeless)
        .collect();
    run.settle(&others, &mock).await;
    let requests_after_first_cycles = alerts_requests(&mock);
    // More cycles: the known unreadable element costs no retry any more.
    run.wait_for("three more cycles", |r| {
        r.stats.checkpoints.load(Relaxed) >= 12
    })
    .await;
    let (items, stats) = run.stop().await;
    let u: Vec<&Unreadable> = items
        .iter()
        .filter_map(|i| match i {
            FetchItem::Unreadable(u) => Some(&**u),
            _ => None,
        })
        .collect();
    assert_eq!(
        u.len(),
        2,
        "each forwarded once, whatever the number of cycles"
    );
    assert_eq!(u[0].id.as_deref(), Some(bad.as_str()));
    assert_eq!(u[0].last_update_time, Some(bad_time));
    assert!(u[0].error.starts_with("value[38]"), "{}", u[0].error);
    assert!(u[0].raw.ends_with(r#""broken":tru}"#));
    assert_eq!(
        (u[1].id.as_deref(), u[1].last_update_time),
        (Some(timeless.as_str()), None)
    );
    assert_eq!(stats.alerts_unreadable.load(Relaxed), 2);
    assert!(
        requests_after_first_cycles <= 8,
        "{requests_after_first_cycles}"
    );
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn resume_skips_delivered_versions_and_re_reads_the_overlap() {
    let g = generated(200, 1800, 5000, 1);
    let mock = start_mock(MockOptions {
        generated: Some(g.clone()),
        ..Default::default()
    })
    .await;
    let all = all_generated(&g);
    // The pipeline had committed up to alert 150 and delivered 150..=160 after that point.
    let watermark = g.start.saturating_add(g.step * 150);
    let delivered: Vec<VersionKey> = all
        .iter()
        .filter(|k| {
            k.last_update_time >= watermark.saturating_sub(Duration::from_secs(600))
                && k.last_update_time <= g.start.saturating_add(g.step * 160)
        })
        .cloned()
        .collect();
    let resume = ResumePoint {
        watermark: Some(watermark),
        delivered: delivered.clone(),
    };
    let client = Client::new(api_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), resume);
    let expected: HashSet<VersionKey> = all
        .iter()
        .filter(|k| k.last_update_time > g.start.saturating_add(g.step * 160))
        .cloned()
        .collect();
    run.settle(&expected, &mock).await;
    let (items, _) = run.stop().await;
    let delivered: HashSet<VersionKey> = delivered.into_iter().collect();
    check_conservation(&mock, &items, &delivered);
    let first = mock
        .request_log()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::Alerts)
        .unwrap();
    assert!(
        first.query.contains(&format!(
            "lastUpdateTime ge {}",
            watermark.saturating_sub(Duration::from_secs(600))
        )),
        "{}",
        first.query
    );
    // Nothing older than the re-read window was asked for or emitted.
    assert!(items.iter().all(|i| !matches!(i, FetchItem::Alert(a) if a.last_update_time < Some(watermark.saturating_sub(Duration::from_secs(600))))));
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn alerts_without_id_or_time_are_forwarded_with_a_warning() {
    let mock = start_mock(MockOptions::default()).await;
    let expected = keys(&mock.insert_late(5, Duration::from_secs(60)));
    mock.push_faults([Fault::ExtraItems(vec![
        serde_json::json!({"title": "no id, no time", "severity": "High"}),
        serde_json::json!({"id": "da000000000000000001_1", "title": "no time"}),
    ])]);
    let client = Client::new(api_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    run.settle(&expected, &mock).await;
    let (items, stats) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    assert_eq!(
        stats
            .unkeyed_alerts
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert!(log_text().contains("cannot be deduplicated"));
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn real_captures_pass_through_unchanged() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/mde-fixtures/swimlane"
    );
    let Ok(entries) = std::fs::read_dir(dir) else {
        sim::skip_notice(&format!(
            "real_captures_pass_through_unchanged: {dir} is absent"
        ));
        return;
    };
    let mut values = Vec::new();
    for e in entries {
        let p = e.unwrap().path();
        if !p.to_string_lossy().ends_with(".capture.json") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        if let Some(arr) = v[0]["json_body"]["value"].as_array() {
            values.extend(arr.iter().cloned());
        }
    }
    assert!(values.len() >= 21);
    let oldest = values
        .iter()
        .filter_map(|v| Timestamp::parse(v["lastUpdateTime"].as_str()?).ok())
        .min()
        .unwrap();
    let mock = start_mock(MockOptions::default()).await;
    mock.insert_values(values.clone());
    let client = Client::new(api_config(&mock)).unwrap();
    let mut cfg = poller_config();
    cfg.page_size = 4; // the captures' shared lastUpdateTime values exercise ties at page boundaries
    cfg.initial_lookback = Duration::from_secs(
        (Timestamp::now().unix_nanos() - oldest.unix_nanos()) as u64 / 1_000_000_000 + 86_400,
    );
    let run = spawn(&client, cfg, ResumePoint::default());
    let expected: HashSet<VersionKey> = values
        .iter()
        .filter_map(|v| {
            serde_json::from_value::<alert_model::Alert>(v.clone())
                .ok()?
                .version_key()
        })
        .filter(|k| {
            mock.alert(&k.id).is_some_and(|cur| {
                cur["lastUpdateTime"].as_str() == Some(&k.last_update_time.to_string())
            })
        })
        .collect();
    run.settle(&expected, &mock).await;
    let (items, _) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    // Field by field: what the poller emitted equals the capture parsed independently.
    for i in &items {
        if let FetchItem::Alert(a) = i {
            let id = a.id.as_deref().unwrap();
            let original = values.iter().rev().find(|v| v["id"] == id).unwrap();
            let parsed: alert_model::Alert = serde_json::from_value(original.clone()).unwrap();
            assert_eq!(**a, parsed, "{id}");
        }
    }
    assert_eq!(
        items
            .iter()
            .filter(|i| matches!(i, FetchItem::Alert(_)))
            .count(),
        expected.len()
    );
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn alerts_leaving_a_tie_during_the_skip_walk_do_not_hide_the_others() {
    // A 500-alert tie three hours back, then a backlog up to now: after the tie the watermark
    // jumps far past it, so the overlap re-read would never come back for a tied alert the
    // `$skip` walk missed.
    let g = generated(300, 3 * 3600 - 1, 30_000, 1);
    let mock = start_mock(MockOptions {
        generated: Some(g.clone()),
        ..Default::default()
    })
    .await;
    let tie = ago(3 * 3600);
    let tied = mock.insert_ties(500, tie);
    let mut expected = keys(&tied);
    expected.extend(all_generated(&g));
    // Before the walk's third page, five alerts it already read leave the tie (an analyst
    // updates them): every later tied alert shifts five positions down.
    let leaving: Vec<String> = tied[..5].iter().map(|k| k.id.clone()).collect();
    let moved = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = moved.clone();
    mock.before_alerts_request(3, move |store| {
        for id in &leaving {
            let t = store.update(id, Timestamp::now()).unwrap();
            sink.lock().unwrap().push(VersionKey {
                id: id.clone(),
                last_update_time: t,
            });
        }
    });
    let client = Client::new(api_config(&mock)).unwrap();
    let mut cfg = poller_config();
    cfg.initial_lookback = Duration::from_secs(4 * 3600);
    let run = spawn(&client, cfg, ResumePoint::default());
    run.wait_for("the hook", |_| moved.lock().unwrap().len() == 5)
        .await;
    expected.extend(moved.lock().unwrap().iter().cloned());
    run.settle(&expected, &mock).await;
    let (items, _) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    let walks = mock
        .request_log()
        .iter()
        .filter(|r| r.query.contains("lastUpdateTime le") && !r.query.contains("$skip"))
        .count();
    assert!(
        walks >= 2,
        "the tie was walked again from the start ({walks})"
    );
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn odd_content_is_repaired_marked_and_forwarded() {
    let mock = start_mock(MockOptions::default()).await;
    let keys_ = mock.insert_late(6, Duration::from_secs(120));
    let odd = |k: &VersionKey, body: &[u8]| {
        let mut b = format!(
            r#"{{"id":"{}","lastUpdateTime":"{}","#,
            k.id, k.last_update_time
        )
        .into_bytes();
        b.extend_from_slice(body);
        b.push(b'}');
        b
    };
    let bodies: [(&[u8], &str, Option<&str>); 5] = [
        (
            br#""title":"C:\\x\ud800.exe""#,
            "surrogate",
            Some("C:\\x\u{fffd}.exe"),
        ),
        (b"\"title\":\"caf\xe9\"", "utf8", Some("caf\u{fffd}")),
        (br#""title":12345"#, "type:title", Some("12345")),
        (
            br#""evidence":{"entityType":"File","fileName":"a.exe"}"#,
            "type:evidence",
            None,
        ),
        (
            br#""comments":"not a list","mitreTechniques":"T1003""#,
            "type:comments,type:mitreTechniques",
            None,
        ),
    ];
    for (k, (body, _, _)) in keys_.iter().zip(&bodies) {
        mock.set_raw(&k.id, Some(odd(k, body)));
    }
    let client = Client::new(api_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    let expected = keys(&keys_);
    run.settle(&expected, &mock).await;
    let (items, stats) = run.stop().await;
    let alerts: Vec<&alert_model::Alert> = items
        .iter()
        .filter_map(|i| match i {
            FetchItem::Alert(a) => Some(&**a),
            _ => None,
        })
        .collect();
    assert_eq!(alerts.len(), 6, "every odd alert forwarded, once");
    for (k, (_, marker, title)) in keys_.iter().zip(&bodies) {
        let a = alerts
            .iter()
            .find(|a| a.id.as_deref() == Some(&k.id))
            .unwrap();
        assert_eq!(alert_model::repair::marker(&a.repairs), *marker, "{}", k.id);
        if let Some(t) = title {
            assert_eq!(a.title.as_deref(), Some(*t));
        }
    }
    let ev = alerts
        .iter()
        .find(|a| a.id.as_deref() == Some(&keys_[3].id))
        .unwrap();
    assert_eq!(
        ev.evidence()[0].file_name.as_deref(),
        Some("a.exe"),
        "a lone object is one entity"
    );
    assert_eq!(stats.alerts_repaired.load(Relaxed), 5);
    assert_eq!(stats.alerts_unreadable.load(Relaxed), 0);
    check_conservation(&mock, &items, &HashSet::new());
}

#[tokio::test]
async fn a_live_tenant_with_inserts_and_updates_during_paging_conserves_every_version() {
    let g = generated(60, 900, 10_000, 3);
    let mock = start_mock(MockOptions {
        generated: Some(g),
        ..Default::default()
    })
    .await;
    let activity = mock.spawn_activity(Duration::from_millis(50));
    let client = Client::new(api_config(&mock)).unwrap();
    let mut cfg = poller_config();
    cfg.page_size = 10; // several pages per cycle, so the tenant changes between them
    cfg.poll_interval = Duration::from_millis(250);
    // A short re-read window keeps the run inside the request budget despite tiny pages.
    cfg.overlap = Duration::from_secs(2);
    let run = spawn(&client, cfg, ResumePoint::default());
    run.wait_for("a busy tenant", |_| mock.alert_count() >= 120)
        .await;
    activity.abort();
    let _ = activity.await;
    let current = keys(&mock.current_versions());
    run.settle(&current, &mock).await;
    let (items, _) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    let updated = items
        .iter()
        .filter(|i| matches!(i, FetchItem::Alert(a) if a.status.as_deref() != Some("New")))
        .count();
    assert!(updated > 0, "updates were forwarded as new versions");
    assert_no_secrets_logged(&mock);
}

/// Seeded random scenarios: generated backlog with ties, batch ties across page boundaries,
/// updates and late inserts between page requests, transient faults, random page sizes.
#[tokio::test]
async fn random_scenarios_conserve_every_version() {
    use rand::{Rng, SeedableRng};
    for seed in 1..=6u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let g = generated(
            rng.random_range(20..90),
            1800,
            rng.random_range(1000..20_000),
            rng.random_range(1..12),
        );
        let mock = start_mock(MockOptions {
            generated: Some(g),
            ..Default::default()
        })
        .await;
        let page: u32 = [7, 10, 25][rng.random_range(0..3)];
        for _ in 0..rng.random_range(1..3) {
            let n = page as usize * rng.random_range(1..4) + rng.random_range(0..3);
            mock.insert_ties(n, ago(rng.random_range(60..1500)));
        }
        let last_hook = rng.random_range(3..10u64);
        for n in 2..=last_hook {
            let updates = rng.random_range(0..4usize);
            let late = rng.random_range(0..3u64);
            let pick: u64 = rng.random();
            mock.before_alerts_request(n, move |store| {
                let ids: Vec<String> = store.ascending(&[]).map(|(_, id, _)| id).collect();
                for k in 0..updates {
                    let id = &ids[(pick as usize + k * 7919) % ids.len()];
                    store.update(id, Timestamp::now());
                }
                for k in 0..late {
                    let lut = quantize(
                        Timestamp::now().saturating_sub(Duration::from_secs(60 + 100 * k)),
                    );
                    let v = store.synth(
                        k,
                        &format!(
                            "da{:018}_{}",
                            640_000_000_000_000_000 + pick % 1_000_000 + k,
                            n
                        ),
                        lut,
                    );
                    store.put(v);
                }
            });
        }
        let faults = [
            Fault::Status500,
            Fault::Truncated,
            Fault::Empty404,
            Fault::Malformed,
            Fault::TooManyRequests {
                retry_after_secs: 0,
            },
        ];
        for _ in 0..rng.random_range(0..4) {
            mock.push_faults([faults[rng.random_range(0..faults.len())].clone()]);
        }
        let client = Client::new(api_config(&mock)).unwrap();
        let mut cfg = poller_config();
        cfg.page_size = page;
        cfg.poll_interval = Duration::from_millis(200);
        let run = spawn(&client, cfg, ResumePoint::default());
        run.wait_for("all hooks", |_| alerts_requests(&mock) as u64 > last_hook)
            .await;
        let current = keys(&mock.current_versions());
        run.settle(&current, &mock).await;
        let (items, _) = run.stop().await;
        check_conservation_allowing_late(&mock, &items, &HashSet::new());
        assert_no_secrets_logged(&mock);
        eprintln!(
            "seed {seed}: page {page}, {} items, {} requests",
            items.len(),
            alerts_requests(&mock)
        );
    }
}

#[tokio::test]
async fn a_server_that_serves_less_than_top_with_a_next_link_is_paged_correctly() {
    // Ties larger than the server's own page size must not look like the end of the tie.
    let g = generated(150, 1800, 5000, 1);
    let mock = start_mock(MockOptions {
        generated: Some(g.clone()),
        server_page_cap: Some(30),
        ..Default::default()
    })
    .await;
    let mut expected = all_generated(&g);
    expected.extend(mock.insert_ties(95, ago(1200)));
    let client = Client::new(api_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    run.settle(&expected, &mock).await;
    let (items, _) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    let log = mock.request_log();
    assert!(
        log.iter()
            .any(|r| r.query.contains("lastUpdateTime le") && r.query.contains("$skip=30")),
        "tie walked in server-sized steps"
    );
    assert_no_secrets_logged(&mock);
}
