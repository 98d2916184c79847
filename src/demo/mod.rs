//! The demo: a built-in, offline sandbox that speaks the Twitter v2, Reddit and CoinGecko wire
//! formats on loopback, so `coinpulse` can show the whole pipeline on a fresh machine with no
//! credentials and no network.
//!
//! - [`prices`]: the shipped Binance hourly BTC/ETH history, embedded in the binary.
//! - [`generator`]: deterministic simulated posts whose volume and mood follow that history.
//! - [`clock`]: simulated time, running at a chosen speed or moved by hand in tests.
//! - [`sandbox`]: the axum server that serves both at the current simulated time.
//! - [`setup`]: a `[sources]` config pointing the real collectors at the sandbox.
//! - `stream`: the sandbox's Jetstream-format WebSocket of simulated Bluesky posts.
//! - [`cli`]: `coinpulse sandbox`, the server on its own for trying collectors by hand.
//!
//! All posts are simulated and say so (authors `demo_user_NNN`, links on `demo.invalid`, a
//! `coinpulse_demo` field in every item); only the prices are real. Price data: Binance, via
//! CryptoDataDownload.

pub mod cli;
pub mod clock;
pub mod generator;
pub mod prices;
pub mod run;
pub mod sandbox;
pub mod setup;
mod stream;

pub use clock::{ClockMode, SimClock};
pub use generator::{Generator, Mood, SimPost, Stream};
pub use sandbox::{
    Endpoint, Fault, FaultKind, Sandbox, SandboxConfig, SandboxError, SandboxHandle, ServedCounts,
};
