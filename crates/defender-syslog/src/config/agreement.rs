//! Property: every config `check --offline` accepts (that is, [`super::load`]) is accepted by
//! what `run` constructs from it — the formatter and the transport, through those libraries' own
//! fallible constructors (the Defender client is built by the load itself and used as is) — over
//! generated configs that mix valid and invalid values for every key those constructors read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use forwarder::format::Formatter;
use forwarder::transport::Transport;
use proptest::prelude::*;

struct Files {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    garbage: PathBuf,
    missing: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let pki = sim::pki::TestPki::new().unwrap();
        let f = pki.write_to(dir.path()).unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        Files {
            missing: dir.path().join("missing.pem"),
            ca: f.ca,
            garbage,
            client_cert: f.client_cert,
            client_key: f.client_key,
            _dir: dir,
        }
    })
}

fn path_choice() -> impl Strategy<Value = Option<&'static Path>> {
    let f = files();
    prop_oneof![
        8 => Just(None),
        8 => Just(Some(f.ca.as_path())),
        1 => Just(Some(f.garbage.as_path())),
        1 => Just(Some(f.missing.as_path())),
    ]
}

/// One `key = value` line or nothing; mostly valid values, so that a fair share of the
/// generated configs passes and the property is about something.
fn line(
    key: &'static str,
    valid: &'static [&'static str],
    invalid: &'static [&'static str],
) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        24 => proptest::sample::select(valid).prop_map(move |v| format!("{key} = {v}\n")),
        1 => proptest::sample::select(invalid).prop_map(move |v| format!("{key} = {v}\n")),
    ]
}

/// A required key: always there, mostly valid.
fn required(
    key: &'static str,
    valid: &'static [&'static str],
    invalid: &'static [&'static str],
) -> impl Strategy<Value = String> {
    prop_oneof![
        24 => proptest::sample::select(valid).prop_map(move |v| format!("{key} = {v}\n")),
        1 => proptest::sample::select(invalid).prop_map(move |v| format!("{key} = {v}\n")),
    ]
}

fn destination() -> impl Strategy<Value = String> {
    let f = files();
    (
        (
            required("format", &["\"rfc5424\"", "\"leef\"", "\"CEF\""], &["\"cfe\""]),
            line("leef_version", &["\"1.0\"", "\"2.0\""], &["\"3.0\""]),
            line(
                "leef_delimiter",
                &["\"^\"", "\"\\t\"", "\"~\""],
                &["\"|\"", "\"=\"", "\" \"", "\"ab\"", "\"\\u0001\""],
            ),
            line(
                "hostname",
                &["\"siem-src\"", "\"a.b-c_d\""],
                &["\"bad host!\"", "\"\"", "\"h\u{e9}\""],
            ),
            line("facility", &["0", "23", "\"local4\""], &["24", "\"local9\""]),
            line("sd_id", &["\"x@123\"", "\"x@1.2.3\""], &["\"no-pen\"", "\"a b@1\"", "\"@1\""]),
            line("msg_body", &["\"json\"", "\"summary\""], &["\"xml\""]),
        ),
        (
            required("transport", &["\"tls\"", "\"tcp\"", "\"udp\""], &["\"ssl\""]),
            required(
                "addresses",
                &["[\"127.0.0.1:6514\"]", "[\"localhost\"]", "[\"[::1]:1\"]"],
                &["[\":1\"]", "[\"h:0\"]", "[]"],
            ),
            line("max_message_bytes", &["480", "8192", "70000"], &["100", "2000000"]),
            line("framing", &["\"lf\"", "\"octet-counting\""], &["\"crlf\""]),
            line("server_name", &["\"localhost\"", "\"127.0.0.1\""], &["\"bad name!\""]),
            path_choice(),
            prop_oneof![8 => Just(0u8), 2 => Just(1), 1 => Just(2)],
            any::<bool>(),
            proptest::bool::weighted(0.1),
        ),
    )
        .prop_map(move |((fmt, lv, ld, host, fac, sd, body), (tr, addr, max, framing, sni, ca, mtls, roots, stray))| {
            let mut s = format!("[[destination]]\nname = \"d\"\n{fmt}{lv}{ld}{host}{fac}{sd}{body}{tr}{addr}{max}{framing}");
            // TLS options mostly only where they apply (elsewhere they are refused).
            if !(tr.contains("tls") || stray) {
                return s;
            }
            s.push_str(&sni);
            if let Some(ca) = ca {
                s.push_str(&format!("ca_file = \"{}\"\n", ca.display()));
            }
            match mtls {
                1 => s.push_str(&format!(
                    "client_cert_file = \"{}\"\nclient_key_file = \"{}\"\n",
                    f.client_cert.display(),
                    f.client_key.display()
                )),
                2 => s.push_str(&format!("client_cert_file = \"{}\"\n", f.client_cert.display())),
                _ => {}
            }
            if roots {
                s.push_str("use_system_roots = false\n");
            }
            s
        })
}

