//! Charts drawn with plotters: pure rendering from data series, no database access.
//!
//! Three charts, each fed by a plain struct from [`series`]:
//!
//! - [`VolumePriceSeries`] → the signature chart: mention volume bars (left axis), price line (right
//!   axis) and the sentiment balance in a panel below, over the same time range.
//! - [`ShareOfVoiceSeries`] → each asset's share of all mentions over time, as stacked areas.
//! - [`LeadLagSeries`] → the correlogram of mention volume against returns for lags around zero
//!   (see [`lead_lag`](mod@lead_lag) for the sign convention).
//!
//! Wrap one in a [`Chart`] and call [`render_file`] (PNG or SVG on disk) or [`render_svg`] (a string
//! for the dashboard to inline); the `_themed` variants take a [`Theme`] (light or dark). Rendering is synchronous and CPU-bound; async callers should run it
//! in `tokio::task::spawn_blocking`. Files are written to a temporary sibling and renamed, so a web
//! server reading the charts directory never serves half a PNG.
//!
//! Empty or one-point data draws a "No data" chart with the usual title and footer instead of failing:
//! an empty chart is an answer, not an error.

pub mod cli;
pub mod data;
pub mod draw;
pub mod format;
pub mod lead_lag;
pub mod series;
pub mod synthetic;

mod correlogram;
mod font;
mod frame;
mod share;
mod time_axis;
mod volume_price;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use plotters::coord::Shift;
use plotters::prelude::*;

pub use lead_lag::{align, lead_lag, log_returns, pearson};
pub use series::{AssetVolume, LeadLagSeries, ShareOfVoiceSeries, VolumePriceSeries};
pub use share::MAX_SHARE_SERIES;

/// Image size used by the daemon and CLI unless told otherwise.
pub const DEFAULT_SIZE: (u32, u32) = (1280, 800);

/// Smallest and largest accepted image side, in pixels. Below the minimum the label areas no longer
/// fit; above the maximum a typo would allocate gigabytes.
pub const MIN_SIDE: u32 = 320;
pub const MAX_SIDE: u32 = 8192;

/// Page colours: dark text on white, or light text on a near-black page (for dark dashboards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Theme {
    #[default]
    Light,
    Dark,
}

/// Output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartFormat {
    Png,
    Svg,
}

impl ChartFormat {
    /// The format a file name asks for: `.png` or `.svg`, any case.
    pub fn from_path(path: &Path) -> Result<ChartFormat, ChartError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("png") => Ok(ChartFormat::Png),
            Some("svg") => Ok(ChartFormat::Svg),
            _ => Err(ChartError::Extension {
                path: path.to_path_buf(),
            }),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ChartFormat::Png => "png",
            ChartFormat::Svg => "svg",
        }
    }
}

/// One chart, borrowed from its data.
#[derive(Debug, Clone, Copy)]
pub enum Chart<'a> {
    VolumePrice(&'a VolumePriceSeries),
    ShareOfVoice(&'a ShareOfVoiceSeries),
    LeadLag(&'a LeadLagSeries),
}

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("chart size {width}x{height} is outside {MIN_SIDE}..={MAX_SIDE} pixels per side")]
    Size { width: u32, height: u32 },
    #[error("chart file {path} must end in .png or .svg")]
    Extension { path: PathBuf },
    #[error("chart file {path} ends in .{found} but the {expected:?} format was asked for")]
    FormatMismatch {
        path: PathBuf,
        expected: ChartFormat,
        found: String,
    },
    #[error("invalid chart input: {field}: {reason}")]
    Input { field: &'static str, reason: String },
    #[error("drawing the chart failed: {0}")]
    Draw(String),
    #[error("writing chart file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Draws `chart` into `path` as PNG or SVG. The extension of `path` must match `format`.
pub fn render_file(
    chart: &Chart<'_>,
    path: &Path,
    format: ChartFormat,
    size: (u32, u32),
) -> Result<(), ChartError> {
    render_file_themed(chart, path, format, size, Theme::Light)
}

/// [`render_file`] in the colours of `theme`.
pub fn render_file_themed(
    chart: &Chart<'_>,
    path: &Path,
    format: ChartFormat,
    size: (u32, u32),
    theme: Theme,
) -> Result<(), ChartError> {
    frame::with_theme(theme, || write_file(chart, path, format, size))
}

fn write_file(
    chart: &Chart<'_>,
    path: &Path,
    format: ChartFormat,
    size: (u32, u32),
) -> Result<(), ChartError> {
    check_size(size)?;
    let found = ChartFormat::from_path(path)?;
    if found != format {
        return Err(ChartError::FormatMismatch {
            path: path.to_path_buf(),
            expected: format,
            found: found.extension().to_string(),
        });
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(ChartError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("directory {} does not exist", dir.display()),
            ),
        });
    }
    // The temporary keeps the real extension: the bitmap backend picks its encoder from it.
    let tmp = temp_sibling(path, format);
    let result = match format {
        ChartFormat::Png => {
            let root = BitMapBackend::new(&tmp, size).into_drawing_area();
            draw(chart, &root).and_then(|()| {
                root.present()
                    .map_err(|e| ChartError::Draw(format!("{}: {e}", path.display())))
            })
        }
        ChartFormat::Svg => svg_string(chart, size).and_then(|svg| {
            std::fs::write(&tmp, svg).map_err(|source| ChartError::Io {
                path: tmp.clone(),
                source,
            })
        }),
    };
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        ChartError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Draws `chart` as an SVG document, for inlining in HTML.
pub fn render_svg(chart: &Chart<'_>, size: (u32, u32)) -> Result<String, ChartError> {
    render_svg_themed(chart, size, Theme::Light)
}

/// [`render_svg`] in the colours of `theme`.
pub fn render_svg_themed(
    chart: &Chart<'_>,
    size: (u32, u32),
    theme: Theme,
) -> Result<String, ChartError> {
    frame::with_theme(theme, || svg_string(chart, size))
}

fn svg_string(chart: &Chart<'_>, size: (u32, u32)) -> Result<String, ChartError> {
    check_size(size)?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw(chart, &root)?;
        root.present().map_err(frame::draw_err)?;
    }
    Ok(out)
}

