//! The poller: one per destination. Each cycle re-reads `lastUpdateTime ge watermark -
//! overlap` in `$orderby=lastUpdateTime asc` order and pages through it:
//!
//! - **keyset**: the next page starts at the last page's final `lastUpdateTime` (`ge`), the
//!   re-read boundary versions being dropped by the dedup set;
//! - **tie walk**: when a whole full page shares one `lastUpdateTime` L, keyset cannot move,
//!   so the poller pages through `ge L and le L` with `$skip`, walks it again until a walk
//!   finds nothing new (alerts leaving the tie shift the others), then continues with `gt L`;
//! - **unreadable elements**: alerts are decoded leniently (`alert_model::repair`); an element
//!   that still cannot be read fails its page once (retried), then is forwarded as an
//!   "unreadable alert" event and the page goes on. A page that breaks in a way the splitter
//!   cannot step over is retried, then the element at the index where it broke is fetched
//!   alone (`$skip` = index, `$top` = 1): O(1) requests, wherever it is in the page.
//!
//! After every readable page a [`Checkpoint`] follows the alerts it sent. Its watermark is
//! the last `lastUpdateTime` of the page (every version before it in the ordered result has
//! been sent), never lower than the previous one, and never above a cap set by an unsettled
//! tie walk. The overlap re-read catches alerts that become visible late and versions a `$skip`
//! walk missed because the result shifted; the dedup set makes the re-read invisible.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use alert_model::{Checkpoint, FetchItem, ResumePoint, Timestamp, Unreadable};
use tokio::sync::mpsc::Sender;
use tokio_util::sync::CancellationToken;

use crate::client::Client;
use crate::decode::{Decoded, decode};
use crate::dedup::Seen;
use crate::error::FetchError;
use crate::pager::{Advance, Note, PageRead, Pager, Query};
use crate::split::PageSplitter;

/// How a poller pages through the API.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    pub poll_interval: Duration,
    /// `$top`, at most 10,000 (MDE) or 1,000 (Graph).
    pub page_size: u32,
    /// How far behind the watermark each cycle re-reads.
    pub overlap: Duration,
    /// How far back the very first cycle reaches.
    pub initial_lookback: Duration,
    /// Attempts of a malformed page at one page size before shrinking it.
    pub malformed_attempts: u32,
    /// First retry delay after a 5xx / timeout; doubles up to `backoff_max`, drawn between half
    /// and all of it (`exp_backoff`, the same backoff the transports use).
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub expand_evidence: bool,
}

impl Default for PollerConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(60),
            page_size: 1000,
            overlap: Duration::from_secs(600),
            initial_lookback: Duration::from_secs(24 * 3600),
            malformed_attempts: 2,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
            expand_evidence: true,
        }
    }
}

/// Counters of one poller, read by the binary's stats line.
#[derive(Debug, Default)]
pub struct PollerStats {
    /// API requests sent (including retries).
    pub requests: AtomicU64,
    /// 429 answers.
    pub throttled: AtomicU64,
    /// Alert versions sent on the channel.
    pub alerts_fetched: AtomicU64,
    /// Versions dropped because they were already sent (overlap and boundary re-reads).
    pub versions_deduplicated: AtomicU64,
    /// Failed requests and unreadable pages or alerts.
    pub errors: AtomicU64,
    /// Elements that broke their page even when fetched alone (forwarded as unreadable).
    pub poison_alerts: AtomicU64,
    /// Alerts forwarded without `id` or `lastUpdateTime` (cannot be deduplicated).
    pub unkeyed_alerts: AtomicU64,
    /// Alerts forwarded after lenient decoding repaired them (marked in every format).
    pub alerts_repaired: AtomicU64,
    /// Elements forwarded as "unreadable alert" events.
    pub alerts_unreadable: AtomicU64,
    pub checkpoints: AtomicU64,
    /// now − watermark, seconds, updated after every page.
    pub lag_seconds: AtomicI64,
    /// Answers by HTTP status class: 2xx, 4xx, 5xx, other (1xx/3xx).
    pub responses_2xx: AtomicU64,
    pub responses_4xx: AtomicU64,
    pub responses_5xx: AtomicU64,
    pub responses_other: AtomicU64,
    /// Requests that got no HTTP answer (connect, TLS or timeout errors).
    pub requests_failed: AtomicU64,
    /// The poller's watermark (Unix ms) and the start of its last cycle that read to the end
    /// of the results: fetch lag = now − the later of the two.
    pub watermark_unix_ms: AtomicU64,
    pub caught_up_unix_ms: AtomicU64,
    /// When a page was last read completely, Unix seconds (0 = not yet).
    pub last_success_unix: AtomicU64,
    /// Liveness for the health check: the last sign of life (Unix ms) and, while the poller
    /// sleeps on purpose (poll interval, backoff, Retry-After, request budget), when it wakes.
    pub active_unix_ms: AtomicU64,
    pub idle_until_unix_ms: AtomicU64,
}

