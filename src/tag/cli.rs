//! `coinpulse tag` and `coinpulse eval-tagger`.

#[derive(Debug, clap::Args)]
pub struct TagArgs {}

#[derive(Debug, clap::Args)]
pub struct EvalTaggerArgs {}

pub fn tag(_args: TagArgs, _config: &crate::config::Config) -> anyhow::Result<()> {
    anyhow::bail!("the tagger is not built yet")
}

pub fn eval_tagger(_args: EvalTaggerArgs, _config: &crate::config::Config) -> anyhow::Result<()> {
    anyhow::bail!("the tagger is not built yet")
}
