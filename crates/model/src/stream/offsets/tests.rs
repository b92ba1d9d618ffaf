#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

fn key(p: i32, epoch: u64) -> PartitionKey {
    PartitionKey {
        topic: Arc::from("t"),
        partition: p,
        epoch,
    }
}

#[test]
fn an_offset_is_committable_only_after_every_earlier_message_of_its_partition() {
    let mut t = OffsetTracker::new();
    t.message(key(0, 1), 10, Some(1)); // records 0, 1
    t.message(key(1, 1), 5, Some(2)); // record 2
    t.message(key(0, 1), 11, None); // filtered: no records of its own
    t.message(key(0, 1), 12, Some(3)); // record 3
    t.delivered(2);
    // Message 11 had nothing of its own to send, so it is delivered with message 10.
    assert_eq!(t.take_ready(), vec![(key(0, 1), 12)]);
    t.delivered(3);
    assert_eq!(t.take_ready(), vec![(key(1, 1), 6)]);
    assert_eq!(t.in_flight(), 1);
    t.delivered(4);
    assert_eq!(t.take_ready(), vec![(key(0, 1), 13)]);
    assert!(t.take_ready().is_empty());
    assert_eq!(t.in_flight(), 0);
}

#[test]
fn a_message_without_records_after_everything_delivered_is_committable_at_once() {
    let mut t = OffsetTracker::new();
    t.message(key(0, 1), 1, Some(0));
    t.delivered(1);
    t.take_ready();
    t.message(key(0, 1), 2, None);
    assert_eq!(t.take_ready(), vec![(key(0, 1), 3)]);
}

#[test]
fn a_forgotten_partition_is_never_committed() {
    let mut t = OffsetTracker::new();
    t.message(key(0, 1), 7, Some(0));
    t.message(key(0, 1), 8, Some(1));
    t.delivered(1);
    t.forget(&key(0, 1));
    t.delivered(2);
    assert!(t.take_ready().is_empty());
    assert_eq!(t.in_flight(), 0);
}

#[derive(Debug, Clone)]
enum Op {
    /// A message of partition p with r records.
    Message(i32, u8),
    /// The transport delivers up to d more messages.
    Deliver(u8),
    Take,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3i32, 0..4u8).prop_map(|(p, r)| Op::Message(p, r)),
        2 => (0..6u8).prop_map(Op::Deliver),
        1 => Just(Op::Take),
    ]
}

proptest! {
    /// Against a reference model: what is committed for a partition is exactly one past the
    /// longest prefix of its messages whose records are all delivered, and never goes back.
    #[test]
    fn commits_match_the_reference(ops in proptest::collection::vec(op(), 0..200)) {
        let mut t = OffsetTracker::new();
        let mut sent = 0u64;
        let mut delivered = 0u64;
        let mut next_offset = [0i64; 3];
        // Per partition: (offset, sent_end) in order.
        let mut read: [Vec<(i64, u64)>; 3] = Default::default();
        let mut committed: [Option<i64>; 3] = [None; 3];
        let check = |t: &mut OffsetTracker, delivered: u64, committed: &mut [Option<i64>; 3], read: &[Vec<(i64, u64)>; 3]| {
            for (k, next) in t.take_ready() {
                let p = usize::try_from(k.partition).unwrap();
                prop_assert!(committed[p].is_none_or(|c| next > c), "commit went back");
                committed[p] = Some(next);
            }
            for p in 0..3 {
                let expect = read[p]
                    .iter()
                    .take_while(|(_, end)| *end <= delivered)
                    .last()
                    .map(|(o, _)| o + 1);
                prop_assert_eq!(committed[p], expect, "partition {}", p);
            }
            Ok(())
        };
        for op in ops {
            match op {
                Op::Message(p, r) => {
                    sent += u64::from(r);
                    let pi = usize::try_from(p).unwrap();
                    let o = next_offset[pi];
                    next_offset[pi] += 1;
                    // A message without records is delivered with the one before it.
                    let end = if r == 0 { read[pi].last().map_or(0, |m| m.1) } else { sent };
                    read[pi].push((o, end));
                    t.message(key(p, 1), o, (r > 0).then(|| sent - 1));
                }
                Op::Deliver(d) => {
                    delivered = (delivered + u64::from(d)).min(sent);
                    t.delivered(delivered);
                }
                Op::Take => check(&mut t, delivered, &mut committed, &read)?,
            }
        }
        check(&mut t, delivered, &mut committed, &read)?;
    }
}