fn defender() -> impl Strategy<Value = String> {
    let f = files();
    (
        prop_oneof![16 => Just(0u8), 1 => Just(1), 1 => Just(2)],
        path_choice(),
        line("api_url", &["\"https://127.0.0.1:1\""], &["\"http://127.0.0.1:1\"", "\"not a url\""]),
        line("scope", &["\"https://api.securitycenter.microsoft.com/.default\""], &["\"https://x/y\""]),
    )
        .prop_map(move |(cred, ca, api, scope)| {
            let mut s = String::from(
                "[defender]\ntenant_id = \"11111111-2222-4333-8444-555555555555\"\nclient_id = \"66666666-7777-4888-9999-aaaaaaaaaaaa\"\n",
            );
            match cred {
                0 => s.push_str("client_secret = \"s\"\n"),
                // An EC key: certificate credentials need RSA.
                1 => s.push_str(&format!(
                    "certificate_file = \"{}\"\nprivate_key_file = \"{}\"\n",
                    f.client_cert.display(),
                    f.client_key.display()
                )),
                _ => s.push_str("client_secret = \"  \"\n"),
            }
            if let Some(ca) = ca {
                s.push_str(&format!("ca_file = \"{}\"\n", ca.display()));
            }
            s.push_str(&api);
            s.push_str(&scope);
            s
        })
}

fn config() -> impl Strategy<Value = (String, &'static str)> {
    (
        defender(),
        proptest::collection::vec(destination(), 1..3),
        prop_oneof![
            4 => Just("collector1"),
            4 => Just("collector1.corp.example"),
            1 => Just("bad host!"),
        ],
    )
        .prop_map(|(defender, dests, host)| {
            // Distinct names, so a duplicate name is not the only reason for refusals.
            let dests: Vec<String> = dests
                .iter()
                .enumerate()
                .map(|(i, d)| d.replacen("name = \"d\"", &format!("name = \"d{i}\""), 1))
                .collect();
            (format!("{defender}\n{}", dests.join("\n")), host)
        })
}

#[test]
fn what_check_accepts_run_accepts() {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let (accepted, refused) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 400,
        ..ProptestConfig::default()
    });
    let result = runner.run(&config(), |(text, host)| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, &text).unwrap();
        let Ok(cfg) = super::load_with_hostname(&path, host) else {
            refused.fetch_add(1, Relaxed);
            return Ok(());
        };
        accepted.fetch_add(1, Relaxed);
        let _in_runtime = rt.enter();
        // The Defender client is `cfg.client`, built by `load` itself; `run` builds no other.
        for d in &cfg.destinations {
            let f = Formatter::new(d.format().clone());
            prop_assert!(f.is_ok(), "formatter: {:?}\n{text}", f.err());
            let t = Transport::start(&d.name, d.transport.config().clone());
            prop_assert!(t.is_ok(), "transport: {:?}\n{text}", t.err());
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // Both sides of the property were exercised.
    let (a, r) = (accepted.load(Relaxed), refused.load(Relaxed));
    eprintln!("agreement: {a} generated configs accepted, {r} refused");
    assert!(a >= 40 && r >= 40, "accepted {a}, refused {r} of 400");
}
