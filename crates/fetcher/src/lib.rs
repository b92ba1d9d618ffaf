//! The fetcher: Entra ID tokens and the Defender `/api/alerts` poller.
//!
//! It owns the cursor logic (window on `lastUpdateTime`, overlap, dedup) and every Defender API
//! quirk (paging, 429 + Retry-After, 5xx, clouds). It sends [`alert_model::FetchItem`]s into a
//! bounded channel and never learns what happened to them: the binary commits cursors only
//! after the forwarder reports delivery.
#![forbid(unsafe_code)]
