//! `defender-syslog demo --source streaming`: the streaming source on loopback. A mock Kafka
//! cluster (`sim::kafka`: librdkafka's mock brokers behind TLS + SASL PLAIN fronts, so the real
//! Event Hubs `$ConnectionString` path runs) holds the repository's sample streaming messages,
//! and more arrive every few seconds; the normal daemon consumes them into an in-process TLS
//! collector. Each received message is printed (record id, table, title); the summary compares
//! the records produced with the record ids received.

use std::collections::HashSet;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use alert_model::stream::{StreamEvent, StreamPos, parse_message};
use anyhow::Context;
use forwarder::format::FormatKind;
use sim::collector::Collector;
use sim::kafka::{KafkaOptions, MockKafka, TopicSpec};
use sim::pki::TestPki;
use sim::setup::{SimConfig, SimDestination, SimStream};
use tokio_util::sync::CancellationToken;

use crate::config;

const TOPIC: &str = "defender-events";
const GROUP: &str = "defender-syslog-demo";

pub async fn demo(format: FormatKind, duration: Option<Duration>) -> anyhow::Result<ExitCode> {
    let dir = tempfile::Builder::new()
        .prefix("defender-syslog-demo-")
        .tempdir()
        .context("temporary directory")?;
    let kafka = Arc::new(
        tokio::task::spawn_blocking(|| {
            MockKafka::start(KafkaOptions {
                topics: vec![TopicSpec::new(TOPIC, 3)],
                ..KafkaOptions::default()
            })
        })
        .await
        .context("mock Kafka cluster")??,
    );
    let pki = TestPki::new().context("demo CA")?;
    let files = pki.write_to(dir.path()).context("writing the demo CA")?;
    let collector = sim::collector::start(sim::collector::Options::tls(
        pki.server_config(false).context("collector TLS")?,
    ))
    .await
    .context("embedded TLS collector")?;
    let config_path = write_config(dir.path(), &kafka, &collector, &files.ca, format)?;
    let cfg = config::load(&config_path)?;

    let mut expected = produce(&kafka).await?;
    println!(
        "defender-syslog demo — streaming source, {} over TLS, Ctrl-C to stop",
        format.as_str()
    );
    println!(
        "  mock Kafka (3 brokers behind TLS + SASL PLAIN, Event Hubs $ConnectionString)  {}",
        kafka.bootstrap()
    );
    println!(
        "  topic {TOPIC} (3 partitions), consumer group {GROUP}; {} sample records, more every 4 s",
        expected.len()
    );
    println!("  embedded TLS collector  {}", collector.address());
    println!("  config                  {}", config_path.display());
    println!();

    let token = CancellationToken::new();
    let mut daemon = tokio::spawn(crate::daemon::run(cfg, token.clone()));
    let mut shown = 0usize;
    let mut received: HashSet<String> = HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut more = tokio::time::interval(Duration::from_secs(4));
    more.tick().await;
    let stop_after = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop_after);
    let mut daemon_result = None;
    loop {
        tokio::select! {
            _ = tick.tick() => print_new(&collector, &mut shown, &mut received),
            _ = more.tick() => expected.extend(produce(&kafka).await?),
            () = &mut stop_after => break,
            r = tokio::signal::ctrl_c() => {
                r.context("Ctrl-C handler")?;
                break;
            }
            r = &mut daemon => {
                daemon_result = Some(r);
                break;
            }
        }
    }
    token.cancel();
    let result = match daemon_result {
        Some(r) => r,
        None => daemon.await,
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    print_new(&collector, &mut shown, &mut received);
    let missing = expected.difference(&received).count();
    println!();
    println!(
        "summary: {} records produced; the collector received {shown} messages = {} distinct records ({} duplicates, {missing} not received yet)",
        expected.len(),
        received.len(),
        shown - received.len(),
    );
    collector.stop().await;
    match result {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(e)) => Err(e.context("the pipeline stopped")),
        Err(e) => anyhow::bail!("the pipeline task failed: {e}"),
    }
}

