//! What every chart shares: palette, title block, attribution footer and the "no data" panel.
//!
//! Charts are drawn on a white (or, with the dark theme, near-black) page with a title (asset, what is shown), a subtitle (time range and
//! bucket), the plot, and a footer naming the data sources. Keeping this in one place makes the three
//! charts look like one product and puts the attribution CoinGecko asks for on every image.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font::FAMILY;
use super::{ChartError, Theme};

/// The colours of one theme.
struct Palette {
    paper: RGBColor,
    ink: RGBColor,
    muted: RGBColor,
    grid: RGBColor,
    volume: RGBColor,
    price: RGBColor,
    positive: RGBColor,
    negative: RGBColor,
    highlight: RGBColor,
}

static LIGHT: Palette = Palette {
    paper: RGBColor(255, 255, 255),
    ink: RGBColor(33, 37, 41),
    muted: RGBColor(108, 117, 125),
    grid: RGBColor(226, 229, 233),
    volume: RGBColor(118, 146, 184),
    price: RGBColor(222, 110, 20),
    positive: RGBColor(46, 160, 67),
    negative: RGBColor(207, 52, 52),
    highlight: RGBColor(222, 110, 20),
};

/// Light text on a near-black page; data colours brightened to keep their contrast.
static DARK: Palette = Palette {
    paper: RGBColor(22, 24, 29),
    ink: RGBColor(230, 232, 235),
    muted: RGBColor(150, 158, 168),
    grid: RGBColor(52, 57, 65),
    volume: RGBColor(104, 138, 190),
    price: RGBColor(255, 153, 51),
    positive: RGBColor(63, 185, 80),
    negative: RGBColor(248, 81, 73),
    highlight: RGBColor(255, 153, 51),
};

thread_local! {
    /// The theme of the chart being drawn on this thread (rendering is synchronous).
    static THEME: std::cell::Cell<Theme> = const { std::cell::Cell::new(Theme::Light) };
}

/// Runs `draw` with `theme`'s colours, restoring the previous theme afterwards.
pub fn with_theme<T>(theme: Theme, draw: impl FnOnce() -> T) -> T {
    let previous = THEME.replace(theme);
    let out = draw();
    THEME.set(previous);
    out
}

fn palette() -> &'static Palette {
    match THEME.get() {
        Theme::Light => &LIGHT,
        Theme::Dark => &DARK,
    }
}

pub fn paper() -> &'static RGBColor {
    &palette().paper
}
pub fn ink() -> &'static RGBColor {
    &palette().ink
}
pub fn muted() -> &'static RGBColor {
    &palette().muted
}
pub fn grid() -> &'static RGBColor {
    &palette().grid
}
pub fn volume() -> &'static RGBColor {
    &palette().volume
}
pub fn price() -> &'static RGBColor {
    &palette().price
}
pub fn positive() -> &'static RGBColor {
    &palette().positive
}
pub fn negative() -> &'static RGBColor {
    &palette().negative
}
pub fn highlight() -> &'static RGBColor {
    &palette().highlight
}

/// Tableau 10, a palette designed to stay distinguishable for colour-blind readers; it reads on
/// both themes.
pub const SERIES: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(225, 87, 89),
    RGBColor(118, 183, 178),
    RGBColor(89, 161, 79),
    RGBColor(237, 201, 72),
    RGBColor(176, 122, 161),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
    RGBColor(186, 176, 172),
];

pub const TITLE_SIZE: u32 = 24;
pub const LABEL_SIZE: u32 = 14;
pub const DESC_SIZE: u32 = 15;
const SUBTITLE_SIZE: u32 = 16;
const FOOTER_SIZE: u32 = 13;
const PAD: i32 = 18;

/// Width of the left and right label areas. Panels stacked under each other use the same sizes so
/// their x axes line up.
pub const Y_LABEL_AREA: u32 = 86;
pub const Y2_LABEL_AREA: u32 = 96;

pub fn text(size: u32, color: &'static RGBColor) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size).into_font()).color(color)
}

