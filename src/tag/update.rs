//! `coinpulse assets update`: today's CoinGecko ranking into the registry.
//!
//! One run asks CoinGecko for `/coins/markets` ordered by market cap, 250 coins a page, as many pages
//! as `--top` needs, and for `/coins/list` (every id with its current symbol and name): with the
//! default top 1000 that is five calls, well inside the free/demo plan (about 30 calls a minute,
//! 10,000 a month). A 429 is waited out (its `Retry-After`, at most [`MAX_RATE_LIMIT_WAIT`]) and
//! retried; the shared HTTP layer retries 5xx answers and timeouts. The key, if any, is the one of
//! `[sources.coingecko]` (`x-cg-demo-api-key`, or `x-cg-pro-api-key` against the pro host).
//!
//! What comes back is stored in one transaction (`asset_ranks` gets the day's ranking, `assets`
//! the current symbols and names, see [`crate::store::assets`]) and compared with the registry the
//! tagger used before: coins **added** (ranked now, unknown before), **re-ranked**, **renamed** (the id
//! kept, its symbol or name changed, like RNDR → RENDER) and **delisted** (seen in the coin list by an
//! earlier update, missing now). Each added coin's surface forms get their policy exactly as the
//! shipped ones do: the registry derives them from the word list (frequency, acronym and rare-name
//! rules) when it is built, and the report prints them. Data provided by CoinGecko.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::NaiveDate;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::list::AssetList;
use super::registry::{Policy, Registry, configured_list};
use crate::collect::CollectError;
use crate::collect::coingecko::{CoingeckoConfig, Plan};
use crate::collect::http::{Http, HttpSettings, parse_item};
use crate::config::Config;
use crate::model::Asset;
use crate::store::Store;
use crate::store::assets::RankedAsset;

const SOURCE: &str = "coingecko";
/// CoinGecko's largest page.
pub const PER_PAGE: u32 = 250;
/// The longest a 429 is waited out before the update gives up.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(120);
/// How many times one request is retried after a 429.
const RATE_LIMIT_RETRIES: u32 = 4;

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// How many coins of the market-cap ranking to fetch (250 per request).
    #[arg(long, default_value_t = 1000)]
    pub top: u32,
    /// Send the requests to another host (a mirror, a test server) instead of CoinGecko's.
    #[arg(long)]
    pub base_url: Option<String>,
}

