//! Jittered exponential backoff, the one the whole workspace uses: the collector reconnect
//! (forwarder), the API retry (fetcher) and the state-file retry (binary).
//!
//! [`delay`] is a pure function (the random draw is passed in), so its bounds are
//! property-tested; [`Backoff`] is the attempt counter around it.
#![forbid(unsafe_code)]

use std::time::Duration;

/// Delay before reconnect attempt `attempt` (0-based): a uniform draw (`unit` in [0, 1))
/// from [base/2, base], where base = min(max, min * 2^attempt). "Equal jitter": never less
/// than half the nominal delay, so a flapping collector is not hammered, and never above `max`.
pub fn delay(min: Duration, max: Duration, attempt: u32, unit: f64) -> Duration {
    let min = min.min(max);
    let factor = 2f64.powi(attempt.min(62) as i32);
    let base = (min.as_secs_f64() * factor).min(max.as_secs_f64());
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let d = base / 2.0 + base / 2.0 * unit;
    Duration::from_secs_f64(d.max(min.as_secs_f64() / 2.0).min(max.as_secs_f64()))
}

/// Attempt counter with a random source; reset after a healthy connection.
#[derive(Debug, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// The delay before the next attempt, drawn at random; counts the attempt.
    pub fn next(&mut self, min: Duration, max: Duration) -> Duration {
        let d = delay(min, max, self.attempt, rand::random::<f64>());
        self.attempt = self.attempt.saturating_add(1);
        d
    }
    /// After a success: the next delay starts from `min` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
    /// Attempts since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn grows_during_an_outage_and_starts_small_after_a_reset() {
        let (min, max) = (Duration::from_millis(500), Duration::from_secs(60));
        let mut b = Backoff::default();
        for _ in 0..6 {
            b.next(min, max);
        }
        assert_eq!(b.attempts(), 6);
        assert!(
            b.next(min, max) >= Duration::from_secs(8),
            "grew during the outage"
        );
        b.reset();
        assert!(b.next(min, max) <= min, "starts small again");
    }

    proptest! {
        #[test]
        fn within_bounds(min_ms in 1u64..10_000, extra in 0u64..600_000, attempt in 0u32..200, unit in 0.0f64..1.0) {
            let min = Duration::from_millis(min_ms);
            let max = Duration::from_millis(min_ms + extra);
            let d = delay(min, max, attempt, unit);
            prop_assert!(d <= max);
            prop_assert!(d >= min / 2);
        }

        #[test]
        fn nominal_delay_never_shrinks(min_ms in 1u64..5_000, extra in 0u64..100_000, attempt in 0u32..100) {
            let min = Duration::from_millis(min_ms);
            let max = Duration::from_millis(min_ms + extra);
            // Same draw, next attempt: never shorter (monotone until capped).
            for unit in [0.0, 0.5, 0.999] {
                prop_assert!(delay(min, max, attempt + 1, unit) >= delay(min, max, attempt, unit));
            }
        }

        #[test]
        fn reaches_the_cap(min_ms in 1u64..5_000, extra in 0u64..100_000) {
            let min = Duration::from_millis(min_ms);
            let max = Duration::from_millis(min_ms + extra);
            let top = delay(min, max, 200, 0.999_999_9);
            prop_assert!(max.as_secs_f64() - top.as_secs_f64() <= max.as_secs_f64() * 1e-6 + 1e-9);
        }

        #[test]
        fn garbage_draws_stay_bounded(unit in proptest::num::f64::ANY) {
            let d = delay(Duration::from_millis(100), Duration::from_secs(5), 3, unit);
            prop_assert!(d <= Duration::from_secs(5) && d >= Duration::from_millis(50));
        }
    }

    #[test]
    fn jitter_spreads() {
        let min = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        assert_eq!(delay(min, max, 3, 0.0), Duration::from_secs(4));
        assert_eq!(delay(min, max, 3, 1.0), Duration::from_secs(8));
    }
}
