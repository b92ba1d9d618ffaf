//! Raw config → checked [`Config`]. Every rule that can be checked without the network is
//! checked here, so `check --offline` (systemd's `ExecStartPre=`) catches it before `run`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fetcher::{ApiConfig, Cloud, Credential, PollerConfig, Secret, Source};
use forwarder::format::{
    DEFAULT_LEEF_DELIMITER, Format, FormatKind, FormatOptions, Formatter, LeefVersion, MsgBody,
};
use forwarder::transport::{Framing, PreparedTransport, TransportConfig, TransportKind};

use super::ConfigError;
use super::raw::{RawConfig, RawDefender, RawDestination, RawFacility};

/// The systemd credential name the unit's `LoadCredential=` provides.
pub const CREDENTIAL_NAME: &str = "client-secret";

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// What `run` reads: an alerts API (`[defender]`) or the streaming API (`[streaming]`).
    pub input: Input,
    pub destinations: Vec<DestinationConfig>,
    pub state_dir: PathBuf,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    /// Problems worth a warning but not a refusal (e.g. a world-readable secret file).
    pub warnings: Vec<String>,
    /// Where the Defender credential came from, for `check` (never the secret itself).
    pub credential_source: String,
}

/// Where alerts come from.
#[derive(Debug, Clone)]
pub enum Input {
    /// Graph `alerts_v2` or Defender for Endpoint `/api/alerts`, polled.
    Alerts(AlertInput),
    /// The Defender XDR streaming API (Event Hubs / Kafka), consumed.
    Streaming(stream_source::StreamConfig),
}

/// Built from `[defender]`: what `run` polls with.
#[derive(Debug, Clone)]
pub struct AlertInput {
    pub client: SourceClient,
    pub poller: PollerConfig,
}

impl Config {
    /// The alerts API settings, `None` for the streaming source.
    pub fn alerts(&self) -> Option<&AlertInput> {
        match &self.input {
            Input::Alerts(a) => Some(a),
            Input::Streaming(_) => None,
        }
    }

    /// The source's config name: `graph`, `mde` or `streaming`.
    pub fn source_name(&self) -> &'static str {
        match &self.input {
            Input::Alerts(a) => a.client.0.source().name(),
            Input::Streaming(_) => STREAMING,
        }
    }
}

/// `defender.source` of the streaming API.
pub const STREAMING: &str = "streaming";

/// One `[[destination]]`, built: the formatter and the prepared transport `run` uses.
#[derive(Debug, Clone)]
pub struct DestinationConfig {
    pub name: String,
    pub formatter: Formatter,
    pub transport: PreparedTransport,
}

impl DestinationConfig {
    pub fn format(&self) -> &FormatOptions {
        self.formatter.options()
    }
}

/// The Defender client built from `[defender]` (token source, certificate signer, HTTP client
/// with its trust roots); cheap to clone, shared by every poller.
#[derive(Clone)]
pub struct SourceClient(pub fetcher::Client);

impl std::fmt::Debug for SourceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SourceClient")
            .field(&self.0.api_url())
            .finish()
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub level: String,
    pub stats_interval: Duration,
    pub json: bool,
}

/// `[metrics]`: the Prometheus endpoint and the health bound (also used by the watchdog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `None` = no HTTP endpoint (the default).
    pub listen: Option<std::net::SocketAddr>,
    /// A task that shows no progress (and is not idle on purpose) for this long is stalled.
    pub stall_after: Duration,
}

/// Collects errors with the file name filled in.
pub(super) struct Ctx<'a> {
    file: &'a Path,
}

impl Ctx<'_> {
    pub(super) fn err(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            key: key.into(),
            message: message.into(),
        }
    }

    fn duration(
        &self,
        key: &str,
        value: Option<&str>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) => humantime::parse_duration(v.trim()).map_err(|_| {
                self.err(
                    key,
                    format!("expected a duration like \"90s\", \"10m\" or \"24h\", got {v:?}"),
                )
            }),
        }
    }

    pub(super) fn one_of<T: Copy>(
        &self,
        key: &str,
        value: &str,
        choices: &[(&str, T)],
    ) -> Result<T, ConfigError> {
        choices
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(value.trim()))
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                self.err(
                    key,
                    format!("expected one of {}, got {value:?}", names.join(", ")),
                )
            })
    }
}

