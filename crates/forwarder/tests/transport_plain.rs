//! Plain TCP (octet counting, LF framing) and UDP against the in-process collectors, and the
//! collector's own strictness (so the other tests can trust it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use forwarder::transport::{Framing, Transport, TransportConfig, TransportError, TransportKind};
use sim::collector::{self, Options, StreamFraming};
use tokio::io::AsyncWriteExt;

const WAIT: Duration = Duration::from_secs(60);

fn config(kind: TransportKind, address: String) -> TransportConfig {
    let mut c = TransportConfig::new(kind, vec![address]);
    c.backoff_min = Duration::from_millis(50);
    c.backoff_max = Duration::from_millis(300);
    c
}

#[tokio::test]
async fn tcp_octet_counting_is_byte_exact() {
    let c = collector::start(Options::tcp()).await.unwrap();
    let t = Transport::start("tcp", config(TransportKind::Tcp, c.address())).unwrap();
    let msgs: Vec<Vec<u8>> = vec![
        "<14>1 - - - - - Zoë € 😀".as_bytes().to_vec(),
        b"<14>1 - - - - - two\nlines".to_vec(),
        vec![0u8, 1, 2, b'\n', 0xff, 0xfe], // invalid UTF-8 and NULs travel as bytes
    ];
    for m in &msgs {
        t.send(m.clone()).await.unwrap();
    }
    let mut rx = t.delivered();
    tokio::time::timeout(WAIT, rx.wait_for(|d| *d >= 3))
        .await
        .unwrap()
        .unwrap();
    assert!(c.wait_for(3, WAIT).await);
    assert_eq!(c.messages(), msgs);
    t.shutdown(Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(c.errors().is_empty(), "{:?}", c.errors());
}

#[tokio::test]
async fn lf_framing_is_explicit_and_refuses_embedded_newlines() {
    let mut o = Options::tcp();
    o.framing = StreamFraming::Lf;
    let c = collector::start(o).await.unwrap();
    let mut cfg = config(TransportKind::Tcp, c.address());
    cfg.framing = Framing::Lf;
    let t = Transport::start("lf", cfg).unwrap();
    t.send(b"<14>1 - - - - - one line".to_vec()).await.unwrap();
    let e = t
        .send(b"<14>1 - - - - - a\nforged second event".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(e, TransportError::NewlineInLfFrame { at: 17 }),
        "{e}"
    );
    let mut rx = t.delivered();
    tokio::time::timeout(WAIT, rx.wait_for(|d| *d >= 1))
        .await
        .unwrap()
        .unwrap();
    assert!(c.wait_for(1, WAIT).await);
    assert_eq!(c.messages(), vec![b"<14>1 - - - - - one line".to_vec()]);
    t.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn udp_sends_one_datagram_per_message_and_enforces_the_size_limit() {
    let c = collector::start(Options::udp()).await.unwrap();
    let mut cfg = config(TransportKind::Udp, c.address());
    cfg.max_message_bytes = 2048;
    let t = Transport::start("udp", cfg).unwrap();
    let msgs: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("<14>1 - - - - - udp {i} é").into_bytes())
        .collect();
    for m in &msgs {
        t.send(m.clone()).await.unwrap();
    }
    let e = t.send(vec![b'x'; 2049]).await.unwrap_err();
    assert!(
        matches!(
            e,
            TransportError::MessageTooLarge {
                len: 2049,
                max: 2048
            }
        ),
        "{e}"
    );
    let mut rx = t.delivered();
    tokio::time::timeout(WAIT, rx.wait_for(|d| *d >= 20))
        .await
        .unwrap()
        .unwrap();
    // Loopback UDP with a reading receiver does not drop 20 small datagrams.
    assert!(c.wait_for(20, WAIT).await);
    assert_eq!(
        c.messages(),
        msgs,
        "no framing: each datagram is the message"
    );
    // The IPv4 ceiling applies whatever max_message_bytes says.
    let mut big = config(TransportKind::Udp, c.address());
    big.max_message_bytes = 1 << 20;
    big.max_inflight_bytes = 1 << 21;
    let t2 = Transport::start("udp-big", big).unwrap();
    assert!(matches!(
        t2.send(vec![b'x'; 65_508]).await,
        Err(TransportError::MessageTooLarge { max: 65_507, .. })
    ));
}

#[tokio::test]
async fn oversize_and_empty_messages_are_refused_before_sending() {
    let mut cfg = config(TransportKind::Tcp, "127.0.0.1:9".into());
    cfg.max_message_bytes = 100;
    let t = Transport::start("limits", cfg).unwrap();
    assert!(matches!(
        t.send(vec![b'a'; 101]).await,
        Err(TransportError::MessageTooLarge { .. })
    ));
    assert!(matches!(
        t.send(Vec::new()).await,
        Err(TransportError::EmptyMessage)
    ));
    assert_eq!(t.stats().sent, 0);
    let r = t.shutdown(Duration::ZERO).await;
    assert_eq!(r.undelivered, 0);
    assert!(matches!(
        t.send(b"late".to_vec()).await,
        Err(TransportError::Closed(_))
    ));
}

#[tokio::test]
async fn the_collector_rejects_a_trailing_lf_like_syslog_ng() {
    let c = collector::start(Options::tcp()).await.unwrap();
    let mut s = tokio::net::TcpStream::connect(c.addr()).await.unwrap();
    s.write_all(b"3 abc\n3 def").await.unwrap();
    assert!(c.wait_for(1, WAIT).await);
    tokio::time::timeout(WAIT, async {
        while c.errors().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(
        c.messages(),
        vec![b"abc".to_vec()],
        "the frame after the LF is not accepted"
    );
    assert!(c.errors()[0].contains("trailing LF"), "{:?}", c.errors());
}

#[tokio::test]
async fn probe_reports_each_address() {
    let c = collector::start(Options::tcp()).await.unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let mut cfg = config(TransportKind::Tcp, c.address());
    cfg.addresses.push(closed.clone());
    let r = Transport::probe(&cfg).await.unwrap();
    assert!(r.results[0].outcome.is_ok());
    let e = r.results[1].outcome.as_ref().unwrap_err().to_string();
    assert!(e.contains(&closed) && e.contains("connect failed"), "{e}");
    assert!(!r.all_ok());
}
