//! Asset lists: the CSV and JSON files a registry is built from, their dated ranks, and how one list
//! extends another.
//!
//! A list is a set of assets (CoinGecko id, symbol, name, aliases, an undated rank) plus market-cap
//! rankings taken on given days. The shipped list has two (2022-07-24 and 2025-11-19); every
//! `coinpulse assets update` adds one. The registry uses the dates to decide which coin a shared
//! surface form meant when a post was written (see [`crate::tag`]).
//!
//! A user's list (`--assets FILE`, `tagger.assets_file`) extends the built-in one by default: an id
//! already known keeps what the file leaves empty and takes what it gives (symbol, name, rank, extra
//! aliases); a new id is added. `--replace` uses the file alone.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;

use super::TagError;
use crate::model::Asset;

/// One market-cap ranking: the rank of each ranked asset (by id) on `date`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranking {
    pub date: NaiveDate,
    pub ranks: HashMap<String, u32>,
}

/// Assets and their dated rankings, before surface forms are derived.
#[derive(Debug, Clone, Default)]
pub struct AssetList {
    pub assets: Vec<Asset>,
    /// Sorted by date, one per date.
    pub rankings: Vec<Ranking>,
}

impl AssetList {
    /// A list without dated ranks.
    pub fn undated(assets: Vec<Asset>) -> AssetList {
        AssetList {
            assets,
            rankings: Vec::new(),
        }
    }

    /// Adds `other` to this list: known ids take the symbol, name and rank `other` gives and gain its
    /// aliases; new ids are appended; a ranking of a date already known is merged, id by id.
    pub fn extend(&mut self, other: AssetList) {
        let mut index: HashMap<String, usize> = self
            .assets
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
        for asset in other.assets {
            match index.get(&asset.id) {
                Some(&i) => {
                    let known = &mut self.assets[i];
                    if !asset.symbol.is_empty() {
                        known.symbol = asset.symbol;
                    }
                    if !asset.name.is_empty() {
                        known.name = asset.name;
                    }
                    if asset.rank.is_some() {
                        known.rank = asset.rank;
                    }
                    for alias in asset.aliases {
                        if !known.aliases.contains(&alias) {
                            known.aliases.push(alias);
                        }
                    }
                }
                None => {
                    index.insert(asset.id.clone(), self.assets.len());
                    self.assets.push(asset);
                }
            }
        }
        for ranking in other.rankings {
            match self.rankings.iter_mut().find(|r| r.date == ranking.date) {
                Some(known) => known.ranks.extend(ranking.ranks),
                None => self.rankings.push(ranking),
            }
        }
        self.rankings.sort_by_key(|r| r.date);
    }

    /// Reads a CSV or JSON list (JSON when `name` ends in `.json` or the text starts with `[`).
    pub fn parse(text: &str, source_name: &str) -> Result<AssetList, TagError> {
        let is_json = source_name.to_ascii_lowercase().ends_with(".json")
            || text.trim_start().starts_with('[');
        if is_json {
            parse_json(text, source_name).map(AssetList::undated)
        } else {
            parse_csv(text, source_name)
        }
    }
}

/// Midnight UTC of `date`, in Unix seconds: where a dated rank or alias takes effect.
pub fn day_start(date: NaiveDate) -> i64 {
    date.and_time(NaiveTime::MIN).and_utc().timestamp()
}

/// The date of a dated rank column: `rank_2025-11-19`, `mcap_rank_2022_07_24`.
fn rank_column_date(header: &str) -> Option<NaiveDate> {
    let rest = header
        .strip_prefix("mcap_rank_")
        .or_else(|| header.strip_prefix("rank_"))?;
    NaiveDate::parse_from_str(&rest.replace('_', "-"), "%Y-%m-%d").ok()
}

