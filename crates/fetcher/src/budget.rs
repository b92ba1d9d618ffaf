//! The per-tenant request budget: a sliding log of request start times that keeps every
//! 60-second window at or under `per_minute` and every hour at or under `per_hour`, plus a
//! block until the end of the latest `Retry-After`. It learns from 429 (the quota also counts
//! server CPU): after a 429 the per-minute allowance drops to three quarters of what was used
//! in the last minute (never below a quarter of the limit), and recovers after an hour
//! without 429.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::BudgetLimits;

// One second of margin on each window: the server counts arrivals, and network latency varies
// between the first and the last request of a window.
const MINUTE: Duration = Duration::from_secs(61);
const HOUR: Duration = Duration::from_secs(3601);

#[derive(Debug)]
struct State {
    sent: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    learned_per_minute: Option<(u32, Instant)>,
}

/// Shared by every poller of one [`crate::Client`].
#[derive(Debug)]
pub struct Budget {
    limits: BudgetLimits,
    state: Mutex<State>,
}

impl Budget {
    /// A budget within the MDE API's quota.
    #[cfg(test)]
    pub fn new(limits: BudgetLimits) -> Self {
        Self::within(limits, BudgetLimits::default())
    }

    /// `limits`, each clamped to `quota` (the source's documented one).
    pub fn within(limits: BudgetLimits, quota: BudgetLimits) -> Self {
        let d = quota;
        Self {
            limits: BudgetLimits {
                per_minute: limits.per_minute.clamp(1, d.per_minute),
                per_hour: limits.per_hour.clamp(1, d.per_hour),
            },
            state: Mutex::new(State {
                sent: VecDeque::new(),
                blocked_until: None,
                learned_per_minute: None,
            }),
        }
    }

    /// Waits until one more request fits, then records it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                match self.next_slot(&mut st, now) {
                    None => {
                        st.sent.push_back(now);
                        return;
                    }
                    Some(at) => at.saturating_duration_since(now),
                }
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    /// How long a request started now would wait (zero if it fits), for the health check.
    pub fn wait_estimate(&self) -> Duration {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        self.next_slot(&mut st, now)
            .map_or(Duration::ZERO, |at| at.saturating_duration_since(now))
    }

    /// `None` if a request may start now, else the earliest instant it may.
    fn next_slot(&self, st: &mut State, now: Instant) -> Option<Instant> {
        while st
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= HOUR)
        {
            st.sent.pop_front();
        }
        if let Some(b) = st.blocked_until {
            if b > now {
                return Some(b);
            }
            st.blocked_until = None;
        }
        let per_minute = match st.learned_per_minute {
            Some((_, since)) if now.duration_since(since) >= HOUR => {
                st.learned_per_minute = None;
                self.limits.per_minute
            }
            Some((n, _)) => n.min(self.limits.per_minute),
            None => self.limits.per_minute,
        } as usize;
        if st.sent.len() >= self.limits.per_hour as usize {
            return st.sent.front().map(|t| *t + HOUR);
        }
        let in_minute = st.sent.len()
            - st.sent
                .partition_point(|t| now.duration_since(*t) >= MINUTE);
        if in_minute >= per_minute {
            // The oldest request still inside the minute must leave it first.
            let idx = st.sent.len() - per_minute;
            return st.sent.get(idx).map(|t| *t + MINUTE);
        }
        None
    }

    /// A 429 arrived: nothing is sent before `retry_after` has passed, and the minute
    /// allowance shrinks.
    pub fn throttled(&self, retry_after: Duration) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let until = now + retry_after;
        st.blocked_until = Some(st.blocked_until.map_or(until, |b| b.max(until)));
        let used = st.sent.len()
            - st.sent
                .partition_point(|t| now.duration_since(*t) >= MINUTE);
        let learned = ((used as u32) * 3 / 4)
            .max(self.limits.per_minute / 4)
            .max(1);
        let current = st
            .learned_per_minute
            .map_or(self.limits.per_minute, |(n, _)| n);
        st.learned_per_minute = Some((learned.min(current), now));
    }

    /// Requests started in the last minute and hour.
    pub fn used(&self) -> (usize, usize) {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let hour = st.sent.len() - st.sent.partition_point(|t| now.duration_since(*t) >= HOUR);
        let minute = st.sent.len()
            - st.sent
                .partition_point(|t| now.duration_since(*t) >= MINUTE);
        (minute, hour)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_in_window(times: &[Instant], window: Duration) -> usize {
        let mut best = 0;
        for (i, t) in times.iter().enumerate() {
            let n = times[i..]
                .iter()
                .take_while(|u| u.duration_since(*t) < window)
                .count();
            best = best.max(n);
        }
        best
    }

    #[tokio::test(start_paused = true)]
    async fn never_exceeds_100_per_minute_or_1500_per_hour() {
        let b = Budget::new(BudgetLimits::default());
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..1700 {
            b.acquire().await;
            times.push(Instant::now());
        }
        assert!(max_in_window(&times, MINUTE) <= 100);
        assert!(max_in_window(&times, HOUR) <= 1500);
        // Request 1501 had to wait for the first hour to roll over.
        assert!(times[1500].duration_since(start) >= HOUR);
        assert_eq!(
            max_in_window(&times[..100], MINUTE),
            100,
            "bursts are allowed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn configured_limits_are_clamped_to_the_documented_quota() {
        let b = Budget::new(BudgetLimits {
            per_minute: 10_000,
            per_hour: 99_999,
        });
        let mut times = Vec::new();
        for _ in 0..250 {
            b.acquire().await;
            times.push(Instant::now());
        }
        assert!(max_in_window(&times, MINUTE) <= 100);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_blocks_and_the_allowance_shrinks() {
        let b = Budget::new(BudgetLimits::default());
        for _ in 0..40 {
            b.acquire().await;
        }
        let t429 = Instant::now();
        b.throttled(Duration::from_secs(7));
        b.acquire().await;
        assert!(Instant::now().duration_since(t429) >= Duration::from_secs(7));
        // 40 used in the minute → allowance 30 for the next hour.
        let start = Instant::now();
        let mut times = vec![];
        for _ in 0..100 {
            b.acquire().await;
            times.push(Instant::now());
        }
        assert!(
            max_in_window(&times, MINUTE) <= 30,
            "{}",
            max_in_window(&times, MINUTE)
        );
        assert!(Instant::now().duration_since(start) >= Duration::from_secs(120));
    }
}
