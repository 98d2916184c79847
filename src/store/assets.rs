//! The registry's rows: dated market-cap ranks written by `coinpulse assets update`, read back as an
//! asset list the tagger extends its built-in one with (see [`crate::tag::list`]).
//!
//! Every update bumps `registry_version` and sends `NOTIFY` on [`REGISTRY_CHANNEL`] in the same
//! transaction as its rows, so the notification arrives only once the rows are visible; a running
//! daemon rebuilds its tagger from them (see [`crate::pipeline::registry`]).

use std::collections::HashMap;

use chrono::NaiveDate;

use super::{Store, StoreError};
use crate::model::Asset;
use crate::tag::{AssetList, Ranking};

/// The channel a registry update notifies, with the new version as payload.
pub const REGISTRY_CHANNEL: &str = "coinpulse_registry";

/// One coin of a market-cap ranking, as an update stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankedAsset {
    pub id: String,
    /// Upper case.
    pub symbol: String,
    pub name: String,
    pub rank: u32,
}

impl Store {
    /// The stored registry's version: 0 before any update, one more with each.
    pub async fn registry_version(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT version FROM registry_version")
            .fetch_one(&self.pool)
            .await?)
    }

    /// What `assets update` stored: the coins it ranked (current symbol and name, no aliases) and
    /// every ranking so far, oldest first. Aliases and the rest of the registry come from the
    /// built-in list and the configured file, never from rows an older version upserted.
    pub async fn asset_list(&self) -> Result<AssetList, StoreError> {
        let rows: Vec<(String, String, String, Option<i32>)> = sqlx::query_as(
            "SELECT id, symbol, name, rank FROM assets a
             WHERE EXISTS (SELECT 1 FROM asset_ranks r WHERE r.asset_id = a.id)
             ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        let assets = rows
            .into_iter()
            .map(|(id, symbol, name, rank)| Asset {
                id,
                symbol,
                name,
                aliases: Vec::new(),
                rank: rank.and_then(|r| u32::try_from(r).ok()),
            })
            .collect();
        let ranks: Vec<(String, NaiveDate, i32)> = sqlx::query_as(
            "SELECT asset_id, ranked_on, rank FROM asset_ranks ORDER BY ranked_on, rank",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut rankings: Vec<Ranking> = Vec::new();
        for (id, date, rank) in ranks {
            if rankings.last().is_none_or(|r| r.date != date) {
                rankings.push(Ranking {
                    date,
                    ranks: HashMap::new(),
                });
            }
            let ranking = rankings.last_mut().expect("pushed above");
            ranking.ranks.insert(id, rank as u32);
        }
        Ok(AssetList { assets, rankings })
    }

    /// Ids an earlier update saw in CoinGecko's coin list and no update has found delisted since.
    pub async fn listed_asset_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM assets WHERE listed_on IS NOT NULL AND delisted_on IS NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The day's ranking and coin list in one transaction: known assets take the current symbol and
    /// name (their aliases stay), new ones are added, every ranked coin gets its rank of `day`, the
    /// listed ids are marked seen and `delisted` ids delisted. The registry version goes up by one and
    /// running daemons are notified at commit. Returns the new version.
    pub async fn record_ranking(
        &self,
        day: NaiveDate,
        ranked: &[RankedAsset],
        listed: &[String],
        delisted: &[String],
    ) -> Result<i64, StoreError> {
        let ids: Vec<&str> = ranked.iter().map(|a| a.id.as_str()).collect();
        let symbols: Vec<&str> = ranked.iter().map(|a| a.symbol.as_str()).collect();
        let names: Vec<&str> = ranked.iter().map(|a| a.name.as_str()).collect();
        let ranks: Vec<i32> = ranked.iter().map(|a| a.rank as i32).collect();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO assets (id, symbol, name, rank)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int4[])
             ON CONFLICT (id) DO UPDATE
             SET symbol = EXCLUDED.symbol, name = EXCLUDED.name, rank = EXCLUDED.rank",
        )
        .bind(&ids)
        .bind(&symbols)
        .bind(&names)
        .bind(&ranks)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO asset_ranks (asset_id, ranked_on, rank)
             SELECT id, $2, rank FROM UNNEST($1::text[], $3::int4[]) AS t(id, rank)
             ON CONFLICT (asset_id, ranked_on) DO UPDATE SET rank = EXCLUDED.rank",
        )
        .bind(&ids)
        .bind(day)
        .bind(&ranks)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE assets SET listed_on = $2, delisted_on = NULL WHERE id = ANY($1)")
            .bind(listed)
            .bind(day)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE assets SET delisted_on = $2 WHERE id = ANY($1)")
            .bind(delisted)
            .bind(day)
            .execute(&mut *tx)
            .await?;
        let version: i64 = sqlx::query_scalar(
            "UPDATE registry_version SET version = version + 1, updated_at = now() RETURNING version",
        )
        .fetch_one(&mut *tx)
        .await?;
        // Delivered at commit, and only if the transaction commits.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(REGISTRY_CHANNEL)
            .bind(version.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(version)
    }
}