fn draw<DB: DrawingBackend>(
    chart: &Chart<'_>,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    font::ensure_registered();
    match chart {
        Chart::VolumePrice(s) => volume_price::draw(s, root),
        Chart::ShareOfVoice(s) => share::draw(s, root),
        Chart::LeadLag(s) => correlogram::draw(s, root),
    }
}

fn check_size((width, height): (u32, u32)) -> Result<(), ChartError> {
    let ok = |side| (MIN_SIDE..=MAX_SIDE).contains(&side);
    if ok(width) && ok(height) {
        Ok(())
    } else {
        Err(ChartError::Size { width, height })
    }
}

fn temp_sibling(path: &Path, format: ChartFormat) -> PathBuf {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Process id and a counter keep two renders of the same chart (two processes, or two threads of
    // one) from sharing a temporary file.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(
        ".{name}.{}-{n}.tmp.{}",
        std::process::id(),
        format.extension()
    ))
}

/// The file-name stem for an asset's charts (`btc` in `btc_volume_price.png`): the lower-case
/// symbol when it is made of ASCII letters, digits, `-` and `_` only. Symbols come from the asset
/// list, which may be a user's file, so anything else (`../../tmp/x`, `.env`, `₿`) is replaced by
/// `_` character for character and an FNV-1a hash of the symbol is appended, so the name stays
/// inside the output directory and two such symbols never share a file.
pub fn file_stem(symbol: &str) -> String {
    let lower = symbol.to_lowercase();
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !lower.is_empty() && lower.chars().all(plain) {
        return lower;
    }
    let safe: String = lower
        .chars()
        .map(|c| if plain(c) { c } else { '_' })
        .collect();
    let hash = symbol.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{safe}-{:08x}", hash as u32)
}

/// Rejects a time range or bucket the charts cannot lay out.
fn check_range(
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    bucket: chrono::Duration,
) -> Result<(), ChartError> {
    if end <= start {
        return Err(ChartError::Input {
            field: "end",
            reason: format!("range end {end} is not after its start {start}"),
        });
    }
    if bucket <= chrono::Duration::zero() {
        return Err(ChartError::Input {
            field: "bucket",
            reason: format!("bucket must be positive, got {bucket}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stems_stay_in_the_output_directory() {
        assert_eq!(file_stem("BTC"), "btc");
        assert_eq!(file_stem("1INCH"), "1inch");
        assert_eq!(file_stem("usd-coin_x"), "usd-coin_x");
        for symbol in [
            "../../../tmp/x",
            "..",
            ".env",
            "a/b",
            "a\\b",
            "",
            "₿",
            "BTC\0",
            "x y",
        ] {
            let stem = file_stem(symbol);
            assert!(
                !stem.is_empty()
                    && stem
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{symbol:?} -> {stem:?}"
            );
            let path = Path::new("charts").join(format!("{stem}_volume_price.png"));
            assert_eq!(path.parent(), Some(Path::new("charts")), "{symbol:?}");
        }
        // Replaced characters do not make two symbols share a file.
        assert_ne!(file_stem("a/b"), file_stem("a\\b"));
        assert_ne!(file_stem("a/b"), file_stem("a_b"));
    }
}
