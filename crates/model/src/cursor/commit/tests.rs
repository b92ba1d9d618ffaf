use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn key(id: &str, t: &str) -> VersionKey {
    VersionKey {
        id: id.into(),
        last_update_time: ts(t),
    }
}

fn cp(t: &str) -> Checkpoint {
    Checkpoint { watermark: ts(t) }
}

fn persisted_keys(tracker: &mut CommitTracker) -> usize {
    tracker.to_persist().map_or(0, |c| c.resume.delivered.len())
}

#[test]
fn a_checkpoint_is_safe_only_when_everything_before_it_is_delivered() {
    let mut t = CommitTracker::new(ResumePoint::default(), Duration::from_secs(600));
    t.sent(0, Some(key("a", "2026-01-01T00:00:01Z")));
    t.sent(1, Some(key("b", "2026-01-01T00:00:02Z")));
    t.checkpoint(cp("2026-01-01T00:00:02Z"));
    t.delivered(1);
    assert_eq!(t.safe(), None, "message 1 is not delivered yet");
    assert_eq!(persisted_keys(&mut t), 1);
    t.delivered(2);
    assert_eq!(t.safe(), Some(ts("2026-01-01T00:00:02Z")));
    assert_eq!(persisted_keys(&mut t), 2);
}

#[test]
fn an_empty_page_checkpoint_is_safe_at_once_and_watermarks_never_go_back() {
    let mut t = CommitTracker::new(ResumePoint::default(), Duration::from_secs(600));
    t.checkpoint(cp("2026-01-01T00:00:05Z"));
    t.checkpoint(cp("2026-01-01T00:00:03Z"));
    assert_eq!(t.safe(), Some(ts("2026-01-01T00:00:05Z")));
}

#[test]
fn a_held_watermark_still_has_news_when_keys_are_delivered() {
    let held = ts("2026-01-01T00:00:00Z");
    let mut t = CommitTracker::new(
        ResumePoint {
            watermark: Some(held),
            delivered: vec![],
        },
        Duration::from_secs(600),
    );
    assert!(!t.has_news(), "the file already holds the resume point");
    t.sent(0, Some(key("a", "2026-01-01T00:00:01Z")));
    t.checkpoint(cp("2026-01-01T00:00:00Z"));
    assert!(!t.has_news(), "not delivered yet");
    t.delivered(1);
    let c = t.to_persist().expect("a delivered key is news");
    assert_eq!(c.resume.watermark, Some(held));
    t.persisted(&c);
    assert!(!t.has_news() && t.to_persist().is_none());
}

#[test]
fn a_failed_write_stays_news_and_a_late_success_does_not_hide_newer_keys() {
    let mut t = CommitTracker::new(ResumePoint::default(), Duration::from_secs(600));
    t.sent(0, Some(key("a", "2026-01-01T00:00:01Z")));
    t.delivered(1);
    let first = t.to_persist().unwrap();
    // The write failed: nothing is handed back, the same content is still news.
    assert_eq!(t.to_persist().as_ref(), Some(&first));
    t.sent(1, Some(key("b", "2026-01-01T00:00:02Z")));
    t.delivered(2);
    t.persisted(&first);
    assert!(t.has_news(), "key b is not in what was written");
    assert_eq!(persisted_keys(&mut t), 2);
}

#[test]
fn keys_below_the_window_are_dropped_when_the_watermark_rises() {
    let mut t = CommitTracker::new(
        ResumePoint {
            watermark: Some(ts("2026-01-01T00:00:00Z")),
            delivered: vec![key("old", "2026-01-01T00:00:00Z")],
        },
        Duration::from_secs(60),
    );
    t.sent(0, Some(key("new", "2026-01-01T00:05:00Z")));
    t.checkpoint(cp("2026-01-01T00:05:00Z"));
    t.delivered(1);
    let c = t.to_persist().unwrap();
    assert_eq!(c.resume.watermark, Some(ts("2026-01-01T00:05:00Z")));
    assert_eq!(c.resume.delivered, vec![key("new", "2026-01-01T00:05:00Z")]);
}

// ---- property test against a reference model ----

/// One thing the pipeline can tell the tracker.
#[derive(Debug, Clone)]
enum Op {
    /// Hand a message to the transport: alert `id` at second `t` (None: no key).
    Send(Option<(u8, u16)>),
    /// A checkpoint at second `t`.
    Checkpoint(u16),
    /// The transport reports some more delivered (a pick between delivered and sent).
    Deliver(u16),
    /// A stale, lower delivered count (a late watch value): must change nothing.
    DeliverStale(u16),
    /// A commit attempt; `ok` false = the write failed.
    Commit { ok: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => proptest::option::weighted(0.9, (0u8..12, 0u16..200)).prop_map(Op::Send),
        2 => (0u16..200).prop_map(Op::Checkpoint),
        3 => any::<u16>().prop_map(Op::Deliver),
        1 => any::<u16>().prop_map(Op::DeliverStale),
        2 => any::<bool>().prop_map(|ok| Op::Commit { ok }),
    ]
}

