//! The batch writer against a real PostgreSQL: idempotence, rollups, cursors, retention (old posts
//! and their mentions go, rollups stay, a pruned post served again is neither stored nor counted),
//! and re-scoring with a new sentiment model (posts and rollups move together).

mod common;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use coinpulse::model::SentimentLabel::{Negative, Neutral, Positive};
use coinpulse::store::Store;
use coinpulse::store::retention::PRUNE_BATCH;
use common::*;
use sqlx::PgPool;

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn rewriting_a_batch_changes_nothing(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let batch = vec![
        enriched(
            "1",
            at(10, 5),
            vec![mention("bitcoin", 0, 3)],
            Some((Positive, 0.8)),
        ),
        enriched(
            "2",
            at(10, 40),
            vec![mention("bitcoin", 0, 3), mention("ethereum", 4, 7)],
            Some((Negative, -0.5)),
        ),
        enriched("3", at(11, 1), vec![], Some((Neutral, 0.0))),
    ];
    let first = store.write_batch(&batch, "m1", None).await.unwrap();
    assert_eq!((first.stored, first.duplicates, first.mentions), (3, 0, 3));
    let before = rollup(&pool).await;

    let second = store.write_batch(&batch, "m1", None).await.unwrap();
    assert_eq!(
        (second.stored, second.duplicates, second.mentions),
        (0, 3, 0)
    );
    assert_eq!(count(&pool, "posts").await, 3);
    assert_eq!(count(&pool, "mentions").await, 3);
    assert_eq!(count(&pool, "sentiment").await, 3);
    assert_eq!(rollup(&pool).await, before);

    let btc = before.iter().find(|r| r.0 == "bitcoin").unwrap();
    // Both posts fall in hour 10: two posts, two spans, one positive, one negative.
    assert_eq!((btc.3, btc.4, btc.5, btc.6, btc.7), (2, 2, 1, 0, 1));
    assert!((btc.8 - 0.3).abs() < 1e-4, "score_sum {}", btc.8);
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn duplicates_within_a_batch_are_stored_once(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let p = enriched(
        "7",
        at(9, 0),
        vec![mention("dogecoin", 0, 4)],
        Some((Positive, 0.9)),
    );
    let outcome = store
        .write_batch(&[p.clone(), p.clone(), p], "m1", None)
        .await
        .unwrap();
    assert_eq!((outcome.stored, outcome.duplicates), (1, 2));
    let r = rollup(&pool).await;
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].3, r[0].4, r[0].5), (1, 1, 1));
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn rollup_equals_recount_after_out_of_order_and_duplicate_batches(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let assets = ["bitcoin", "ethereum", "cardano", "dogecoin"];
    let labels = [(Positive, 0.7), (Neutral, 0.05), (Negative, -0.6)];
    // 600 posts over 30 hours, each naming one to three assets, some several times.
    let mut rng = fastrand::Rng::with_seed(7);
    let posts: Vec<_> = (0..600)
        .map(|i| {
            let hour = rng.u32(0..24);
            let n = rng.usize(1..4);
            let mentions = (0..n)
                .map(|k| mention(assets[rng.usize(0..assets.len())], k * 8, k * 8 + 3))
                .collect();
            let score = (rng.u8(0..10) > 0).then(|| labels[rng.usize(0..3)]);
            enriched(&format!("p{i}"), at(hour, rng.u32(0..60)), mentions, score)
        })
        .collect();
    // Shuffled batches that overlap: every post is written two or three times.
    let mut order: Vec<usize> = (0..posts.len()).chain(0..posts.len()).collect();
    order.extend((0..posts.len()).step_by(3));
    rng.shuffle(&mut order);
    let mut stored = 0;
    for chunk in order.chunks(97) {
        let batch: Vec<_> = chunk.iter().map(|&i| posts[i].clone()).collect();
        stored += store.write_batch(&batch, "m1", None).await.unwrap().stored;
    }
    assert_eq!(stored, 600);
    assert_eq!(count(&pool, "posts").await, 600);
    let stored_rollup = rollup(&pool).await;
    assert!(!stored_rollup.is_empty());
    assert_rollup_matches_recount(&pool).await;
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn concurrent_writers_of_the_same_posts_count_each_once(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let posts: Vec<_> = (0..400)
        .map(|i| {
            enriched(
                &format!("c{i}"),
                at(i % 12, 0),
                vec![mention("bitcoin", 0, 3)],
                Some((Positive, 0.5)),
            )
        })
        .collect();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        let mut mine = posts.clone();
        fastrand::Rng::with_seed(w).shuffle(&mut mine);
        tasks.push(tokio::spawn(async move {
            let mut stored = 0;
            for chunk in mine.chunks(50) {
                stored += store.write_batch(chunk, "m1", None).await.unwrap().stored;
            }
            stored
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 400);
    let r = rollup(&pool).await;
    assert_eq!(r.iter().map(|row| row.3).sum::<i64>(), 400);
    assert_rollup_matches_recount(&pool).await;
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn cursor_moves_only_with_a_committed_batch(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let good = vec![enriched("1", at(1, 0), vec![], None)];
    let cursor = serde_json::json!({"since_id": "1"});
    store
        .write_batch(&good, "m1", Some(("twitter", &cursor)))
        .await
        .unwrap();
    assert_eq!(store.cursor("twitter").await.unwrap(), Some(cursor.clone()));

    // A mention with an impossible span violates a CHECK: the whole transaction, cursor included,
    // must roll back.
    let mut bad = enriched("2", at(2, 0), vec![mention("bitcoin", 5, 5)], None);
    bad.mentions[0].end = 5;
    let later = serde_json::json!({"since_id": "2"});
    let err = store
        .write_batch(&[bad], "m1", Some(("twitter", &later)))
        .await;
    assert!(err.is_err());
    assert_eq!(store.cursor("twitter").await.unwrap(), Some(cursor));
    assert_eq!(count(&pool, "posts").await, 1);
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn prices_are_idempotent_per_asset_source_and_time(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let p = |price: f64| coinpulse::model::PricePoint {
        asset: "bitcoin".into(),
        time: at(3, 0),
        price,
        volume: Some(1.0),
        source: "binance".into(),
    };
    assert_eq!(store.write_prices(&[p(100.0)], None).await.unwrap(), 1);
    assert_eq!(store.write_prices(&[p(100.0)], None).await.unwrap(), 0);
    assert_eq!(store.write_prices(&[p(101.0)], None).await.unwrap(), 1);
    assert_eq!(count(&pool, "prices").await, 1);
}

const DAY: Duration = Duration::from_secs(86_400);

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn pruning_deletes_old_posts_and_mentions_and_keeps_rollups(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let now = Utc::now();
    let old = now - TimeDelta::days(40);
    let recent = now - TimeDelta::days(2);
    let batch = vec![
        enriched(
            "old-1",
            old,
            vec![mention("bitcoin", 0, 3), mention("ethereum", 4, 7)],
            Some((Positive, 0.5)),
        ),
        enriched("old-2", old, vec![mention("bitcoin", 0, 3)], None),
        enriched(
            "new-1",
            recent,
            vec![mention("bitcoin", 0, 3)],
            Some((Negative, -0.25)),
        ),
    ];
    store.write_batch(&batch, "m1", None).await.unwrap();
    let rollup_before = rollup(&pool).await;

    let retained = store.with_retention(Some(30 * DAY));
    let pruned = retained.prune_expired(now).await.unwrap();
    assert_eq!((pruned.posts, pruned.mentions), (2, 3));
    let left: Vec<String> = sqlx::query_scalar("SELECT external_id FROM posts")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, ["new-1"]);
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mentions m WHERE NOT EXISTS (SELECT 1 FROM posts p WHERE p.id = m.post_id)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(orphans, 0);
    assert_eq!(count(&pool, "mentions").await, 1);
    assert_eq!(
        rollup(&pool).await,
        rollup_before,
        "rollups outlive their posts"
    );

    // Nothing left to prune: a second pass deletes nothing.
    assert_eq!(retained.prune_expired(now).await.unwrap().posts, 0);
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn a_pruned_post_served_again_is_neither_stored_nor_counted(pool: PgPool) {
    let store = Store::from_pool(pool.clone()).with_retention(Some(30 * DAY));
    let now = Utc::now();
    let old = enriched(
        "old",
        now - TimeDelta::days(31),
        vec![mention("bitcoin", 0, 3)],
        Some((Positive, 0.9)),
    );
    // Stored while it was still young (no retention at the time)...
    Store::from_pool(pool.clone())
        .write_batch(std::slice::from_ref(&old), "m1", None)
        .await
        .unwrap();
    let rollup_before = rollup(&pool).await;
    // ... pruned ...
    assert_eq!(store.prune_expired(now).await.unwrap().posts, 1);
    // ... and served again, next to a young post, with a cursor.
    let young = enriched("young", now, vec![mention("bitcoin", 0, 3)], None);
    let position = serde_json::json!({"since_id": "young"});
    let outcome = store
        .write_batch(&[old, young], "m1", Some(("twitter", &position)))
        .await
        .unwrap();
    assert_eq!(
        (outcome.stored, outcome.duplicates, outcome.expired),
        (1, 0, 1)
    );
    assert_eq!(count(&pool, "posts").await, 1);
    assert_eq!(store.cursor("twitter").await.unwrap(), Some(position));
    let old_hour = rollup_before[0].2;
    let after = rollup(&pool).await;
    let old_row = after.iter().find(|r| r.2 == old_hour).unwrap();
    assert_eq!(
        old_row, &rollup_before[0],
        "the pruned post is counted once"
    );
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn pruning_stays_an_hour_behind_the_writer_and_works_in_batches(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let now = Utc::now();
    // More posts than one prune batch, all just past a 10-day retention plus the margin, and one
    // inside the margin: expired for the writer, but not yet pruned.
    let n = PRUNE_BATCH as usize + 7;
    let expired: Vec<_> = (0..n)
        .map(|i| {
            enriched(
                &format!("e{i}"),
                now - TimeDelta::days(10) - TimeDelta::minutes(61 + i as i64 % 50),
                vec![mention("bitcoin", 0, 3)],
                None,
            )
        })
        .collect();
    let in_margin = enriched(
        "margin",
        now - TimeDelta::days(10) - TimeDelta::minutes(30),
        vec![],
        None,
    );
    for chunk in expired.chunks(2_000) {
        store.write_batch(chunk, "m1", None).await.unwrap();
    }
    store
        .write_batch(std::slice::from_ref(&in_margin), "m1", None)
        .await
        .unwrap();

    let retained = store.with_retention(Some(10 * DAY));
    let pruned = retained.prune_expired(now).await.unwrap();
    assert_eq!((pruned.posts, pruned.mentions), (n as u64, n as u64));
    let left: Vec<String> = sqlx::query_scalar("SELECT external_id FROM posts")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, ["margin"]);
    // The writer already refuses it.
    let again = retained
        .write_batch(&[in_margin], "m1", None)
        .await
        .unwrap();
    assert_eq!((again.stored, again.duplicates, again.expired), (0, 0, 1));
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn without_retention_nothing_expires_or_is_pruned(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let ancient = enriched(
        "ancient",
        Utc::now() - TimeDelta::days(3_650),
        vec![mention("bitcoin", 0, 3)],
        None,
    );
    let outcome = store.write_batch(&[ancient], "m1", None).await.unwrap();
    assert_eq!((outcome.stored, outcome.expired), (1, 0));
    assert_eq!(store.prune_expired(Utc::now()).await.unwrap().posts, 0);
    assert_eq!(count(&pool, "posts").await, 1);
    // A retention of centuries keeps everything rather than overflowing.
    let centuries = store.with_retention(Some(Duration::from_secs(u64::MAX / 4)));
    assert_eq!(centuries.prune_expired(Utc::now()).await.unwrap().posts, 0);
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn rescoring_moves_posts_and_rollups_to_the_new_model(pool: PgPool) {
    use coinpulse::model::EnrichedPost;
    use coinpulse::sentiment::SentimentModel;

    let store = Store::from_pool(pool.clone());
    let model = SentimentModel::builtin().unwrap();
    let texts = [
        "$BTC to the moon, so bullish",
        "got rekt again, this dump is brutal",
        "ETH fees are about 20 gwei today",
        "terrible scam, sold everything",
    ];
    let assets = ["bitcoin", "ethereum", "dogecoin"];
    let old_scores = [(Positive, 0.4), (Neutral, 0.0), (Negative, -0.7)];
    // 300 posts over a day, scored by an "old" model (some not at all), some without mentions.
    let mut rng = fastrand::Rng::with_seed(11);
    let posts: Vec<EnrichedPost> = (0..300)
        .map(|i| {
            let mentions = (0..rng.usize(0..3))
                .map(|k| mention(assets[rng.usize(0..assets.len())], k * 8, k * 8 + 3))
                .collect();
            EnrichedPost {
                post: post(
                    &format!("r{i}"),
                    at(rng.u32(0..24), rng.u32(0..60)),
                    texts[i % 4],
                ),
                mentions,
                score: (rng.u8(0..10) > 0).then(|| {
                    let (label, score) = old_scores[rng.usize(0..3)];
                    coinpulse::model::Score { label, score }
                }),
            }
        })
        .collect();
    for chunk in posts.chunks(64) {
        store.write_batch(chunk, "old-model", None).await.unwrap();
    }
    // Posts the new model already scored are left alone.
    let current = enriched(
        "current",
        at(3, 0),
        vec![mention("bitcoin", 0, 3)],
        Some((Positive, 0.5)),
    );
    store
        .write_batch(&[current], model.version(), None)
        .await
        .unwrap();
    assert_rollup_matches_recount(&pool).await;
    let before = rollup(&pool).await;

    let mut batches = 0;
    let outcome = store
        .rescore(model.version(), 37, |t| model.score(t), |_| batches += 1)
        .await
        .unwrap();
    assert_eq!(outcome.posts, 300);
    assert_eq!(batches, 300usize.div_ceil(37));
    assert!(
        outcome.relabelled > 0 && outcome.relabelled < 300,
        "{outcome:?}"
    );

    // Every post carries the new model's score of its own text...
    let stored: Vec<(String, String, f32, String)> = sqlx::query_as(
        "SELECT text, sentiment_label, sentiment_score, sentiment_model FROM posts
         WHERE external_id <> 'current'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(stored.len(), 300);
    for (text, label, score, version) in &stored {
        let want = model.score(text);
        assert_eq!(
            (label.as_str(), *score, version.as_str()),
            (want.label.as_str(), want.score, model.version())
        );
    }
    let untouched: (String, f32) = sqlx::query_as(
        "SELECT sentiment_label, sentiment_score FROM posts WHERE external_id = 'current'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(untouched, ("positive".to_string(), 0.5));
    // ...and the rollups agree with them, with post and mention counts as they were.
    assert_rollup_matches_recount(&pool).await;
    let after = rollup(&pool).await;
    assert_ne!(after, before);
    let after_counts: Vec<_> = after.iter().map(|r| (&r.0, &r.1, r.2, r.3, r.4)).collect();
    let before_counts: Vec<_> = before.iter().map(|r| (&r.0, &r.1, r.2, r.3, r.4)).collect();
    assert_eq!(after_counts, before_counts);

    // Nothing is left to do the second time.
    let again = store
        .rescore(model.version(), 37, |t| model.score(t), |_| {})
        .await
        .unwrap();
    assert_eq!(again.posts, 0);
    assert_eq!(rollup(&pool).await, after);
}

/// `coinpulse assets update` stores a dated ranking; the tagger built with it resolves a shared
/// ticker by that ranking for posts near its date, and by the shipped ones before.
#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn a_stored_ranking_decides_shared_tickers_from_its_date(pool: PgPool) {
    use coinpulse::store::assets::RankedAsset;
    use coinpulse::tag::Tagger;
    let store = Store::from_pool(pool.clone());
    let day = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
    let ranked = [
        RankedAsset {
            id: "tokamak-network".into(),
            symbol: "TON".into(),
            name: "Tokamak Network".into(),
            rank: 5,
        },
        RankedAsset {
            id: "brandnewcoin-xyz".into(),
            symbol: "BNXYZ".into(),
            name: "Brandnewcoin".into(),
            rank: 6,
        },
    ];
    let listed = vec![
        "tokamak-network".to_string(),
        "brandnewcoin-xyz".to_string(),
    ];
    store
        .record_ranking(day, &ranked, &listed, &[])
        .await
        .unwrap();
    assert_eq!(
        store.listed_asset_ids().await.unwrap(),
        ["brandnewcoin-xyz", "tokamak-network"]
    );
    let stored = store.asset_list().await.unwrap();
    assert_eq!(stored.rankings.len(), 1);
    assert_eq!(stored.rankings[0].date, day);
    assert_eq!(stored.rankings[0].ranks["tokamak-network"], 5);

    let tagger = Tagger::from_config_and(&Default::default(), stored).unwrap();
    let on = |text: &str, at: &str| -> Vec<String> {
        tagger
            .tag_at(text, at.parse().unwrap())
            .into_iter()
            .map(|m| m.asset)
            .collect()
    };
    assert_eq!(
        on("$TON and $BNXYZ", "2027-01-02T00:00:00Z"),
        ["tokamak-network", "brandnewcoin-xyz"]
    );
    assert_eq!(on("$TON", "2025-11-20T00:00:00Z"), ["the-open-network"]);
    assert_eq!(on("$TON", "2021-01-01T00:00:00Z"), ["tokamak-network"]);

    // The next update no longer lists the new coin: it is delisted, its ranks stay.
    let next = day.succ_opt().unwrap();
    store
        .record_ranking(
            next,
            &ranked[..1],
            &listed[..1],
            &["brandnewcoin-xyz".to_string()],
        )
        .await
        .unwrap();
    assert_eq!(store.listed_asset_ids().await.unwrap(), ["tokamak-network"]);
    let delisted: Option<chrono::NaiveDate> =
        sqlx::query_scalar("SELECT delisted_on FROM assets WHERE id = 'brandnewcoin-xyz'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(delisted, Some(next));
    assert_eq!(store.asset_list().await.unwrap().rankings.len(), 2);
}
