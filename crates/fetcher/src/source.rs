//! Which Defender API a poller reads: what differs per source outside paging (endpoint path,
//! hosts and token scope per cloud, request quota, page cap, the permission a 403 names).
//! The paging rules per source live in [`crate::pager`].

use std::fmt;
use std::str::FromStr;

use crate::config::{BudgetLimits, Cloud};

/// An alert source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// Microsoft Graph security `GET /v1.0/security/alerts_v2`: every Defender XDR product.
    Graph,
    /// Defender for Endpoint `GET /api/alerts`: Endpoint alerts only.
    #[default]
    Mde,
}

impl Source {
    pub const ALL: [Source; 2] = [Source::Graph, Source::Mde];

    /// The name used in the config file.
    pub fn name(self) -> &'static str {
        match self {
            Source::Graph => "graph",
            Source::Mde => "mde",
        }
    }

    /// The alerts endpoint below the API host.
    pub fn alerts_path(self) -> &'static str {
        match self {
            Source::Graph => "/v1.0/security/alerts_v2",
            Source::Mde => "/api/alerts",
        }
    }

    /// The API host of `cloud` (graph-api.md: GCC uses the commercial Graph host).
    pub fn api_url(self, cloud: Cloud) -> &'static str {
        match (self, cloud) {
            (Source::Mde, c) => c.api_url(),
            (Source::Graph, Cloud::GccHigh) => "https://graph.microsoft.us",
            (Source::Graph, Cloud::Dod) => "https://dod-graph.microsoft.us",
            (Source::Graph, _) => "https://graph.microsoft.com",
        }
    }

    /// The token scope in `cloud`: for Graph its host + `/.default`.
    pub fn scope(self, cloud: Cloud) -> String {
        match self {
            Source::Mde => cloud.scope().to_owned(),
            Source::Graph => format!("{}/.default", self.api_url(cloud)),
        }
    }

    /// The documented request quota per app and tenant: the budget's default and ceiling.
    /// Graph documents 150 requests/min for alert operations and no hourly cap.
    pub fn quota(self) -> BudgetLimits {
        match self {
            Source::Mde => BudgetLimits::default(),
            Source::Graph => BudgetLimits {
                per_minute: 150,
                per_hour: 150 * 60,
            },
        }
    }

    /// The largest `$top` the API accepts.
    pub fn max_page_size(self) -> u32 {
        match self {
            Source::Mde => 10_000,
            Source::Graph => crate::pager::graph::MAX_TOP,
        }
    }

    /// The application permission the API wants (named in 403 errors and `check`).
    pub fn permission(self) -> &'static str {
        match self {
            Source::Mde => "WindowsDefenderATP → Application → Alert.Read.All",
            Source::Graph => "Microsoft Graph → Application → SecurityAlert.Read.All",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown source name.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown source {0:?}: expected \"graph\" (Microsoft Graph alerts_v2) or \"mde\" (Defender for Endpoint /api/alerts)"
)]
pub struct UnknownSource(pub String);

impl FromStr for Source {
    type Err = UnknownSource;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Source::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownSource(s.chars().take(40).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_hosts_and_scopes_per_cloud() {
        for c in Cloud::ALL {
            let s = Source::Graph.scope(c);
            assert_eq!(s, format!("{}/.default", Source::Graph.api_url(c)));
            assert_eq!(Source::Mde.api_url(c), c.api_url());
        }
        assert_eq!(
            Source::Graph.api_url(Cloud::Gcc),
            "https://graph.microsoft.com"
        );
        assert_eq!(
            Source::Graph.scope(Cloud::GccHigh),
            "https://graph.microsoft.us/.default"
        );
        assert_eq!(
            Source::Graph.api_url(Cloud::Dod),
            "https://dod-graph.microsoft.us"
        );
        assert_eq!("Graph".parse::<Source>().unwrap(), Source::Graph);
        assert!(
            "xdr"
                .parse::<Source>()
                .unwrap_err()
                .to_string()
                .contains("mde")
        );
        assert_eq!(Source::Graph.quota().per_minute, 150);
    }
}
