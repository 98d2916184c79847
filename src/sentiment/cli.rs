//! `coinpulse score`, `coinpulse train` and `coinpulse eval-sentiment`.

#[derive(Debug, clap::Args)]
pub struct ScoreArgs {}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {}

#[derive(Debug, clap::Args)]
pub struct EvalSentimentArgs {}

pub fn score(_args: ScoreArgs, _config: &crate::config::Config) -> anyhow::Result<()> {
    anyhow::bail!("the sentiment model is not built yet")
}

pub fn train(_args: TrainArgs, _config: &crate::config::Config) -> anyhow::Result<()> {
    anyhow::bail!("the sentiment model is not built yet")
}

pub fn eval_sentiment(
    _args: EvalSentimentArgs,
    _config: &crate::config::Config,
) -> anyhow::Result<()> {
    anyhow::bail!("the sentiment model is not built yet")
}
