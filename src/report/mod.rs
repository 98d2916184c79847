//! Reports: the metrics users query, defined once over the rollups.
//!
//! The SQL lives in [`crate::store::queries`]; this module turns its series into the five reports of
//! `coinpulse report` and the statistics they share:
//!
//! - **social volume**: posts mentioning the asset per bucket (a post naming it twice counts once);
//! - **social dominance**: that volume as a share of the volumes of all assets in the same bucket;
//! - **sentiment balance**: positive minus negative posts; **mean score**: mean of the scores in
//!   [-1, 1] of the scored posts;
//! - **weighted sentiment z**: the bucket's summed score (mean score × scored posts, so loud hours
//!   weigh more) as a trailing z-score;
//! - **volume z**: the bucket's volume against the `window` buckets before it (default 24), the spike
//!   detector;
//! - **lead–lag r**: Pearson r between volume at t and the log price return at t + lag, for lags
//!   covering −24 h … +24 h. Positive lag: volume leads price.
//!
//! Hour and day buckets come from `rollup_hourly`; 5-minute buckets from `mentions` and `sentiment`,
//! because the rollup cannot split an hour. Ranges are widened to whole buckets.

pub mod alerts;
pub mod cli;
pub mod range;
pub mod reports;
pub mod significance;
pub mod stats;
pub mod table;

pub use crate::store::queries::{Bucket, QueryError};
pub use reports::{Kind, Params, Report, run_report};
