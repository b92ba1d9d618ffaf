//! The one notion of health, shared by `GET /healthz` and the systemd watchdog.
//!
//! Sampled once a second from the pollers', pipelines' and transports' counters. Three levels:
//! - **healthy**: every poller and pipeline shows progress within `stall_after`, or is idle on
//!   purpose (poll interval, backoff, Retry-After, request budget, nothing to send);
//! - **degraded**: alive but not getting anywhere because of something outside the process
//!   (collector down or not acknowledging, Defender API failing): `/healthz` answers 503, the
//!   watchdog keeps pinging (a restart cannot fix the outside world);
//! - **stalled**: a task has stopped turning (a wedged poller or pipeline): `/healthz` answers
//!   503 and the watchdog stops pinging, so systemd restarts the daemon (`WatchdogSec=`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alert_model::Timestamp;
use forwarder::transport::Transport;
use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

use crate::pipeline::PipelineStats;

/// One destination's live counters (what `/metrics`, the summary line and health read).
#[derive(Debug, Clone)]
pub struct Watched {
    pub name: String,
    pub poller: Arc<fetcher::PollerStats>,
    pub pipeline: Arc<PipelineStats>,
    pub transport: Arc<Transport>,
    /// The poller's own idle time between cycles.
    pub poll_interval: Duration,
    /// `graph`, `mde` or `streaming` (the `source` label).
    pub source: &'static str,
    /// The streaming source's per-partition figures (`None` for the alert sources).
    pub stream: Option<Arc<stream_source::StreamStats>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Healthy,
    Degraded,
    Stalled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub level: Level,
    /// One line: "ok", or every problem found, separated by "; ".
    pub reason: String,
}

/// Per destination: what the previous samples saw.
#[derive(Debug)]
struct Track {
    delivered: u64,
    delivered_at_ms: u64,
    connected_at_ms: u64,
}

#[derive(Debug)]
struct State {
    tracks: Vec<Track>,
    verdict: Verdict,
}

/// The health of one daemon run.
#[derive(Debug)]
pub struct Board {
    watched: Vec<Watched>,
    stall_after: Duration,
    started_ms: u64,
    state: Mutex<State>,
}

pub fn now_unix_ms() -> u64 {
    u64::try_from(Timestamp::now().unix_millis()).unwrap_or(0)
}

impl Watched {
    /// Now (Unix ms) minus the time up to which every alert version is fetched: the later of
    /// the watermark and the start of the last cycle that read to the end of the results (so a
    /// caught-up poller shows about `poll_interval`, not the age of the newest alert).
    pub fn fetch_lag_seconds(&self, now_ms: u64) -> f64 {
        let q = &self.poller;
        let upto = q
            .watermark_unix_ms
            .load(Ordering::Relaxed)
            .max(q.caught_up_unix_ms.load(Ordering::Relaxed));
        now_ms.saturating_sub(upto) as f64 / 1000.0
    }
}

impl Board {
    pub fn new(watched: Vec<Watched>, stall_after: Duration) -> Board {
        let now = now_unix_ms();
        let tracks = watched
            .iter()
            .map(|_| Track {
                delivered: 0,
                delivered_at_ms: now,
                connected_at_ms: now,
            })
            .collect();
        Board {
            watched,
            stall_after,
            started_ms: now,
            state: Mutex::new(State {
                tracks,
                verdict: Verdict {
                    level: Level::Healthy,
                    reason: "ok (starting)".into(),
                },
            }),
        }
    }

    pub fn watched(&self) -> &[Watched] {
        &self.watched
    }

