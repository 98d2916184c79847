//! The dashboard at `/`: one page that reads `/api/v1` and draws it in the browser.
//!
//! The page, its script and its style, and the charting library (uPlot, MIT, see
//! `assets/README.md`) are compiled into the binary: the dashboard works with no internet, loads
//! nothing from another origin, and runs under the server's Content-Security-Policy (no inline
//! script). Everything it shows comes from the JSON API, so a number on the dashboard is the number
//! `coinpulse report` prints for the same range, and every text from the database (asset names,
//! alert messages) is put on the page as text, never as markup.
//!
//! The page shell and its static files hold no data and are served without the bearer token a
//! non-loopback server requires (a browser cannot attach a header to a page load); the data behind
//! it is not. On a 401 from the API the page asks for the token once and keeps it for the browser
//! tab (`sessionStorage`).
//!
//! `/charts/{file}` serves the PNG and SVG files the chart task draws, for links and e-mail.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One file compiled into the binary.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// The page shell.
const INDEX: &[u8] = include_bytes!("assets/index.html");

/// Files under `/static/`.
const STATIC: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("assets/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("assets/app.css"),
    },
    Asset {
        name: "uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("assets/uPlot.iife.min.js"),
    },
    Asset {
        name: "uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("assets/uPlot.min.css"),
    },
    Asset {
        name: "LICENSE-uPlot",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("assets/LICENSE-uPlot"),
    },
];

/// Paths a non-loopback server answers without its token: the shell and its static files.
pub fn is_public_path(path: &str) -> bool {
    path == "/"
        || path
            .strip_prefix("/static/")
            .is_some_and(|f| find(f).is_some())
}

/// Bytes the page costs a first visit, uncompressed (shell plus every script and style).
pub fn page_weight() -> usize {
    INDEX.len() + STATIC.iter().map(|a| a.bytes.len()).sum::<usize>()
}

fn find(name: &str) -> Option<&'static Asset> {
    STATIC.iter().find(|a| a.name == name)
}

/// `/`, `/static/{file}` and `/charts/{file}` (the chart files in `charts_dir`).
pub fn router(charts_dir: PathBuf) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/static/{file}", get(static_file))
        .route("/charts/{file}", get(chart_file))
        .with_state(Arc::new(charts_dir))
}

async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

async fn static_file(UrlPath(file): UrlPath<String>) -> Response {
    match find(&file) {
        Some(asset) => {
            let mut response = asset.bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            );
            // Revalidated on each load: a new binary's page never runs an old binary's script.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            headers.insert(header::ETAG, etag(asset.bytes));
            response
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A strong validator for a compiled-in file (FNV-1a of its bytes).
fn etag(bytes: &[u8]) -> HeaderValue {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    HeaderValue::from_str(&format!("\"{hash:016x}\"")).expect("hex is a valid header value")
}

async fn chart_file(State(dir): State<Arc<PathBuf>>, UrlPath(file): UrlPath<String>) -> Response {
    // Only plain file names from the chart directory: no separators, no dot-files.
    let safe = !file.starts_with('.')
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let content_type = match Path::new(&file).extension().and_then(|e| e.to_str()) {
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "",
    };
    if !safe || content_type.is_empty() {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(dir.join(&file)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_shell_and_known_static_files_are_public() {
        assert!(is_public_path("/"));
        assert!(is_public_path("/static/app.js"));
        assert!(is_public_path("/static/uPlot.iife.min.js"));
        for private in [
            "/static/nothing.js",
            "/static/../api/v1/assets",
            "/api/v1/assets",
            "/charts/BTC_volume_price.svg",
            "/metrics",
            "/readyz",
            "/index.html",
        ] {
            assert!(!is_public_path(private), "{private}");
        }
    }

    #[test]
    fn the_page_is_light() {
        // Well under the 300 KB a first visit may cost, before any compression.
        assert!(page_weight() < 150_000, "{} bytes", page_weight());
    }

    #[test]
    fn the_shell_loads_no_inline_script_and_nothing_from_elsewhere() {
        let html = std::str::from_utf8(INDEX).unwrap();
        for tag in html.split("<script").skip(1) {
            let open = &tag[..tag.find('>').unwrap()];
            assert!(
                open.contains("src=\"/static/"),
                "inline or foreign script: {open}"
            );
        }
        assert!(!html.contains("http://") && !html.contains("https://"));
        let handler = html.split(" on").skip(1).find(|rest| {
            let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert!(handler.is_none(), "inline event handler: on{handler:?}");
    }
}