pub fn bold(size: u32, color: &'static RGBColor) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size, FontStyle::Bold).into_font()).color(color)
}

/// Turns a plotters error (generic over the backend) into ours.
pub fn draw_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> ChartError {
    ChartError::Draw(e.to_string())
}

/// Paints the page, the title block and the footer; returns the area left for the plot.
pub fn page<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
    footer: &[String],
) -> Result<DrawingArea<DB, Shift>, ChartError>
where
    DB::ErrorType: 'static,
{
    root.fill(paper()).map_err(draw_err)?;
    let (w, h) = root.dim_in_pixel();
    root.draw(&Text::new(
        title.to_string(),
        (PAD, PAD),
        bold(TITLE_SIZE, ink()),
    ))
    .map_err(draw_err)?;
    root.draw(&Text::new(
        subtitle.to_string(),
        (PAD, PAD + TITLE_SIZE as i32 + 8),
        text(SUBTITLE_SIZE, muted()),
    ))
    .map_err(draw_err)?;
    let footer_line = footer.join("  ·  ");
    if !footer_line.is_empty() {
        root.draw(&Text::new(
            footer_line,
            (w as i32 - PAD, h as i32 - PAD / 2),
            text(FOOTER_SIZE, muted()).pos(Pos::new(HPos::Right, VPos::Bottom)),
        ))
        .map_err(draw_err)?;
    }
    let header = (PAD + TITLE_SIZE as i32 + 8 + SUBTITLE_SIZE as i32 + 14) as u32;
    let footer = (FOOTER_SIZE as i32 + PAD) as u32;
    Ok(root.margin(header, footer, 4, 8))
}

/// A framed, empty plot saying there is nothing to draw and why.
pub fn no_data<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    reason: &str,
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    area.draw(&Rectangle::new(
        [(PAD, 0), (w - PAD, h - 4)],
        ShapeStyle::from(grid()).stroke_width(2),
    ))
    .map_err(draw_err)?;
    area.draw(&Text::new(
        "No data",
        (w / 2, h / 2 - 16),
        bold(30, muted()).pos(Pos::new(HPos::Center, VPos::Center)),
    ))
    .map_err(draw_err)?;
    area.draw(&Text::new(
        reason.to_string(),
        (w / 2, h / 2 + 22),
        text(DESC_SIZE, muted()).pos(Pos::new(HPos::Center, VPos::Center)),
    ))
    .map_err(draw_err)?;
    Ok(())
}

/// A note in the top-right corner of a plot area, e.g. "No price data for this range".
pub fn corner_note<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    note: &str,
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    let (w, _) = area.dim_in_pixel();
    area.draw(&Text::new(
        note.to_string(),
        (w as i32 - Y2_LABEL_AREA as i32 - 12, 18),
        text(LABEL_SIZE, muted()).pos(Pos::new(HPos::Right, VPos::Top)),
    ))
    .map_err(draw_err)
}

/// The sources line: price source (with CoinGecko's required wording) and demo-data warning.
pub fn attribution(price_source: Option<&str>, simulated: bool) -> Vec<String> {
    let mut out = Vec::new();
    if simulated {
        out.push("Posts: simulated demo data".to_string());
    }
    match price_source {
        Some(s) if s.eq_ignore_ascii_case("coingecko") => {
            out.push("Data provided by CoinGecko".to_string())
        }
        Some(s) if !s.trim().is_empty() => out.push(format!("Prices: {s}")),
        _ => {}
    }
    out.push("coinpulse".to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribution_wording() {
        assert_eq!(
            attribution(Some("CoinGecko"), true),
            vec![
                "Posts: simulated demo data",
                "Data provided by CoinGecko",
                "coinpulse"
            ]
        );
        assert_eq!(
            attribution(Some("Binance"), false),
            vec!["Prices: Binance", "coinpulse"]
        );
        assert_eq!(attribution(None, false), vec!["coinpulse"]);
    }
}