impl PollerStats {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one HTTP answer by status class.
    pub(crate) fn count_status(&self, status: u16) {
        let c = match status {
            200..=299 => &self.responses_2xx,
            400..=499 => &self.responses_4xx,
            500..=599 => &self.responses_5xx,
            _ => &self.responses_other,
        };
        Self::add(c, 1);
    }

    /// A sign of life: working, not sleeping.
    pub(crate) fn alive(&self) {
        self.active_unix_ms.store(now_unix_ms(), Ordering::Relaxed);
        self.idle_until_unix_ms.store(0, Ordering::Relaxed);
    }

    /// About to sleep on purpose for `d`: healthy until then.
    pub(crate) fn idle_for(&self, d: Duration) {
        let now = now_unix_ms();
        self.active_unix_ms.store(now, Ordering::Relaxed);
        let until = now.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.idle_until_unix_ms.store(until, Ordering::Relaxed);
    }
}

fn now_unix_ms() -> u64 {
    u64::try_from(Timestamp::now().unix_millis()).unwrap_or(0)
}

/// How reading a page ended.
enum PageEnd {
    Complete,
    /// The body stopped early (connection error or request timeout): read it again.
    CutOff(String),
    /// The body is not a valid page: retried, then the element at `index` is isolated.
    Malformed(Malformed),
}

/// Where a page broke.
struct Malformed {
    error: String,
    /// Elements before the break (the streamed parse knows exactly which one failed).
    index: u64,
    /// The bytes of the element the break is in, if it is inside one (cut to
    /// `Unreadable::MAX_RAW`).
    partial: Option<Vec<u8>>,
}

impl Malformed {
    fn at(split: &PageSplitter, error: String) -> PageEnd {
        let partial = split
            .pending_element()
            .map(|b| b[..b.len().min(Unreadable::MAX_RAW)].to_vec());
        PageEnd::Malformed(Malformed {
            error,
            index: split.items,
            partial,
        })
    }
}

/// Why a cycle stopped early.
enum Stop {
    Shutdown,
    Fatal(FetchError),
}

/// Polls one tenant for one destination.
#[derive(Debug)]
pub struct Poller {
    client: Client,
    cfg: PollerConfig,
    name: String,
    watermark: Timestamp,
    seen: Seen,
    /// Unreadable elements without a recoverable `lastUpdateTime` already forwarded, by dedup id
    /// (`!unreadable:<id or #hash>`), with their key time: they are keyed at a page time that
    /// differs between re-reads, so they are recognised by id alone. Pruned like `seen`.
    unreadable: std::collections::HashMap<String, Timestamp>,
    /// Unwalkable ties already warned about (each is re-read while in the overlap window).
    warned_ties: std::collections::BTreeSet<Timestamp>,
    stats: Arc<PollerStats>,
}

impl Poller {
    pub fn new(client: Client, cfg: PollerConfig, resume: ResumePoint, name: &str) -> Poller {
        let mut cfg = cfg;
        cfg.page_size = cfg.page_size.clamp(1, client.source().max_page_size());
        let watermark = resume
            .watermark
            .unwrap_or_else(|| Timestamp::now().saturating_sub(cfg.initial_lookback));
        let mut seen = Seen::default();
        let mut unreadable = std::collections::HashMap::new();
        for k in &resume.delivered {
            seen.insert(k);
            // (Persisted keys do not say whether the time was recovered: remember them all.)
            if k.id.starts_with(alert_model::UNREADABLE_KEY_PREFIX) {
                unreadable.insert(k.id.clone(), k.last_update_time);
            }
        }
        let stats = PollerStats::default();
        stats.watermark_unix_ms.store(
            u64::try_from(watermark.unix_millis()).unwrap_or(0),
            Ordering::Relaxed,
        );
        Poller {
            client,
            cfg,
            name: name.to_owned(),
            watermark,
            seen,
            unreadable,
            warned_ties: std::collections::BTreeSet::new(),
            stats: Arc::new(stats),
        }
    }

