//! `probe` (for `check`) against librdkafka's mock cluster: a good setup is described, a
//! missing topic and an unreachable broker get their own errors, and no error carries the secret.
//! (TLS trust and SASL refusal need the TLS + SASL front of `sim::kafka`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use stream_source::{
    GroupReport, SaslMechanism, Secret, Security, StreamConfig, StreamError, probe_with_timeout,
};

const T: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_setup_reports_brokers_topic_partitions_and_group() {
    let cluster = Cluster::start(5);
    let report = probe_with_timeout(&cluster.config("g-probe"), T)
        .await
        .unwrap();
    assert_eq!(report.brokers.len(), 3, "{report:?}");
    assert_eq!(report.topics.len(), 1);
    assert_eq!(report.topics[0].name, TOPIC);
    assert_eq!(report.topics[0].partitions, 5);
    assert_eq!(
        report.topics[0].committed,
        (0..5).map(|p| (p, None)).collect::<Vec<_>>()
    );
    match &report.group {
        GroupReport::Described { members, .. } => assert_eq!(*members, 0),
        // librdkafka's mock does not implement ListGroups.
        GroupReport::NotVisible(why) => assert!(why.contains("UnsupportedFeature"), "{why}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_topic_is_named() {
    let cluster = Cluster::start(2);
    let mut cfg = cluster.config("g-probe");
    cfg.topics = vec!["no-such-hub".into()];
    let err = probe_with_timeout(&cfg, T).await.unwrap_err();
    assert!(
        matches!(err, StreamError::TopicMissing { ref topic, .. } if topic == "no-such-hub"),
        "{err}"
    );
    assert!(err.to_string().contains("event hub's name"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_says_so() {
    // A port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = StreamConfig::new(
        format!("127.0.0.1:{port}"),
        vec![TOPIC.into()],
        "g",
        Security::Plaintext,
    );
    let err = probe_with_timeout(&cfg, Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Connection refused"), "{err}");
    assert!(matches!(err, StreamError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_probe_never_shows_the_secret() {
    let cluster = Cluster::start(1);
    let secret = "Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=TOPSECRET";
    let mut cfg = StreamConfig::new(
        cluster.bootstrap.clone(),
        vec![TOPIC.into()],
        "g",
        Security::SaslSsl {
            mechanism: SaslMechanism::Plain,
            username: "$ConnectionString".into(),
            password: Secret::new(secret),
        },
    );
    cfg.eventhubs = true;
    // TLS against a plaintext broker fails; whatever the text, the secret is not in it.
    let err = probe_with_timeout(&cfg, Duration::from_secs(3))
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, StreamError::TlsFailed { .. }), "{err}");
    assert!(text.contains("PLAINTEXT broker listener"), "{text}");
    assert!(!text.contains("TOPSECRET"), "{text}");
}
