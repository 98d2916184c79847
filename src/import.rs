//! `coinpulse import`: archives through the tag/score/write path.

#[derive(Debug, clap::Args)]
pub struct ImportArgs {}
