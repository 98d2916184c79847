//! `coinpulse chart`: draw the charts of one or more assets over a time range.

use std::path::PathBuf;

use chrono::Utc;

use super::draw::{DrawOptions, draw_all};
use super::{ChartFormat, DEFAULT_SIZE, Theme};
use crate::config::Config;
use crate::store::Store;
use crate::store::queries::Bucket;

/// Where `coinpulse chart` writes unless told otherwise; the daemon writes to `charts.out_dir`.
pub const DEFAULT_OUT: &str = "charts";

#[derive(Debug, clap::Args)]
pub struct ChartArgs {
    /// Assets to draw (symbol, name or CoinGecko id); repeat for several. Default: `charts.assets`.
    #[arg(long)]
    pub asset: Vec<String>,
    /// Start: a duration before --until (`30d`, `30days`, `1mo`), a date (`2020-11-01`), a month
    /// (`2020-11`), a UTC time (`"2020-11-01 00:00"`) or an RFC 3339 time.
    #[arg(long, default_value = "30d")]
    pub since: String,
    /// End (exclusive), in the same forms, a duration counting back from now. Default: now.
    #[arg(long)]
    pub until: Option<String>,
    /// Bucket of every chart. Default: chosen per chart from the range (volume bars stay countable,
    /// share of voice stays readable, the lead-lag correlogram is hourly).
    #[arg(long, value_enum)]
    pub bucket: Option<Bucket>,
    /// Output directory.
    #[arg(long, default_value = DEFAULT_OUT)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Png)]
    pub format: Format,
    /// Image width in pixels.
    #[arg(long, default_value_t = DEFAULT_SIZE.0)]
    pub width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = DEFAULT_SIZE.1)]
    pub height: u32,
    #[arg(long, value_enum, default_value_t = Theme::Light)]
    pub theme: Theme,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Png,
    Svg,
}

impl From<Format> for ChartFormat {
    fn from(f: Format) -> ChartFormat {
        match f {
            Format::Png => ChartFormat::Png,
            Format::Svg => ChartFormat::Svg,
        }
    }
}

pub async fn run(args: ChartArgs, config: &Config) -> anyhow::Result<()> {
    let (since, until) =
        crate::report::range::parse_range(&args.since, args.until.as_deref(), Utc::now())?;
    super::check_size((args.width, args.height))?;
    let store = Store::connect(&config.database).await?;
    let assets = if args.asset.is_empty() {
        config.charts.assets.clone()
    } else {
        args.asset
    };
    if let Some(message) = super::data::no_data_hint(store.pool(), &assets, since, until).await? {
        anyhow::bail!(message);
    }
    let options = DrawOptions {
        bucket: args.bucket,
        formats: vec![args.format.into()],
        size: (args.width, args.height),
        theme: args.theme,
    };
    let written = draw_all(&store, &assets, since, until, &args.out, &options).await?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}
