//! Render time of the signature chart over 30 days of hourly buckets (720 bars, 720 prices, 720
//! sentiment bars), as PNG file and as SVG string, plus the lead–lag computation behind the
//! correlogram.
//!
//! Run with `cargo bench --bench chart`.

use chrono::{TimeZone, Utc};
use coinpulse::chart::{
    Chart, ChartFormat, DEFAULT_SIZE, LeadLagSeries, render_file, render_svg, synthetic,
};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let t0 = Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).unwrap();
    let series = synthetic::volume_price(7, t0, 30 * 24);
    let chart = Chart::VolumePrice(&series);
    let dir = tempfile::tempdir().expect("temporary directory");
    let png = dir.path().join("btc.png");

    let mut g = c.benchmark_group("chart_30d_hourly");
    g.sample_size(20);
    g.bench_function("volume_price_png", |b| {
        b.iter(|| render_file(&chart, &png, ChartFormat::Png, DEFAULT_SIZE).expect("render"))
    });
    g.bench_function("volume_price_svg", |b| {
        b.iter(|| render_svg(&chart, DEFAULT_SIZE).expect("render"))
    });
    g.bench_function("lead_lag_24", |b| {
        b.iter(|| LeadLagSeries::from_volume_price(&series, 24))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
