//! The product identity in the LEEF and CEF headers, the same for both alert sources so that a
//! SIEM's log-source and rules keep matching when a user switches source (the alert's own
//! product is in `serviceSource`).

pub const VENDOR: &str = "Microsoft";
pub const PRODUCT: &str = "Defender for Endpoint";
/// The Defender API version our mapping follows.
pub const PRODUCT_VERSION: &str = "1.0";
/// LEEF EventID / CEF class id when the alert has no `detectorId`.
pub const DEFAULT_EVENT_ID: &str = "DefenderAlert";
