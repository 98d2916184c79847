//! Renders every chart from seeded synthetic data and checks the files a user would get: PNG size and
//! pixels in the plot area, SVG well-formed with its title and axis labels, and "No data" charts for
//! empty input.

use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use coinpulse::chart::format;
use coinpulse::chart::synthetic::{self, LEAD};
use coinpulse::chart::{
    Chart, ChartError, ChartFormat, DEFAULT_SIZE, LeadLagSeries, VolumePriceSeries, render_file,
    render_svg,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).unwrap()
}

fn month() -> VolumePriceSeries {
    synthetic::volume_price(7, t0(), 30 * 24)
}

/// Parses the whole document; panics with the position of the first XML error.
fn assert_well_formed(svg: &str) {
    assert!(svg.starts_with("<svg"), "not an SVG document");
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut elements = 0;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(_) | quick_xml::events::Event::Empty(_)) => {
                elements += 1
            }
            Ok(_) => {}
            Err(e) => panic!(
                "SVG is not well-formed at {}: {e}",
                reader.buffer_position()
            ),
        }
    }
    assert!(elements >= 5, "only {elements} SVG elements");
}

/// The texts of all `<text>` elements.
fn svg_texts(svg: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut out = Vec::new();
    let mut inside = false;
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(e) if e.name().as_ref() == b"text" => inside = true,
            quick_xml::events::Event::End(e) if e.name().as_ref() == b"text" => inside = false,
            quick_xml::events::Event::Text(t) if inside => {
                out.push(t.unescape().unwrap().trim().to_string())
            }
            _ => {}
        }
    }
    out
}

fn has_text(texts: &[String], want: &str) -> bool {
    texts.iter().any(|t| t.contains(want))
}

fn render_png(chart: &Chart<'_>, dir: &Path, name: &str) -> image::RgbImage {
    let path = dir.join(name);
    render_file(chart, &path, ChartFormat::Png, DEFAULT_SIZE).unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), DEFAULT_SIZE);
    img
}

/// Pixels in the rectangle `[x0, x1) × [y0, y1)` that are not white.
fn ink(img: &image::RgbImage, (x0, y0, x1, y1): (u32, u32, u32, u32)) -> usize {
    let mut n = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            if img.get_pixel(x, y).0 != [255, 255, 255] {
                n += 1;
            }
        }
    }
    n
}

/// Pixels within 40 (sum of channel differences) of `rgb`.
fn near(img: &image::RgbImage, rgb: [u8; 3]) -> usize {
    img.pixels()
        .filter(|p| {
            p.0.iter()
                .zip(rgb)
                .map(|(a, b)| (*a as i32 - b as i32).abs())
                .sum::<i32>()
                < 40
        })
        .count()
}

const PLOT: (u32, u32, u32, u32) = (150, 120, 1130, 700);

