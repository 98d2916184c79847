//! `coinpulse chart`: draw the charts of one or more assets over a time range.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{Chart, ChartFormat, DEFAULT_SIZE, LeadLagSeries, render_file};
use crate::config::Config;
use crate::store::Store;
use crate::store::queries::Bucket;

#[derive(Debug, clap::Args)]
pub struct ChartArgs {
    /// Assets to draw (symbol, name or CoinGecko id); repeat for several. Default: `charts.assets`.
    #[arg(long)]
    pub asset: Vec<String>,
    /// Start: a duration before --until (`30d`), an RFC 3339 time or a UTC date.
    #[arg(long, default_value = "30d")]
    pub since: String,
    /// End (exclusive): a duration before now, an RFC 3339 time or a UTC date. Default: now.
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, value_enum, default_value_t = Bucket::Hour)]
    pub bucket: Bucket,
    /// Output directory. Default: `charts.out_dir`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Png)]
    pub format: Format,
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
    let store = Store::connect(&config.database).await?;
    let assets = if args.asset.is_empty() {
        config.charts.assets.clone()
    } else {
        args.asset
    };
    let out = args.out.unwrap_or_else(|| config.charts.out_dir.clone());
    let written = draw_all(
        &store,
        &assets,
        since,
        until,
        args.bucket,
        &out,
        &[args.format.into()],
    )
    .await?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}

/// Draws, for each asset, the volume-vs-price chart and the lead-lag correlogram, plus one share of
/// voice chart, in each of `formats` (the data is read once for all of them). Returns the files
/// written. Rendering runs on the blocking pool.
pub async fn draw_all(
    store: &Store,
    assets: &[String],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket: Bucket,
    out: &Path,
    formats: &[ChartFormat],
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let mut written = Vec::new();
    for asset in assets {
        let series = super::data::volume_price(store.pool(), asset, since, until, bucket).await?;
        let stem = super::file_stem(&series.asset_symbol);
        let (out, formats) = (out.to_owned(), formats.to_vec());
        written.extend(
            tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<PathBuf>> {
                let lag = LeadLagSeries::from_volume_price(&series, 24);
                let mut paths = Vec::new();
                for format in formats {
                    let ext = format.extension();
                    let volume_path = out.join(format!("{stem}_volume_price.{ext}"));
                    let lead_lag_path = out.join(format!("{stem}_lead_lag.{ext}"));
                    render_file(
                        &Chart::VolumePrice(&series),
                        &volume_path,
                        format,
                        DEFAULT_SIZE,
                    )?;
                    render_file(&Chart::LeadLag(&lag), &lead_lag_path, format, DEFAULT_SIZE)?;
                    paths.extend([volume_path, lead_lag_path]);
                }
                Ok(paths)
            })
            .await??,
        );
    }
    let share = super::data::share_of_voice(store.pool(), since, until, bucket, 8).await?;
    let (out, formats) = (out.to_owned(), formats.to_vec());
    written.extend(
        tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<PathBuf>> {
            let mut paths = Vec::new();
            for format in formats {
                let path = out.join(format!("share_of_voice.{}", format.extension()));
                render_file(&Chart::ShareOfVoice(&share), &path, format, DEFAULT_SIZE)?;
                paths.push(path);
            }
            Ok(paths)
        })
        .await??,
    );
    Ok(written)
}
