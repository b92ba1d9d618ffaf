//! The pieces around the subject: a throwaway PKI, the counting TLS collector, the simulated
//! tenant's generated alerts, the config file, and where the release binary is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alert_model::Timestamp;
use anyhow::{Context, bail};
use sim::defender::store::Body;
use sim::defender::{Generated, Store};
use sim::pki::{PkiFiles, TestPki};

/// The generated backlog: `count` alerts spread over the last 22 hours, oldest first, all
/// inside the daemon's 24 h `initial_lookback`.
pub fn generated(count: u64) -> Generated {
    let span = Duration::from_secs(22 * 3600);
    let step =
        (span / u32::try_from(count.max(1)).unwrap_or(u32::MAX)).max(Duration::from_millis(1));
    Generated {
        count,
        start: Timestamp::now().saturating_sub(Duration::from_secs(23 * 3600)),
        step,
        tie: 1,
    }
}

/// The same alerts the simulated API serves, as NDJSON (for `send`).
pub fn write_ndjson(path: &Path, count: u64) -> anyhow::Result<u64> {
    use std::io::Write;
    let mut store = Store::new();
    store.set_generated(Some(generated(count)));
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut bytes = 0u64;
    for i in 0..count {
        let line = serde_json::to_vec(&store.render(&Body::Generated(i)))?;
        bytes += line.len() as u64 + 1;
        out.write_all(&line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(bytes)
}

/// A TLS collector on 127.0.0.1. `keep` stores every frame for content checks (quick mode);
/// otherwise it only counts strictly octet-counted frames, so memory stays flat at 1M.
pub async fn collector(
    dir: &Path,
    keep: bool,
) -> anyhow::Result<(sim::collector::Collector, PkiFiles)> {
    let pki = TestPki::new().context("test PKI")?;
    let files = pki.write_to(dir).context("writing PKI")?;
    let mut opts = sim::collector::Options::tls(pki.server_config(false).context("TLS config")?);
    opts.keep_messages = keep;
    let c = sim::collector::start(opts).await.context("collector")?;
    Ok((c, files))
}

/// What the config needs to know about the simulated API (`send` never contacts it).
pub struct Api {
    pub tenant: String,
    pub client: String,
    pub secret: String,
    pub url: String,
    pub login: String,
    pub ca_file: PathBuf,
}

pub fn config(
    dir: &Path,
    api: &Api,
    format: &str,
    collector: &str,
    pki: &PkiFiles,
    page_size: u32,
) -> anyhow::Result<PathBuf> {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[defender]\nsource = \"mde\"\ntenant_id = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\napi_url = \"{}\"\n\
             login_url = \"{}\"\nca_file = \"{}\"\npoll_interval = \"1s\"\npage_size = {page_size}\n\
             initial_lookback = \"24h\"\n\n\
             [[destination]]\nname = \"siem\"\nformat = \"{format}\"\ntransport = \"tls\"\naddresses = [\"{collector}\"]\n\
             server_name = \"localhost\"\nca_file = \"{}\"\nuse_system_roots = false\nmax_message_bytes = 65536\n\n\
             [state]\ndirectory = \"{}\"\n\n[log]\nlevel = \"warn\"\n",
            api.tenant,
            api.client,
            api.secret,
            api.url,
            api.login,
            api.ca_file.display(),
            pki.ca.display(),
            dir.join("state").display()
        ),
    )?;
    Ok(path)
}

/// `--bin`, else `defender-syslog` next to this executable (both built by one
/// `cargo build --release -p defender-syslog -p bench`).
pub fn subject(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match explicit {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .context("executable has no directory")?
            .join("defender-syslog"),
    };
    if !path.is_file() {
        bail!(
            "{} not found: run `cargo build --release -p defender-syslog -p bench` first, or pass --bin PATH",
            path.display()
        );
    }
    Ok(path)
}