#[test]
fn volume_price_png_has_bars_and_price_line() {
    let dir = tempfile::tempdir().unwrap();
    let s = month();
    let img = render_png(&Chart::VolumePrice(&s), dir.path(), "btc.png");
    let area = (PLOT.2 - PLOT.0) * (PLOT.3 - PLOT.1);
    let drawn = ink(&img, PLOT);
    assert!(
        drawn > area as usize / 10,
        "only {drawn} of {area} plot pixels drawn"
    );
    assert!(near(&img, [118, 146, 184]) > 50_000, "volume bars missing");
    assert!(near(&img, [222, 110, 20]) > 1_500, "price line missing");
    // Sentiment bars are about 1.4 px wide at this size; a blank panel has none of these colours.
    let (green, red) = (near(&img, [46, 160, 67]), near(&img, [207, 52, 52]));
    assert!(green > 500, "positive sentiment bars missing: {green}");
    assert!(red > 500, "negative sentiment bars missing: {red}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "temporary file left behind");
}

#[test]
fn volume_price_svg_has_title_labels_and_attribution() {
    let s = month();
    let svg = render_svg(&Chart::VolumePrice(&s), DEFAULT_SIZE).unwrap();
    assert_well_formed(&svg);
    let texts = svg_texts(&svg);
    for want in [
        "BTC (Bitcoin)",
        "2021-01-01 – 2021-01-30",
        "1h buckets",
        "Posts per 1h",
        "Price (USD)",
        "Sentiment (pos − neg)",
        "Data provided by CoinGecko",
        "Posts: simulated demo data",
        "Human posts",
        "All posts (automated, promotional too)",
        "Price (CoinGecko)",
        "01-07",
    ] {
        assert!(has_text(&texts, want), "no `{want}` in {texts:?}");
    }
    // Price ticks are dollars with thousands separators, volume ticks have separators too.
    assert!(
        texts.iter().any(|t| t.starts_with('$') && t.contains(',')),
        "no currency tick in {texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains(',') && t.chars().all(|c| c.is_ascii_digit() || c == ',')),
        "no thousands-separated count in {texts:?}"
    );
}

/// The share the post classes left out is drawn and stated: the subtitle gives the human posts of
/// every post in the range, from the series themselves; without the count of every post the chart
/// draws one kind of bar and says nothing about a share.
#[test]
fn volume_price_shows_the_filtered_share() {
    let s = month();
    let humans: i64 = s.volume.iter().map(|(_, v)| v).sum();
    let everyone: i64 = s.all_volume.iter().map(|(_, v)| v).sum();
    assert!(everyone > humans);
    let want = format!(
        "human posts: {} of {} ({:.1}%)",
        format::thousands(humans),
        format::thousands(everyone),
        100.0 * humans as f64 / everyone as f64
    );
    let texts = svg_texts(&render_svg(&Chart::VolumePrice(&s), DEFAULT_SIZE).unwrap());
    assert!(
        texts.iter().any(|t| t.contains(&want)),
        "no `{want}` in {texts:?}"
    );

    let mut unfiltered = month();
    unfiltered.all_volume.clear();
    let texts = svg_texts(&render_svg(&Chart::VolumePrice(&unfiltered), DEFAULT_SIZE).unwrap());
    assert!(has_text(&texts, "Mentions"), "{texts:?}");
    assert!(
        !texts.iter().any(|t| t.contains("human posts")),
        "{texts:?}"
    );
    assert!(!has_text(&texts, "Human posts"), "{texts:?}");

    let mut negative = month();
    negative.all_volume[3].1 = -1;
    let err = render_svg(&Chart::VolumePrice(&negative), DEFAULT_SIZE).unwrap_err();
    assert!(err.to_string().contains("all_volume"), "{err}");
}

#[test]
fn one_day_range_uses_clock_times() {
    let s = synthetic::volume_price(3, t0(), 24);
    let svg = render_svg(&Chart::VolumePrice(&s), DEFAULT_SIZE).unwrap();
    let texts = svg_texts(&svg);
    assert!(has_text(&texts, "12:00"), "no hour label in {texts:?}");
    // Dates only where the day changes: the two midnights bounding the day, never repeated.
    let day_label = |t: &&String| t.len() == 5 && t.as_bytes()[2] == b'-';
    let days: Vec<&String> = texts.iter().filter(day_label).collect();
    assert_eq!(
        days,
        ["01-01", "01-02"],
        "day labels on a one-day chart: {texts:?}"
    );
}

#[test]
fn missing_price_and_gaps_still_render() {
    let mut s = month();
    s.price.clear();
    s.price_source = None;
    s.volume.retain(|(t, _)| (*t - t0()).num_hours() % 100 > 20);
    s.sentiment_balance.clear();
    let svg = render_svg(&Chart::VolumePrice(&s), DEFAULT_SIZE).unwrap();
    assert_well_formed(&svg);
    let texts = svg_texts(&svg);
    assert!(
        has_text(&texts, "No price data for this range"),
        "{texts:?}"
    );
    assert!(has_text(&texts, "No sentiment scores"), "{texts:?}");
    assert!(
        !has_text(&texts, "CoinGecko"),
        "attribution without prices: {texts:?}"
    );
    assert!(
        !texts.iter().any(|t| t.starts_with('$')),
        "price ticks without prices"
    );

    // Prices with a hole in the middle: the chart draws, and the hole has no price line.
    let mut s = month();
    s.price
        .retain(|(t, _)| !(200..400).contains(&(*t - t0()).num_hours()));
    let dir = tempfile::tempdir().unwrap();
    let img = render_png(&Chart::VolumePrice(&s), dir.path(), "gap.png");
    let full = render_png(&Chart::VolumePrice(&month()), dir.path(), "full.png");
    assert!(near(&img, [222, 110, 20]) < near(&full, [222, 110, 20]));
}

#[test]
fn empty_and_one_point_series_say_no_data() {
    let mut empty = month();
    empty.volume.clear();
    empty.price.clear();
    empty.sentiment_balance.clear();
    let mut one = month();
    one.volume.truncate(1);
    one.price.truncate(1);
    let dir = tempfile::tempdir().unwrap();
    for (name, s) in [("empty", &empty), ("one", &one)] {
        let svg = render_svg(&Chart::VolumePrice(s), DEFAULT_SIZE).unwrap();
        assert_well_formed(&svg);
        let texts = svg_texts(&svg);
        assert!(has_text(&texts, "No data"), "{name}: {texts:?}");
        assert!(has_text(&texts, "BTC (Bitcoin)"), "{name}: title missing");
        let img = render_png(&Chart::VolumePrice(s), dir.path(), &format!("{name}.png"));
        assert!(
            ink(&img, (500, 350, 780, 450)) > 200,
            "{name}: no message drawn"
        );
    }

    let mut share = synthetic::share_of_voice(1, t0(), 48, &["BTC", "ETH"]);
    share.assets.iter_mut().for_each(|a| a.volume.clear());
    let texts = svg_texts(&render_svg(&Chart::ShareOfVoice(&share), DEFAULT_SIZE).unwrap());
    assert!(has_text(&texts, "No data"), "{texts:?}");

    let ll = LeadLagSeries::from_volume_price(&empty, 24);
    assert!(ll.correlations.iter().all(|(_, r)| r.is_none()));
    let texts = svg_texts(&render_svg(&Chart::LeadLag(&ll), DEFAULT_SIZE).unwrap());
    assert!(has_text(&texts, "No data"), "{texts:?}");
}

#[test]
fn share_of_voice_renders_stacked_areas() {
    let s = synthetic::share_of_voice(11, t0(), 30 * 24, &["BTC", "ETH", "SOL", "DOGE", "ADA"]);
    let dir = tempfile::tempdir().unwrap();
    let img = render_png(&Chart::ShareOfVoice(&s), dir.path(), "share.png");
    // The stack covers the plot area from 0 to 100%.
    let drawn = ink(&img, (200, 150, 1000, 650));
    assert!(
        drawn > 800 * 500 * 9 / 10,
        "plot area mostly blank: {drawn}"
    );
    for rgb in [[78, 121, 167], [242, 142, 43], [225, 87, 89]] {
        assert!(near(&img, rgb) > 10_000, "layer {rgb:?} missing");
    }
    let svg = render_svg(&Chart::ShareOfVoice(&s), DEFAULT_SIZE).unwrap();
    assert_well_formed(&svg);
    let texts = svg_texts(&svg);
    for want in [
        "Share of voice: top 5 assets",
        "100%",
        "Share of mentions",
        "DOGE",
        "01-07",
    ] {
        assert!(has_text(&texts, want), "no `{want}` in {texts:?}");
    }
}

#[test]
fn correlogram_finds_and_highlights_the_planted_lead() {
    let s = month();
    let ll = LeadLagSeries::from_volume_price(&s, 24);
    assert_eq!(ll.correlations.len(), 49);
    let (peak, r) = ll
        .correlations
        .iter()
        .filter_map(|&(k, r)| r.map(|r| (k, r)))
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .unwrap();
    assert_eq!(
        peak, LEAD as i32,
        "synthetic volume leads returns by {LEAD} buckets"
    );
    assert!(r > 0.3, "planted lead gives r = {r}");
    assert_eq!(ll.observations, 30 * 24 - 1);

    let dir = tempfile::tempdir().unwrap();
    let img = render_png(&Chart::LeadLag(&ll), dir.path(), "ll.png");
    assert!(near(&img, [222, 110, 20]) > 500, "highlighted bar missing");
    assert!(near(&img, [118, 146, 184]) > 5_000, "bars missing");
    let svg = render_svg(&Chart::LeadLag(&ll), DEFAULT_SIZE).unwrap();
    assert_well_formed(&svg);
    let texts = svg_texts(&svg);
    for want in [
        "lead–lag",
        "Pearson r",
        "+3h",
        "-24h",
        "+24h",
        "at lag +3h",
        "95% noise band",
    ] {
        assert!(has_text(&texts, want), "no `{want}` in {texts:?}");
    }
}

#[test]
fn svg_file_matches_svg_string() {
    let s = month();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("btc.SVG");
    render_file(
        &Chart::VolumePrice(&s),
        &path,
        ChartFormat::Svg,
        DEFAULT_SIZE,
    )
    .unwrap();
    let on_disk = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        on_disk,
        render_svg(&Chart::VolumePrice(&s), DEFAULT_SIZE).unwrap()
    );
}

