//! `[streaming]` → `stream_source::StreamConfig`: the Defender XDR streaming API through Azure
//! Event Hubs' Kafka endpoint (`kind = "eventhubs"`, the preset) or any Kafka cluster the stream
//! is routed through (`kind = "kafka"`).

use std::path::Path;

use stream_source::{SaslMechanism, Secret, Security, StartAt, StreamConfig};

use super::raw::RawStreaming;
use super::validate::Ctx;

/// The systemd credential the packaged unit loads for the Event Hubs connection string.
pub(super) const CONNECTION_STRING_CREDENTIAL: &str = "eventhubs-connection-string";

/// Validates `[streaming]`; returns the consumer's config and where its secret came from (for
/// `check`; never the secret itself).
pub(super) fn streaming_config(
    cx: &Ctx<'_>,
    s: Option<&RawStreaming>,
    warnings: &mut Vec<String>,
) -> Result<(StreamConfig, String), super::ConfigError> {
    let s = s.ok_or_else(|| {
        cx.err(
            "streaming",
            "missing section [streaming] (defender.source = \"streaming\" reads the Event Hubs / Kafka settings from it)",
        )
    })?;
    let eventhubs = match s.kind.as_deref() {
        None => true,
        Some(k) => cx.one_of(
            "streaming.kind",
            k,
            &[("eventhubs", true), ("kafka", false)],
        )?,
    };
    let bootstrap = s.bootstrap.as_ref().map(|b| b.items()).unwrap_or_default();
    if bootstrap.is_empty() {
        return Err(cx.err(
            "streaming.bootstrap",
            "missing: the brokers as host:port (Event Hubs: <namespace>.servicebus.windows.net:9093)",
        ));
    }
    for b in &bootstrap {
        let port_ok = b
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok || b.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(cx.err(
                "streaming.bootstrap",
                format!(
                    "expected host:port, got {:?}",
                    b.chars().take(80).collect::<String>()
                ),
            ));
        }
    }
    let topics = s.topics.as_ref().map(|t| t.items()).unwrap_or_default();
    if topics.is_empty() {
        return Err(cx.err(
            "streaming.topics",
            "missing: the event hub (Kafka topic) names the Defender streaming API writes to",
        ));
    }
    let group_id = match s.consumer_group.as_deref().map(str::trim) {
        None => "defender-syslog".to_owned(),
        Some("") => return Err(cx.err("streaming.consumer_group", "is empty")),
        Some(g) => g.to_owned(),
    };
    let security = match s.security.as_deref() {
        None => "sasl_ssl",
        Some(v) => cx.one_of(
            "streaming.security",
            v,
            &[
                ("sasl_ssl", "sasl_ssl"),
                ("ssl", "ssl"),
                ("plaintext", "plaintext"),
            ],
        )?,
    };
    if eventhubs && security != "sasl_ssl" {
        return Err(cx.err(
            "streaming.security",
            "Event Hubs' Kafka endpoint takes only sasl_ssl (set kind = \"kafka\" for another cluster)",
        ));
    }
    let (security, credential_source) = match security {
        "plaintext" => {
            warnings.push(
                "streaming.security = \"plaintext\": Defender events cross the network in clear text and the broker is not authenticated"
                    .into(),
            );
            (Security::Plaintext, "none (plaintext)".to_owned())
        }
        "ssl" => (Security::Ssl, "none (TLS without SASL)".to_owned()),
        _ if eventhubs => {
            let (password, from) = connection_string(cx, s, warnings)?;
            (
                Security::SaslSsl {
                    mechanism: SaslMechanism::Plain,
                    username: "$ConnectionString".to_owned(),
                    password,
                },
                from,
            )
        }
        _ => {
            let mechanism = match s.sasl_mechanism.as_deref() {
                None => SaslMechanism::Plain,
                Some(m) => cx.one_of(
                    "streaming.sasl_mechanism",
                    m,
                    &[
                        ("PLAIN", SaslMechanism::Plain),
                        ("SCRAM-SHA-256", SaslMechanism::ScramSha256),
                        ("SCRAM-SHA-512", SaslMechanism::ScramSha512),
                    ],
                )?,
            };
            let username = s
                .sasl_username
                .clone()
                .filter(|u| !u.trim().is_empty())
                .ok_or_else(|| {
                    cx.err(
                        "streaming.sasl_username",
                        "missing (security = \"sasl_ssl\")",
                    )
                })?;
            let (password, from) = secret(
                cx,
                "streaming.sasl_password",
                s.sasl_password.as_deref(),
                s.sasl_password_file.as_deref(),
                None,
                warnings,
            )?;
            (
                Security::SaslSsl {
                    mechanism,
                    username,
                    password,
                },
                from,
            )
        }
    };
    if let Some(ca) = &s.ca_file {
        std::fs::File::open(ca).map_err(|e| {
            cx.err(
                "streaming.ca_file",
                format!("cannot read {}: {e}", ca.display()),
            )
        })?;
    }
    let tables = s.tables.as_ref().map(|t| t.items()).unwrap_or_default();
    let start = match s.start.as_deref() {
        None => StartAt::Earliest,
        Some(v) => cx.one_of(
            "streaming.start",
            v,
            &[("earliest", StartAt::Earliest), ("latest", StartAt::Latest)],
        )?,
    };
    if !eventhubs && (s.connection_string.is_some() || s.connection_string_file.is_some()) {
        warnings.push("streaming.connection_string is used only with kind = \"eventhubs\"".into());
    }
    let cfg = StreamConfig {
        bootstrap: bootstrap.join(","),
        topics,
        group_id,
        security,
        ca_file: s.ca_file.clone(),
        eventhubs,
        tables,
        start,
        client_id: format!("defender-syslog-{}", crate::hostname::short()),
        extra: Vec::new(),
    };
    // The second stage, as for the alert sources: what the consumer would refuse is a config
    // error here, so `check --offline` fails exactly when `run` would.
    cfg.validate()
        .and_then(|()| cfg.client_config().map(drop))
        .map_err(|e| cx.err("streaming", e.to_string()))?;
    Ok((cfg, credential_source))
}

