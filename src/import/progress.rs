//! How an import shows its progress: a bar on a terminal, and elsewhere (a log file, a CI job, a
//! pipe) one log line every [`LINE_EVERY`], so a long import is neither silent nor full of
//! carriage returns.

use std::time::{Duration, Instant};

use super::ImportSummary;

/// How often a non-terminal import logs a progress line.
pub const LINE_EVERY: Duration = Duration::from_secs(10);

pub enum Progress {
    Bar(indicatif::ProgressBar),
    Lines {
        total_bytes: u64,
        every: Duration,
        last: Instant,
    },
    Hidden,
}

impl Progress {
    /// A bar when stderr is a terminal, log lines when it is not; nothing when `show` is false.
    pub fn new(show: bool, total_bytes: u64) -> Progress {
        if !show {
            Progress::Hidden
        } else if crate::telemetry::stderr_is_terminal() {
            let bar = indicatif::ProgressBar::new(total_bytes);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {msg}",
                )
                .expect("static template"),
            );
            Progress::Bar(bar)
        } else {
            Progress::lines(total_bytes, LINE_EVERY)
        }
    }

    /// Log lines at most every `every`.
    pub fn lines(total_bytes: u64, every: Duration) -> Progress {
        Progress::Lines {
            total_bytes,
            every,
            last: Instant::now(),
        }
    }

    /// `position` bytes of the file are parsed and `summary` counts what was written so far.
    /// Returns the line logged, if one was due.
    pub fn update(&mut self, position: u64, summary: &ImportSummary) -> Option<String> {
        match self {
            Progress::Bar(bar) => {
                bar.set_position(position);
                bar.set_message(counts(summary));
                None
            }
            Progress::Lines {
                total_bytes,
                every,
                last,
            } => {
                if last.elapsed() < *every {
                    return None;
                }
                *last = Instant::now();
                let percent = if *total_bytes > 0 {
                    (position as f64 * 100.0 / *total_bytes as f64).min(100.0)
                } else {
                    0.0
                };
                let line = format!("{percent:.0}% of the file read: {}", counts(summary));
                tracing::info!(read = summary.read, "Import progress: {line}.");
                Some(line)
            }
            Progress::Hidden => None,
        }
    }

    pub fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

fn counts(summary: &ImportSummary) -> String {
    format!(
        "{} stored, {} duplicates, {} rejected",
        summary.stored,
        summary.duplicates,
        summary.rejected.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_logged_when_due_with_the_share_read() {
        let summary = ImportSummary {
            stored: 1_000,
            duplicates: 20,
            ..ImportSummary::default()
        };
        let mut often = Progress::lines(4_000, Duration::ZERO);
        assert_eq!(
            often.update(1_000, &summary).as_deref(),
            Some("25% of the file read: 1000 stored, 20 duplicates, 0 rejected")
        );
        let mut rarely = Progress::lines(4_000, Duration::from_secs(3_600));
        assert_eq!(rarely.update(1_000, &summary), None);
        assert_eq!(Progress::new(false, 4_000).update(1_000, &summary), None);
    }
}
