//! Source leases: which `coinpulse run` process polls which source.
//!
//! Several daemons may share one database (for redundancy, or to spread sources over machines). Each
//! source must be polled by exactly one of them at a time, or two processes would spend one API budget
//! twice. The coordination lives in PostgreSQL, not in a home-made coordinator: a row per source in
//! `source_leases` names the holder and an expiry. A process takes a free or expired lease and renews
//! it well before expiry; a process that dies simply stops renewing, and after `lease_ttl` another
//! process takes the source over, resuming from the cursor the dead one last committed.
//!
//! Cursor writes are fenced by the lease (see `writer`): a process that lost its lease (paused, cut
//! off) can still store the posts it fetched (they are idempotent), but cannot move the cursor.

use std::time::Duration;

use super::{Store, StoreError};

impl Store {
    /// Takes or renews the lease on `source` for `holder`. Returns whether `holder` holds it now.
    pub async fn acquire_lease(
        &self,
        source: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let held: Option<String> = sqlx::query_scalar(
            "INSERT INTO source_leases (source, holder, expires_at)
             VALUES ($1, $2, clock_timestamp() + $3 * interval '1 millisecond')
             ON CONFLICT (source) DO UPDATE
             SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
             WHERE source_leases.holder = EXCLUDED.holder
                OR source_leases.expires_at < clock_timestamp()
             RETURNING holder",
        )
        .bind(source)
        .bind(holder)
        .bind(ttl.as_millis() as f64)
        .fetch_optional(self.pool())
        .await?;
        Ok(held.as_deref() == Some(holder))
    }

    /// Gives up every lease `holder` has (on orderly shutdown, so others need not wait for expiry).
    pub async fn release_leases(&self, holder: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM source_leases WHERE holder = $1")
            .bind(holder)
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    /// The current holder of each leased source, with seconds until expiry (negative: expired).
    pub async fn leases(&self) -> Result<Vec<(String, String, f64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT source, holder, extract(epoch FROM expires_at - clock_timestamp())::float8
             FROM source_leases ORDER BY source",
        )
        .fetch_all(self.pool())
        .await?)
    }
}
