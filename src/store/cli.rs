//! `coinpulse db start|stop|status|url|prune|rescore|reclassify|retag` and `coinpulse migrate`.

use crate::cli::DbAction;
use crate::config::Config;
use crate::sentiment::{Scratch, SentimentModel};
use crate::store::cluster::Cluster;
use crate::store::{Store, StoreError};

pub async fn db(action: DbAction, config: &Config) -> anyhow::Result<()> {
    let external_url = config.database.url.as_deref().filter(|u| !u.is_empty());
    let cluster = || Cluster::new(&config.database.data_dir);
    match (action, external_url) {
        (DbAction::Prune { older_than }, _) => prune(older_than, config).await?,
        (DbAction::Rescore { model, batch }, _) => rescore(model, batch, config).await?,
        (DbAction::Reclassify { batch }, _) => reclassify(batch, config).await?,
        (
            DbAction::Retag {
                since,
                until,
                batch,
            },
            _,
        ) => retag(&since, until.as_deref(), batch, config).await?,
        (DbAction::Url, Some(url)) => println!("{url}"),
        // An external server is not ours to start or stop.
        (_, Some(_)) => {
            println!(
                "database.url is set: coinpulse uses that server and manages no private cluster"
            )
        }
        (DbAction::Start, None) => {
            let cluster = cluster()?;
            cluster.start().await?;
            println!(
                "private PostgreSQL cluster running in {}",
                cluster.data_dir().display()
            );
            println!("url: {}", cluster.url());
        }
        (DbAction::Stop, None) => {
            cluster()?.stop()?;
            println!("private PostgreSQL cluster stopped");
        }
        (DbAction::Status, None) => {
            let cluster = cluster()?;
            if !cluster.is_initialized() {
                println!(
                    "no private cluster yet in {} (created on first use)",
                    cluster.data_dir().display()
                );
            } else if cluster.is_running() {
                println!("running in {}", cluster.data_dir().display());
                println!("url: {}", cluster.url());
            } else {
                println!("stopped ({})", cluster.data_dir().display());
            }
        }
        (DbAction::Url, None) => {
            let cluster = cluster()?;
            cluster.start().await?;
            println!("{}", cluster.url());
        }
    }
    Ok(())
}

/// `coinpulse db prune`: one retention pass, now.
async fn prune(older_than: Option<chrono::TimeDelta>, config: &Config) -> anyhow::Result<()> {
    let store = Store::connect(&config.database).await?;
    let now = chrono::Utc::now();
    let outcome = match older_than {
        Some(age) => {
            let cutoff = now
                .checked_sub_signed(age)
                .ok_or_else(|| anyhow::anyhow!("--older-than is too long"))?;
            store.prune_before(cutoff).await?
        }
        None if store.retention().is_some() => store.prune_expired(now).await?,
        None => anyhow::bail!(
            "nothing to prune by: pass --older-than (e.g. 90d) or set database.retention"
        ),
    };
    println!(
        "deleted {} posts and {} mentions; hourly rollups kept",
        outcome.posts, outcome.mentions
    );
    Ok(())
}

/// `coinpulse db rescore`: bring every stored score to one model.
async fn rescore(
    model: Option<std::path::PathBuf>,
    batch: usize,
    config: &Config,
) -> anyhow::Result<()> {
    let model = match model {
        Some(path) => SentimentModel::load(&path)?,
        None => SentimentModel::from_config(&config.sentiment)?,
    };
    let store = Store::connect(&config.database).await?;
    let mut scratch = Scratch::new();
    let outcome = store
        .rescore(
            model.version(),
            batch,
            |text| model.score_with(text, &mut scratch),
            |so_far| {
                tracing::info!(
                    posts = so_far.posts,
                    relabelled = so_far.relabelled,
                    "Rescored a batch."
                )
            },
        )
        .await?;
    if outcome.posts == 0 {
        println!(
            "nothing to rescore: every stored post is scored by {}",
            model.version()
        );
    } else {
        println!(
            "rescored {} posts with {} ({} changed label); rollups corrected",
            outcome.posts,
            model.version(),
            outcome.relabelled
        );
    }
    Ok(())
}

