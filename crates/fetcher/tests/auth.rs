//! Tokens and errors against the simulated Entra ID + Defender API: caching, refresh on 401 /
//! expired-token 403, certificate assertions, actionable errors, probe, and that no secret or
//! token reaches a log line, an error or a Debug print.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use alert_model::ResumePoint;
use common::*;
use fetcher::{Client, Credential, FetchError, Secret};
use sim::defender::{Endpoint, Fault, MockOptions, TokenFault};

const CERT: &str = include_str!("data/app-rsa.crt");
const KEY: &str = include_str!("data/app-rsa.key");

#[tokio::test]
async fn one_token_serves_many_requests_and_is_refreshed_once_on_401_and_expired_403() {
    for status in [401u16, 403] {
        let mock = start_mock(MockOptions {
            expired_token_status: status,
            ..Default::default()
        })
        .await;
        let mut expected = keys(&mock.insert_late(30, Duration::from_secs(120)));
        let client = Client::new(api_config(&mock)).unwrap();
        let run = spawn(&client, poller_config(), ResumePoint::default());
        run.settle(&expected, &mock).await;
        assert_eq!(
            mock.token_requests(),
            1,
            "the token is cached, not fetched per poll"
        );
        // The tenant expires every token: the next request fails, the client refreshes once and retries.
        mock.expire_tokens();
        expected.extend(mock.insert_new(4));
        run.settle(&expected, &mock).await;
        assert_eq!(mock.token_requests(), 2);
        // A single 401 and a 403 "expired" on otherwise valid tokens: refresh + retry each time.
        mock.push_faults([Fault::Unauthorized]);
        expected.extend(mock.insert_new(1));
        run.settle(&expected, &mock).await;
        mock.push_faults([Fault::ExpiredToken403]);
        expected.extend(mock.insert_new(1));
        run.settle(&expected, &mock).await;
        let (items, stats) = run.stop().await;
        assert_eq!(mock.token_requests(), 4);
        check_conservation(&mock, &items, &HashSet::new());
        let log = mock.request_log();
        let rejected: Vec<_> = log
            .iter()
            .filter(|r| r.endpoint == Endpoint::Alerts && (r.status == 401 || r.status == 403))
            .collect();
        assert_eq!(rejected.len(), 3);
        for r in rejected {
            // The retry right after the rejection succeeded, after exactly one token request.
            let after: Vec<_> = log.iter().filter(|x| x.seq > r.seq).take(2).collect();
            assert_eq!(after[0].endpoint, Endpoint::Token);
            assert_eq!(
                (after[1].endpoint, after[1].status),
                (Endpoint::Alerts, 200)
            );
        }
        assert_eq!(
            stats.errors.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "a refreshed token is not an error"
        );
        assert_no_secrets_logged(&mock);
    }
}