/// Produces one round of the sample messages; the ids of the records they hold.
async fn produce(kafka: &Arc<MockKafka>) -> anyhow::Result<HashSet<String>> {
    let k = kafka.clone();
    let bodies = alert_model::samples::streaming_messages();
    let produced = tokio::task::spawn_blocking(move || {
        k.produce_batch(TOPIC, bodies.iter().map(|b| b.as_bytes()))
            .map(|p| (bodies, p))
    })
    .await
    .context("producing")??;
    let (bodies, batch) = produced;
    let topic: Arc<str> = Arc::from(TOPIC);
    let mut ids = HashSet::new();
    for (body, &(partition, offset)) in bodies.iter().zip(&batch.positions) {
        let pos = StreamPos {
            topic: topic.clone(),
            partition,
            offset,
        };
        for e in parse_message(&pos, None, body.as_bytes()) {
            if let StreamEvent::Record(r) = e {
                ids.insert(r.record_id());
            }
        }
    }
    Ok(ids)
}

fn write_config(
    dir: &Path,
    kafka: &MockKafka,
    collector: &Collector,
    collector_ca: &Path,
    format: FormatKind,
) -> anyhow::Result<std::path::PathBuf> {
    let kafka_ca = dir.join("kafka-ca.pem");
    std::fs::write(&kafka_ca, kafka.ca_pem().unwrap_or_default())
        .context("writing the Kafka CA")?;
    let stream = SimStream {
        kind: "eventhubs",
        bootstrap: kafka.bootstrap().to_owned(),
        topics: vec![TOPIC.to_owned()],
        consumer_group: GROUP.to_owned(),
        security: "sasl_ssl",
        connection_string: kafka.eventhubs_connection_string(),
        ca_file: Some(kafka_ca),
    };
    let config = SimConfig::streaming(&stream, &dir.join("state"))
        .comment("Written by `defender-syslog demo --source streaming`: a mock Kafka cluster and an embedded collector.")
        .comment("connection_string is the mock's throwaway Event Hubs-shaped secret.")
        .destination(
            SimDestination::tls("demo-collector", format.as_str(), &[collector.address()], collector_ca)
                .set("hostname", "demo.defender-syslog.test"),
        )
        .log("stats_interval", "30s");
    let path = dir.join("config.toml");
    config.write(&path).context("writing the demo config")?;
    Ok(path)
}

/// Prints the messages received since the last call: record id, table, title where there is one.
fn print_new(collector: &Collector, shown: &mut usize, received: &mut HashSet<String>) {
    let all = collector.messages();
    for raw in all.iter().skip(*shown) {
        *shown += 1;
        let line = String::from_utf8_lossy(raw);
        let (id, table, title) = summarize(&line);
        let kind = if received.insert(id.clone()) {
            "new"
        } else {
            "resent"
        };
        println!("#{:<4} {kind:<6} {table:<22} {id}  {title}", *shown);
    }
}

/// (record id, table, title) from a message in any format, read with the strict parsers.
fn summarize(line: &str) -> (String, String, String) {
    let Ok(m) = sim::parse::rfc5424::parse(line) else {
        return ("UNPARSEABLE".into(), "-".into(), String::new());
    };
    let table = m.msgid.clone().unwrap_or_else(|| "-".into());
    let body = m.msg.clone().unwrap_or_default();
    let own = |v: Option<&str>| v.unwrap_or("-").to_owned();
    if let Ok(e) = sim::parse::leef::parse(&body) {
        return (own(e.get("recordId")), table, own(e.get("title")));
    }
    if let Ok(e) = sim::parse::cef::parse(&body) {
        return (own(e.get("DefenderSyslogRecordId")), table, e.name);
    }
    let sd = |k: &str| own(m.sd_param("defender@32473", k));
    (sd("recordId"), table, sd("title"))
}