const OVERLAP: Duration = Duration::from_secs(30);

fn at(second: u16) -> Timestamp {
    ts("2026-01-01T00:00:00Z").saturating_add(Duration::from_secs(u64::from(second)))
}

/// The rule, written the long way: everything ever sent, every checkpoint, the delivered count.
#[derive(Debug)]
struct Model {
    resume: ResumePoint,
    sent: Vec<Option<VersionKey>>,
    /// (messages sent before it, watermark)
    checkpoints: Vec<(u64, Timestamp)>,
    delivered: u64,
}

impl Model {
    /// The highest checkpoint with every message before it delivered; never below the resume point.
    fn safe(&self) -> Option<Timestamp> {
        let safe = self
            .checkpoints
            .iter()
            .filter(|(before, _)| *before <= self.delivered);
        safe.map(|(_, w)| *w).chain(self.resume.watermark).max()
    }

    /// Every delivered key inside the window of `watermark` (all of them without one).
    fn window(&self, watermark: Option<Timestamp>) -> BTreeSet<VersionKey> {
        let delivered = self.sent[..self.delivered as usize].iter().flatten();
        let all = self.resume.delivered.iter().chain(delivered);
        all.filter(|k| watermark.is_none_or(|w| k.last_update_time >= w.saturating_sub(OVERLAP)))
            .cloned()
            .collect()
    }
}

fn resume_point() -> impl Strategy<Value = ResumePoint> {
    let keys = proptest::collection::vec((0u8..12, 0u16..60), 0..5);
    (proptest::option::of(0u16..60), keys).prop_map(|(w, keys)| {
        let watermark = w.map(at);
        let mut delivered: Vec<VersionKey> = keys
            .into_iter()
            .map(|(id, t)| VersionKey {
                id: format!("a{id}"),
                last_update_time: at(t),
            })
            .filter(|k| watermark.is_none_or(|w| k.last_update_time >= w.saturating_sub(OVERLAP)))
            .collect();
        delivered.sort();
        delivered.dedup();
        ResumePoint {
            watermark,
            delivered,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// For any interleaving: the safe watermark is the model's (so it never passes a checkpoint
    /// with an undelivered message before it), what is written never goes back and holds
    /// exactly the delivered keys of its window, and no commit means the file is complete.
    #[test]
    fn the_tracker_follows_the_model(resume in resume_point(), ops in proptest::collection::vec(op(), 0..120)) {
        let mut tracker = CommitTracker::new(resume.clone(), OVERLAP);
        let mut model = Model { resume: resume.clone(), sent: vec![], checkpoints: vec![], delivered: 0 };
        let mut on_disk = resume;
        for op in ops {
            match op {
                Op::Send(k) => {
                    let key = k.map(|(id, t)| VersionKey { id: format!("a{id}"), last_update_time: at(t) });
                    tracker.sent(model.sent.len() as u64, key.clone());
                    model.sent.push(key);
                }
                Op::Checkpoint(t) => {
                    tracker.checkpoint(Checkpoint { watermark: at(t) });
                    model.checkpoints.push((model.sent.len() as u64, at(t)));
                }
                Op::Deliver(pick) => {
                    let undelivered = model.sent.len() as u64 - model.delivered;
                    model.delivered += u64::from(pick) % (undelivered + 1);
                    tracker.delivered(model.delivered);
                }
                Op::DeliverStale(pick) => tracker.delivered(u64::from(pick) % (model.delivered + 1)),
                Op::Commit { ok } => match tracker.to_persist() {
                    Some(c) => {
                        let w = c.resume.watermark;
                        prop_assert_eq!(w, model.safe());
                        prop_assert!(w >= on_disk.watermark, "the written watermark went back");
                        if w != model.resume.watermark {
                            let w = w.unwrap();
                            prop_assert!(model.checkpoints.iter().any(|(before, cw)| *cw == w && *before <= model.delivered),
                                "the watermark passed an undelivered message");
                        }
                        let keys: BTreeSet<VersionKey> = c.resume.delivered.iter().cloned().collect();
                        prop_assert_eq!(keys.len(), c.resume.delivered.len(), "a key written twice");
                        prop_assert_eq!(&keys, &model.window(w));
                        prop_assert!(c.resume.delivered.is_sorted());
                        if ok {
                            tracker.persisted(&c);
                            on_disk = c.resume;
                        }
                    }
                    None => {
                        // Nothing new: the file on disk already holds everything safe.
                        prop_assert_eq!(on_disk.watermark, model.safe());
                        let kept: BTreeSet<VersionKey> = on_disk.delivered.iter().cloned().collect();
                        prop_assert!(model.window(on_disk.watermark).is_subset(&kept),
                            "a delivered key inside the window is missing from the file");
                    }
                },
            }
            prop_assert_eq!(tracker.safe(), model.safe());
        }
    }
}
