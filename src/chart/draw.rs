//! Drawing every chart of a set of assets to files: what `coinpulse chart`, the daemon's chart task
//! and the demo share. Each chart's bucket comes from its range unless one is asked for.

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};

use super::{Chart, ChartFormat, LeadLagSeries, Theme, render_file_themed};
use crate::store::Store;
use crate::store::queries::Bucket;

/// How [`draw_all`] draws: bucket (`None`: per chart, see [`auto_bucket`]), formats, size, theme.
#[derive(Debug, Clone)]
pub struct DrawOptions {
    pub bucket: Option<Bucket>,
    pub formats: Vec<ChartFormat>,
    pub size: (u32, u32),
    pub theme: Theme,
}

/// Most bars a volume-vs-price chart gets before its bucket widens.
pub const MAX_VOLUME_BARS: i64 = 1_000;
/// Most points per series a share-of-voice chart gets before its bucket widens.
pub const MAX_SHARE_POINTS: i64 = 200;

/// The narrowest bucket that keeps a range of `span` within `max` buckets (a day at most).
pub fn auto_bucket(span: TimeDelta, max: i64) -> Bucket {
    [Bucket::FiveMinutes, Bucket::Hour, Bucket::Day]
        .into_iter()
        .find(|b| span.num_seconds() / b.width().num_seconds() <= max)
        .unwrap_or(Bucket::Day)
}

/// Draws, for each asset, the volume-vs-price chart and the lead-lag correlogram, plus one share of
/// voice chart, in each of the formats (the data is read once for all of them). Returns the files
/// written. Rendering runs on the blocking pool.
pub async fn draw_all(
    store: &Store,
    assets: &[String],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    out: &Path,
    options: &DrawOptions,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let span = until - since;
    let volume_bucket = options
        .bucket
        .unwrap_or_else(|| auto_bucket(span, MAX_VOLUME_BARS));
    // Lags are counted in hours unless a bucket was asked for.
    let lag_bucket = options.bucket.unwrap_or(Bucket::Hour);
    let share_bucket = options
        .bucket
        .unwrap_or_else(|| auto_bucket(span, MAX_SHARE_POINTS));
    let mut written = Vec::new();
    for asset in assets {
        let pool = store.pool();
        let series = super::data::volume_price(pool, asset, since, until, volume_bucket).await?;
        let lag_series = if lag_bucket == volume_bucket {
            None
        } else {
            Some(super::data::volume_price(pool, asset, since, until, lag_bucket).await?)
        };
        let stem = super::file_stem(&series.asset_symbol);
        let (out, options) = (out.to_owned(), options.clone());
        written.extend(
            tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<PathBuf>> {
                let lag =
                    LeadLagSeries::from_volume_price(lag_series.as_ref().unwrap_or(&series), 24);
                let mut paths = Vec::new();
                for &format in &options.formats {
                    let ext = format.extension();
                    let volume_path = out.join(format!("{stem}_volume_price.{ext}"));
                    let lead_lag_path = out.join(format!("{stem}_lead_lag.{ext}"));
                    let draw = |chart: &Chart<'_>, path: &Path| {
                        render_file_themed(chart, path, format, options.size, options.theme)
                    };
                    draw(&Chart::VolumePrice(&series), &volume_path)?;
                    draw(&Chart::LeadLag(&lag), &lead_lag_path)?;
                    paths.extend([volume_path, lead_lag_path]);
                }
                Ok(paths)
            })
            .await??,
        );
    }
    let share = super::data::share_of_voice(store.pool(), since, until, share_bucket, 8).await?;
    let (out, options) = (out.to_owned(), options.clone());
    written.extend(
        tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<PathBuf>> {
            let mut paths = Vec::new();
            for &format in &options.formats {
                let path = out.join(format!("share_of_voice.{}", format.extension()));
                render_file_themed(
                    &Chart::ShareOfVoice(&share),
                    &path,
                    format,
                    options.size,
                    options.theme,
                )?;
                paths.push(path);
            }
            Ok(paths)
        })
        .await??,
    );
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_widens_with_the_range_per_chart() {
        let days = TimeDelta::days;
        assert_eq!(
            auto_bucket(TimeDelta::hours(12), MAX_SHARE_POINTS),
            Bucket::FiveMinutes
        );
        assert_eq!(auto_bucket(days(3), MAX_SHARE_POINTS), Bucket::Hour);
        assert_eq!(auto_bucket(days(3), MAX_VOLUME_BARS), Bucket::FiveMinutes);
        assert_eq!(auto_bucket(days(30), MAX_VOLUME_BARS), Bucket::Hour);
        assert_eq!(auto_bucket(days(30), MAX_SHARE_POINTS), Bucket::Day);
        // Four months: 2,880 hourly bars would be unreadable.
        assert_eq!(auto_bucket(days(120), MAX_VOLUME_BARS), Bucket::Day);
        assert_eq!(auto_bucket(days(3_000), MAX_VOLUME_BARS), Bucket::Day);
    }
}
