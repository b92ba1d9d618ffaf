//! `sim-server`: the simulated Defender API and a TLS collector as one long-running process, for
//! the boot test (`.ci/boot-test`), which runs it inside a booted Debian container next to the
//! packaged service.
//!
//! `sim-server serve --dir DIR [--alerts N] [--control ADDR]` starts both on 127.0.0.1, writes
//! into DIR a `config.toml` for defender-syslog pointing at them (RFC 5424 over TLS), the two CA
//! certificates it references and the client secret (`client-secret`), then answers one-line
//! commands on the control address (default 127.0.0.1:7999) until killed:
//!
//! - `stats` → `received=R distinct=D duplicates=P served=S missing=M unparseable=U hostnames=a,b`
//!   (what the collector received, parsed with the strict RFC 5424 parser, against the versions
//!   the API served; `missing` = served versions never received);
//! - `insert N` → `ok` after adding N new alerts to the tenant.
//!
//! `sim-server ctl [--control ADDR] COMMAND…` sends one command and prints the answer.

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use alert_model::{Timestamp, VersionKey};
use sim::collector::Collector;
use sim::defender::{MockDefender, MockOptions};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

const DEFAULT_CONTROL: &str = "127.0.0.1:7999";
/// The RFC 5424 formatter's default SD-ID, which carries `id` and `lastUpdateTime`.
const SD_ID: &str = "defender@32473";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sim-server: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (cmd, rest) = args.split_first().ok_or_else(usage)?;
    let mut dir = None;
    let mut alerts = 5usize;
    let mut control = DEFAULT_CONTROL.to_owned();
    let mut words = Vec::new();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "--alerts" => {
                alerts = value()?
                    .parse()
                    .map_err(|_| "--alerts: expected a number".to_owned())?;
            }
            "--control" => control = value()?,
            _ => words.push(a.clone()),
        }
    }
    let control: SocketAddr = control
        .parse()
        .map_err(|_| format!("--control: expected ip:port, got {control:?}"))?;
    match cmd.as_str() {
        "serve" => {
            let dir = dir.ok_or_else(|| "serve needs --dir DIR".to_owned())?;
            let rt = tokio::runtime::Runtime::new().map_err(|e| format!("tokio runtime: {e}"))?;
            rt.block_on(serve(&dir, alerts, control))
        }
        "ctl" => {
            let answer = ctl(control, &words.join(" "))?;
            println!("{answer}");
            Ok(())
        }
        _ => Err(usage()),
    }
}

fn usage() -> String {
    "usage: sim-server serve --dir DIR [--alerts N] [--control ADDR] | sim-server ctl [--control ADDR] stats|insert N".into()
}

fn ctl(control: SocketAddr, command: &str) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&control, Duration::from_secs(5))
        .map_err(|e| format!("connect {control}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    writeln!(s, "{command}").map_err(|e| format!("send: {e}"))?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .map_err(|e| format!("read: {e}"))?;
    let line = line.trim_end().to_owned();
    if line.starts_with("error") {
        return Err(line);
    }
    Ok(line)
}

async fn serve(dir: &Path, alerts: usize, control: SocketAddr) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mock = MockDefender::start(MockOptions::default())
        .await
        .map_err(|e| format!("simulated Defender API: {e}"))?;
    mock.insert_new(alerts);
    let pki = sim::pki::TestPki::new().map_err(|e| format!("collector CA: {e}"))?;
    let server_config = pki
        .server_config(false)
        .map_err(|e| format!("collector TLS: {e}"))?;
    let collector = sim::collector::start(sim::collector::Options::tls(server_config))
        .await
        .map_err(|e| format!("collector: {e}"))?;
    let write = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok::<PathBuf, String>(p)
    };
    let api_ca = write("api-ca.pem", mock.ca_pem())?;
    let collector_ca = write("collector-ca.pem", &pki.ca.cert_pem)?;
    write("client-secret", &mock.client_secret)?;
    let config = format!(
        r#"# Written by sim-server for the boot test: the simulated Defender API and a TLS collector.
[defender]
source = "{source}"
tenant_id = "{tenant}"
client_id = "{client}"
api_url = "{api}"
login_url = "{api}"
ca_file = "{api_ca}"
poll_interval = "1s"
overlap = "1m"

[[destination]]
name = "boot-test"
format = "rfc5424"
transport = "tls"
addresses = ["{collector}"]
server_name = "localhost"
ca_file = "{collector_ca}"
use_system_roots = false

[log]
stats_interval = "30s"
"#,
        source = mock.source_name(),
        tenant = mock.tenant_id,
        client = mock.client_id,
        api = mock.base_url(),
        api_ca = api_ca.display(),
        collector = collector.address(),
        collector_ca = collector_ca.display(),
    );
    write("config.toml", &config)?;
    let listener = tokio::net::TcpListener::bind(control)
        .await
        .map_err(|e| format!("control {control}: {e}"))?;
    println!(
        "sim-server: API {} collector {} control {control}; config in {}",
        mock.base_url(),
        collector.address(),
        dir.display()
    );
    let world = Arc::new((mock, collector));
    loop {
        let (stream, _) = listener
            .accept()
            .await
            .map_err(|e| format!("control accept: {e}"))?;
        let world = world.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut line = String::new();
            if tokio::io::BufReader::new(r)
                .read_line(&mut line)
                .await
                .is_ok()
            {
                let answer = answer(&world.0, &world.1, line.trim());
                let _ = w.write_all(format!("{answer}\n").as_bytes()).await;
            }
        });
    }
}

fn answer(mock: &MockDefender, collector: &Collector, command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.as_slice() {
        ["stats"] => stats(mock, collector),
        ["insert", n] => match n.parse::<usize>() {
            Ok(n) => {
                mock.insert_new(n);
                format!("ok inserted={n}")
            }
            Err(_) => format!("error: insert: expected a number, got {n:?}"),
        },
        _ => format!("error: unknown command {command:?}"),
    }
}

fn stats(mock: &MockDefender, collector: &Collector) -> String {
    let mut received = HashSet::new();
    let mut hostnames = BTreeSet::new();
    let (mut messages, mut duplicates, mut unparseable) = (0usize, 0usize, 0usize);
    for raw in collector.messages() {
        messages += 1;
        let key = std::str::from_utf8(&raw)
            .ok()
            .and_then(|s| sim::parse::rfc5424::parse(s).ok())
            .and_then(|m| {
                hostnames.insert(m.hostname.clone().unwrap_or_else(|| "-".into()));
                Some(VersionKey {
                    id: m.sd_param(SD_ID, "id")?.to_owned(),
                    last_update_time: Timestamp::parse(m.sd_param(SD_ID, "lastUpdateTime")?)
                        .ok()?,
                })
            });
        match key {
            None => unparseable += 1,
            Some(k) => {
                if !received.insert(k) {
                    duplicates += 1;
                }
            }
        }
    }
    let served: HashSet<VersionKey> = mock
        .served_versions()
        .iter()
        .filter_map(sim::defender::ServedVersion::key)
        .collect();
    let missing = served.difference(&received).count();
    format!(
        "received={messages} distinct={} duplicates={duplicates} served={} missing={missing} unparseable={unparseable} hostnames={}",
        received.len(),
        served.len(),
        hostnames.into_iter().collect::<Vec<_>>().join(",")
    )
}