#[test]
fn bad_requests_are_errors_naming_the_problem() {
    let s = month();
    let dir = tempfile::tempdir().unwrap();
    let chart = Chart::VolumePrice(&s);

    let err = render_file(
        &chart,
        &dir.path().join("x.jpg"),
        ChartFormat::Png,
        DEFAULT_SIZE,
    );
    assert!(matches!(err, Err(ChartError::Extension { .. })), "{err:?}");
    let err = render_file(
        &chart,
        &dir.path().join("x.svg"),
        ChartFormat::Png,
        DEFAULT_SIZE,
    );
    assert!(
        matches!(err, Err(ChartError::FormatMismatch { .. })),
        "{err:?}"
    );
    let err = render_svg(&chart, (10, 10)).unwrap_err();
    assert!(err.to_string().contains("10x10"), "{err}");
    let err = render_file(
        &chart,
        &dir.path().join("missing-dir/x.png"),
        ChartFormat::Png,
        DEFAULT_SIZE,
    )
    .unwrap_err();
    assert!(err.to_string().contains("missing-dir"), "{err}");

    let mut backwards = month();
    backwards.end = backwards.start;
    let err = render_svg(&Chart::VolumePrice(&backwards), DEFAULT_SIZE).unwrap_err();
    assert!(
        matches!(err, ChartError::Input { field: "end", .. }),
        "{err}"
    );

    let mut negative = month();
    negative.volume[5].1 = -3;
    let err = render_svg(&Chart::VolumePrice(&negative), DEFAULT_SIZE).unwrap_err();
    assert!(
        err.to_string().contains("volume") && err.to_string().contains("-3"),
        "{err}"
    );

    let mut zero_bucket = month();
    zero_bucket.bucket = Duration::zero();
    let err = render_svg(&Chart::VolumePrice(&zero_bucket), DEFAULT_SIZE).unwrap_err();
    assert!(
        matches!(
            err,
            ChartError::Input {
                field: "bucket",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "files left behind"
    );
}

#[test]
fn non_finite_values_are_skipped() {
    let mut s = month();
    s.price[10].1 = f64::NAN;
    s.price[11].1 = f64::INFINITY;
    s.sentiment_balance[3].1 = f64::NEG_INFINITY;
    let svg = render_svg(&Chart::VolumePrice(&s), DEFAULT_SIZE).unwrap();
    assert_well_formed(&svg);
    assert!(
        !svg.contains("NaN") && !svg.contains("inf"),
        "non-finite value reached the SVG"
    );
}
