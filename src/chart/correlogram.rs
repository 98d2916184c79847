//! The lead–lag correlogram: one bar per lag, `r` on a fixed −1…1 axis.
//!
//! The axis is fixed so charts of different assets compare at a glance, and a dashed band at
//! `±1.96/√n` marks what independent series would produce by chance 95% of the time: bars inside it
//! are noise. The bar with the largest |r| is highlighted and named in the subtitle, since that is the
//! number readers look for; the x axis says in words which side means mentions lead.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::format;
use super::frame::{self, draw_err};
use super::series::LeadLagSeries;
use super::{ChartError, check_range};

pub fn draw<DB: DrawingBackend>(
    s: &LeadLagSeries,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    check_range(s.start, s.end, s.bucket)?;
    let bars: Vec<(i32, f64)> = s
        .correlations
        .iter()
        .filter_map(|&(k, r)| r.filter(|r| r.is_finite()).map(|r| (k, r.clamp(-1.0, 1.0))))
        .collect();
    let peak = bars.iter().copied().max_by(|a, b| {
        a.1.abs()
            .total_cmp(&b.1.abs())
            .then(b.0.abs().cmp(&a.0.abs()))
    });
    let title = format!(
        "{} ({}): mention volume vs price returns, lead–lag",
        s.asset_symbol, s.asset_name
    );
    let mut subtitle = format!(
        "{}  ·  {} buckets",
        format::time_range(s.start, s.end),
        format::duration(s.bucket)
    );
    if let Some((k, r)) = peak {
        subtitle.push_str(&format!(
            "  ·  strongest: r = {} at lag {} (n = {})",
            format::number(r, 2),
            format::lag(s.bucket * k),
            format::thousands(s.observations as i64)
        ));
    }
    let footer = frame::attribution(s.price_source.as_deref(), s.simulated);
    let body = frame::page(root, &title, &subtitle, &footer)?;
    let Some((peak_lag, _)) = peak else {
        return frame::no_data(
            &body,
            "Not enough overlapping mention and price buckets to correlate.",
        );
    };

    let max_lag = s
        .correlations
        .iter()
        .map(|(k, _)| k.unsigned_abs())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut chart = ChartBuilder::on(&body)
        .margin_top(6)
        .margin_right(24)
        .x_label_area_size(52)
        .y_label_area_size(frame::Y_LABEL_AREA)
        .build_cartesian_2d(-max_lag - 0.6..max_lag + 0.6, -1.0..1.0)
        .map_err(draw_err)?;
    let bucket = s.bucket;
    // One tick per lag (plotters picks integer steps for this request), labelled every `every` lags.
    let every = [1, 2, 3, 6, 12, 24, 48]
        .into_iter()
        .find(|e| max_lag / *e as f64 <= 6.0)
        .unwrap_or(96);
    let lag_fmt = move |x: &f64| {
        let k = x.round() as i32;
        if (x - k as f64).abs() > 1e-6 || k % every != 0 {
            return String::new();
        }
        format::lag(bucket * k)
    };
    chart
        .configure_mesh()
        .bold_line_style(frame::grid())
        .light_line_style(TRANSPARENT)
        .disable_x_mesh()
        .axis_style(frame::muted())
        .x_labels((2.0 * max_lag + 2.0) as usize)
        .y_labels(9)
        .label_style(frame::text(frame::LABEL_SIZE, frame::ink()))
        .axis_desc_style(frame::text(frame::DESC_SIZE, frame::muted()))
        .x_desc("Lag  (negative: price moves first  ·  positive: mentions lead price)")
        .y_desc("Pearson r")
        .x_label_formatter(&lag_fmt)
        .y_label_formatter(&|v| format::number(*v, 2))
        .draw()
        .map_err(draw_err)?;

    chart
        .draw_series(bars.iter().map(|&(k, r)| {
            let color = if k == peak_lag {
                frame::highlight()
            } else {
                frame::volume()
            };
            let x = k as f64;
            Rectangle::new([(x - 0.38, 0.0), (x + 0.38, r)], color.filled())
        }))
        .map_err(draw_err)?
        .label("r at lag")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], frame::volume().filled()));
    chart
        .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
        .map_err(draw_err)?
        .label("strongest |r|")
        .legend(|(x, y)| {
            Rectangle::new([(x, y - 5), (x + 14, y + 5)], frame::highlight().filled())
        });
    let (x0, x1) = (-max_lag - 0.6, max_lag + 0.6);
    chart
        .draw_series(LineSeries::new(
            [(x0, 0.0), (x1, 0.0)],
            ShapeStyle::from(frame::ink()),
        ))
        .map_err(draw_err)?;
    if s.observations > 3 {
        let band = 1.96 / (s.observations as f64).sqrt();
        let style = ShapeStyle::from(frame::muted()).stroke_width(1);
        for y in [band, -band] {
            chart
                .draw_series(DashedLineSeries::new([(x0, y), (x1, y)], 6, 4, style))
                .map_err(draw_err)?;
        }
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
            .map_err(draw_err)?
            .label(format!("95% noise band ±{}", format::number(band, 2)))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], style));
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
    Ok(())
}