/// What one update fetched.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub day: NaiveDate,
    /// The ranking, best first.
    pub ranked: Vec<RankedAsset>,
    /// Every id of `/coins/list`.
    pub listed: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Market {
    id: String,
    symbol: String,
    name: String,
    market_cap_rank: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct Listed {
    id: String,
}

/// A CoinGecko client for the registry's two endpoints.
pub struct Client {
    http: Http,
    base: String,
    key: Option<SecretString>,
    plan: Plan,
}

impl Client {
    pub fn new(
        config: &CoingeckoConfig,
        settings: HttpSettings,
        base_url: Option<&str>,
        key: Option<SecretString>,
    ) -> Result<Client, CollectError> {
        let base = base_url
            .map(str::to_owned)
            .or_else(|| config.base_url.clone())
            .unwrap_or_else(|| match config.plan {
                Plan::Demo => "https://api.coingecko.com/api/v3".into(),
                Plan::Pro => "https://pro-api.coingecko.com/api/v3".into(),
            });
        let hint =
            "check the API key in `sources.coingecko.api_key_env` and `sources.coingecko.plan`";
        Ok(Client {
            http: Http::new(SOURCE, settings, Some(config.budget), hint)?,
            base: base.trim_end_matches('/').to_owned(),
            key,
            plan: config.plan,
        })
    }

    /// One GET, a 429 waited out and retried.
    async fn get(
        &mut self,
        endpoint: &str,
        params: &[(&str, String)],
    ) -> Result<serde_json::Value, CollectError> {
        let url = format!("{}{endpoint}", self.base);
        let header = match self.plan {
            Plan::Demo => "x-cg-demo-api-key",
            Plan::Pro => "x-cg-pro-api-key",
        };
        let mut retries = 0;
        loop {
            let key = self.key.clone();
            let result = match self
                .http
                .send(endpoint, |c| {
                    let mut r = c.get(&url).query(params);
                    if let Some(k) = &key {
                        r = r.header(header, k.expose_secret());
                    }
                    r
                })
                .await
            {
                Ok(reply) => self.http.check(reply).and_then(|r| {
                    let value: serde_json::Value = r.json(SOURCE)?;
                    // The rate-limit error, sometimes sent with HTTP 200.
                    if value.pointer("/status/error_code").and_then(|c| c.as_i64()) == Some(429) {
                        return Err(CollectError::rate_limited(
                            SOURCE,
                            format!("{endpoint} reported error 429 in its body"),
                            Duration::from_secs(60),
                        ));
                    }
                    Ok(value)
                }),
                Err(e) => Err(e),
            };
            match result {
                Err(CollectError::RateLimited { retry_in, .. })
                    if retries < RATE_LIMIT_RETRIES && retry_in <= MAX_RATE_LIMIT_WAIT =>
                {
                    retries += 1;
                    tracing::info!(
                        endpoint,
                        wait_s = retry_in.as_secs_f64(),
                        "CoinGecko rate limit: waiting before retrying."
                    );
                    tokio::time::sleep(retry_in).await;
                }
                other => return other,
            }
        }
    }

    /// The top `top` coins by market cap and every listed id.
    pub async fn fetch(&mut self, top: u32) -> Result<Fetched, CollectError> {
        let day = self.http.now().date_naive();
        let mut ranked: Vec<RankedAsset> = Vec::new();
        let mut seen = HashSet::new();
        let pages = top.div_ceil(PER_PAGE).max(1);
        for page in 1..=pages {
            let endpoint = "/coins/markets";
            let value = self
                .get(
                    endpoint,
                    &[
                        ("vs_currency", "usd".to_string()),
                        ("order", "market_cap_desc".to_string()),
                        ("per_page", PER_PAGE.to_string()),
                        ("page", page.to_string()),
                    ],
                )
                .await?;
            let markets: Vec<Market> = parse_item(SOURCE, endpoint, "", &value)?;
            let full = markets.len() as u32 >= PER_PAGE;
            for m in markets {
                if !seen.insert(m.id.clone()) {
                    continue; // a coin that moved across a page boundary between two requests
                }
                let position = ranked.len() as u32 + 1;
                ranked.push(RankedAsset {
                    id: m.id,
                    symbol: m.symbol.to_uppercase(),
                    name: m.name,
                    rank: m.market_cap_rank.unwrap_or(position),
                });
            }
            if !full {
                break;
            }
        }
        ranked.truncate(top as usize);
        let endpoint = "/coins/list";
        let value = self.get(endpoint, &[]).await?;
        let list: Vec<Listed> = parse_item(SOURCE, endpoint, "", &value)?;
        Ok(Fetched {
            day,
            ranked,
            listed: list.into_iter().map(|c| c.id).collect(),
        })
    }
}

/// How the registry changed.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub added: Vec<RankedAsset>,
    /// id, rank before (latest known), rank now.
    pub reranked: Vec<(String, Option<u32>, u32)>,
    /// id, symbol and name before, symbol and name now.
    pub renamed: Vec<(String, String, String, String, String)>,
    pub delisted: Vec<String>,
}

/// Compares a fetched ranking with the registry before it; `listed_before` are the ids earlier
/// updates saw in the coin list.
pub fn diff(known: &AssetList, fetched: &Fetched, listed_before: &[String]) -> Changes {
    let by_id: HashMap<&str, &Asset> = known.assets.iter().map(|a| (a.id.as_str(), a)).collect();
    let latest_rank = |id: &str| {
        known
            .rankings
            .iter()
            .rev()
            .find_map(|r| r.ranks.get(id).copied())
            .or_else(|| by_id.get(id).and_then(|a| a.rank))
    };
    let mut changes = Changes::default();
    for a in &fetched.ranked {
        let Some(old) = by_id.get(a.id.as_str()) else {
            changes.added.push(a.clone());
            continue;
        };
        let before = latest_rank(&a.id);
        if before != Some(a.rank) {
            changes.reranked.push((a.id.clone(), before, a.rank));
        }
        if !old.symbol.eq_ignore_ascii_case(&a.symbol) || old.name != a.name {
            changes.renamed.push((
                a.id.clone(),
                old.symbol.clone(),
                old.name.clone(),
                a.symbol.clone(),
                a.name.clone(),
            ));
        }
    }
    let listed: HashSet<&str> = fetched.listed.iter().map(String::as_str).collect();
    changes.delisted = listed_before
        .iter()
        .filter(|id| !listed.contains(id.as_str()))
        .cloned()
        .collect();
    changes
}

