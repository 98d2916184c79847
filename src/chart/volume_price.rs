//! The signature chart: mention volume against price, with the sentiment balance underneath.
//!
//! Volume is drawn as bars (one per bucket, left axis from zero) because it is a count per interval:
//! human posts solid, every post (bots and promotions included) as a pale bar behind them, so the
//! share the post classes left out is visible at a glance and stated in the subtitle.
//! price as a line (right axis, fitted to its own range) because it is a level. Both panels share
//! the x range and label-area widths, so a spike in the lower panel sits under the bar that caused
//! it. The price line breaks where observations are missing rather than drawing a straight line
//! through the gap, which would invent prices.

use chrono::{DateTime, Duration, Utc};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::format;
use super::frame::{self, draw_err};
use super::series::VolumePriceSeries;
use super::time_axis::TimeAxis;
use super::{ChartError, check_range};

/// Share of the plot height given to the volume/price panel; the sentiment panel gets the rest.
const UPPER_SHARE: u32 = 68;

pub fn draw<DB: DrawingBackend>(
    s: &VolumePriceSeries,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    check_range(s.start, s.end, s.bucket)?;
    let (start, end, bucket) = (s.start, s.end, s.bucket);
    let title = format!(
        "{} ({}): social volume vs price",
        s.asset_symbol, s.asset_name
    );
    let in_range = |t: &DateTime<Utc>| *t >= start && *t < end;
    let volume = counts(&s.volume, in_range, "volume")?;
    let all_volume = counts(&s.all_volume, in_range, "all_volume")?;
    let mut subtitle = format!(
        "{}  ·  {} buckets",
        format::time_range(start, end),
        format::duration(bucket)
    );
    let (humans, everyone) = (total(&volume), total(&all_volume));
    if everyone > humans {
        subtitle.push_str(&format!(
            "  ·  human posts: {} of {} ({:.1}%)",
            format::thousands(humans),
            format::thousands(everyone),
            100.0 * humans as f64 / everyone as f64
        ));
    }
    let footer = frame::attribution(s.price_source.as_deref(), s.simulated);
    let body = frame::page(root, &title, &subtitle, &footer)?;

    let price = clean(&s.price, in_range, |p| p >= 0.0);
    let sentiment = clean(&s.sentiment_balance, in_range, |_| true);

    if volume.len() < 2 && price.len() < 2 {
        let reason = format!(
            "Fewer than two mention or price points for {} in this range.",
            s.asset_symbol
        );
        return frame::no_data(&body, &reason);
    }

    let (_, h) = body.dim_in_pixel();
    let (upper, lower) = body.split_vertically(h * UPPER_SHARE / 100);

    // Upper panel: volume bars on the primary axes, price on the secondary ones.
    let vmax = volume
        .iter()
        .chain(&all_volume)
        .map(|(_, v)| *v)
        .max()
        .unwrap_or(0);
    let vtop = ((vmax as f64 * 1.18).ceil() as i64).max(5);
    let (pmin, pmax) = padded_range(price.iter().map(|(_, p)| *p), 0.08).unwrap_or((0.0, 1.0));
    let price_decimals = format::decimals_for_step((pmax - pmin) / 10.0);
    let has_price = !price.is_empty();

    let mut chart = ChartBuilder::on(&upper)
        .margin_top(6)
        .margin_right(8)
        .x_label_area_size(0)
        .y_label_area_size(frame::Y_LABEL_AREA)
        .right_y_label_area_size(frame::Y2_LABEL_AREA)
        .build_cartesian_2d(TimeAxis::new(start, end), 0i64..vtop)
        .map_err(draw_err)?
        .set_secondary_coord(TimeAxis::new(start, end), pmin..pmax);
    chart
        .configure_mesh()
        .bold_line_style(frame::grid())
        .light_line_style(TRANSPARENT)
        .axis_style(frame::muted())
        .x_labels(12)
        .y_labels(6)
        .label_style(frame::text(frame::LABEL_SIZE, frame::ink()))
        .axis_desc_style(frame::text(frame::DESC_SIZE, frame::muted()))
        .y_desc(format!("Posts per {}", format::duration(bucket)))
        .y_label_formatter(&|v: &i64| format::thousands(*v))
        .draw()
        .map_err(draw_err)?;
    let price_fmt = move |p: &f64| {
        if has_price {
            format::usd_with(*p, price_decimals)
        } else {
            String::new()
        }
    };
    chart
        .configure_secondary_axes()
        .axis_style(frame::muted())
        .y_labels(6)
        .label_style(frame::text(frame::LABEL_SIZE, frame::ink()))
        .axis_desc_style(frame::text(frame::DESC_SIZE, frame::muted()))
        .y_desc(if has_price { "Price (USD)" } else { "" })
        .y_label_formatter(&price_fmt)
        .draw()
        .map_err(draw_err)?;

    let (plot_w, _) = chart.plotting_area().dim_in_pixel();
    let inset = bar_inset(bucket, end - start, plot_w);
    let bars = |series: &[(DateTime<Utc>, i64)], style: ShapeStyle| {
        series
            .iter()
            .map(move |&(t, v)| Rectangle::new([(t + inset, 0), (t + bucket - inset, v)], style))
            .collect::<Vec<_>>()
    };
    let filtered = everyone > humans;
    if filtered {
        let pale = frame::volume().mix(0.3).filled();
        chart
            .draw_series(bars(&all_volume, pale))
            .map_err(draw_err)?
            .label("All posts (automated, promotional too)")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], pale));
    }
    let solid = frame::volume().filled();
    chart
        .draw_series(bars(&volume, solid))
        .map_err(draw_err)?
        .label(if filtered { "Human posts" } else { "Mentions" })
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], solid));

    let price_style = ShapeStyle::from(frame::price()).stroke_width(2);
    let price_label = match s.price_source.as_deref() {
        Some(src) if !src.trim().is_empty() => format!("Price ({src})"),
        _ => "Price".to_string(),
    };
    let segments = split_at_gaps(&price, bucket);
    for (i, seg) in segments.iter().enumerate() {
        let anno = if seg.len() == 1 {
            chart
                .draw_secondary_series(std::iter::once(Circle::new(
                    seg[0],
                    3,
                    frame::price().filled(),
                )))
                .map_err(draw_err)?
        } else {
            chart
                .draw_secondary_series(LineSeries::new(seg.iter().copied(), price_style))
                .map_err(draw_err)?
        };
        if i == 0 {
            anno.label(price_label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], price_style));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .margin(10)
        .background_style(frame::paper().mix(0.9))
        .border_style(frame::grid())
        .label_font(frame::text(frame::LABEL_SIZE, frame::ink()))
        .draw()
        .map_err(draw_err)?;
    if !has_price {
        frame::corner_note(&upper, "No price data for this range")?;
    }

    // Lower panel: sentiment balance, same x range and label areas.
    let smax = sentiment
        .iter()
        .map(|(_, v)| v.abs())
        .fold(0.0_f64, f64::max);
    let sspan = if smax > 0.0 { smax * 1.1 } else { 1.0 };
    let mut lower_chart = ChartBuilder::on(&lower)
        .margin_top(14)
        .margin_right(8 + frame::Y2_LABEL_AREA)
        .x_label_area_size(48)
        .y_label_area_size(frame::Y_LABEL_AREA)
        .build_cartesian_2d(TimeAxis::new(start, end), -sspan..sspan)
        .map_err(draw_err)?;
    let s_decimals = format::decimals_for_step(sspan / 4.0);
    lower_chart
        .configure_mesh()
        .bold_line_style(frame::grid())
        .light_line_style(TRANSPARENT)
        .axis_style(frame::muted())
        .x_labels(12)
        .y_labels(5)
        .label_style(frame::text(frame::LABEL_SIZE, frame::ink()))
        .axis_desc_style(frame::text(frame::DESC_SIZE, frame::muted()))
        .x_desc("UTC")
        .y_desc("Sentiment (pos − neg)")
        .x_label_formatter(&|t: &DateTime<Utc>| format::tick_label(*t, end - start))
        .y_label_formatter(&|v: &f64| format::number(*v, s_decimals))
        .draw()
        .map_err(draw_err)?;
    lower_chart
        .draw_series(sentiment.iter().map(|&(t, v)| {
            let color = if v >= 0.0 {
                frame::positive()
            } else {
                frame::negative()
            };
            Rectangle::new([(t + inset, 0.0), (t + bucket - inset, v)], color.filled())
        }))
        .map_err(draw_err)?;
    lower_chart
        .draw_series(LineSeries::new(
            [(start, 0.0), (end, 0.0)],
            ShapeStyle::from(frame::muted()).stroke_width(1),
        ))
        .map_err(draw_err)?;
    if sentiment.is_empty() {
        frame::corner_note(&lower, "No sentiment scores for this range")?;
    }
    Ok(())
}

