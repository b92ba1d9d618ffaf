//! When the reconnect backoff starts again: the jittered delay itself is the workspace's one
//! backoff (`exp_backoff`).

use std::time::Duration;

pub(crate) use exp_backoff::Backoff;

/// Whether the backoff starts again from its minimum after a connection ended: it delivered
/// data, or it stayed up past the TLS settle (an accepted, idle connection, not a refusal).
/// Without the second rule an idle connection kept the attempt count of the outage before it,
/// and the delay grew across short collector outages (8–15 s seen).
pub(crate) fn session_was_healthy(delivered_any: bool, lasted: Duration, settle: Duration) -> bool {
    delivered_any || lasted >= settle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthy_connection_restarts_the_backoff_small() {
        let settle = Duration::from_secs(2);
        assert!(session_was_healthy(true, Duration::from_millis(10), settle));
        assert!(session_was_healthy(false, Duration::from_secs(600), settle));
        assert!(!session_was_healthy(
            false,
            Duration::from_millis(300),
            settle
        ));
    }
}