/// `default_host`: the HOSTNAME of destinations without `hostname =`.
pub fn validate(file: &Path, raw: RawConfig, default_host: &str) -> Result<Config, ConfigError> {
    let cx = Ctx { file };
    let mut warnings = Vec::new();
    let defender = raw
        .defender
        .ok_or_else(|| cx.err("defender", "missing section [defender]"))?;
    let streaming = defender
        .source
        .as_deref()
        .is_some_and(|s| s.trim().eq_ignore_ascii_case(STREAMING));
    let (input, credential_source, request_timeout) = if streaming {
        let (cfg, from) =
            super::streaming::streaming_config(&cx, raw.streaming.as_ref(), &mut warnings)?;
        if raw.destination.len() > 1 {
            return Err(cx.err(
                "destination",
                "the streaming source forwards to one destination per appliance (its consumer group's offsets \
                 are its cursor); for a second SIEM run another appliance fleet with its own consumer_group",
            ));
        }
        (Input::Streaming(cfg), from, Duration::from_secs(60))
    } else {
        if raw.streaming.is_some() {
            warnings
                .push("[streaming] is ignored: defender.source is not \"streaming\"".to_owned());
        }
        let (api, credential_source) = api_config(&cx, &defender, &mut warnings)?;
        // The second stage: the library objects `run` uses, so whatever they refuse is a config
        // error here (and `check --offline` fails exactly when `run` would).
        let client = fetcher::Client::new(api.clone()).map_err(|e| {
            let message = e.to_string();
            cx.err(client_error_key(&message), message)
        })?;
        let poller = poller_config(&cx, &defender, api.source)?;
        let input = Input::Alerts(AlertInput {
            client: SourceClient(client),
            poller,
        });
        (input, credential_source, api.request_timeout)
    };

    if raw.destination.is_empty() {
        return Err(cx.err(
            "destination",
            "missing: add at least one [[destination]] section",
        ));
    }
    let mut names = HashSet::new();
    let mut destinations = Vec::with_capacity(raw.destination.len());
    for (i, d) in raw.destination.iter().enumerate() {
        let dest = destination(&cx, i, d, default_host)?;
        if !names.insert(dest.name.clone()) {
            return Err(cx.err(
                format!("destination[{i}].name"),
                format!(
                    "duplicate name {:?}: each destination needs its own (it names its state file)",
                    dest.name
                ),
            ));
        }
        let kind = dest.transport.config().kind;
        if kind != TransportKind::Tls {
            warnings.push(format!(
                "destination {:?} uses {} without TLS: alerts cross the network in clear text",
                dest.name,
                if kind == TransportKind::Udp {
                    "UDP (no delivery guarantee)"
                } else {
                    "plain TCP"
                }
            ));
        }
        destinations.push(dest);
    }

    let state_dir = raw
        .state
        .directory
        .unwrap_or_else(|| PathBuf::from("/var/lib/defender-syslog"));
    if !state_dir.is_absolute() {
        return Err(cx.err(
            "state.directory",
            format!(
                "expected an absolute path, got {:?}",
                state_dir.display().to_string()
            ),
        ));
    }
    let level = raw.log.level.unwrap_or_else(|| "info".into());
    cx.one_of(
        "log.level",
        &level,
        &[
            ("error", ()),
            ("warn", ()),
            ("info", ()),
            ("debug", ()),
            ("trace", ()),
        ],
    )?;
    let json = match raw.log.format.as_deref() {
        None => false,
        Some(f) => cx.one_of("log.format", f, &[("text", false), ("json", true)])?,
    };
    let stats_interval = cx.duration(
        "log.stats_interval",
        raw.log.stats_interval.as_deref(),
        Duration::from_secs(60),
    )?;
    if stats_interval < Duration::from_secs(1) {
        return Err(cx.err("log.stats_interval", "expected at least 1s"));
    }
    let metrics = metrics_config(&cx, &raw.metrics, request_timeout, &mut warnings)?;
    Ok(Config {
        input,
        destinations,
        state_dir,
        metrics,
        log: LogConfig {
            level: level.to_lowercase(),
            stats_interval,
            json,
        },
        warnings,
        credential_source,
    })
}

