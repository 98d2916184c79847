//! Sentiment: scores each post negative / neutral / positive with a score in [-1, 1].
pub mod cli;