#[tokio::test]
async fn short_lived_tokens_are_refreshed_before_they_expire() {
    let mock = start_mock(MockOptions {
        token_lifetime: Duration::from_secs(2),
        ..Default::default()
    })
    .await;
    let expected = keys(&mock.insert_late(3, Duration::from_secs(60)));
    let client = Client::new(api_config(&mock)).unwrap();
    let mut cfg = poller_config();
    cfg.poll_interval = Duration::from_millis(400);
    let run = spawn(&client, cfg, ResumePoint::default());
    run.settle(&expected, &mock).await;
    run.wait_for("a refresh", |_| mock.token_requests() >= 3)
        .await;
    let (items, _) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    let rejected = mock
        .request_log()
        .iter()
        .filter(|r| r.status == 401)
        .count();
    assert_eq!(
        rejected, 0,
        "refreshed with margin, never used after expiry"
    );
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn a_transient_token_endpoint_failure_is_retried() {
    let mock = start_mock(MockOptions::default()).await;
    mock.push_token_fault(TokenFault::Status500);
    let expected = keys(&mock.insert_late(3, Duration::from_secs(60)));
    let client = Client::new(api_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    run.settle(&expected, &mock).await;
    let (items, _) = run.stop().await;
    check_conservation(&mock, &items, &HashSet::new());
    assert_eq!(mock.token_requests(), 2);
    assert_no_secrets_logged(&mock);
}

fn assert_clean(e: &FetchError, mock: &sim::defender::MockDefender) {
    let text = format!("{e} {e:?}");
    assert!(
        !text.contains(&mock.client_secret),
        "secret in error: {text}"
    );
    for t in mock.issued_tokens() {
        assert!(!text.contains(&t));
    }
}

#[tokio::test]
async fn wrong_secret_says_aadsts7000215_and_what_to_do() {
    let mock = start_mock(MockOptions::default()).await;
    let mut cfg = api_config(&mock);
    cfg.credential = Credential::Secret(Secret::new("the-secret-ID-not-the-value"));
    let e = Client::new(cfg).unwrap().probe().await.unwrap_err();
    assert!(matches!(e, FetchError::WrongSecret { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("AADSTS7000215") && msg.contains("Value (not its Secret ID)"),
        "{msg}"
    );
    assert!(!msg.contains("the-secret-ID-not-the-value"));
    assert!(!e.is_transient());
    assert_clean(&e, &mock);
    // The poller stops with the same error instead of hammering Entra ID.
    mock.set_wrong_secret(true);
    let client = Client::new(api_config(&mock)).unwrap();
    let run = spawn(&client, poller_config(), ResumePoint::default());
    let r = tokio::time::timeout(Duration::from_secs(30), run.task)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(r, Err(FetchError::WrongSecret { .. })), "{r:?}");
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn unknown_tenant_says_aadsts90002() {
    let mock = start_mock(MockOptions::default()).await;
    let mut cfg = api_config(&mock);
    cfg.tenant_id = "contoso.onmicrosoft.invalid".into();
    let e = Client::new(cfg).unwrap().probe().await.unwrap_err();
    assert!(matches!(e, FetchError::UnknownTenant { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("AADSTS90002")
            && msg.contains("contoso.onmicrosoft.invalid")
            && msg.contains("cloud"),
        "{msg}"
    );
    assert_clean(&e, &mock);
    let mut cfg = api_config(&mock);
    cfg.client_id = "11111111-2222-3333-4444-555555555555".into();
    let e = Client::new(cfg).unwrap().probe().await.unwrap_err();
    assert!(
        matches!(e, FetchError::UnknownClient { .. }) && e.to_string().contains("AADSTS700016"),
        "{e}"
    );
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn missing_permission_names_alert_read_all_with_admin_consent() {
    let mock = start_mock(MockOptions::default()).await;
    mock.set_forbidden(true);
    let client = Client::new(api_config(&mock)).unwrap();
    let e = client.probe().await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, FetchError::Forbidden { .. }), "{e:?}");
    assert!(
        msg.contains("WindowsDefenderATP application permission Alert.Read.All with admin consent"),
        "{msg}"
    );
    assert_clean(&e, &mock);
    let run = spawn(&client, poller_config(), ResumePoint::default());
    let r = tokio::time::timeout(Duration::from_secs(30), run.task)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(r, Err(FetchError::Forbidden { .. })), "{r:?}");
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn probe_reports_the_newest_alert_and_the_token() {
    let mock = start_mock(MockOptions::default()).await;
    let a = mock.insert_late(2, Duration::from_secs(300));
    let b = mock.insert_late(1, Duration::from_secs(30));
    let client = Client::new(api_config(&mock)).unwrap();
    let p = client.probe().await.unwrap();
    assert_eq!(p.alerts_returned, 1);
    assert_eq!(p.newest_last_update, Some(b[0].last_update_time));
    assert!(a[0].last_update_time < b[0].last_update_time);
    assert_eq!(p.token_lifetime, Duration::from_secs(3599));
    assert!(
        p.token_endpoint
            .ends_with(&format!("/{}/oauth2/v2.0/token", mock.tenant_id))
    );
    assert!(!format!("{client:?} {p:?}").contains(&mock.client_secret));
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn certificate_credentials_sign_a_client_assertion_entra_accepts() {
    let mock = start_mock(MockOptions {
        client_certificate_pem: Some(CERT.into()),
        ..Default::default()
    })
    .await;
    let mut cfg = api_config(&mock);
    cfg.credential = Credential::Certificate {
        cert_pem: CERT.into(),
        key_pem: Secret::new(KEY),
    };
    let client = Client::new(cfg.clone()).unwrap();
    client.probe().await.unwrap();
    assert!(!format!("{cfg:?} {client:?}").contains("PRIVATE KEY"));
    // A certificate the app does not have is refused with the registration hint.
    let pki = sim::pki::TestPki::new().unwrap();
    let mut other = cfg.clone();
    other.credential = Credential::Certificate {
        cert_pem: pki.client.cert_pem.clone(),
        key_pem: Secret::new(pki.client.key_pem.clone()),
    };
    let e = Client::new(other).unwrap_err();
    assert!(
        e.to_string().contains("RSA"),
        "an EC key is refused locally: {e}"
    );
    let unregistered = start_mock(MockOptions {
        client_certificate_pem: Some(pki.client.cert_pem.clone()),
        ..Default::default()
    })
    .await;
    let mut cfg2 = api_config(&unregistered);
    cfg2.credential = cfg.credential.clone();
    let e = Client::new(cfg2).unwrap().probe().await.unwrap_err();
    assert!(
        matches!(e, FetchError::CertificateRejected { code: 700027 }),
        "{e:?}"
    );
    assert!(e.to_string().contains("upload this certificate"), "{e}");
    let key2 = KEY.replace("MII", "MIJ");
    let mut broken = cfg.clone();
    broken.credential = Credential::Certificate {
        cert_pem: CERT.into(),
        key_pem: Secret::new(key2),
    };
    if let Err(e) = Client::new(broken) {
        assert!(!e.to_string().contains("MIJ"), "key material in error: {e}");
    }
    let log = log_text();
    assert!(
        !log.contains(KEY.lines().nth(1).unwrap()),
        "private key in logs"
    );
    assert_no_secrets_logged(&mock);
}

#[tokio::test]
async fn config_errors_are_specific() {
    let mock = start_mock(MockOptions::default()).await;
    let mut cfg = api_config(&mock);
    cfg.scope = Some("https://api.securitycenter.microsoft.com".into());
    assert!(
        Client::new(cfg)
            .unwrap_err()
            .to_string()
            .contains("/.default")
    );
    let mut cfg = api_config(&mock);
    cfg.proxy = Some("http://user:pa ss@[bad".into());
    let e = Client::new(cfg).unwrap_err().to_string();
    assert!(e.contains("proxy") && !e.contains("pa ss"), "{e}");
    let mut cfg = api_config(&mock);
    cfg.ca_file = Some("/nonexistent/corp-ca.pem".into());
    assert!(
        Client::new(cfg)
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/corp-ca.pem")
    );
    let mut cfg = api_config(&mock);
    cfg.extra_ca_pem = vec!["not a pem".into()];
    assert!(Client::new(cfg).unwrap_err().to_string().contains("PEM"));
    // Without the mock's CA the TLS handshake fails with a transport error, not a panic.
    let mut cfg = api_config(&mock);
    cfg.extra_ca_pem.clear();
    let e = Client::new(cfg).unwrap().probe().await.unwrap_err();
    assert!(
        matches!(e, FetchError::Transport { .. }) && e.is_transient(),
        "{e:?}"
    );
}

/// A minimal HTTP CONNECT proxy on loopback that counts the tunnels it opened.
async fn connect_proxy() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let tunnels = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = tunnels.clone();
    tokio::spawn(async move {
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            let count = count.clone();
            tokio::spawn(async move {
                let mut r = BufReader::new(sock);
                let mut line = String::new();
                r.read_line(&mut line).await.unwrap();
                let target = line.split_whitespace().nth(1).unwrap().to_owned();
                assert!(
                    line.starts_with("CONNECT ") && target.starts_with("127.0.0.1:"),
                    "{line}"
                );
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).await.unwrap();
                    if h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                let mut upstream = tokio::net::TcpStream::connect(&target).await.unwrap();
                let mut client = r.into_inner();
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (url, tunnels)
}

#[tokio::test]
async fn an_explicit_proxy_carries_token_and_api_traffic() {
    let mock = start_mock(MockOptions::default()).await;
    mock.insert_late(1, Duration::from_secs(10));
    let (proxy, tunnels) = connect_proxy().await;
    let mut cfg = api_config(&mock);
    cfg.proxy = Some(proxy);
    let client = Client::new(cfg).unwrap();
    let p = client.probe().await.unwrap();
    assert_eq!(p.alerts_returned, 1);
    assert!(
        tunnels.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "went through the proxy"
    );
    assert_no_secrets_logged(&mock);
}