/// The counts inside the range, sorted by time; a negative count is refused as bad input.
fn counts(
    points: &[(DateTime<Utc>, i64)],
    in_range: impl Fn(&DateTime<Utc>) -> bool,
    field: &'static str,
) -> Result<Vec<(DateTime<Utc>, i64)>, ChartError> {
    let mut out: Vec<_> = points
        .iter()
        .copied()
        .filter(|(t, _)| in_range(t))
        .collect();
    if let Some((t, v)) = out.iter().find(|(_, v)| *v < 0) {
        return Err(ChartError::Input {
            field,
            reason: format!("negative mention count {v} at {t}"),
        });
    }
    out.sort_by_key(|(t, _)| *t);
    Ok(out)
}

fn total(series: &[(DateTime<Utc>, i64)]) -> i64 {
    series.iter().map(|(_, v)| v).sum()
}

/// The points inside the range with a finite value accepted by `keep`, sorted by time.
fn clean(
    points: &[(DateTime<Utc>, f64)],
    in_range: impl Fn(&DateTime<Utc>) -> bool,
    keep: impl Fn(f64) -> bool,
) -> Vec<(DateTime<Utc>, f64)> {
    let mut out: Vec<_> = points
        .iter()
        .copied()
        .filter(|(t, v)| in_range(t) && v.is_finite() && keep(*v))
        .collect();
    out.sort_by_key(|(t, _)| *t);
    out
}

