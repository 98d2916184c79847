//! The `coinpulse` binary: parses the command line, loads the config, and hands over to the library.

use clap::Parser;
use coinpulse::cli::{Cli, Command};
use coinpulse::config::Config;

fn main() -> anyhow::Result<()> {
    coinpulse::memory::limit_malloc_arenas();
    let cli = Cli::parse();
    coinpulse::telemetry::init(cli.log_format);
    let config = Config::load(
        &cli.config,
        cli.config != std::path::Path::new("config.toml"),
    )?;
    // Only the commands that reach the network or the database need the async runtime; the offline
    // ones (score, tag, train, …) start without spawning its worker threads.
    let runtime = tokio::runtime::Runtime::new;
    match cli.command {
        Command::Tag(args) => coinpulse::tag::cli::tag(args, &config),
        Command::EvalTagger(args) => coinpulse::tag::cli::eval_tagger(args, &config),
        Command::Score(args) => coinpulse::sentiment::cli::score(args, &config),
        Command::Classify(args) => coinpulse::classify::cli::classify(args, &config),
        Command::EvalClassify(args) => coinpulse::classify::cli::eval_classify(args, &config),
        Command::Train(args) => coinpulse::sentiment::cli::train(args, &config),
        Command::EvalSentiment(args) => coinpulse::sentiment::cli::eval_sentiment(args, &config),
        Command::Poll(args) => runtime()?.block_on(coinpulse::collect::cli::poll(args, &config)),
        Command::Demo(args) => runtime()?.block_on(coinpulse::demo::run::run(args, &config)),
        Command::Chart(args) => runtime()?.block_on(coinpulse::chart::cli::run(args, &config)),
        Command::Run(args) => runtime()?.block_on(coinpulse::pipeline::run::run(args, &config)),
        Command::Db { action } => runtime()?.block_on(coinpulse::store::cli::db(action, &config)),
        Command::Migrate => Ok(runtime()?.block_on(coinpulse::store::cli::migrate(&config))?),
        Command::Import(args) => runtime()?.block_on(coinpulse::import::run(args, &config)),
        Command::Report(args) => runtime()?.block_on(coinpulse::report::cli::run(args, &config)),
        Command::Sandbox(args) => runtime()?.block_on(coinpulse::demo::cli::sandbox(args)),
        Command::Assets {
            action: coinpulse::cli::AssetsAction::Update(args),
        } => runtime()?.block_on(coinpulse::tag::update::run(args, &config)),
        Command::Alerts {
            action: coinpulse::cli::AlertsAction::Test,
        } => runtime()?.block_on(coinpulse::report::alerts::cli::test(&config)),
    }
}