fn connection_string(
    cx: &Ctx<'_>,
    s: &RawStreaming,
    warnings: &mut Vec<String>,
) -> Result<(Secret, String), super::ConfigError> {
    let (secret, from) = secret(
        cx,
        "streaming.connection_string",
        s.connection_string.as_deref(),
        s.connection_string_file.as_deref(),
        Some(CONNECTION_STRING_CREDENTIAL),
        warnings,
    )?;
    // A SAS *token* is refused by Event Hubs' Kafka endpoint (streaming-api.md): say so now.
    let looks_right =
        secret.expose().contains("Endpoint=sb://") && secret.expose().contains("SharedAccessKey");
    if !looks_right {
        return Err(cx.err(
            "streaming.connection_string",
            "expected an Event Hubs connection string (Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…), \
             from the namespace's or hub's \"Shared access policies\"; a SAS token is not accepted by the Kafka endpoint",
        ));
    }
    Ok((secret, from))
}

/// A secret from the config/environment, a file, or a systemd credential.
fn secret(
    cx: &Ctx<'_>,
    key: &str,
    inline: Option<&str>,
    file: Option<&Path>,
    credential: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<(Secret, String), super::ConfigError> {
    if let Some(v) = inline {
        if v.trim().is_empty() {
            return Err(cx.err(key, "is empty"));
        }
        return Ok((
            Secret::new(v.trim().to_owned()),
            format!("{key} (config or environment)"),
        ));
    }
    let file_key = format!("{key}_file");
    if let Some(path) = file {
        let v = read_secret(path).map_err(|e| cx.err(&file_key, e))?;
        super::validate::warn_if_others_can_read(path, &file_key, warnings);
        return Ok((Secret::new(v), format!("{file_key} {}", path.display())));
    }
    if let (Some(name), Some(dir)) = (credential, std::env::var_os("CREDENTIALS_DIRECTORY")) {
        let path = Path::new(&dir).join(name);
        if path.exists() {
            let v = read_secret(&path)
                .map_err(|e| cx.err(key, format!("systemd credential {name}: {e}")))?;
            return Ok((Secret::new(v), format!("systemd credential {name}")));
        }
    }
    let env = format!("DEFENDER_SYSLOG_{}", key.replace('.', "__").to_uppercase());
    Err(cx.err(
        key,
        match credential {
            Some(name) => format!(
                "missing: set {file_key}, the environment variable {env}, or the systemd credential {name}"
            ),
            None => format!("missing: set {file_key} or the environment variable {env}"),
        },
    ))
}

/// A secret file's content, trimmed; the error never contains the content.
fn read_secret(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use crate::config::{ConfigError, Input, load_with_hostname};
    use stream_source::{SaslMechanism, Security, StartAt, StreamConfig};

    const CONN: &str = "Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=c2VjcmV0LWtleQ==";

    const DEST: &str = r#"
[[destination]]
name = "siem"
format = "cef"
transport = "tcp"
addresses = ["127.0.0.1:6514"]
"#;

    fn load(text: &str) -> Result<crate::config::Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        load_with_hostname(&path, "host")
    }

    fn stream(text: &str) -> StreamConfig {
        match load(text).unwrap().input {
            Input::Streaming(s) => s,
            Input::Alerts(_) => panic!("an alerts source"),
        }
    }

    fn eventhubs(extra: &str) -> String {
        format!(
            "[defender]\nsource = \"streaming\"\n[streaming]\nbootstrap = \"contoso.servicebus.windows.net:9093\"\ntopics = \"a, b\"\nconnection_string = \"{CONN}\"\n{extra}\n{DEST}"
        )
    }

    #[test]
    fn the_event_hubs_preset_needs_only_the_bootstrap_topics_and_connection_string() {
        let s = stream(&eventhubs(""));
        assert!(s.eventhubs);
        assert_eq!(s.bootstrap, "contoso.servicebus.windows.net:9093");
        assert_eq!(s.topics, ["a", "b"]);
        assert_eq!(s.group_id, "defender-syslog");
        assert_eq!(s.start, StartAt::Earliest);
        assert!(s.tables.is_empty());
        match &s.security {
            Security::SaslSsl {
                mechanism,
                username,
                password,
            } => {
                assert_eq!(*mechanism, SaslMechanism::Plain);
                assert_eq!(username, "$ConnectionString");
                assert_eq!(password.expose(), CONN);
            }
            other => panic!("{other:?}"),
        }
        let cfg = load(&eventhubs("")).unwrap();
        let debug = format!("{cfg:?}");
        assert!(
            !debug.contains("c2VjcmV0LWtleQ"),
            "the secret leaked into Debug: {debug}"
        );
        assert_eq!(cfg.source_name(), "streaming");
    }

    #[test]
    fn event_hubs_refuses_anything_but_sasl_ssl() {
        let e = load(&eventhubs("security = \"plaintext\"")).unwrap_err();
        assert_eq!(e.key, "streaming.security");
    }

    #[test]
    fn a_sas_token_is_refused_without_echoing_it() {
        let text = eventhubs("").replace(CONN, "SharedAccessSignature sr=x&sig=TOPSECRETSIG&se=1");
        let e = load(&text).unwrap_err();
        assert_eq!(e.key, "streaming.connection_string");
        assert!(e.message.contains("SAS token"), "{}", e.message);
        assert!(!e.to_string().contains("TOPSECRETSIG"), "{e}");
    }

    #[test]
    fn a_missing_section_or_secret_names_the_key() {
        let e = load(&format!("[defender]\nsource = \"streaming\"\n{DEST}")).unwrap_err();
        assert_eq!(e.key, "streaming");
        let no_secret = eventhubs("").replace(&format!("connection_string = \"{CONN}\"\n"), "");
        let e = load(&no_secret).unwrap_err();
        assert_eq!(e.key, "streaming.connection_string");
        assert!(
            e.message.contains("eventhubs-connection-string"),
            "{}",
            e.message
        );
    }

    #[test]
    fn the_streaming_source_takes_one_destination() {
        let two = format!("{}{}", eventhubs(""), DEST.replace("\"siem\"", "\"other\""));
        assert_eq!(load(&two).unwrap_err().key, "destination");
    }

    #[test]
    fn plain_kafka_with_scram_needs_a_username_and_password() {
        let base = "[defender]\nsource = \"streaming\"\n[streaming]\nkind = \"kafka\"\nbootstrap = [\"k1:9093\", \"k2:9093\"]\ntopics = [\"t\"]\nsasl_mechanism = \"SCRAM-SHA-512\"\n";
        assert_eq!(
            load(&format!("{base}{DEST}")).unwrap_err().key,
            "streaming.sasl_username"
        );
        let s = stream(&format!(
            "{base}sasl_username = \"u\"\nsasl_password = \"p\"\ntables = [\"AlertInfo\"]\nstart = \"latest\"\nconsumer_group = \"fleet-a\"\n{DEST}"
        ));
        assert!(!s.eventhubs);
        assert_eq!(s.bootstrap, "k1:9093,k2:9093");
        assert_eq!(s.group_id, "fleet-a");
        assert_eq!(s.tables, ["AlertInfo"]);
        assert_eq!(s.start, StartAt::Latest);
        assert!(matches!(
            s.security,
            Security::SaslSsl {
                mechanism: SaslMechanism::ScramSha512,
                ..
            }
        ));
    }

    #[test]
    fn a_bootstrap_without_a_port_is_refused() {
        let text = eventhubs("").replace(
            "contoso.servicebus.windows.net:9093",
            "contoso.servicebus.windows.net",
        );
        assert_eq!(load(&text).unwrap_err().key, "streaming.bootstrap");
    }

    #[test]
    fn plaintext_kafka_is_accepted_with_a_warning() {
        let cfg = load(&format!(
            "[defender]\nsource = \"streaming\"\n[streaming]\nkind = \"kafka\"\nbootstrap = \"127.0.0.1:9092\"\ntopics = [\"t\"]\nsecurity = \"plaintext\"\n{DEST}"
        ))
        .unwrap();
        assert!(
            cfg.warnings.iter().any(|w| w.contains("plaintext")),
            "{:?}",
            cfg.warnings
        );
    }
}
