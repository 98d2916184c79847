//! Where tests and benchmarks find the read-only data set that sits beside the repository.
//!
//! Real labelled data, replay posts and recorded API responses live in `../shared/` (override with
//! `COINPULSE_SHARED_DIR`). Third-party post texts may not be committed here, so tests and benchmarks
//! read them from there. A missing file is a loud failure, never a silent skip: a test that cannot see
//! its data has not passed.

use std::path::PathBuf;

/// The shared data directory (an empty `COINPULSE_SHARED_DIR` counts as unset).
pub fn dir() -> PathBuf {
    match std::env::var_os("COINPULSE_SHARED_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    }
}

/// A file under the shared directory.
///
/// # Panics
///
/// When the file does not exist, with a message saying where it was looked for.
pub fn file(relative: &str) -> PathBuf {
    let path = dir().join(relative);
    assert!(
        path.exists(),
        "shared data file {} is missing: put the shared data set beside the repository \
         (../shared) or set COINPULSE_SHARED_DIR",
        path.display()
    );
    path
}
