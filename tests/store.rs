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

    // A failure that is not about the rows (here a trigger refusing the cursor write as a privilege
    // error): the whole transaction, posts included, must roll back and the cursor stay.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_cursor() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'no cursor writes' USING ERRCODE = '42501'; END $$;
         CREATE TRIGGER refuse_cursor BEFORE INSERT OR UPDATE ON cursors
             FOR EACH ROW EXECUTE FUNCTION refuse_cursor();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let later = serde_json::json!({"since_id": "2"});
    let next = vec![enriched("2", at(2, 0), vec![], None)];
    let err = store
        .write_batch(&next, "m1", Some(("twitter", &later)))
        .await;
    assert!(err.is_err());
    assert_eq!(store.cursor("twitter").await.unwrap(), Some(cursor));
    assert_eq!(count(&pool, "posts").await, 1);
    sqlx::query("DROP TRIGGER refuse_cursor ON cursors")
        .execute(&pool)
        .await
        .unwrap();

    // A mention with an impossible span violates a CHECK: a data error, so that post is kept aside
    // in rejected_posts and the rest of the batch commits with the cursor.
    let mut bad = enriched("3", at(2, 0), vec![mention("bitcoin", 5, 5)], None);
    bad.mentions[0].end = 5;
    let outcome = store
        .write_batch(&[next[0].clone(), bad], "m1", Some(("twitter", &later)))
        .await
        .unwrap();
    assert_eq!((outcome.stored, outcome.rejected.len()), (1, 1));
    assert_eq!(store.cursor("twitter").await.unwrap(), Some(later));
    assert_eq!(count(&pool, "posts").await, 2);
    assert_eq!(count(&pool, "rejected_posts").await, 1);
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
                class: None,
                text_truncated: false,
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

#[sqlx::test(migrations = false)]
async fn migrate_lists_only_the_migrations_it_applied(pool: PgPool) {
    let first = coinpulse::store::cli::apply_migrations(&pool)
        .await
        .unwrap();
    let versions: Vec<i64> = first.iter().map(|(v, _)| *v).collect();
    let shipped: Vec<i64> = coinpulse::store::MIGRATOR
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(versions, shipped);
    let second = coinpulse::store::cli::apply_migrations(&pool)
        .await
        .unwrap();
    assert!(second.is_empty(), "applied again: {second:?}");
}

