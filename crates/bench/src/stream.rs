//! `bench stream`: the streaming source end to end. A mock Kafka cluster (`sim::kafka`, TLS +
//! SASL PLAIN fronts, the Event Hubs path) is filled with Defender XDR streaming messages of
//! generated rows (`AlertEvidence`-sized or `DeviceProcessEvents`-sized, `--per-message` records
//! each) — the whole backlog before the subject starts, over as many partitions as the mock's
//! retention (5 MiB per partition) needs — and `defender-syslog run` forwards every record to a
//! counting TLS collector.
//!
//! Prints records/s, CPU per record and peak RSS; `--quick` keeps every frame and checks that
//! the record ids received are exactly the ones produced, each frame parsed strictly.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alert_model::stream::{StreamEvent, StreamPos, parse_message};
use anyhow::{Context, bail};
use sim::kafka::{KafkaOptions, MockKafka, PARTITION_RETENTION_BYTES, TopicSpec};
use sim::setup::{SimConfig, SimDestination, SimStream};

use crate::{proc, world};

const TOPIC: &str = "defender-events";

#[derive(Debug, clap::Args)]
pub struct StreamArgs {
    /// Records to forward.
    #[arg(long, default_value_t = 100_000)]
    records: u64,
    /// `alert-evidence` (≈ 0.9 KB rows) or `device-process` (≈ 2 KB rows).
    #[arg(long, default_value = "alert-evidence")]
    table: String,
    /// Records per Kafka message (Defender batches rows into one Event Hubs message).
    #[arg(long, default_value_t = 20)]
    per_message: u64,
    /// At least this many partitions (more when the backlog needs them).
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// rfc5424, leef or cef.
    #[arg(long, default_value = "cef")]
    format: String,
    /// 2,000 records, every frame checked; for CI (asserts content, never timing).
    #[arg(long)]
    quick: bool,
    /// The defender-syslog binary (default: next to this one).
    #[arg(long = "bin", value_name = "PATH")]
    binary: Option<std::path::PathBuf>,
}

/// One generated row of `table`, `i` making it unique.
fn row(table: &str, i: u64) -> serde_json::Value {
    let t = format!(
        "2026-11-20T08:{:02}:{:02}.{:07}Z",
        (i / 60) % 60,
        i % 60,
        i % 10_000_000
    );
    if table == "device-process" {
        serde_json::json!({
            "time": t, "tenantId": "0b9c1f7e-5d2a-4c3b-9e8f-1a2b3c4d5e6f", "operationName": "Publish",
            "category": "AdvancedHunting-DeviceProcessEvents",
            "properties": {
                "Timestamp": t, "DeviceId": format!("{:040x}", i), "DeviceName": format!("ws-{:05}.contoso.test", i % 5000),
                "ActionType": "ProcessCreated", "FileName": "powershell.exe",
                "FolderPath": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                "SHA1": "6cbce4a295c163791b60fc23d285e6d84f28ee4c", "SHA256": "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c",
                "MD5": "7353f60b1739074eb17c5f4dddefe239", "FileSize": 448000 + i % 1000,
                "ProcessVersionInfoCompanyName": "Microsoft Corporation", "ProcessVersionInfoProductName": "Microsoft® Windows® Operating System",
                "ProcessId": 4000 + i % 60000, "ProcessCommandLine": format!("powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\ProgramData\\scripts\\inventory-{i}.ps1 -Verbose"),
                "ProcessIntegrityLevel": "High", "ProcessTokenElevation": "TokenElevationTypeFull",
                "ProcessCreationTime": t, "AccountDomain": "contoso", "AccountName": format!("user{}", i % 900),
                "AccountSid": "S-1-5-21-1004336348-1177238915-682003330-1105", "AccountUpn": format!("user{}@contoso.test", i % 900),
                "LogonId": 999_000 + i, "InitiatingProcessAccountName": "system", "InitiatingProcessFileName": "svchost.exe",
                "InitiatingProcessCommandLine": "svchost.exe -k netsvcs -p -s Schedule", "InitiatingProcessId": 1520,
                "InitiatingProcessParentFileName": "services.exe", "InitiatingProcessSHA1": "a1385ce20ad79f55df235effd9780c31442aa234",
                "InitiatingProcessFolderPath": "c:\\windows\\system32\\svchost.exe", "ReportId": i, "MachineGroup": "Workstations",
                "AdditionalFields": null, "_TimeReceivedBySvc": t,
            },
            "Tenant": "DefaultTenant",
        })
    } else {
        serde_json::json!({
            "time": t, "tenantId": "0b9c1f7e-5d2a-4c3b-9e8f-1a2b3c4d5e6f", "operationName": "Publish",
            "category": "AdvancedHunting-AlertEvidence",
            "properties": {
                "Timestamp": t, "AlertId": format!("da63835{:013}_-1029384756", i), "Title": "Suspicious access to LSASS service memory",
                "Categories": "[\"CredentialAccess\"]", "AttackTechniques": "[\"OS Credential Dumping (T1003)\"]",
                "ServiceSource": "Microsoft Defender for Endpoint", "DetectionSource": "EDR", "EntityType": "Process",
                "EvidenceRole": "Related", "EvidenceDirection": null, "FileName": "procdump64.exe",
                "FolderPath": "C:\\Users\\jdoe\\Downloads\\procdump64.exe", "SHA1": "d2a5e1f0c3b4a5968778695a4b3c2d1e0f9a8b7c",
                "SHA256": null, "FileSize": 425832, "ThreatFamily": null, "RemoteIP": null, "RemoteUrl": null,
                "AccountName": format!("user{}", i % 900), "AccountDomain": "CONTOSO", "AccountSid": "S-1-5-21-1004336348-1177238915-682003330-1105",
                "AccountObjectId": null, "AccountUpn": null, "DeviceId": format!("{:040x}", i), "DeviceName": format!("ws-{:05}.contoso.test", i % 5000),
                "LocalIP": "10.1.2.3", "NetworkMessageId": null, "EmailSubject": null, "ApplicationId": null, "Application": null,
                "ProcessCommandLine": "procdump64.exe -accepteula -ma lsass.exe C:\\Temp\\l.dmp",
                "AdditionalFields": "{\"Type\":\"process\",\"ProcessId\":7428}", "RegistryKey": null, "RegistryValueName": null,
                "RegistryValueData": null, "MachineGroup": "Tier0 servers", "_TimeReceivedBySvc": t,
            },
            "Tenant": "DefaultTenant",
        })
    }
}

