use super::*;

const CONN: &str = "Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=c2VjcmV0LWtleS12YWx1ZQ==";

fn eh() -> StreamConfig {
    StreamConfig::eventhubs(
        "contoso.servicebus.windows.net:9093",
        vec!["defender-events".into()],
        "defender-syslog",
        Secret::new(CONN),
    )
}

fn get<'a>(c: &'a ClientConfig, k: &str) -> Option<&'a str> {
    c.get(k)
}

#[test]
fn eventhubs_preset_sets_azures_documented_values() {
    let c = eh().client_config().unwrap();
    for (k, v) in [
        ("bootstrap.servers", "contoso.servicebus.windows.net:9093"),
        ("group.id", "defender-syslog"),
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanisms", "PLAIN"),
        ("sasl.username", "$ConnectionString"),
        ("sasl.password", CONN),
        ("ssl.ca.location", "probe"),
        ("metadata.max.age.ms", "180000"),
        ("socket.keepalive.enable", "true"),
        ("request.timeout.ms", "60000"),
        ("socket.timeout.ms", "60000"),
        ("session.timeout.ms", "30000"),
        ("heartbeat.interval.ms", "3000"),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("auto.offset.reset", "earliest"),
        ("queued.max.messages.kbytes", "16384"),
    ] {
        assert_eq!(get(&c, k), Some(v), "{k}");
    }
    // librdkafka accepts every property and value.
    c.create_native_config().unwrap();
}

#[test]
fn plain_kafka_has_no_eventhubs_timeouts_and_honours_ca_and_start() {
    let mut cfg = StreamConfig::new(
        "k1:9092, k2:9092",
        vec!["a".into(), "b".into()],
        "g",
        Security::SaslSsl {
            mechanism: SaslMechanism::ScramSha512,
            username: "svc".into(),
            password: Secret::new("pw-1234"),
        },
    );
    cfg.ca_file = Some("/etc/ca.pem".into());
    cfg.start = StartAt::Latest;
    let c = cfg.client_config().unwrap();
    assert_eq!(get(&c, "bootstrap.servers"), Some("k1:9092, k2:9092"));
    assert_eq!(get(&c, "sasl.mechanisms"), Some("SCRAM-SHA-512"));
    assert_eq!(get(&c, "ssl.ca.location"), Some("/etc/ca.pem"));
    assert_eq!(get(&c, "auto.offset.reset"), Some("latest"));
    assert_eq!(get(&c, "session.timeout.ms"), None);
    assert_eq!(get(&c, "metadata.max.age.ms"), None);
}

#[test]
fn ssl_and_plaintext_modes() {
    let mut cfg = StreamConfig::new("k:9093", vec!["t".into()], "g", Security::Ssl);
    let c = cfg.client_config().unwrap();
    assert_eq!(get(&c, "security.protocol"), Some("SSL"));
    assert_eq!(get(&c, "ssl.ca.location"), Some("probe"));
    assert_eq!(get(&c, "sasl.username"), None);
    cfg.security = Security::Plaintext;
    let c = cfg.client_config().unwrap();
    assert_eq!(get(&c, "security.protocol"), Some("PLAINTEXT"));
    assert_eq!(get(&c, "ssl.ca.location"), None);
    assert_eq!(get(&c, "sasl.password"), None);
}

#[test]
fn eventhubs_refuses_anything_but_sasl_plain_connection_string() {
    let mut cfg = eh();
    cfg.security = Security::Ssl;
    let e = cfg.client_config().unwrap_err().to_string();
    assert!(
        e.contains("SASL_SSL") && e.contains("$ConnectionString"),
        "{e}"
    );
    let mut cfg = eh();
    cfg.security = Security::SaslSsl {
        mechanism: SaslMechanism::Plain,
        username: "alice".into(),
        password: Secret::new(CONN),
    };
    assert!(cfg.validate().is_err());
}

#[test]
fn bad_settings_name_the_setting() {
    type Edit = Box<dyn Fn(&mut StreamConfig)>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|c| c.bootstrap = "contoso".into()),
            "streaming.bootstrap",
        ),
        (Box::new(|c| c.bootstrap = "".into()), "streaming.bootstrap"),
        (
            Box::new(|c| c.bootstrap = "h:0".into()),
            "streaming.bootstrap",
        ),
        (Box::new(|c| c.topics.clear()), "streaming.topics"),
        (Box::new(|c| c.group_id = " ".into()), "consumer_group"),
        (
            Box::new(|c| c.tables = vec!["AdvancedHunting-".into()]),
            "streaming.tables",
        ),
        (
            Box::new(|c| c.extra = vec![("enable.auto.commit".into(), "true".into())]),
            "enable.auto.commit",
        ),
        (
            Box::new(|c| c.extra = vec![("sasl.password".into(), "x".into())]),
            "sasl.password",
        ),
    ];
    for (edit, want) in cases {
        let mut cfg = eh();
        edit(&mut cfg);
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains(want), "{e} should name {want}");
        assert!(!e.contains(CONN) && !e.contains("SharedAccessKey="), "{e}");
    }
}

#[test]
fn extra_properties_apply_last() {
    let mut cfg = eh();
    cfg.extra = vec![("session.timeout.ms".into(), "6000".into())];
    let c = cfg.client_config().unwrap();
    assert_eq!(get(&c, "session.timeout.ms"), Some("6000"));
}

#[test]
fn secrets_never_in_debug_display_or_errors() {
    let cfg = eh();
    let dbg = format!("{cfg:?} {:?}", cfg.client_config().unwrap());
    assert!(!dbg.contains("SharedAccessKey="), "{dbg}");
    assert!(dbg.contains("[redacted]"), "{dbg}");
    let s = Secret::new(CONN);
    assert_eq!(format!("{s} {s:?}"), "[redacted] [redacted]");
    assert_eq!(s.expose(), CONN);
    assert_eq!(
        s.scrub(&format!("broker said: bad password {CONN}!")),
        "broker said: bad password [redacted]!"
    );
    let e = Secret::from_file(std::path::Path::new("/nonexistent/conn")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/conn"));
}

#[test]
fn secret_file_drops_one_newline() {
    let dir = std::env::temp_dir().join(format!("stream-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("cs");
    std::fs::write(&p, format!("{CONN}\n")).unwrap();
    assert_eq!(Secret::from_file(&p).unwrap().expose(), CONN);
    std::fs::write(&p, "\n").unwrap();
    assert!(Secret::from_file(&p).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn table_filter_is_normalised() {
    let mut cfg = eh();
    cfg.tables = vec!["AlertInfo".into(), "advancedhunting-AlertEvidence".into()];
    assert_eq!(cfg.table_filter(), vec!["alertinfo", "alertevidence"]);
}

#[test]
fn sasl_mechanism_parses() {
    assert_eq!(
        "plain".parse::<SaslMechanism>().unwrap(),
        SaslMechanism::Plain
    );
    assert_eq!(
        "SCRAM-SHA-256".parse::<SaslMechanism>().unwrap(),
        SaslMechanism::ScramSha256
    );
    assert!("GSSAPI".parse::<SaslMechanism>().is_err());
}
