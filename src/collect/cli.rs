//! `coinpulse poll SOURCE --once`.

#[derive(Debug, clap::Args)]
pub struct PollArgs {}

pub async fn poll(_args: PollArgs, _config: &crate::config::Config) -> anyhow::Result<()> {
    anyhow::bail!("the collectors are not built yet")
}
