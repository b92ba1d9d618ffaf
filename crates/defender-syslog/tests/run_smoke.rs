//! `run` end to end in its smallest form: the built binary, the simulated Defender API and an
//! in-process TLS collector. Alerts flow, SIGTERM drains and commits, a restart resumes from the
//! committed cursor without resending delivered versions. (The full conservation suite, with
//! rsyslog, kill -9 loops and fault storms, is in the workspace's `tests/` crate.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alert_model::{Timestamp, VersionKey};
use sim::defender::{MockDefender, MockOptions};
use sim::pki::TestPki;

fn spawn(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_defender-syslog"))
        .args(["run", "--config"])
        .arg(config)
        .env_remove("DEFENDER_SYSLOG_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn received_keys(c: &sim::collector::Collector) -> Vec<VersionKey> {
    c.messages()
        .iter()
        .map(|m| {
            let line = std::str::from_utf8(m).unwrap();
            let msg = sim::parse::rfc5424::parse(line).unwrap();
            VersionKey {
                id: msg.sd_param("defender@32473", "id").unwrap().to_owned(),
                last_update_time: Timestamp::parse(
                    msg.sd_param("defender@32473", "lastUpdateTime").unwrap(),
                )
                .unwrap(),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_flow_sigterm_commits_and_restart_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockDefender::start(MockOptions::default()).await.unwrap();
    let first = mock.insert_new(25);
    let pki = TestPki::new().unwrap();
    let files = pki.write_to(dir.path()).unwrap();
    let collector = sim::collector::start(sim::collector::Options::tls(
        pki.server_config(false).unwrap(),
    ))
    .await
    .unwrap();
    let api_ca = dir.path().join("api-ca.pem");
    std::fs::write(&api_ca, mock.ca_pem()).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[defender]
source = "mde"
tenant_id = "{tenant}"
client_id = "{client}"
client_secret = "{secret}"
api_url = "{api}"
login_url = "{login}"
ca_file = "{api_ca}"
poll_interval = "300ms"
overlap = "1m"
initial_lookback = "1h"

[[destination]]
name = "siem"
format = "rfc5424"
transport = "tls"
addresses = ["{collector}"]
server_name = "localhost"
ca_file = "{ca}"
use_system_roots = false

[state]
directory = "{state}"

[log]
level = "info"
stats_interval = "1s"
"#,
            tenant = mock.tenant_id,
            client = mock.client_id,
            secret = mock.client_secret,
            api = mock.base_url(),
            login = mock.login_url(),
            api_ca = api_ca.display(),
            collector = collector.address(),
            ca = files.ca.display(),
            state = dir.path().join("state").display(),
        ),
    )
    .unwrap();

    let mut child = spawn(&config);
    assert!(
        collector
            .wait_for(first.len(), Duration::from_secs(60))
            .await,
        "first alerts did not arrive"
    );
    let updates = mock.update(&first[..5].iter().map(|k| k.id.clone()).collect::<Vec<_>>());
    assert!(
        collector
            .wait_for(first.len() + updates.len(), Duration::from_secs(60))
            .await,
        "updates did not arrive"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    sigterm(&child);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "SIGTERM must exit 0, got {status}");
    let state = std::fs::read_to_string(dir.path().join("state/siem.cursor.json")).unwrap();
    assert!(state.contains("watermark"), "{state}");

    let got: HashSet<VersionKey> = received_keys(&collector).into_iter().collect();
    let want: HashSet<VersionKey> = first.iter().chain(&updates).cloned().collect();
    assert!(
        want.is_subset(&got),
        "missing: {:?}",
        want.difference(&got).collect::<Vec<_>>()
    );
    let before_restart = collector.count();

    // Restart: only the new alert arrives; delivered versions are not sent again.
    let more = mock.insert_new(3);
    let mut child = spawn(&config);
    assert!(
        collector
            .wait_for(before_restart + more.len(), Duration::from_secs(60))
            .await,
        "new alerts after restart did not arrive"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    sigterm(&child);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let all = received_keys(&collector);
    let duplicates = all.len() - all.iter().collect::<HashSet<_>>().len();
    eprintln!("received {} messages, {duplicates} duplicates", all.len());
    assert_eq!(
        duplicates, 0,
        "a clean SIGTERM + restart must not resend delivered versions"
    );
    for k in &more {
        assert!(all.contains(k), "missing {k:?}");
    }
}

/// `check` without `--offline`: a token, one API call and a handshake per destination address,
/// as a ✓/✗ table; exit 0 only if every row passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_online_reports_every_row_and_fails_on_a_dead_collector() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockDefender::start(MockOptions::default()).await.unwrap();
    mock.insert_new(2);
    let pki = TestPki::new().unwrap();
    let files = pki.write_to(dir.path()).unwrap();
    let collector = sim::collector::start(sim::collector::Options::tls(
        pki.server_config(false).unwrap(),
    ))
    .await
    .unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let api_ca = dir.path().join("api-ca.pem");
    std::fs::write(&api_ca, mock.ca_pem()).unwrap();
    let write = |addresses: &str| {
        let config = dir.path().join("check.toml");
        std::fs::write(
            &config,
            format!(
                "[defender]\nsource = \"mde\"\ntenant_id = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\napi_url = \"{}\"\nlogin_url = \"{}\"\nca_file = \"{}\"\n\n\
                 [[destination]]\nname = \"siem\"\nformat = \"cef\"\ntransport = \"tls\"\naddresses = [{addresses}]\nserver_name = \"localhost\"\n\
                 ca_file = \"{}\"\nuse_system_roots = false\nconnect_timeout = \"2s\"\n\n[state]\ndirectory = \"{}\"\n",
                mock.tenant_id,
                mock.client_id,
                mock.client_secret,
                mock.base_url(),
                mock.login_url(),
                api_ca.display(),
                files.ca.display(),
                dir.path().join("state").display(),
            ),
        )
        .unwrap();
        config
    };
    let run = |config: std::path::PathBuf| {
        Command::new(env!("CARGO_BIN_EXE_defender-syslog"))
            .args(["check", "--config"])
            .arg(config)
            .env_remove("DEFENDER_SYSLOG_CONFIG")
            .output()
            .unwrap()
    };
    let good = write(&format!("\"{}\"", collector.address()));
    let out = tokio::task::spawn_blocking(move || run(good))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for row in ["✓ config", "✓ state", "✓ defender", "✓ siem"] {
        assert!(text.contains(row), "missing {row:?} in:\n{text}");
    }
    assert!(
        !text.contains(&mock.client_secret),
        "the secret must not be printed"
    );

    let bad = write(&format!("\"{}\", \"{dead}\"", collector.address()));
    let out = tokio::task::spawn_blocking(move || run(bad)).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(&format!("✗ siem         {dead}")), "{text}");
    assert!(
        text.contains(&format!("✓ siem         {}", collector.address())),
        "{text}"
    );
}