/// `coinpulse db reclassify`: class every stored post with the current rules, in time order.
async fn reclassify(batch: usize, config: &Config) -> anyhow::Result<()> {
    let store = Store::connect(&config.database).await?;
    let mut classifier = crate::classify::Classifier::new(&config.classify);
    let outcome = store
        .reclassify(
            batch,
            |p| {
                classifier
                    .classify_text(&p.text, p.author.as_deref(), p.created_at)
                    .0
            },
            |so_far| {
                tracing::info!(
                    posts = so_far.posts,
                    changed = so_far.changed,
                    "Reclassified a batch."
                )
            },
        )
        .await?;
    println!(
        "reclassified {} posts ({} changed class or reasons, {} moved in or out of the human counts); rollups corrected",
        outcome.posts, outcome.changed, outcome.moved
    );
    Ok(())
}

/// `coinpulse db retag`: tag a stored range again with the registry a daemon would build now.
async fn retag(
    since: &str,
    until: Option<&str>,
    batch: usize,
    config: &Config,
) -> anyhow::Result<()> {
    let (since, until) = crate::report::range::parse_range(since, until, chrono::Utc::now())?;
    let store = Store::connect(&config.database).await?;
    let version = store.registry_version().await?;
    let tagger = crate::tag::Tagger::from_config_and(&config.tagger, store.asset_list().await?)
        .map_err(|e| anyhow::anyhow!("asset registry: {e}"))?;
    // Reports name the coins the new mentions point at, as after a daemon's start.
    store.upsert_assets(tagger.assets()).await?;
    let outcome = store
        .retag(
            since,
            until,
            batch,
            |text, at| tagger.tag_at(text, at),
            |so_far| {
                tracing::info!(
                    posts = so_far.posts,
                    changed = so_far.changed,
                    "Retagged a batch."
                )
            },
        )
        .await?;
    println!(
        "retagged posts created {} … {} with registry version {version} ({} assets): {} posts read, \
         {} changed; {} mentions added, {} removed; rollups corrected",
        since.format("%Y-%m-%d %H:%M UTC"),
        until.format("%Y-%m-%d %H:%M UTC"),
        tagger.assets().len(),
        outcome.posts,
        outcome.changed,
        outcome.mentions_added,
        outcome.mentions_removed
    );
    for (what, per_asset) in [("gained", &outcome.gained), ("lost", &outcome.lost)] {
        if !per_asset.is_empty() {
            println!("assets {what} (posts): {}", most(per_asset, 15));
        }
    }
    Ok(())
}

/// The `n` largest counts, `asset n` comma-separated, and how many more there are.
fn most(counts: &std::collections::BTreeMap<String, u64>, n: usize) -> String {
    let mut sorted: Vec<(&String, &u64)> = counts.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut text: Vec<String> = sorted
        .iter()
        .take(n)
        .map(|(asset, count)| format!("{asset} {count}"))
        .collect();
    if sorted.len() > n {
        text.push(format!("… and {} more", sorted.len() - n));
    }
    text.join(", ")
}

pub async fn migrate(config: &Config) -> Result<(), StoreError> {
    let options = crate::store::connect_options(&config.database).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let applied = apply_migrations(&pool).await?;
    if applied.is_empty() {
        println!(
            "database schema is up to date ({} migrations)",
            crate::store::MIGRATOR.iter().count()
        );
    }
    for (version, description) in applied {
        println!("applied {version} {description}");
    }
    Ok(())
}

/// Applies pending migrations and returns those this call applied (none when the schema was
/// already current), oldest first.
pub async fn apply_migrations(pool: &sqlx::PgPool) -> Result<Vec<(i64, String)>, StoreError> {
    let before = applied_versions(pool).await?;
    crate::store::MIGRATOR.run(pool).await?;
    Ok(crate::store::MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration() && !before.contains(&m.version))
        .map(|m| (m.version, m.description.to_string()))
        .collect())
}

async fn applied_versions(pool: &sqlx::PgPool) -> Result<Vec<i64>, StoreError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await?,
    )
}
