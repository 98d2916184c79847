//! The embedded font.
//!
//! plotters is built with its `ab_glyph` font backend and without `ttf`, so it never asks the system
//! for fonts (no fontconfig, no freetype, nothing installed on a fresh machine). The price is that
//! fonts must be registered before the first text is drawn; DejaVu Sans comes compiled in from the
//! `dejavu` crate. Registration happens once per process.

use std::sync::Once;

use plotters::style::{FontStyle, register_font};

/// The family name charts ask for; registered under the name plotters uses for `FontFamily::SansSerif`.
pub const FAMILY: &str = "sans-serif";

static REGISTER: Once = Once::new();

/// Registers DejaVu Sans (regular and bold) as `sans-serif`. Cheap after the first call.
pub fn ensure_registered() {
    REGISTER.call_once(|| {
        // The bytes are a font file shipped inside the `dejavu` crate; failing to parse them is a
        // build defect, not an input error, so it is reported loudly once and the charts carry on
        // (SVG output does not need glyphs).
        let fonts = [
            (FontStyle::Normal, dejavu::sans::regular()),
            (FontStyle::Bold, dejavu::sans::bold()),
        ];
        for (style, bytes) in fonts {
            if register_font(FAMILY, style, bytes).is_err() {
                tracing::error!(
                    style = style.as_str(),
                    "Embedded DejaVu Sans font failed to load."
                );
            }
        }
    });
}