/// Splits an alias into its form and the period it is valid for: `luna@..2022-05-28` is `luna` until
/// that day, `pol@2024-09-04..` from it (Unix seconds, open ends `i64::MIN` / `i64::MAX`).
pub fn parse_alias(alias: &str) -> Result<(&str, i64, i64), String> {
    let Some((form, period)) = alias.split_once('@') else {
        return Ok((alias, i64::MIN, i64::MAX));
    };
    let (from, until) = period
        .split_once("..")
        .ok_or_else(|| format!("alias `{alias}`: a period is written `@FROM..UNTIL`"))?;
    let day = |s: &str, open: i64| -> Result<i64, String> {
        if s.is_empty() {
            return Ok(open);
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(day_start)
            .map_err(|_| format!("alias `{alias}`: `{s}` is not a date (YYYY-MM-DD)"))
    };
    let (from, until) = (day(from, i64::MIN)?, day(until, i64::MAX)?);
    if from >= until {
        return Err(format!("alias `{alias}`: the period ends before it starts"));
    }
    Ok((form.trim(), from, until))
}

fn parse_csv(text: &str, source_name: &str) -> Result<AssetList, TagError> {
    let invalid = |line: usize, message: String| TagError::Invalid {
        source_name: source_name.to_string(),
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| invalid(1, format!("cannot read the header: {e}")))?
        .clone();
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.trim()));
    let id = col(&["id"]).ok_or_else(|| invalid(1, "no `id` column".into()))?;
    let symbol = col(&["symbol"]).ok_or_else(|| invalid(1, "no `symbol` column".into()))?;
    let name = col(&["name"]).ok_or_else(|| invalid(1, "no `name` column".into()))?;
    let rank = col(&["rank", "mcap_rank", "market_cap_rank"]);
    let dated: Vec<(usize, NaiveDate)> = headers
        .iter()
        .enumerate()
        .filter_map(|(c, h)| rank_column_date(h.trim()).map(|d| (c, d)))
        .collect();
    let aliases = col(&["aliases"]);
    let mut list = AssetList {
        assets: Vec::new(),
        rankings: dated
            .iter()
            .map(|&(_, date)| Ranking {
                date,
                ranks: HashMap::new(),
            })
            .collect(),
    };
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| invalid(line, e.to_string()))?;
        let field = |c: usize, what: &str| {
            record
                .get(c)
                .map(str::trim)
                .ok_or_else(|| invalid(line, format!("missing field `{what}`")))
        };
        let id = field(id, "id")?;
        if id.is_empty() {
            return Err(invalid(line, "empty field `id`".into()));
        }
        let whole = |c: usize| -> Result<Option<u32>, TagError> {
            match record.get(c).map(str::trim) {
                None | Some("") => Ok(None),
                Some(r) => r.parse::<u32>().map(Some).map_err(|_| {
                    invalid(
                        line,
                        format!("field `{}`: `{r}` is not a whole number", headers[c].trim()),
                    )
                }),
            }
        };
        // The undated rank of a list with dated columns is the latest one.
        let mut latest: Option<(NaiveDate, u32)> = None;
        for (k, &(c, date)) in dated.iter().enumerate() {
            if let Some(r) = whole(c)? {
                list.rankings[k].ranks.insert(id.to_string(), r);
                if latest.is_none_or(|(d, _)| date > d) {
                    latest = Some((date, r));
                }
            }
        }
        let aliases: Vec<String> = aliases
            .and_then(|c| record.get(c))
            .map(|a| {
                a.split('|')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        for alias in &aliases {
            parse_alias(alias).map_err(|e| invalid(line, format!("field `aliases`: {e}")))?;
        }
        let symbol = field(symbol, "symbol")?.to_uppercase();
        list.assets.push(Asset {
            id: id.to_string(),
            symbol,
            name: field(name, "name")?.to_string(),
            aliases,
            rank: match rank {
                Some(c) => whole(c)?,
                None => latest.map(|(_, r)| r),
            },
        });
    }
    if list.assets.is_empty() {
        return Err(TagError::Empty {
            source_name: source_name.to_string(),
        });
    }
    list.rankings.sort_by_key(|r| r.date);
    list.rankings.dedup_by_key(|r| r.date);
    Ok(list)
}

#[derive(Debug, Deserialize)]
struct JsonAsset {
    id: String,
    symbol: String,
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default, alias = "mcap_rank", alias = "market_cap_rank")]
    rank: Option<u32>,
}

fn parse_json(text: &str, source_name: &str) -> Result<Vec<Asset>, TagError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let list: Vec<JsonAsset> =
        serde_path_to_error::deserialize(de).map_err(|e| TagError::Invalid {
            source_name: source_name.to_string(),
            line: e.inner().line(),
            message: format!("at {}: {}", e.path(), e.inner()),
        })?;
    if list.is_empty() {
        return Err(TagError::Empty {
            source_name: source_name.to_string(),
        });
    }
    let mut assets = Vec::with_capacity(list.len());
    for (i, a) in list.into_iter().enumerate() {
        for alias in &a.aliases {
            parse_alias(alias).map_err(|e| TagError::Invalid {
                source_name: source_name.to_string(),
                line: 0,
                message: format!("at [{i}].aliases: {e}"),
            })?;
        }
        assets.push(Asset {
            id: a.id,
            symbol: a.symbol.to_uppercase(),
            name: a.name,
            aliases: a.aliases,
            rank: a.rank,
        });
    }
    Ok(assets)
}
