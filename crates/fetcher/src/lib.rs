//! The fetcher: Entra ID tokens and the alerts poller, for Microsoft Graph security `alerts_v2`
//! or the Defender for Endpoint `/api/alerts`.
//!
//! It owns the cursor logic (window on `lastUpdateTime`, overlap, dedup) and every Defender API
//! quirk (paging, 429 + Retry-After, 5xx, clouds). It sends [`alert_model::FetchItem`]s into a
//! bounded channel and never learns what happened to them: the binary commits cursors only
//! after the forwarder reports delivery.
//!
//! Modules:
//! - [`config`]: [`ApiConfig`], [`Cloud`] (login / API host / scope per cloud), [`Credential`],
//!   [`Secret`] (prints `[redacted]`).
//! - `token`: client-credentials tokens (secret or certificate JWT assertion), cached and
//!   refreshed before expiry.
//! - `budget`: the per-tenant request budget (100/min, 1,500/h, Retry-After).
//! - [`client`]: [`Client`], the shared HTTP client, error mapping and `probe`.
//! - [`source`]: [`Source`] (graph | mde): endpoint, hosts and scope per cloud, quota, permission.
//! - `pager`: the pure paging state machine per source (query → page summary → next query:
//!   keyset, tie walk, poison isolation), property-tested against a reference model.
//! - [`poller`]: [`Poller`], the async shell: HTTP, retries, dedup, checkpoints, the channel.
//! - [`split`]: [`split::PageSplitter`] finds each alert of a page in the body as it streams in (a page is never whole).
//! - [`error`]: [`FetchError`], every message saying what to do.
#![forbid(unsafe_code)]

mod budget;
pub mod client;
pub mod config;
mod decode;
mod dedup;
pub mod error;
mod pager;
pub mod poller;
pub mod source;
pub mod split;
mod token;

pub use client::{Client, ProbeReport};
pub use config::{ApiConfig, BudgetLimits, Cloud, Credential, Secret, UnknownCloud};
pub use error::FetchError;
pub use poller::{Poller, PollerConfig, PollerStats};
pub use source::{Source, UnknownSource};