    pub fn stats(&self) -> Arc<PollerStats> {
        self.stats.clone()
    }

    /// Polls until `shutdown`; returns `Ok` then (or when the receiver is gone). Transient
    /// faults are retried inside; only configuration-class errors (wrong secret, unknown
    /// tenant, missing permission, rejected query) are returned.
    pub async fn run(
        mut self,
        tx: Sender<FetchItem>,
        shutdown: CancellationToken,
    ) -> Result<(), FetchError> {
        tracing::info!(destination = %self.name, watermark = %self.watermark,
            overlap_s = self.cfg.overlap.as_secs(), page_size = self.cfg.page_size, "poller started");
        self.stats.alive();
        loop {
            let started = now_unix_ms();
            match self.cycle(&tx, &shutdown).await {
                Ok(()) => {
                    // Read to the end: everything updated before the cycle began is fetched.
                    self.stats
                        .caught_up_unix_ms
                        .fetch_max(started, Ordering::Relaxed);
                }
                Err(Stop::Shutdown) => return Ok(()),
                Err(Stop::Fatal(e)) => {
                    tracing::error!(destination = %self.name, error = %e, "poller stopped");
                    return Err(e);
                }
            }
            self.stats.idle_for(self.cfg.poll_interval);
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(self.cfg.poll_interval) => {}
            }
        }
    }

    fn lag(&self) {
        let w = u64::try_from(self.watermark.unix_millis()).unwrap_or(0);
        self.stats.watermark_unix_ms.fetch_max(w, Ordering::Relaxed);
        let lag = (Timestamp::now().unix_nanos() - self.watermark.unix_nanos()) / 1_000_000_000;
        self.stats
            .lag_seconds
            .store(i64::try_from(lag).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    async fn send(
        &self,
        tx: &Sender<FetchItem>,
        shutdown: &CancellationToken,
        item: FetchItem,
    ) -> Result<(), Stop> {
        let r = tokio::select! {
            biased;
            r = tx.send(item) => r.map_err(|_| Stop::Shutdown),
            _ = shutdown.cancelled() => Err(Stop::Shutdown),
        };
        self.stats.alive();
        r
    }

    /// One pass over `[watermark - overlap, now]`.
    async fn cycle(
        &mut self,
        tx: &Sender<FetchItem>,
        shutdown: &CancellationToken,
    ) -> Result<(), Stop> {
        let from = self.watermark.saturating_sub(self.cfg.overlap);
        let mut pager = Pager::new(self.client.source(), from, self.cfg.page_size);
        let mut malformed_tries = 0u32;
        let mut cut_offs = 0u32;
        let (mut new_total, mut dup_total, mut pages) = (0u64, 0u64, 0u64);
        loop {
            if shutdown.is_cancelled() {
                return Err(Stop::Shutdown);
            }
            let q = *pager.query();
            let mut raw = self.fetch(&q, pager.size(), shutdown).await?;
            let mut page = PageRead::default();
            // On the last attempt at a page, an unparseable (but delimitable) element is
            // forwarded as unreadable instead of failing the page again.
            let last_try = malformed_tries + 1 >= self.cfg.malformed_attempts.max(1);
            let end = self
                .stream_page(&mut raw, &q, last_try, &mut page, tx, shutdown)
                .await?;
            drop(raw);
            new_total += page.new;
            dup_total += page.dups;
            pager.forwarded(page.new);
            match end {
                PageEnd::Complete => {}
                PageEnd::CutOff(e) => {
                    // The connection broke (or timed out while the collector held us back):
                    // read the page again; what was already forwarded is deduplicated.
                    PollerStats::add(&self.stats.errors, 1);
                    cut_offs += 1;
                    tracing::warn!(destination = %self.name, error = %e, items_read = page.items, failures = cut_offs,
                        "Defender API page cut off; reading it again");
                    self.backoff(cut_offs, shutdown).await?;
                    continue;
                }
                PageEnd::Malformed(m) => {
                    malformed_tries += 1;
                    self.malformed(&mut pager, m, &page, &mut malformed_tries, tx, shutdown)
                        .await?;
                    continue;
                }
            }
            malformed_tries = 0;
            cut_offs = 0;
            pages += 1;
            let advance = pager.page(&page).map_err(|o| {
                Stop::Fatal(FetchError::OrderIgnored {
                    endpoint: self.client.alerts_url(),
                    before: o.before.to_string(),
                    after: o.after.to_string(),
                })
            })?;
            self.page_done(&advance, tx, shutdown).await?;
            tracing::debug!(destination = %self.name, items = page.items, new = page.new, query = ?q, "page");
            if advance.done {
                break;
            }
        }
        // One info line per cycle that forwarded something; quiet cycles only at debug.
        if new_total > 0 {
            tracing::info!(destination = %self.name, new = new_total, deduplicated = dup_total, pages,
                watermark = %self.watermark, seen = self.seen.len(), "poll cycle done");
        } else {
            tracing::debug!(destination = %self.name, deduplicated = dup_total, pages,
                watermark = %self.watermark, "poll cycle done, nothing new");
        }
        Ok(())
    }

    /// After a readable page: the watermark moves (everything before the page's last time in
    /// the ordered result has been sent), a checkpoint follows the page's alerts, the dedup
    /// set is pruned below the new overlap window.
    async fn page_done(
        &mut self,
        advance: &Advance,
        tx: &Sender<FetchItem>,
        shutdown: &CancellationToken,
    ) -> Result<(), Stop> {
        for note in &advance.notes {
            let again =
                matches!(note, Note::Unwalkable { at, .. } if !self.warned_ties.insert(*at));
            if !again {
                self.log_note(note);
            }
        }
        if let Some(w) = advance.watermark {
            self.watermark = self.watermark.max(w);
        }
        self.send(
            tx,
            shutdown,
            FetchItem::Checkpoint(Checkpoint {
                watermark: self.watermark,
            }),
        )
        .await?;
        PollerStats::add(&self.stats.checkpoints, 1);
        let floor = self.watermark.saturating_sub(self.cfg.overlap);
        self.seen.prune_below(floor);
        self.unreadable.retain(|_, t| *t >= floor);
        self.warned_ties.retain(|t| *t >= floor);
        self.lag();
        self.stats
            .last_success_unix
            .store(now_unix_ms() / 1000, Ordering::Relaxed);
        Ok(())
    }

    fn log_note(&self, note: &Note) {
        let name = &self.name;
        match note {
            Note::Walk { at, page_size } => {
                tracing::info!(destination = %name, last_update_time = %at, page_size,
                    "a whole page shares one lastUpdateTime; paging through the tie with $skip");
            }
            Note::Unsettled { at, walks } => {
                tracing::warn!(destination = %name, last_update_time = %at, walks,
                    "alerts kept moving during the tie walk; the watermark is held at the tie for the next cycle");
            }
            Note::Split { at, parts } => {
                tracing::debug!(destination = %name, last_update_time = %at, parts,
                    "a tie range holds more than $skip + $top reach; reading it by createdDateTime ranges");
            }
            Note::Unwalkable {
                at,
                created,
                reachable,
            } => {
                let created = created.map_or_else(|| "(none)".to_owned(), |c| c.to_string());
                tracing::warn!(destination = %name, last_update_date_time = %at, created_date_time = %created, reachable,
                    "ALERTS NOT READ: more than {reachable} alert versions share lastUpdateDateTime {at} and createdDateTime {created}; \
                     Graph's $top and $skip caps reach only {reachable} of them and no other filterable property tells them apart. \
                     The rest are read when they are next updated; paging goes on after them");
            }
        }
    }

    /// A page that broke: retried, then the element that breaks it is fetched alone, then
    /// (if it breaks even alone) forwarded as unreadable and stepped over.
    async fn malformed(
        &mut self,
        pager: &mut Pager,
        m: Malformed,
        page: &PageRead,
        tries: &mut u32,
        tx: &Sender<FetchItem>,
        shutdown: &CancellationToken,
    ) -> Result<(), Stop> {
        PollerStats::add(&self.stats.errors, 1);
        let e = &m.error;
        let from = pager.query().from;
        // The broken element, if the break is inside one and it was already forwarded as
        // unreadable (an earlier cycle or page): no retries needed.
        let known = m
            .partial
            .as_deref()
            .map(|p| self.unreadable_of(p, m.error.clone(), from));
        let known_again = known.as_ref().is_some_and(|u| self.known_unreadable(u));
        if *tries < self.cfg.malformed_attempts.max(1) && !known_again {
            tracing::warn!(destination = %self.name, error = %e, items_read = page.items,
                "malformed page from the Defender API; retrying");
            self.backoff(*tries, shutdown).await?;
        } else if pager.can_isolate(m.index, m.partial.is_some()) {
            *tries = 0;
            tracing::warn!(destination = %self.name, error = %e, index = m.index,
                "page still malformed; fetching the element that breaks it alone");
            for note in &pager.isolate(m.index, page) {
                self.log_note(note);
            }
        } else if let Some(u) = known {
            // One element breaks even a one-alert page: forward it as unreadable (once) and
            // step over it; the cursor moves on as for any alert.
            PollerStats::add(&self.stats.poison_alerts, 1);
            if !known_again {
                self.forward_unreadable(u, tx, shutdown).await?;
            }
            for note in &pager.step_over() {
                self.log_note(note);
            }
            *tries = 0;
        } else {
            // Broken outside any element (not a page at all, a broken envelope): nothing to
            // step over; keep retrying with backoff.
            tracing::warn!(destination = %self.name, error = %e, failures = *tries,
                "the Defender API keeps answering a malformed page; retrying");
            self.backoff(*tries, shutdown).await?;
        }
        Ok(())
    }

    /// Reads one page as it arrives and forwards each new alert version at once, so memory
    /// holds one alert of the page, not the page. Alerts are decoded leniently (odd content is
    /// repaired and marked). An element that cannot be read even so fails the page (it is
    /// retried) unless `last_try` or it was already forwarded as unreadable: then it is
    /// forwarded as an unreadable event and the page goes on.
    async fn stream_page(
        &mut self,
        raw: &mut crate::client::RawPage,
        q: &Query,
        last_try: bool,
        page: &mut PageRead,
        tx: &Sender<FetchItem>,
        shutdown: &CancellationToken,
    ) -> Result<PageEnd, Stop> {
        let mut split = PageSplitter::new();
        loop {
            let chunk = tokio::select! {
                _ = shutdown.cancelled() => return Err(Stop::Shutdown),
                c = raw.chunk() => c,
            };
            match chunk {
                Ok(Some(c)) => split.feed(&c),
                Ok(None) => {
                    page.next_link = split.next_link;
                    return Ok(match split.finish() {
                        Ok(()) => PageEnd::Complete,
                        Err(e) => Malformed::at(&split, e.to_string()),
                    });
                }
                Err(e) => return Ok(PageEnd::CutOff(e)),
            }
            loop {
                let index = split.items;
                let decoded = match split.next_element() {
                    Ok(Some(element)) => {
                        let fallback = page.last.unwrap_or(q.from);
                        decode(self.client.source(), element, index, fallback)
                    }
                    Ok(None) => break,
                    Err(e) => return Ok(Malformed::at(&split, e.to_string())),
                };
                page.items = split.items;
                match decoded {
                    Ok(d) => self.forward(d, page, tx, shutdown).await?,
                    Err(u) => {
                        if self.known_unreadable(&u) {
                            PollerStats::add(&self.stats.versions_deduplicated, 1);
                            page.dups += 1;
                        } else if !last_try {
                            return Ok(PageEnd::Malformed(Malformed {
                                error: u.error,
                                index,
                                partial: None,
                            }));
                        } else {
                            if let Some(t) = u.last_update_time {
                                page.saw(t, None);
                            }
                            self.forward_unreadable(*u, tx, shutdown).await?;
                            page.new += 1;
                        }
                    }
                }
            }
        }
    }

    /// Forwards a readable alert unless its version was already sent.
    async fn forward(
        &mut self,
        d: Decoded,
        page: &mut PageRead,
        tx: &Sender<FetchItem>,
        shutdown: &CancellationToken,
    ) -> Result<(), Stop> {
        if let Some(t) = d.time {
            page.saw(t, d.created);
        }
        match d.key {
            Some(key) => {
                if self.seen.contains(&key) {
                    PollerStats::add(&self.stats.versions_deduplicated, 1);
                    page.dups += 1;
                    return Ok(());
                }
                self.send(tx, shutdown, d.item).await?;
                self.seen.insert(&key);
            }
            None => {
                PollerStats::add(&self.stats.unkeyed_alerts, 1);
                tracing::warn!(destination = %self.name, id = d.unkeyed_id.as_deref().unwrap_or("(none)"),
                    "alert without id or update time: forwarded, but it cannot be deduplicated");
                self.send(tx, shutdown, d.item).await?;
            }
        }
        if d.repaired {
            PollerStats::add(&self.stats.alerts_repaired, 1);
        }
        page.new += 1;
        PollerStats::add(&self.stats.alerts_fetched, 1);
        Ok(())
    }

    fn unreadable_of(&self, bytes: &[u8], error: String, at: Timestamp) -> Unreadable {
        crate::decode::unreadable(self.client.source(), bytes, error, at)
    }

    /// Sends an unreadable element on (the pipeline forwards it as a marked event, writes it to
    /// the dead-letter file and logs it with its id) and remembers it, so it is sent once.
    async fn forward_unreadable(
        &mut self,
        u: Unreadable,
        tx: &Sender<FetchItem>,
        shutdown: &CancellationToken,
    ) -> Result<(), Stop> {
        PollerStats::add(&self.stats.errors, 1);
        PollerStats::add(&self.stats.alerts_unreadable, 1);
        let (key, timeless) = (u.key.clone(), u.last_update_time.is_none());
        self.send(tx, shutdown, FetchItem::Unreadable(Box::new(u)))
            .await?;
        self.seen.insert(&key);
        if timeless {
            self.unreadable.insert(key.id, key.last_update_time);
        }
        Ok(())
    }

    fn known_unreadable(&self, u: &Unreadable) -> bool {
        // By id only when its time is unknown: a new broken version with a readable time is new.
        self.seen.contains(&u.key)
            || (u.last_update_time.is_none() && self.unreadable.contains_key(&u.key.id))
    }

    /// One page, retrying transient failures (5xx, timeouts, 429, empty 404s) with jittered
    /// backoff; 429 waits are enforced by the client's budget.
    async fn fetch(
        &self,
        q: &Query,
        size: u32,
        shutdown: &CancellationToken,
    ) -> Result<crate::client::RawPage, Stop> {
        let query = q.render(self.client.source(), size, self.cfg.expand_evidence);
        let mut failures = 0u32;
        loop {
            self.stats.alive();
            let r = tokio::select! {
                _ = shutdown.cancelled() => return Err(Stop::Shutdown),
                r = self.client.get_alerts(&query, &self.stats) => r,
            };
            self.stats.alive();
            match r {
                Ok(page) => {
                    if failures > 0 {
                        tracing::info!(destination = %self.name, after_failures = failures, "Defender API reachable again");
                    }
                    return Ok(page);
                }
                Err(e) if e.is_transient() => {
                    failures += 1;
                    PollerStats::add(&self.stats.errors, 1);
                    if let FetchError::Throttled { retry_after } = &e {
                        PollerStats::add(&self.stats.throttled, 1);
                        self.stats.idle_for(*retry_after);
                        tracing::warn!(destination = %self.name, retry_after_s = retry_after.as_secs(),
                            "throttled (429); waiting as the API asks");
                        // The budget already holds every request until Retry-After has passed.
                        continue;
                    }
                    if failures == 1 || failures.is_power_of_two() {
                        tracing::warn!(destination = %self.name, error = %e, failures, "Defender API request failed; retrying");
                    }
                    self.backoff(failures, shutdown).await?;
                }
                Err(e) => return Err(Stop::Fatal(e)),
            }
        }
    }

    async fn backoff(&self, failures: u32, shutdown: &CancellationToken) -> Result<(), Stop> {
        let attempt = failures.saturating_sub(1);
        let wait = exp_backoff::delay(
            self.cfg.backoff_base,
            self.cfg.backoff_max,
            attempt,
            rand::random::<f64>(),
        );
        self.stats.idle_for(wait);
        tokio::select! {
            _ = shutdown.cancelled() => Err(Stop::Shutdown),
            _ = tokio::time::sleep(wait) => Ok(()),
        }
    }
}