    /// The verdict of the latest sample.
    pub fn verdict(&self) -> Verdict {
        self.lock().verdict.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is replaced whole on every sample: a poisoned lock holds a usable value.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Looks at every destination at `now` (Unix ms) and stores the verdict.
    pub fn sample(&self, now: u64) -> Verdict {
        let mut st = self.lock();
        let bound = u64::try_from(self.stall_after.as_millis()).unwrap_or(u64::MAX);
        // A collector may be away this long (a reconnect with backoff) before it counts.
        let grace = bound.min(30_000);
        let secs = |ms: u64| ms / 1000;
        let mut problems: Vec<(Level, String)> = Vec::new();
        for (w, t) in self.watched.iter().zip(st.tracks.iter_mut()) {
            let ts = w.transport.stats();
            if ts.delivered != t.delivered {
                t.delivered = ts.delivered;
                t.delivered_at_ms = now;
            }
            let connected = ts.connected_to.is_some();
            if connected {
                t.connected_at_ms = now;
            }
            let p = &w.pipeline;
            let in_send = p.in_send.load(Ordering::Relaxed);
            let pipe_idle = now.saturating_sub(p.active_unix_ms.load(Ordering::Relaxed));
            let pipe_stalled = !in_send && pipe_idle > bound;
            if pipe_stalled {
                problems.push((
                    Level::Stalled,
                    format!(
                        "destination {:?}: pipeline stalled (no progress for {}s)",
                        w.name,
                        secs(pipe_idle)
                    ),
                ));
            }
            let q = &w.poller;
            let active = q.active_unix_ms.load(Ordering::Relaxed);
            let idle_until = q.idle_until_unix_ms.load(Ordering::Relaxed);
            let poller_quiet = now.saturating_sub(active.max(idle_until));
            // A poller blocked on a full channel waits for its pipeline: not its own stall.
            if poller_quiet > bound && !in_send && !pipe_stalled {
                problems.push((
                    Level::Stalled,
                    format!(
                        "destination {:?}: poller stalled (no progress for {}s)",
                        w.name,
                        secs(poller_quiet)
                    ),
                ));
            }
            let down_for = now.saturating_sub(t.connected_at_ms);
            if !connected && down_for > grace {
                problems.push((
                    Level::Degraded,
                    format!(
                        "destination {:?}: collector down for {}s",
                        w.name,
                        secs(down_for)
                    ),
                ));
            } else if connected && in_send && now.saturating_sub(t.delivered_at_ms) > bound {
                problems.push((
                    Level::Degraded,
                    format!(
                        "destination {:?}: collector acknowledged nothing for {}s",
                        w.name,
                        secs(now.saturating_sub(t.delivered_at_ms))
                    ),
                ));
            }
            let last_poll =
                (q.last_success_unix.load(Ordering::Relaxed) * 1000).max(self.started_ms);
            let poll_bound = bound
                .saturating_add(u64::try_from(w.poll_interval.as_millis()).unwrap_or(u64::MAX));
            if !in_send && now.saturating_sub(last_poll) > poll_bound {
                problems.push((
                    Level::Degraded,
                    format!(
                        "destination {:?}: no successful Defender API poll for {}s",
                        w.name,
                        secs(now.saturating_sub(last_poll))
                    ),
                ));
            }
        }
        let level = problems
            .iter()
            .map(|(l, _)| *l)
            .max()
            .unwrap_or(Level::Healthy);
        let reason = if problems.is_empty() {
            "ok".to_owned()
        } else {
            problems
                .into_iter()
                .map(|(_, r)| r)
                .collect::<Vec<_>>()
                .join("; ")
        };
        st.verdict = Verdict { level, reason };
        st.verdict.clone()
    }
}

/// Samples the board every second until `stop`; under systemd's watchdog, pings it at half
/// its interval while nothing is stalled. Logs each change of verdict.
pub async fn watch(board: Arc<Board>, stop: CancellationToken) {
    let watchdog = sd_notify::watchdog_enabled();
    let every = watchdog.map_or(Duration::from_secs(1), |w| {
        (w / 2).clamp(Duration::from_millis(100), Duration::from_secs(1))
    });
    let mut tick = tokio::time::interval(every);
    let mut last = board.verdict();
    let mut announced_stall = false;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let v = board.sample(now_unix_ms());
        if v != last {
            match v.level {
                Level::Healthy => tracing::info!("Health: ok."),
                Level::Degraded => {
                    tracing::warn!(reason = %v.reason, "Health: degraded: {}", v.reason)
                }
                Level::Stalled => {
                    tracing::error!(reason = %v.reason, "Health: stalled: {}", v.reason)
                }
            }
            last = v.clone();
        }
        if watchdog.is_some() {
            if v.level == Level::Stalled {
                if !announced_stall {
                    tracing::error!(
                        "Stopping the systemd watchdog pings: systemd will restart the daemon."
                    );
                    announced_stall = true;
                }
            } else {
                announced_stall = false;
                // Outside systemd there is no NOTIFY_SOCKET and this does nothing.
                let _ = sd_notify::notify(&[NotifyState::Watchdog]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use forwarder::transport::{TransportConfig, TransportKind};

    fn board(bound_s: u64) -> Arc<Board> {
        let t = Transport::start(
            "siem",
            TransportConfig::new(TransportKind::Tcp, vec!["127.0.0.1:9".into()]),
        )
        .unwrap();
        let w = Watched {
            name: "siem".into(),
            poller: Arc::default(),
            pipeline: Arc::default(),
            transport: Arc::new(t),
            poll_interval: Duration::from_secs(1),
            source: "graph",
            stream: None,
        };
        Arc::new(Board::new(vec![w], Duration::from_secs(bound_s)))
    }

    fn set(b: &Board, f: impl Fn(&Watched)) {
        f(&b.watched()[0]);
    }

    #[tokio::test]
    async fn a_pipeline_that_stops_turning_is_stalled_but_one_waiting_on_the_collector_is_not() {
        let b = board(10);
        let t0 = now_unix_ms();
        set(&b, |w| {
            w.pipeline.active_unix_ms.store(t0, Ordering::Relaxed);
            w.poller.active_unix_ms.store(t0, Ordering::Relaxed);
        });
        // Within the bound (collector not connected yet, but within the grace).
        assert_eq!(b.sample(t0 + 5_000).level, Level::Healthy);
        let v = b.sample(t0 + 11_000);
        assert_eq!(v.level, Level::Stalled, "{}", v.reason);
        assert!(v.reason.contains("pipeline stalled"), "{}", v.reason);
        // The same silence while blocked on a full transport buffer: the collector's fault.
        set(&b, |w| w.pipeline.in_send.store(true, Ordering::Relaxed));
        let v = b.sample(t0 + 11_000);
        assert_eq!(v.level, Level::Degraded, "{}", v.reason);
        assert!(v.reason.contains("collector down"), "{}", v.reason);
    }

    #[tokio::test]
    async fn a_poller_idle_on_purpose_is_healthy_until_it_oversleeps() {
        let b = board(10);
        let t0 = now_unix_ms();
        set(&b, |w| {
            w.pipeline
                .active_unix_ms
                .store(t0 + 70_000, Ordering::Relaxed);
            w.poller.active_unix_ms.store(t0, Ordering::Relaxed);
            // e.g. Retry-After: 60 s.
            w.poller
                .idle_until_unix_ms
                .store(t0 + 60_000, Ordering::Relaxed);
            w.poller
                .last_success_unix
                .store((t0 + 60_000) / 1000, Ordering::Relaxed);
        });
        let v = b.sample(t0 + 65_000);
        assert_ne!(v.level, Level::Stalled, "{}", v.reason);
        let v = b.sample(t0 + 71_000);
        assert_eq!(v.level, Level::Stalled, "{}", v.reason);
        assert!(v.reason.contains("poller stalled"), "{}", v.reason);
    }
}