/// Message bodies `[from, to)` of records, `per` records each.
fn bodies(table: &str, from: u64, to: u64, per: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = from;
    while i < to {
        let end = (i + per).min(to);
        let records: Vec<serde_json::Value> = (i..end).map(|j| row(table, j)).collect();
        out.push(
            serde_json::to_vec(&serde_json::json!({ "records": records })).unwrap_or_default(),
        );
        i = end;
    }
    out
}

pub async fn stream(mut a: StreamArgs) -> anyhow::Result<()> {
    if a.quick {
        a.records = 2_000;
    }
    if !["cef", "leef", "rfc5424"].contains(&a.format.as_str()) {
        bail!("--format: expected cef, leef or rfc5424");
    }
    if !["alert-evidence", "device-process"].contains(&a.table.as_str()) {
        bail!("--table: expected alert-evidence or device-process");
    }
    let bin = world::subject(a.binary.take())?;
    let dir = tempfile::tempdir()?;
    // The whole backlog is produced before the subject starts (the mock's fetch path is slow
    // while it is also producing), so the partitions must hold it: each keeps only
    // PARTITION_RETENTION_BYTES; fill them to 60 %.
    let row_bytes = bodies(&a.table, 0, a.per_message, a.per_message)
        .first()
        .map_or(1000, |b| b.len() as u64 / a.per_message.max(1));
    let need = (a.records * row_bytes).div_ceil(PARTITION_RETENTION_BYTES as u64 * 3 / 5);
    let partitions = a
        .partitions
        .max(i32::try_from(need).unwrap_or(i32::MAX))
        .max(1);
    let kafka = Arc::new(
        tokio::task::spawn_blocking(move || {
            MockKafka::start(KafkaOptions {
                topics: vec![TopicSpec::new(TOPIC, partitions)],
                ..KafkaOptions::default()
            })
        })
        .await??,
    );
    let (collector, pki) = world::collector(dir.path(), a.quick).await?;
    let kafka_ca = dir.path().join("kafka-ca.pem");
    std::fs::write(&kafka_ca, kafka.ca_pem().unwrap_or_default())?;
    let config = dir.path().join("config.toml");
    let stream = SimStream {
        kind: "eventhubs",
        bootstrap: kafka.bootstrap().to_owned(),
        topics: vec![TOPIC.to_owned()],
        consumer_group: "bench".to_owned(),
        security: "sasl_ssl",
        connection_string: kafka.eventhubs_connection_string(),
        ca_file: Some(kafka_ca),
    };
    SimConfig::streaming(&stream, &dir.path().join("state"))
        .destination(
            SimDestination::tls("siem", &a.format, &[collector.address()], &pki.ca)
                .set("max_message_bytes", 65536),
        )
        .log("level", "warn")
        .write(&config)?;

    println!(
        "stream: {} {} records ({} B/record, {} per message) over {partitions} partitions, {}, subject {}",
        a.records,
        a.table,
        row_bytes,
        a.per_message,
        a.format,
        bin.display()
    );
    let expected: Arc<std::sync::Mutex<HashSet<String>>> = Arc::default();
    let (table, per, keep) = (a.table.clone(), a.per_message, a.quick);
    let (kafka_p, expected_p) = (kafka.clone(), expected.clone());
    let produce = move |from: u64, to: u64| {
        let kafka = kafka_p.clone();
        let table = table.clone();
        let expected = expected_p.clone();
        move || -> anyhow::Result<f64> {
            let b = bodies(&table, from, to, per);
            let p = kafka.produce_batch(TOPIC, b.iter().map(Vec::as_slice))?;
            if keep {
                let topic: Arc<str> = Arc::from(TOPIC);
                let mut e = expected.lock().map_err(|_| anyhow::anyhow!("lock"))?;
                for (body, &(partition, offset)) in b.iter().zip(&p.positions) {
                    let pos = StreamPos {
                        topic: topic.clone(),
                        partition,
                        offset,
                    };
                    for ev in parse_message(&pos, None, body) {
                        if let StreamEvent::Record(r) = ev {
                            e.insert(r.record_id());
                        }
                    }
                }
            }
            Ok(p.elapsed.as_secs_f64())
        }
    };
    let produce_secs = tokio::task::spawn_blocking(produce(0, a.records)).await??;

    let start = Instant::now();
    let mut child = Command::new(&bin)
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("DEFENDER_SYSLOG_CONFIG")
        .env("MIMALLOC_PURGE_DELAY", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let pid = child.id().to_string();
    let ticks = proc::clock_ticks();
    let own_cpu = proc::cpu_seconds("self", ticks).unwrap_or(0.0);
    let target = usize::try_from(a.records)?;
    let (mut last, mut moved) = (0usize, Instant::now());
    let mut first = None;
    let outcome = loop {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let n = collector.count();
        if n > 0 && first.is_none() {
            first = Some(start.elapsed());
        }
        if n >= target {
            break Ok(());
        }
        if n != last {
            (last, moved) = (n, Instant::now());
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(anyhow::anyhow!("defender-syslog exited early: {status}"));
        }
        if moved.elapsed() > Duration::from_secs(120) {
            break Err(anyhow::anyhow!("no progress for 120 s at {n}/{target}"));
        }
    };
    let total = start.elapsed();
    let cpu = proc::cpu_seconds(&pid, ticks).unwrap_or(f64::NAN);
    let bench_cpu = proc::cpu_seconds("self", ticks).unwrap_or(0.0) - own_cpu;
    let hwm = proc::status_kib(&pid, "VmHWM:").unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let _ = child.wait();
    outcome?;
    let got = collector.count() as u64;
    if got != a.records {
        bail!("collector received {got} frames for {} records", a.records);
    }
    let errors = collector.errors();
    if !errors.is_empty() {
        bail!(
            "collector rejected frames: {:?}",
            &errors[..errors.len().min(3)]
        );
    }
    if a.quick {
        let expected = expected.lock().map_err(|_| anyhow::anyhow!("lock"))?;
        let mut seen = HashSet::new();
        for f in collector.messages() {
            let id = record_id(&a.format, &f)?;
            if !expected.contains(&id) {
                bail!("invented record {id}");
            }
            if !seen.insert(id.clone()) {
                bail!("duplicate record {id}");
            }
        }
        if seen.len() != expected.len() {
            bail!("{} of {} records arrived", seen.len(), expected.len());
        }
        println!(
            "  quick check: {} frames, each parsed strictly, record ids exactly the produced ones",
            seen.len()
        );
    }
    let secs = total.as_secs_f64();
    let n = a.records as f64;
    // The group join (≈3 s on the mock: its initial rebalance delay) is not throughput.
    let first_s = first.unwrap_or_default().as_secs_f64();
    println!(
        "  {:.0} records/s from the first record ({:.0}/s with the group join), total {secs:.2} s, first record after {first_s:.3} s; producer {:.0} records/s",
        n / (secs - first_s).max(1e-9),
        n / secs,
        n / produce_secs.max(1e-9)
    );
    println!(
        "  defender-syslog CPU {cpu:.2} s ({:.1} µs per record, {:.0}% of one core), peak RSS (VmHWM) {:.1} MB; load average {}",
        cpu / n * 1e6,
        cpu / secs * 100.0,
        hwm as f64 / 1024.0,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "  bench process (mock cluster + fronts + producer + collector) CPU {bench_cpu:.2} s ({:.0}% of one core)",
        bench_cpu / secs * 100.0
    );
    Ok(())
}

/// The record id of a frame, read with the strict parser of its format.
fn record_id(format: &str, frame: &[u8]) -> anyhow::Result<String> {
    let line = std::str::from_utf8(frame)?;
    let m = sim::parse::rfc5424::parse(line).map_err(|e| anyhow::anyhow!("not RFC 5424: {e}"))?;
    let body = m.msg.clone().unwrap_or_default();
    let id = match format {
        "rfc5424" => m.sd_param("defender@32473", "recordId").map(str::to_owned),
        "leef" => sim::parse::leef::parse(&body)
            .map_err(|e| anyhow::anyhow!("not strict LEEF: {e}"))?
            .get("recordId")
            .map(str::to_owned),
        _ => sim::parse::cef::parse(&body)
            .map_err(|e| anyhow::anyhow!("not strict CEF: {e}"))?
            .get("DefenderSyslogRecordId")
            .map(str::to_owned),
    };
    id.ok_or_else(|| anyhow::anyhow!("no record id: {line}"))
}