/// `(min, max)` of `values` widened by `pad` of the span on each side; a flat series gets ±1% of its
/// level so it draws as a line across the middle. `None` for no values.
pub(super) fn padded_range(values: impl Iterator<Item = f64>, pad: f64) -> Option<(f64, f64)> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return None;
    }
    let span = hi - lo;
    if span > 0.0 {
        Some((lo - span * pad, hi + span * pad))
    } else {
        let d = if lo.abs() > 0.0 { lo.abs() * 0.01 } else { 1.0 };
        Some((lo - d, hi + d))
    }
}

/// Splits a sorted price series where consecutive points are further apart than the usual spacing
/// allows: more than three median spacings and more than two buckets.
fn split_at_gaps(
    points: &[(DateTime<Utc>, f64)],
    bucket: Duration,
) -> Vec<Vec<(DateTime<Utc>, f64)>> {
    let mut deltas: Vec<Duration> = points.windows(2).map(|w| w[1].0 - w[0].0).collect();
    deltas.sort();
    let median = deltas.get(deltas.len() / 2).copied().unwrap_or(bucket);
    let limit = (median * 3).max(bucket * 2);
    let mut out: Vec<Vec<(DateTime<Utc>, f64)>> = Vec::new();
    for (i, &p) in points.iter().enumerate() {
        if i == 0 || p.0 - points[i - 1].0 > limit {
            out.push(Vec::new());
        }
        if let Some(last) = out.last_mut() {
            last.push(p);
        }
    }
    out
}

/// Space left on each side of a bar: none when bars are thinner than 4 px (they read as an area),
/// otherwise 15% of the bucket so neighbouring bars stay apart.
fn bar_inset(bucket: Duration, span: Duration, plot_width: u32) -> Duration {
    let px = plot_width as f64 * bucket.num_milliseconds() as f64
        / span.num_milliseconds().max(1) as f64;
    if px < 4.0 {
        Duration::zero()
    } else {
        Duration::milliseconds((bucket.num_milliseconds() as f64 * 0.15) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn gaps_split_the_price_line() {
        let t0 = Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).unwrap();
        let h = Duration::hours(1);
        let pts: Vec<_> = [0, 1, 2, 3, 10, 11, 12, 20]
            .iter()
            .map(|&i| (t0 + h * i, i as f64))
            .collect();
        let segs = split_at_gaps(&pts, h);
        let lens: Vec<usize> = segs.iter().map(Vec::len).collect();
        assert_eq!(lens, vec![4, 3, 1]);
        assert!(split_at_gaps(&[], h).is_empty());
    }

    #[test]
    fn ranges_are_padded() {
        assert_eq!(
            padded_range([10.0, 20.0].into_iter(), 0.1),
            Some((9.0, 21.0))
        );
        assert_eq!(padded_range([100.0].into_iter(), 0.1), Some((99.0, 101.0)));
        assert_eq!(padded_range([0.0].into_iter(), 0.1), Some((-1.0, 1.0)));
        assert_eq!(padded_range(std::iter::empty(), 0.1), None);
    }
}
