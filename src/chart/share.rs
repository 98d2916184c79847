//! Share of voice: what part of the conversation each asset holds, bucket by bucket.
//!
//! Shares are drawn as stacked step areas summing to 100%: steps, because each value describes a
//! whole bucket; stacked, so a reader sees both each asset's share and how the mix shifts. A bucket
//! with no mentions at all has no shares and stays blank, so gaps in collection show as gaps. The
//! legend sits outside the plot (a full 0–100% stack leaves no free corner) and gives each asset's
//! share over the whole range.

use chrono::{DateTime, Utc};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::format;
use super::frame::{self, SERIES, draw_err};
use super::lead_lag::grid_len;
use super::series::ShareOfVoiceSeries;
use super::time_axis::TimeAxis;
use super::{ChartError, check_range};

/// Most areas drawn; beyond this the quietest assets are summed into `Other`.
pub const MAX_SHARE_SERIES: usize = 8;

const LEGEND_WIDTH: u32 = 170;

struct Layer {
    name: String,
    counts: Vec<f64>,
    total: f64,
}

pub fn draw<DB: DrawingBackend>(
    s: &ShareOfVoiceSeries,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    check_range(s.start, s.end, s.bucket)?;
    let (start, end, bucket) = (s.start, s.end, s.bucket);
    let n = grid_len(start, end, bucket);
    let layers = layers(s, n)?;
    let title = format!("Share of voice: top {} assets", layers.len());
    let subtitle = format!(
        "{}  ·  {} buckets  ·  share of mentions among the assets shown",
        format::time_range(start, end),
        format::duration(bucket)
    );
    let body = frame::page(
        root,
        &title,
        &subtitle,
        &frame::attribution(None, s.simulated),
    )?;

    let totals: Vec<f64> = (0..n)
        .map(|i| layers.iter().map(|l| l.counts[i]).sum())
        .collect();
    if totals.iter().filter(|t| **t > 0.0).count() < 2 {
        return frame::no_data(&body, "Fewer than two buckets with mentions in this range.");
    }

    let (bw, _) = body.dim_in_pixel();
    let (plot_area, legend_area) = body.split_horizontally(bw.saturating_sub(LEGEND_WIDTH));
    let mut chart = ChartBuilder::on(&plot_area)
        .margin_top(6)
        .margin_right(16)
        .x_label_area_size(48)
        .y_label_area_size(frame::Y_LABEL_AREA)
        .build_cartesian_2d(TimeAxis::new(start, end), 0.0..100.0)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .bold_line_style(frame::grid())
        .light_line_style(TRANSPARENT)
        .axis_style(frame::muted())
        .x_labels(12)
        .y_labels(6)
        .label_style(frame::text(frame::LABEL_SIZE, frame::ink()))
        .axis_desc_style(frame::text(frame::DESC_SIZE, frame::muted()))
        .x_desc("UTC")
        .y_desc("Share of mentions")
        .x_label_formatter(&|t: &DateTime<Utc>| format::tick_label(*t, end - start))
        .y_label_formatter(&|v| format!("{v:.0}%"))
        .draw()
        .map_err(draw_err)?;

    // Runs of consecutive buckets with mentions; each run is drawn as one polygon per layer.
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    for i in (0..n).filter(|&i| totals[i] > 0.0) {
        match runs.last_mut() {
            Some(r) if r.end == i => r.end = i + 1,
            _ => runs.push(i..i + 1),
        }
    }
    let mut below = vec![0.0; n];
    for (k, layer) in layers.iter().enumerate() {
        let color = SERIES[k % SERIES.len()];
        let above: Vec<f64> = (0..n)
            .map(|i| match totals[i] > 0.0 {
                true => below[i] + 100.0 * layer.counts[i] / totals[i],
                false => 0.0,
            })
            .collect();
        let polygons = runs.iter().map(|run| {
            let t = |i: usize| start + bucket * i as i32;
            let mut pts = Vec::with_capacity(run.len() * 4);
            for i in run.clone() {
                pts.push((t(i), above[i]));
                pts.push((t(i + 1).min(end), above[i]));
            }
            for i in run.clone().rev() {
                pts.push((t(i + 1).min(end), below[i]));
                pts.push((t(i), below[i]));
            }
            Polygon::new(pts, color.filled())
        });
        chart.draw_series(polygons).map_err(draw_err)?;
        below = above;
    }

    // Legend, top layer first so it reads in the same order as the stack.
    let grand: f64 = layers.iter().map(|l| l.total).sum();
    let top = 16;
    for (row, (k, layer)) in layers.iter().enumerate().rev().enumerate() {
        let y = top + row as i32 * 26;
        let color = SERIES[k % SERIES.len()];
        legend_area
            .draw(&Rectangle::new([(8, y - 7), (22, y + 7)], color.filled()))
            .map_err(draw_err)?;
        let share = if grand > 0.0 {
            100.0 * layer.total / grand
        } else {
            0.0
        };
        legend_area
            .draw(&Text::new(
                format!("{}  {}%", layer.name, format::number(share, 1)),
                (30, y),
                frame::text(frame::LABEL_SIZE, frame::ink())
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(draw_err)?;
    }
    legend_area
        .draw(&Text::new(
            "share over the range",
            (8, top + layers.len() as i32 * 26),
            frame::text(12, frame::muted()).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(draw_err)?;
    Ok(())
}

/// Per-asset counts on the bucket grid, busiest first, with the tail folded into `Other`.
fn layers(s: &ShareOfVoiceSeries, n: usize) -> Result<Vec<Layer>, ChartError> {
    let bucket_ms = s.bucket.num_milliseconds();
    let mut layers = Vec::with_capacity(s.assets.len());
    for asset in &s.assets {
        let mut counts = vec![0.0; n];
        for &(t, v) in &asset.volume {
            if v < 0 {
                return Err(ChartError::Input {
                    field: "assets.volume",
                    reason: format!("negative mention count {v} for {} at {t}", asset.symbol),
                });
            }
            if t < s.start || t >= s.end {
                continue;
            }
            let i = ((t - s.start).num_milliseconds() / bucket_ms) as usize;
            if let Some(c) = counts.get_mut(i) {
                *c += v as f64;
            }
        }
        let total = counts.iter().sum();
        layers.push(Layer {
            name: asset.symbol.clone(),
            counts,
            total,
        });
    }
    layers.retain(|l| l.total > 0.0);
    // An explicit catch-all stays last whatever its size.
    let (mut other, mut named): (Vec<Layer>, Vec<Layer>) = layers
        .into_iter()
        .partition(|l| l.name.eq_ignore_ascii_case("other"));
    named.sort_by(|a, b| b.total.total_cmp(&a.total).then(a.name.cmp(&b.name)));
    let keep = if named.len() + other.len().min(1) > MAX_SHARE_SERIES {
        MAX_SHARE_SERIES - 1
    } else {
        named.len()
    };
    other.extend(named.split_off(keep));
    if let Some(first) = other.first() {
        let mut merged = Layer {
            name: "Other".to_string(),
            counts: vec![0.0; first.counts.len()],
            total: 0.0,
        };
        for l in &other {
            for (m, c) in merged.counts.iter_mut().zip(&l.counts) {
                *m += c;
            }
            merged.total += l.total;
        }
        named.push(merged);
    }
    Ok(named)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::AssetVolume;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn tail_is_folded_into_other() {
        let t0 = Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).unwrap();
        let assets = (0..12)
            .map(|i| AssetVolume {
                symbol: format!("A{i:02}"),
                volume: vec![(t0, 100 - i), (t0 + Duration::hours(1), 1)],
            })
            .chain(std::iter::once(AssetVolume {
                symbol: "Other".into(),
                volume: vec![(t0, 5)],
            }))
            .collect();
        let s = ShareOfVoiceSeries {
            start: t0,
            end: t0 + Duration::hours(2),
            bucket: Duration::hours(1),
            assets,
            simulated: false,
        };
        let l = layers(&s, 2).unwrap();
        assert_eq!(l.len(), MAX_SHARE_SERIES);
        assert_eq!(l[0].name, "A00");
        assert_eq!(l[6].name, "A06");
        assert_eq!(l[7].name, "Other");
        // A07..A11 = 93+92+91+90+89 plus one each in the second bucket, and the explicit 5.
        assert_eq!(
            l[7].counts,
            vec![93.0 + 92.0 + 91.0 + 90.0 + 89.0 + 5.0, 5.0]
        );
    }
}