/// Posts with classes, authors (some unknown) and engagement, over a few hours and assets.
fn classed_posts(n: usize, seed: u64) -> Vec<coinpulse::model::EnrichedPost> {
    use coinpulse::classify::{Classification, PostClass, Reason};
    let mut rng = fastrand::Rng::with_seed(seed);
    let assets = ["bitcoin", "ethereum", "dogecoin"];
    let labels = [(Positive, 0.6), (Neutral, 0.0), (Negative, -0.4)];
    (0..n)
        .map(|i| {
            let mut p = enriched(
                &format!("c{i}"),
                at(rng.u32(0..4), rng.u32(0..60)),
                (0..rng.usize(1..3))
                    .map(|k| mention(assets[rng.usize(0..3)], k * 8, k * 8 + 3))
                    .collect(),
                (rng.u8(0..5) > 0).then(|| labels[rng.usize(0..3)]),
            );
            p.post.author = match rng.u8(0..6) {
                0 => None,
                a => Some(format!("u{a}")),
            };
            p.post.engagement.likes = Some(rng.i64(0..500));
            p.post.engagement.reposts = (rng.bool()).then(|| rng.i64(0..50));
            p.class = match rng.u8(0..5) {
                0 => None,
                1 => Some(Classification {
                    class: PostClass::Promotional,
                    reasons: vec![Reason::RewardForAction],
                }),
                2 => Some(Classification {
                    class: PostClass::Automated,
                    reasons: vec![Reason::TransferAlert],
                }),
                _ => Some(Classification::human()),
            };
            p
        })
        .collect()
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn human_rollup_equals_recount_after_duplicates_and_reclassify(pool: PgPool) {
    use coinpulse::classify::{Classification, PostClass, Reason};
    let store = Store::from_pool(pool.clone());
    let posts = classed_posts(400, 5);
    // Out of order and twice over, in overlapping batches.
    for chunk in posts.chunks(70).rev() {
        store.write_batch(chunk, "m", None).await.unwrap();
    }
    for chunk in posts.chunks(45) {
        let outcome = store.write_batch(chunk, "m", None).await.unwrap();
        assert_eq!(outcome.stored, 0);
    }
    assert_rollup_matches_recount(&pool).await;
    assert_human_rollup_matches_recount(&pool).await;
    let stored: Vec<(Option<String>, Option<Vec<String>>)> =
        sqlx::query_as("SELECT class, class_reasons FROM posts WHERE external_id = 'c0'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let want = posts[0]
        .class
        .as_ref()
        .map(|c| (c.class.as_str().to_string(), c.reason_names()));
    assert_eq!(stored[0].0, want.as_ref().map(|w| w.0.clone()));
    assert_eq!(stored[0].1, want.map(|w| w.1));
    let human_before: i64 = sqlx::query_scalar("SELECT sum(human_posts)::int8 FROM rollup_hourly")
        .fetch_one(&pool)
        .await
        .unwrap();
    let total: i64 = sqlx::query_scalar("SELECT sum(posts)::int8 FROM rollup_hourly")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(0 < human_before && human_before < total);

    // Reclassify with other rules: every post whose id ends in an even digit becomes promotional.
    let flip = |id: i64| {
        if id % 2 == 0 {
            Classification {
                class: PostClass::Promotional,
                reasons: vec![Reason::Giveaway],
            }
        } else {
            Classification::human()
        }
    };
    let mut batches = 0;
    let outcome = store
        .reclassify(33, |p| flip(p.id), |_| batches += 1)
        .await
        .unwrap();
    assert_eq!(outcome.posts, 400);
    assert_eq!(batches, 400usize.div_ceil(33));
    assert!(
        outcome.moved > 0 && outcome.changed >= outcome.moved,
        "{outcome:?}"
    );
    assert_rollup_matches_recount(&pool).await;
    assert_human_rollup_matches_recount(&pool).await;
    // Running it again changes nothing.
    let again = store.reclassify(50, |p| flip(p.id), |_| {}).await.unwrap();
    assert_eq!((again.posts, again.changed, again.moved), (400, 0, 0));
    assert_human_rollup_matches_recount(&pool).await;
    // The recorded authors are exactly the human authors of each hour.
    assert_rollup_authors_match_recount(&pool).await;
}

#[sqlx::test(migrations = false)]
async fn the_post_class_migration_keeps_a_database_with_data(pool: PgPool) {
    // The schema as it was before post classes, with data written by the writer of that time.
    for m in coinpulse::store::MIGRATOR.iter().filter(|m| m.version < 6) {
        sqlx::raw_sql(m.sql.clone()).execute(&pool).await.unwrap();
    }
    sqlx::raw_sql(
        "INSERT INTO assets (id, symbol, name) VALUES ('bitcoin', 'BTC', 'Bitcoin'), ('ethereum', 'ETH', 'Ethereum');
         INSERT INTO posts (id, platform, external_id, author, text, created_at, likes, reposts,
                            sentiment_label, sentiment_score, sentiment_model)
         OVERRIDING SYSTEM VALUE VALUES (1, 'twitter', 'a', 'u1', 'btc up', '2021-01-05 10:10+00', 10, 2, 'positive', 0.5, 'm'),
                (2, 'twitter', 'b', 'u1', 'btc and eth', '2021-01-05 10:20+00', NULL, NULL, 'negative', -0.25, 'm'),
                (3, 'twitter', 'c', 'u2', 'btc', '2021-01-05 10:30+00', 0, 0, NULL, NULL, NULL),
                (4, 'reddit', 'd', NULL, 'eth', '2021-01-05 11:00+00', 3, NULL, 'neutral', 0, 'm');
         INSERT INTO mentions (post_id, asset_id, surface, start_byte, end_byte, kind, platform, created_at)
         VALUES (1, 'bitcoin', 'btc', 0, 3, 'symbol', 'twitter', '2021-01-05 10:10+00'),
                (2, 'bitcoin', 'btc', 0, 3, 'symbol', 'twitter', '2021-01-05 10:20+00'),
                (2, 'ethereum', 'eth', 8, 11, 'symbol', 'twitter', '2021-01-05 10:20+00'),
                (3, 'bitcoin', 'btc', 0, 3, 'symbol', 'twitter', '2021-01-05 10:30+00'),
                (4, 'ethereum', 'eth', 0, 3, 'symbol', 'reddit', '2021-01-05 11:00+00');
         INSERT INTO rollup_hourly (bucket, asset_id, platform, posts, mentions, positive, neutral, negative, score_sum)
         VALUES ('2021-01-05 10:00+00', 'bitcoin', 'twitter', 3, 3, 1, 0, 1, 0.25),
                ('2021-01-05 10:00+00', 'ethereum', 'twitter', 1, 1, 0, 0, 1, -0.25),
                ('2021-01-05 11:00+00', 'ethereum', 'reddit', 1, 1, 0, 1, 0, 0),
                ('2020-06-01 00:00+00', 'bitcoin', 'twitter', 7, 9, 2, 2, 2, 0.5);",
    )
    .execute(&pool)
    .await
    .unwrap();
    let before = rollup(&pool).await;

    for m in coinpulse::store::MIGRATOR.iter().filter(|m| m.version >= 6) {
        sqlx::raw_sql(m.sql.clone()).execute(&pool).await.unwrap();
    }
    // Totals untouched; unclassified posts count as human; authors counted from stored posts; the
    // pruned hour keeps its human counts but has no authors to count.
    assert_eq!(rollup(&pool).await, before);
    let classes: Vec<Option<String>> = sqlx::query_scalar("SELECT class FROM posts ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(classes, vec![None; 4]);
    let human: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT asset_id, human_posts, human_negative, human_authors FROM rollup_hourly
         ORDER BY bucket, asset_id, platform",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        human,
        vec![
            ("bitcoin".to_string(), 7, 2, 0),
            ("bitcoin".to_string(), 3, 1, 2),
            ("ethereum".to_string(), 1, 1, 1),
            ("ethereum".to_string(), 1, 0, 1),
        ]
    );
    // The stored hours agree with a recount, weights included.
    let recount = human_recount(&pool).await;
    let stored = human_rollup(&pool).await;
    for (a, b) in stored.iter().zip(&recount).skip(1) {
        assert_eq!(
            (a.3, a.4, a.5, a.6, a.7, a.8),
            (b.3, b.4, b.5, b.6, b.7, b.8)
        );
        assert!(
            (a.9 - b.9).abs() < 1e-9 && (a.10 - b.10).abs() < 1e-9 && (a.11 - b.11).abs() < 1e-9
        );
    }
    let weight: f64 = sqlx::query_scalar(
        "SELECT human_weight_sum FROM rollup_hourly WHERE asset_id = 'bitcoin' AND bucket = '2021-01-05 10:00+00'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        (weight - ((1.0 + 13f64.ln()) + 1.0)).abs() < 1e-9,
        "{weight}"
    );
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn a_row_the_database_refuses_is_isolated_and_the_rest_committed_with_the_cursors(
    pool: PgPool,
) {
    use coinpulse::model::Platform;
    use coinpulse::store::writer::Checkpoint;
    // A value that passes sanitising but that this database refuses: a check constraint standing in
    // for any limit or rule PostgreSQL may enforce.
    sqlx::query(
        "ALTER TABLE posts ADD CONSTRAINT refuse_marked CHECK (text NOT LIKE '%refuse me%')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let store = Store::from_pool(pool.clone());
    // Two sources' posts in one transaction, as the daemon batches them; the bad one sits among them.
    let mut batch = Vec::new();
    for i in 0..13 {
        let mut p = enriched(
            &i.to_string(),
            at(10, i),
            vec![mention("bitcoin", 0, 3)],
            Some((Positive, 0.5)),
        );
        if i >= 7 {
            p.post.platform = Platform::Reddit;
        }
        if i == 9 {
            p.post.text = "please refuse me".into();
        }
        batch.push(p);
    }
    let checkpoints = ["twitter", "reddit"].map(|source| Checkpoint {
        source: source.into(),
        position: serde_json::json!({ "after": source }),
        lease_holder: None,
    });
    let outcome = store
        .commit(&batch, &[], &checkpoints, "m1")
        .await
        .expect("the batch commits without its bad post");
    assert_eq!((outcome.stored, outcome.duplicates), (12, 0));
    assert_eq!(count(&pool, "posts").await, 12);
    let refused: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT source, platform, external_id, reason, raw->>'text' FROM rejected_posts",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let (source, platform, id, reason, text) = &refused[0];
    assert_eq!(
        (source.as_str(), platform.as_str(), id.as_str()),
        ("reddit", "reddit", "9")
    );
    assert!(reason.contains("refuse_marked"), "{reason}");
    assert_eq!(text, "please refuse me");
    for source in ["twitter", "reddit"] {
        assert_eq!(
            store.cursor(source).await.unwrap(),
            Some(serde_json::json!({ "after": source })),
            "the cursor of {source} moved with the commit"
        );
    }
    assert_rollup_matches_recount(&pool).await;
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn a_cut_text_is_stored_with_its_flag(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let mut cut = enriched("cut", at(8, 0), vec![], Some((Neutral, 0.0)));
    cut.text_truncated = true;
    let whole = enriched("whole", at(8, 1), vec![], Some((Neutral, 0.0)));
    store.write_batch(&[cut, whole], "m1", None).await.unwrap();
    let flags: Vec<(String, bool)> =
        sqlx::query_as("SELECT external_id, text_truncated FROM posts ORDER BY external_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        flags,
        [("cut".to_string(), true), ("whole".to_string(), false)]
    );
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

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn deleted_posts_leave_the_store_and_the_rollups_as_if_never_written(pool: PgPool) {
    use coinpulse::model::{Platform, PostRef};
    use coinpulse::store::dead_letter::Delivery;
    let store = Store::from_pool(pool.clone());
    let posts = classed_posts(400, 11);
    for chunk in posts.chunks(90) {
        store.write_batch(chunk, "m", None).await.unwrap();
    }
    let doomed: Vec<PostRef> = posts
        .iter()
        .step_by(3)
        .map(|p| PostRef {
            platform: Platform::Twitter,
            external_id: p.post.external_id.clone(),
        })
        // Deletions of posts never stored, and one of a stored id on another platform.
        .chain(["never-stored-1", "never-stored-2"].map(|id| PostRef {
            platform: Platform::Twitter,
            external_id: id.into(),
        }))
        .chain([PostRef {
            platform: Platform::Bluesky,
            external_id: "c1".into(),
        }])
        .collect();
    let outcome = store
        .deliver(&Delivery {
            deleted: &doomed,
            ..Delivery::default()
        })
        .await
        .unwrap();
    assert_eq!(outcome.deleted, 400usize.div_ceil(3) as u64);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM posts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 400 - 134);
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mentions m WHERE NOT EXISTS (SELECT 1 FROM posts p WHERE p.id = m.post_id)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(orphans, 0);
    // Every rollup column, human-only and author counts included, is what the remaining posts make.
    assert_rollup_matches_recount(&pool).await;
    assert_human_rollup_matches_recount(&pool).await;
    assert_rollup_authors_match_recount(&pool).await;
    // Deleting again finds nothing; writing the deleted posts again restores the counts exactly.
    let again = store
        .deliver(&Delivery {
            deleted: &doomed,
            ..Delivery::default()
        })
        .await
        .unwrap();
    assert_eq!(again.deleted, 0);
    let rewritten = store.write_batch(&posts, "m", None).await.unwrap();
    assert_eq!(rewritten.stored, 134);
    assert_rollup_matches_recount(&pool).await;
    assert_human_rollup_matches_recount(&pool).await;
}

/// `rollup_authors` holds exactly the distinct authors of each hour's human posts (unclassed posts
/// count as human), recounted from the base tables.
async fn assert_rollup_authors_match_recount(pool: &PgPool) {
    let authors: i64 = sqlx::query_scalar("SELECT count(*) FROM rollup_authors")
        .fetch_one(pool)
        .await
        .unwrap();
    let recounted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
             SELECT DISTINCT m.asset_id, m.platform, date_trunc('hour', m.created_at AT TIME ZONE 'UTC'), p.author
             FROM mentions m JOIN posts p ON p.id = m.post_id
             WHERE p.author IS NOT NULL AND coalesce(p.class, 'human') = 'human') x",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(authors, recounted);
}

/// Every rollup column as stored: key, the counts, then the sums.
type FullRollup = Vec<(String, String, chrono::DateTime<Utc>, Vec<i64>, Vec<f64>)>;

async fn full_rollup(pool: &PgPool) -> FullRollup {
    sqlx::query_as(
        "SELECT asset_id, platform, bucket,
                ARRAY[posts, mentions, positive, neutral, negative, human_posts, human_mentions,
                      human_positive, human_neutral, human_negative, human_authors]::int8[],
                ARRAY[score_sum, human_score_sum, human_weight_sum, human_weighted_score_sum]::float8[]
         FROM rollup_hourly ORDER BY 1, 2, 3",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Counts equal, sums equal to float rounding (they are summed in different orders).
fn assert_same_rollup(got: &FullRollup, want: &FullRollup) {
    let counts = |r: &FullRollup| {
        r.iter()
            .map(|(a, p, b, c, _)| (a.clone(), p.clone(), *b, c.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(got), counts(want), "rollup rows or counts differ");
    for (a, b) in got.iter().zip(want) {
        for (x, y) in a.4.iter().zip(&b.4) {
            assert!((x - y).abs() < 1e-6, "sums differ: {a:?} vs {b:?}");
        }
    }
}

/// Stored mentions by post: external id, asset, start, end, kind, surface.
async fn stored_mentions(pool: &PgPool) -> Vec<(String, String, i32, i32, String, String)> {
    sqlx::query_as(
        "SELECT p.external_id, m.asset_id, m.start_byte, m.end_byte, m.kind, m.surface
         FROM mentions m JOIN posts p ON p.id = m.post_id ORDER BY 1, 3",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Retagging a range after a registry update (a new coin, a shared ticker re-ranked) leaves mentions
/// and every rollup column as a fresh write of the same posts tagged with the new registry would;
/// posts outside the range keep theirs, and a second run changes nothing.
#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn retagging_a_range_equals_a_fresh_write_with_the_new_registry(pool: PgPool) {
    use coinpulse::classify::{Classification, PostClass, Reason};
    use coinpulse::model::{EnrichedPost, Score};
    use coinpulse::store::assets::RankedAsset;
    use coinpulse::tag::Tagger;
    let store = Store::from_pool(pool.clone());
    let old = Tagger::builtin().unwrap();
    let texts = [
        "$TON and $BNXYZ to the moon",
        "Brandnewcoin is pumping, $BTC too",
        "$ETH looking strong today",
        "$TON $TON $TON and Bitcoin",
        "nothing to see here",
        "$TON or $ETH, which one",
    ];
    let day = |d: u32, h: u32, m: u32| {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2027, 1, d, h, m, 0).unwrap()
    };
    let labels = [(Positive, 0.6), (Neutral, 0.0), (Negative, -0.4)];
    let mut rng = fastrand::Rng::with_seed(19);
    // Posts over three days; the range retagged is the middle one.
    let posts: Vec<EnrichedPost> = (0..240)
        .map(|i| {
            let mut p = post(
                &format!("t{i}"),
                day(1 + rng.u32(0..3), rng.u32(0..4), rng.u32(0..60)),
                texts[rng.usize(0..texts.len())],
            );
            p.author = (rng.u8(0..6) > 0).then(|| format!("u{}", rng.u8(0..5)));
            p.engagement.likes = Some(rng.i64(0..300));
            p.engagement.reposts = rng.bool().then(|| rng.i64(0..30));
            let (label, score) = labels[rng.usize(0..3)];
            EnrichedPost {
                mentions: Vec::new(),
                score: (rng.u8(0..5) > 0).then_some(Score { label, score }),
                class: match rng.u8(0..4) {
                    0 => None,
                    1 => Some(Classification {
                        class: PostClass::Automated,
                        reasons: vec![Reason::TransferAlert],
                    }),
                    _ => Some(Classification::human()),
                },
                text_truncated: false,
                post: p,
            }
        })
        .collect();
    let tagged_by = |tagger: &Tagger, in_range: &dyn Fn(&EnrichedPost) -> bool| {
        posts
            .iter()
            .map(|p| EnrichedPost {
                mentions: if in_range(p) {
                    tagger.tag_at(&p.post.text, p.post.created_at)
                } else {
                    old.tag_at(&p.post.text, p.post.created_at)
                },
                ..p.clone()
            })
            .collect::<Vec<_>>()
    };
    for chunk in tagged_by(&old, &|_| false).chunks(50) {
        store.write_batch(chunk, "m", None).await.unwrap();
    }
    let outside_before: Vec<_> = stored_mentions(&pool)
        .await
        .into_iter()
        .filter(|m| {
            posts
                .iter()
                .any(|p| p.post.external_id == m.0 && p.post.created_at < day(2, 0, 0))
        })
        .collect();

    // The update: Tokamak Network ranked above Toncoin, and a coin nobody knew.
    let ranked = [
        ("tokamak-network", "TON", "Tokamak Network", 5),
        ("brandnewcoin-xyz", "BNXYZ", "Brandnewcoin", 6),
    ]
    .map(|(id, symbol, name, rank)| RankedAsset {
        id: id.into(),
        symbol: symbol.into(),
        name: name.into(),
        rank,
    });
    let listed: Vec<String> = ranked.iter().map(|a| a.id.clone()).collect();
    let version = store
        .record_ranking(day(1, 0, 0).date_naive(), &ranked, &listed, &[])
        .await
        .unwrap();
    assert_eq!(version, 1);
    assert_eq!(store.registry_version().await.unwrap(), 1);
    let new =
        Tagger::from_config_and(&Default::default(), store.asset_list().await.unwrap()).unwrap();

    let (since, until) = (day(2, 0, 0), day(3, 0, 0));
    let in_range = |p: &EnrichedPost| p.post.created_at >= since && p.post.created_at < until;
    let range_posts = posts.iter().filter(|p| in_range(p)).count() as u64;
    let mut batches = 0;
    let outcome = store
        .retag(since, until, 7, |t, at| new.tag_at(t, at), |_| batches += 1)
        .await
        .unwrap();
    assert_eq!(outcome.posts, range_posts);
    assert_eq!(batches as u64, range_posts.div_ceil(7));
    assert!(
        outcome.changed > 0 && outcome.changed < range_posts,
        "{outcome:?}"
    );
    assert!(
        outcome.mentions_added > 0 && outcome.mentions_removed > 0,
        "{outcome:?}"
    );
    assert!(outcome.gained["brandnewcoin-xyz"] > 0, "{outcome:?}");
    assert!(outcome.gained["tokamak-network"] > 0, "{outcome:?}");
    assert!(outcome.lost["the-open-network"] > 0, "{outcome:?}");
    // Every column agrees with the posts now stored, and posts outside the range kept their mentions.
    assert_rollup_matches_recount(&pool).await;
    assert_human_rollup_matches_recount(&pool).await;
    assert_rollup_authors_match_recount(&pool).await;
    let after = stored_mentions(&pool).await;
    let outside_after: Vec<_> = after
        .iter()
        .filter(|m| {
            posts
                .iter()
                .any(|p| p.post.external_id == m.0 && p.post.created_at < day(2, 0, 0))
        })
        .cloned()
        .collect();
    assert_eq!(outside_after, outside_before);
    let rollup_after = full_rollup(&pool).await;

    // A second run finds nothing to change.
    let again = store
        .retag(since, until, 50, |t, at| new.tag_at(t, at), |_| {})
        .await
        .unwrap();
    assert_eq!((again.posts, again.changed), (range_posts, 0), "{again:?}");
    assert_same_rollup(&full_rollup(&pool).await, &rollup_after);
    assert_eq!(stored_mentions(&pool).await, after);

    // The same posts written afresh, tagged with the new registry in the range: the same store.
    sqlx::query("TRUNCATE posts, mentions, rollup_hourly, rollup_authors")
        .execute(&pool)
        .await
        .unwrap();
    for chunk in tagged_by(&new, &in_range).chunks(50) {
        store.write_batch(chunk, "m", None).await.unwrap();
    }
    assert_eq!(stored_mentions(&pool).await, after);
    assert_same_rollup(&full_rollup(&pool).await, &rollup_after);
}

/// A retag running while the writer stores more posts in the same hours: neither waits for ever, and
/// every rollup column, distinct human authors included, agrees with the posts in the end.
#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn retagging_beside_the_writer_keeps_the_rollups_exact(pool: PgPool) {
    use coinpulse::store::assets::RankedAsset;
    use coinpulse::tag::Tagger;
    let store = Store::from_pool(pool.clone());
    let old = Tagger::builtin().unwrap();
    let when = |i: usize| {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2027, 1, 2, (i % 3) as u32, (i % 60) as u32, 0)
            .unwrap()
    };
    let texts = ["$TON and $BNXYZ", "Brandnewcoin and $BTC", "$TON $ETH"];
    let make = |prefix: &str, n: usize, tagger: &Tagger| -> Vec<coinpulse::model::EnrichedPost> {
        (0..n)
            .map(|i| {
                let text = texts[i % texts.len()];
                let mut p = enriched(
                    &format!("{prefix}{i}"),
                    when(i),
                    Vec::new(),
                    Some((Positive, 0.5)),
                );
                p.post.text = text.into();
                p.post.author = (i % 5 > 0).then(|| format!("u{}", i % 7));
                p.mentions = tagger.tag_at(text, p.post.created_at);
                p
            })
            .collect()
    };
    for chunk in make("a", 300, &old).chunks(60) {
        store.write_batch(chunk, "m", None).await.unwrap();
    }
    store
        .record_ranking(
            chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
            &[RankedAsset {
                id: "brandnewcoin-xyz".into(),
                symbol: "BNXYZ".into(),
                name: "Brandnewcoin".into(),
                rank: 6,
            }],
            &[],
            &[],
        )
        .await
        .unwrap();
    let new =
        Tagger::from_config_and(&Default::default(), store.asset_list().await.unwrap()).unwrap();
    let later = make("b", 300, &new);
    let since = when(0) - TimeDelta::hours(1);
    let until = since + TimeDelta::days(1);
    let retag = store.retag(since, until, 5, |t, at| new.tag_at(t, at), |_| {});
    let writes = async {
        for chunk in later.chunks(20) {
            store.write_batch(chunk, "m", None).await.unwrap();
        }
    };
    let (outcome, ()) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(retag, writes)
    })
    .await
    .expect("retag and writer finished");
    let outcome = outcome.unwrap();
    assert!(outcome.gained["brandnewcoin-xyz"] > 0, "{outcome:?}");
    assert_eq!(common::count(&pool, "posts").await, 600);
    assert_rollup_matches_recount(&pool).await;
    assert_human_rollup_matches_recount(&pool).await;
    assert_rollup_authors_match_recount(&pool).await;
    // Whatever the retag did not see, a second run brings up to date; then nothing is left.
    store
        .retag(since, until, 50, |t, at| new.tag_at(t, at), |_| {})
        .await
        .unwrap();
    let last = store
        .retag(since, until, 50, |t, at| new.tag_at(t, at), |_| {})
        .await
        .unwrap();
    assert_eq!((last.posts, last.changed), (600, 0));
}