fn metrics_config(
    cx: &Ctx<'_>,
    m: &super::raw::RawMetrics,
    request_timeout: Duration,
    warnings: &mut Vec<String>,
) -> Result<MetricsConfig, ConfigError> {
    let listen = match m.listen.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(v) => {
            let a: std::net::SocketAddr = v.parse().map_err(|_| {
                cx.err(
                    "metrics.listen",
                    format!("expected an IP address and port like \"127.0.0.1:9464\", got {v:?}"),
                )
            })?;
            if !a.ip().is_loopback() {
                warnings.push(format!(
                    "metrics.listen = {a}: the metrics endpoint has no authentication and is reachable beyond this machine"
                ));
            }
            Some(a)
        }
    };
    // A request may legitimately take request_timeout; the bound must leave room for it.
    let default = Duration::from_secs(300).max(request_timeout + Duration::from_secs(60));
    let stall_after = cx.duration("metrics.stall_after", m.stall_after.as_deref(), default)?;
    if stall_after <= request_timeout {
        return Err(cx.err(
            "metrics.stall_after",
            format!(
                "expected more than defender.request_timeout ({}): a slow request is not a stall",
                humantime::format_duration(request_timeout)
            ),
        ));
    }
    Ok(MetricsConfig {
        listen,
        stall_after,
    })
}

fn required<'a>(cx: &Ctx<'_>, key: &str, v: Option<&'a String>) -> Result<&'a str, ConfigError> {
    match v.map(|s| s.trim()) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(cx.err(key, "missing")),
    }
}

fn api_config(
    cx: &Ctx<'_>,
    d: &RawDefender,
    warnings: &mut Vec<String>,
) -> Result<(ApiConfig, String), ConfigError> {
    let tenant_id = required(cx, "defender.tenant_id", d.tenant_id.as_ref())?;
    let client_id = required(cx, "defender.client_id", d.client_id.as_ref())?;
    for (key, v) in [
        ("defender.tenant_id", tenant_id),
        ("defender.client_id", client_id),
    ] {
        if v.chars().all(|c| c == '0' || c == '-') {
            return Err(cx.err(
                key,
                "still the all-zero placeholder: put your Entra app registration's id here",
            ));
        }
        if v.chars()
            .any(|c| c.is_whitespace() || c == '/' || c.is_control())
        {
            return Err(cx.err(
                key,
                format!(
                    "expected a GUID or a domain name, got {:?}",
                    v.chars().take(60).collect::<String>()
                ),
            ));
        }
    }
    let api_source = match &d.source {
        None => Source::Graph,
        Some(s) => s
            .parse::<Source>()
            .map_err(|e| cx.err("defender.source", e.to_string()))?,
    };
    let (credential, source) = credential(cx, d, warnings)?;
    let mut api = ApiConfig::new(tenant_id, client_id, credential).with_source(api_source);
    if let Some(c) = &d.cloud {
        api.cloud = c.parse::<Cloud>().map_err(|_| {
            cx.err(
                "defender.cloud",
                format!("expected one of global, us, eu, uk, au, gcc, gcc-high, dod, got {c:?}"),
            )
        })?;
    }
    for (key, v) in [
        ("defender.api_url", &d.api_url),
        ("defender.login_url", &d.login_url),
        ("defender.proxy", &d.proxy),
    ] {
        if let Some(u) = v {
            let parsed = url::Url::parse(u)
                .map_err(|e| cx.err(key, format!("expected a URL, got {u:?} ({e})")))?;
            if key != "defender.proxy" && parsed.scheme() != "https" {
                return Err(cx.err(key, format!("expected an https:// URL, got {u:?}")));
            }
        }
    }
    api.api_url = d.api_url.clone();
    api.login_url = d.login_url.clone();
    api.scope = d.scope.clone();
    api.proxy = d.proxy.clone();
    if let Some(ca) = &d.ca_file {
        readable(cx, "defender.ca_file", ca)?;
        api.ca_file = Some(ca.clone());
    }
    let mut budget = api_source.quota();
    if let Some(n) = d.max_requests_per_minute {
        if n == 0 || n > budget.per_minute {
            return Err(cx.err(
                "defender.max_requests_per_minute",
                format!("expected 1 to {}, got {n}", budget.per_minute),
            ));
        }
        budget.per_minute = n;
    }
    if let Some(n) = d.max_requests_per_hour {
        if n == 0 || n > budget.per_hour {
            return Err(cx.err(
                "defender.max_requests_per_hour",
                format!("expected 1 to {}, got {n}", budget.per_hour),
            ));
        }
        budget.per_hour = n;
    }
    api.budget = budget;
    api.request_timeout = cx.duration(
        "defender.request_timeout",
        d.request_timeout.as_deref(),
        api.request_timeout,
    )?;
    Ok((api, source))
}