/// The surface forms a coin gets and their policies, derived as for every shipped coin.
pub fn forms_of(asset: &RankedAsset) -> Vec<(String, Policy)> {
    let Ok(registry) = Registry::from_assets(vec![Asset {
        id: asset.id.clone(),
        symbol: asset.symbol.clone(),
        name: asset.name.clone(),
        aliases: Vec::new(),
        rank: Some(asset.rank),
    }]) else {
        return Vec::new();
    };
    let mut forms: Vec<(String, Policy)> = registry
        .forms
        .iter()
        .filter_map(|f| Some((f.text.clone(), f.bare?.policy)))
        .chain(
            registry
                .cashtags
                .keys()
                .map(|c| (format!("${c}"), Policy::CashtagOnly)),
        )
        .collect();
    forms.sort();
    forms
}

/// The report `assets update` prints.
pub fn describe(fetched: &Fetched, changes: &Changes) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} coins ranked, {} listed; {} added, {} re-ranked, {} renamed, {} delisted",
        fetched.day,
        fetched.ranked.len(),
        fetched.listed.len(),
        changes.added.len(),
        changes.reranked.len(),
        changes.renamed.len(),
        changes.delisted.len()
    );
    for a in &changes.added {
        let forms: Vec<String> = forms_of(a)
            .into_iter()
            .map(|(f, p)| format!("{f} ({p:?})"))
            .collect();
        let _ = writeln!(
            out,
            "added      {} {} \"{}\" rank {}: {}",
            a.id,
            a.symbol,
            a.name,
            a.rank,
            forms.join(", ")
        );
    }
    for (id, old_symbol, old_name, symbol, name) in &changes.renamed {
        let _ = writeln!(
            out,
            "renamed    {id}: {old_symbol} \"{old_name}\" -> {symbol} \"{name}\""
        );
    }
    let mut moves: Vec<&(String, Option<u32>, u32)> = changes.reranked.iter().collect();
    moves.sort_by_key(|(_, before, now)| {
        std::cmp::Reverse(before.map_or(u32::MAX, |b| b.abs_diff(*now)))
    });
    for (id, before, now) in moves.iter().take(20) {
        let before = before.map_or("unranked".to_string(), |b| b.to_string());
        let _ = writeln!(out, "re-ranked  {id}: {before} -> {now}");
    }
    if moves.len() > 20 {
        let _ = writeln!(out, "re-ranked  ... and {} more", moves.len() - 20);
    }
    for id in &changes.delisted {
        let _ = writeln!(out, "delisted   {id}");
    }
    out
}

/// `coinpulse assets update`: fetch, compare, store, report.
pub async fn run(args: UpdateArgs, config: &Config) -> anyhow::Result<()> {
    use anyhow::Context;
    if args.top == 0 {
        anyhow::bail!("--top must be at least 1");
    }
    let cg = &config.sources.coingecko;
    let key = match &cg.api_key_env {
        Some(var) => Some(crate::collect::Secrets::from_env().require(
            SOURCE,
            "sources.coingecko.api_key_env",
            var,
        )?),
        None => None,
    };
    let mut client = Client::new(
        cg,
        config.sources.http_settings(),
        args.base_url.as_deref(),
        key,
    )?;
    let store = Store::connect(&config.database).await?;
    let mut known = configured_list(
        config.tagger.assets_file.as_deref(),
        config.tagger.assets_replace,
    )?;
    known.extend(store.asset_list().await?);
    let listed_before = store.listed_asset_ids().await?;
    let fetched = client
        .fetch(args.top)
        .await
        .context("cannot fetch the CoinGecko ranking")?;
    let changes = diff(&known, &fetched, &listed_before);
    let version = store
        .record_ranking(
            fetched.day,
            &fetched.ranked,
            &fetched.listed,
            &changes.delisted,
        )
        .await?;
    print!("{}", describe(&fetched, &changes));
    println!("registry version {version}: a running daemon switches to it without a restart");
    Ok(())
}
