//! The page reader (splitter + lenient decoding, as the poller uses them) never loses or invents
//! an element: for any page mixing good alerts, alerts with odd content (lone surrogates, bytes
//! that are not UTF-8, numbers for strings, an object for the evidence list) and broken but
//! delimitable elements, at any chunk size, every element comes out exactly once, in order, as
//! the alert it is, a repaired alert, or an unreadable event carrying its id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alert_model::{Timestamp, parse_alert, repair::marker, unreadable};
use fetcher::split::PageSplitter;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Kind {
    Good(String),
    Surrogate(String),
    BadUtf8(String),
    NumberTitle(i64),
    EvidenceObject(String),
    Broken,
}

/// What the reader must produce for one element.
#[derive(Debug, Clone, PartialEq)]
enum Out {
    Alert {
        id: String,
        title: Option<String>,
        marker: String,
    },
    Unreadable {
        id: Option<String>,
    },
}

fn element(i: usize, kind: &Kind) -> (Vec<u8>, Out) {
    let id = format!("da{i:04}");
    let head = format!(r#"{{"id":"{id}","lastUpdateTime":"2026-11-20T08:14:05.3966667Z","#);
    let mut b = head.into_bytes();
    let out = |title: Option<String>, marker: &str| Out::Alert {
        id: id.clone(),
        title,
        marker: marker.into(),
    };
    let want = match kind {
        Kind::Good(t) => {
            b.extend_from_slice(
                format!(r#""title":{}"#, serde_json::to_string(t).unwrap()).as_bytes(),
            );
            out(Some(t.clone()), "")
        }
        Kind::Surrogate(t) => {
            let q = serde_json::to_string(t).unwrap();
            b.extend_from_slice(format!(r#""title":{}\udc00""#, &q[..q.len() - 1]).as_bytes());
            out(Some(format!("{t}\u{fffd}")), "surrogate")
        }
        Kind::BadUtf8(t) => {
            let q = serde_json::to_string(t).unwrap();
            b.extend_from_slice(b"\"title\":");
            b.extend_from_slice(&q.as_bytes()[..q.len() - 1]);
            b.extend_from_slice(b"\xff\"");
            out(Some(format!("{t}\u{fffd}")), "utf8")
        }
        Kind::NumberTitle(n) => {
            b.extend_from_slice(format!(r#""title":{n}"#).as_bytes());
            out(Some(n.to_string()), "type:title")
        }
        Kind::EvidenceObject(f) => {
            b.extend_from_slice(
                format!(
                    r#""evidence":{{"fileName":{}}}"#,
                    serde_json::to_string(f).unwrap()
                )
                .as_bytes(),
            );
            out(None, "type:evidence")
        }
        Kind::Broken => {
            b.extend_from_slice(br#""broken":tru"#);
            Out::Unreadable {
                id: Some(id.clone()),
            }
        }
    };
    b.push(b'}');
    (b, want)
}

fn kind() -> impl Strategy<Value = Kind> {
    let text = "[\\PC\"\\\\\\]\\[{}]{0,10}";
    prop_oneof![
        3 => text.prop_map(Kind::Good),
        1 => text.prop_map(Kind::Surrogate),
        1 => text.prop_map(Kind::BadUtf8),
        1 => any::<i64>().prop_map(Kind::NumberTitle),
        1 => text.prop_map(Kind::EvidenceObject),
        1 => Just(Kind::Broken),
    ]
}

/// Reads a page the way the poller does.
fn read(body: &[u8], chunk: usize) -> Vec<Out> {
    let at = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    let mut sp = PageSplitter::new();
    let mut out = Vec::new();
    for c in body.chunks(chunk) {
        sp.feed(c);
        while let Some(e) = sp.next_element().unwrap() {
            out.push(match parse_alert(e) {
                Ok(a) => Out::Alert {
                    id: a.id.clone().unwrap(),
                    title: a.title.clone(),
                    marker: marker(&a.repairs),
                },
                Err(err) => Out::Unreadable {
                    id: unreadable(e, err.to_string(), at).id,
                },
            });
        }
    }
    sp.finish().unwrap();
    out
}

proptest! {
    #[test]
    fn never_loses_or_invents_an_element(
        kinds in proptest::collection::vec(kind(), 0..12),
        chunk in 1usize..200,
        ws in "[ \n]{0,2}",
    ) {
        let (elements, want): (Vec<Vec<u8>>, Vec<Out>) =
            kinds.iter().enumerate().map(|(i, k)| element(i, k)).unzip();
        let mut body = br#"{"@odata.context":"x","value":["#.to_vec();
        for (i, e) in elements.iter().enumerate() {
            if i > 0 {
                body.extend_from_slice(ws.as_bytes());
                body.push(b',');
            }
            body.extend_from_slice(e);
        }
        body.extend_from_slice(b"]}");
        prop_assert_eq!(read(&body, chunk), want);
    }
}