fn credential(
    cx: &Ctx<'_>,
    d: &RawDefender,
    warnings: &mut Vec<String>,
) -> Result<(Credential, String), ConfigError> {
    let cert = match (&d.certificate_file, &d.private_key_file) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(cx.err(
                "defender.private_key_file",
                "missing: certificate_file needs private_key_file",
            ));
        }
        (None, Some(_)) => {
            return Err(cx.err(
                "defender.certificate_file",
                "missing: private_key_file needs certificate_file",
            ));
        }
    };
    let explicit_secret = d.client_secret.is_some() || d.client_secret_file.is_some();
    if cert.is_some() && explicit_secret {
        return Err(cx.err(
            "defender.certificate_file",
            "set either a client secret or certificate credentials, not both",
        ));
    }
    if let Some(s) = &d.client_secret {
        if s.trim().is_empty() {
            return Err(cx.err("defender.client_secret", "is empty"));
        }
        return Ok((
            Credential::Secret(Secret::new(s.trim())),
            "client_secret (config or environment)".into(),
        ));
    }
    if let Some(path) = &d.client_secret_file {
        let secret = Secret::from_file(path)
            .map_err(|e| cx.err("defender.client_secret_file", e.to_string()))?;
        warn_if_others_can_read(path, "defender.client_secret_file", warnings);
        return Ok((
            Credential::Secret(secret),
            format!("client_secret_file {}", path.display()),
        ));
    }
    if let Some((cert, key)) = cert {
        let cert_pem = std::fs::read_to_string(cert).map_err(|e| {
            cx.err(
                "defender.certificate_file",
                format!("cannot read {}: {e}", cert.display()),
            )
        })?;
        if !cert_pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(cx.err(
                "defender.certificate_file",
                format!("{} holds no PEM certificate", cert.display()),
            ));
        }
        let key_pem = Secret::from_file(key)
            .map_err(|e| cx.err("defender.private_key_file", e.to_string()))?;
        warn_if_others_can_read(key, "defender.private_key_file", warnings);
        return Ok((
            Credential::Certificate { cert_pem, key_pem },
            format!("certificate {}", cert.display()),
        ));
    }
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
        let dir = Path::new(&dir);
        let path = dir.join(CREDENTIAL_NAME);
        // Only "no such file" means missing: a directory we may not enter (systemd 252+ hides
        // /run/credentials from ExecReload=) is reported as what it is.
        match std::fs::metadata(&path) {
            Ok(_) => {
                let secret = Secret::from_file(&path).map_err(|e| {
                    cx.err(
                        "defender.client_secret",
                        format!("systemd credential {CREDENTIAL_NAME}: {e}"),
                    )
                })?;
                return Ok((
                    Credential::Secret(secret),
                    format!("systemd credential {CREDENTIAL_NAME}"),
                ));
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound && std::fs::read_dir(dir).is_ok() => {}
            Err(e) => {
                let e = match std::fs::read_dir(dir) {
                    Err(dir_err) => dir_err,
                    Ok(_) => e,
                };
                return Err(cx.err(
                    "defender.client_secret",
                    format!(
                        "the systemd credentials directory {} ($CREDENTIALS_DIRECTORY) cannot be read: {e}",
                        dir.display()
                    ),
                ));
            }
        }
    }
    Err(cx.err(
        "defender.client_secret",
        format!(
            "missing: set client_secret_file, certificate_file + private_key_file, the environment variable \
             DEFENDER_SYSLOG_DEFENDER__CLIENT_SECRET, or the systemd credential {CREDENTIAL_NAME} \
             (/etc/defender-syslog/client-secret with the packaged unit)"
        ),
    ))
}

pub(super) fn warn_if_others_can_read(path: &Path, key: &str, warnings: &mut Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path)
        && m.permissions().mode() & 0o004 != 0
    {
        warnings.push(format!(
            "{key}: {} is readable by every user on this machine; make it mode 0600 or 0640 (group defender-syslog)",
            path.display()
        ));
    }
}

fn readable(cx: &Ctx<'_>, key: &str, path: &Path) -> Result<(), ConfigError> {
    std::fs::File::open(path)
        .map(|_| ())
        .map_err(|e| cx.err(key, format!("cannot read {}: {e}", path.display())))
}

fn poller_config(
    cx: &Ctx<'_>,
    d: &RawDefender,
    source: Source,
) -> Result<PollerConfig, ConfigError> {
    let mut p = PollerConfig::default();
    p.poll_interval = cx.duration(
        "defender.poll_interval",
        d.poll_interval.as_deref(),
        p.poll_interval,
    )?;
    p.overlap = cx.duration("defender.overlap", d.overlap.as_deref(), p.overlap)?;
    p.initial_lookback = cx.duration(
        "defender.initial_lookback",
        d.initial_lookback.as_deref(),
        p.initial_lookback,
    )?;
    if p.poll_interval < Duration::from_millis(100) {
        return Err(cx.err("defender.poll_interval", "expected at least 100ms"));
    }
    if let Some(n) = d.page_size {
        // Refused rather than clamped: a silently different page size surprises whoever tunes it.
        let max = source.max_page_size();
        if !(1..=max).contains(&n) {
            return Err(cx.err(
                "defender.page_size",
                format!("expected 1 to {max} (the {source} API's $top limit), got {n}"),
            ));
        }
        p.page_size = n;
    }
    Ok(p)
}

fn destination(
    cx: &Ctx<'_>,
    i: usize,
    d: &RawDestination,
    default_host: &str,
) -> Result<DestinationConfig, ConfigError> {
    let key = |k: &str| format!("destination[{i}].{k}");
    let name = required(cx, &key("name"), d.name.as_ref())?.to_owned();
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || name.starts_with('.')
    {
        return Err(cx.err(
            key("name"),
            format!("expected letters, digits, '-', '_' or '.', got {name:?}"),
        ));
    }
    let format = required(cx, &key("format"), d.format.as_ref())?;
    let kind: FormatKind = format
        .parse()
        .map_err(|e| cx.err(key("format"), format!("{e}")))?;
    let leef_version = match &d.leef_version {
        None => LeefVersion::V2,
        Some(v) => v
            .parse()
            .map_err(|e| cx.err(key("leef_version"), format!("{e}")))?,
    };
    let leef_delimiter = match &d.leef_delimiter {
        None => DEFAULT_LEEF_DELIMITER,
        Some(s) => {
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => c,
                _ => {
                    return Err(cx.err(
                        key("leef_delimiter"),
                        format!("expected one character, got {s:?}"),
                    ));
                }
            }
        }
    };
    let transport = required(cx, &key("transport"), d.transport.as_ref())?;
    let tkind = cx.one_of(
        &key("transport"),
        transport,
        &[
            ("tls", TransportKind::Tls),
            ("tcp", TransportKind::Tcp),
            ("udp", TransportKind::Udp),
        ],
    )?;
    let addresses = d.addresses.clone().unwrap_or_default();
    if addresses.is_empty() {
        return Err(cx.err(key("addresses"), "missing: give at least one \"host:port\""));
    }
    let mut t = TransportConfig::new(tkind, addresses);
    for (k, v) in [
        ("ca_file", &d.ca_file),
        ("client_cert_file", &d.client_cert_file),
        ("client_key_file", &d.client_key_file),
    ] {
        if let Some(p) = v {
            readable(cx, &key(k), p)?;
        }
    }
    t.tls.ca_file = d.ca_file.clone();
    t.tls.client_cert_file = d.client_cert_file.clone();
    t.tls.client_key_file = d.client_key_file.clone();
    t.tls.server_name = d.server_name.clone();
    t.tls.pin_sha256 = d.pin_sha256.clone().unwrap_or_default();
    if let Some(b) = d.use_system_roots {
        t.tls.use_system_roots = b;
    }
    if let Some(f) = &d.framing {
        t.framing = cx.one_of(
            &key("framing"),
            f,
            &[
                ("octet-counting", Framing::OctetCounting),
                ("lf", Framing::Lf),
            ],
        )?;
    }
    let max_message_bytes = d.max_message_bytes.unwrap_or(8192);
    if !(480..=1024 * 1024).contains(&max_message_bytes) {
        return Err(cx.err(
            key("max_message_bytes"),
            format!("expected 480 to 1048576, got {max_message_bytes}"),
        ));
    }
    if tkind == TransportKind::Udp && max_message_bytes > forwarder::transport::UDP_MAX_PAYLOAD {
        return Err(cx.err(
            key("max_message_bytes"),
            format!(
                "expected at most {} for UDP (one datagram), got {max_message_bytes}",
                forwarder::transport::UDP_MAX_PAYLOAD
            ),
        ));
    }
    t.max_message_bytes = max_message_bytes;
    if let Some(n) = d.max_inflight_bytes {
        t.max_inflight_bytes = n;
    }
    t.connect_timeout = cx.duration(
        &key("connect_timeout"),
        d.connect_timeout.as_deref(),
        t.connect_timeout,
    )?;
    if let Some(f) = &d.failback_after {
        t.failback_after = if f.trim() == "never" {
            None
        } else {
            Some(cx.duration(&key("failback_after"), Some(f), Duration::ZERO)?)
        };
    }

    let facility = match &d.facility {
        None => 10, // authpriv: security messages (RFC 5424 §6.2.1 code 10)
        Some(RawFacility::Number(n)) if (0..=23).contains(n) => *n as u8,
        Some(RawFacility::Number(n)) => return Err(cx.err(key("facility"), format!("expected 0 to 23 or a name like \"local4\", got {n}"))),
        Some(RawFacility::Name(s)) => facility_by_name(s).ok_or_else(|| {
            cx.err(key("facility"), format!("expected 0 to 23 or one of kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0..local7, got {s:?}"))
        })?,
    };
    let msg_body = match &d.msg_body {
        None => MsgBody::Json,
        Some(m) => m
            .parse()
            .map_err(|e| cx.err(key("msg_body"), format!("{e}")))?,
    };
    let hostname = d
        .hostname
        .clone()
        .unwrap_or_else(|| default_host.to_owned());
    let mut opts = FormatOptions::new(
        Format::from_kind(kind, leef_version, leef_delimiter),
        hostname,
    );
    opts.facility = facility;
    if let Some(sd) = &d.sd_id {
        opts.sd_id.clone_from(sd);
    }
    opts.msg_body = msg_body;
    opts.max_message_bytes = max_message_bytes;
    // Built here, not in `run`: the formatter's own checks (hostname, sd_id, delimiter, …) name
    // their key, and the TLS files are read and parsed once, now.
    let formatter = Formatter::new(opts).map_err(|e| cx.err(key(format_key(&e)), e.to_string()))?;
    let transport = t.prepare().map_err(|e| match e {
        forwarder::transport::TransportError::Setting { key: k, reason } => cx.err(key(k), reason),
        e => cx.err(format!("destination[{i}]"), e.to_string()),
    })?;
    Ok(DestinationConfig {
        name,
        formatter,
        transport,
    })
}

/// The `[defender]` key a refusal of the Defender client is about, from its message.
fn client_error_key(message: &str) -> &'static str {
    if message.contains("ca_file") {
        "defender.ca_file"
    } else if message.contains("proxy") {
        "defender.proxy"
    } else if message.contains("scope") {
        "defender.scope"
    } else if message.contains("certificate_file") {
        "defender.certificate_file"
    } else if message.contains("private key") || message.contains("private_key_file") {
        "defender.private_key_file"
    } else {
        "defender"
    }
}

/// The config key a formatter refusal is about.
fn format_key(e: &forwarder::format::FormatError) -> &'static str {
    use forwarder::format::FormatError as E;
    match e {
        E::Hostname(_) => "hostname",
        E::Facility(_) => "facility",
        E::SdId(_) => "sd_id",
        E::Delimiter(_) => "leef_delimiter",
        E::MaxBytes(_) => "max_message_bytes",
    }
}

fn facility_by_name(s: &str) -> Option<u8> {
    const NAMES: [&str; 12] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp",
    ];
    let s = s.trim().to_ascii_lowercase();
    if let Some(n) = NAMES.iter().position(|n| *n == s) {
        return u8::try_from(n).ok();
    }
    let local: u8 = s.strip_prefix("local")?.parse().ok()?;
    (local <= 7).then_some(16 + local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facility_names() {
        assert_eq!(facility_by_name("local4"), Some(20));
        assert_eq!(facility_by_name("auth"), Some(4));
        assert_eq!(facility_by_name("authpriv"), Some(10));
        assert_eq!(facility_by_name("local8"), None);
    }
}
