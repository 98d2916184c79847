//! Report numbers against a real PostgreSQL, checked against counts made independently: in Rust from
//! the synthetic posts themselves, or by SQL straight from posts, mentions and sentiment.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use coinpulse::classify::{Classification, PostClass};
use coinpulse::model::SentimentLabel::{self, Negative, Neutral, Positive};
use coinpulse::model::{Asset, EnrichedPost, Platform, PricePoint};
use coinpulse::report::reports::{self, Params, Report};
use coinpulse::report::{Bucket, Kind, run_report};
use coinpulse::store::Store;
use coinpulse::store::queries::{self, AssetRef, Counts, Population, QueryError};
use common::*;
use sqlx::PgPool;

/// A row of `report_daily`: day, asset, posts, balance, mean score, dominance.
type DailyRow = (DateTime<Utc>, String, i64, i64, Option<f64>, f64);
/// A row of the views' human columns: bucket, asset, posts, human posts, human balance, human
/// dominance.
type HumanRow = (DateTime<Utc>, String, i64, i64, i64, Option<f64>);

const ASSETS: [&str; 4] = ["bitcoin", "ethereum", "cardano", "dogecoin"];

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 1, 5, 0, 0, 0).unwrap()
}

/// 500 posts over 48 hours on two platforms, each naming one to three assets (some twice), most
/// scored.
fn synthetic() -> Vec<EnrichedPost> {
    let mut rng = fastrand::Rng::with_seed(42);
    let labels = [(Positive, 0.75), (Neutral, 0.0), (Negative, -0.5)];
    (0..500)
        .map(|i| {
            let t = start() + TimeDelta::seconds(rng.i64(0..48 * 3600));
            let mentions = (0..rng.usize(1..4))
                .map(|k| mention(ASSETS[rng.usize(0..ASSETS.len())], k * 8, k * 8 + 3))
                .collect();
            let score = (rng.u8(0..10) > 0).then(|| labels[rng.usize(0..3)]);
            let mut p = enriched(&format!("p{i}"), t, mentions, score);
            if rng.bool() {
                p.post.platform = Platform::Reddit;
            }
            p
        })
        .collect()
}

/// Per (asset, bucket) counts computed in Rust from the posts, the way the metrics are defined.
fn expected(
    posts: &[EnrichedPost],
    bucket: Bucket,
    platform: Option<Platform>,
) -> BTreeMap<(String, DateTime<Utc>), Counts> {
    let mut out: BTreeMap<(String, DateTime<Utc>), Counts> = BTreeMap::new();
    for p in posts {
        if platform.is_some_and(|pl| pl != p.post.platform) {
            continue;
        }
        let b = bucket.floor(p.post.created_at);
        let mut spans: HashMap<&str, i64> = HashMap::new();
        for m in &p.mentions {
            *spans.entry(m.asset.as_str()).or_default() += 1;
        }
        for (asset, n) in spans {
            let c = out.entry((asset.to_string(), b)).or_default();
            c.posts += 1;
            c.mentions += n;
            if let Some(s) = p.score {
                match s.label {
                    SentimentLabel::Positive => c.positive += 1,
                    SentimentLabel::Neutral => c.neutral += 1,
                    SentimentLabel::Negative => c.negative += 1,
                }
                c.score_sum += f64::from(s.score);
            }
        }
    }
    out
}

fn params(since: DateTime<Utc>, until: DateTime<Utc>, bucket: Bucket) -> Params {
    Params {
        since,
        until,
        asset: None,
        platform: None,
        bucket,
        limit: 100,
        window: 24,
        threshold: 3.0,
        population: Default::default(),
        min_posts: 1,
        min_authors: 0,
        max_lag: None,
        price_source: None,
    }
}

fn assert_counts(got: &Counts, want: &Counts, what: &str) {
    assert_eq!(
        (
            got.posts,
            got.mentions,
            got.positive,
            got.neutral,
            got.negative
        ),
        (
            want.posts,
            want.mentions,
            want.positive,
            want.neutral,
            want.negative
        ),
        "{what}"
    );
    assert!(
        (got.score_sum - want.score_sum).abs() < 1e-6,
        "{what}: score_sum {} vs {}",
        got.score_sum,
        want.score_sum
    );
}

async fn seed(pool: &PgPool) -> Vec<EnrichedPost> {
    let store = Store::from_pool(pool.clone());
    let posts = synthetic();
    for chunk in posts.chunks(120) {
        store.write_batch(chunk, "m1", None).await.unwrap();
    }
    posts
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn bucket_series_match_counts_from_the_posts(pool: PgPool) {
    let posts = seed(&pool).await;
    let (since, until) = (start(), start() + TimeDelta::hours(48));
    for bucket in [Bucket::FiveMinutes, Bucket::Hour, Bucket::Day] {
        for platform in [None, Some(Platform::Reddit)] {
            let want = expected(&posts, bucket, platform);
            let n_buckets = (48 * 3600 / bucket.width().num_seconds()) as usize;
            for asset in ASSETS {
                let got = queries::asset_buckets(&pool, asset, platform, since, until, bucket)
                    .await
                    .unwrap();
                assert_eq!(got.len(), n_buckets, "{bucket} dense grid");
                for b in &got {
                    let what = format!("{asset} {bucket} {platform:?} {}", b.bucket);
                    let w = want
                        .get(&(asset.to_string(), b.bucket))
                        .copied()
                        .unwrap_or_default();
                    assert_counts(&b.counts, &w, &what);
                    let all: i64 = want
                        .iter()
                        .filter(|((_, t), _)| *t == b.bucket)
                        .map(|(_, c)| c.posts)
                        .sum();
                    assert_eq!(b.all_assets_posts, all, "{what} dominance denominator");
                }
            }
        }
    }
    // A range off the hour boundaries is widened to whole buckets, and the same numbers come back
    // whichever table answers.
    let odd = queries::asset_buckets(
        &pool,
        "bitcoin",
        None,
        start() + TimeDelta::minutes(7),
        start() + TimeDelta::minutes(7 * 60 + 1),
        Bucket::Hour,
    )
    .await
    .unwrap();
    let aligned = queries::asset_buckets(
        &pool,
        "bitcoin",
        None,
        start(),
        start() + TimeDelta::hours(8),
        Bucket::Hour,
    )
    .await
    .unwrap();
    assert_eq!(odd, aligned);
}

/// The synthetic posts with a third of them in `class`, authors of their own (some without), and
/// varied likes and reposts.
async fn seed_with_classes(pool: &PgPool, class: PostClass) -> Vec<EnrichedPost> {
    let store = Store::from_pool(pool.clone());
    let mut posts = synthetic();
    for (i, p) in posts.iter_mut().enumerate() {
        p.post.author = (i % 11 != 0).then(|| format!("u{}", i % 9));
        p.post.engagement.likes = Some((i as i64 * 37) % 500);
        p.post.engagement.reposts = (i % 4 != 0).then_some((i as i64 * 13) % 40);
        if i % 3 == 0 {
            p.class = Some(Classification {
                class,
                reasons: Vec::new(),
            });
        }
    }
    for chunk in posts.chunks(120) {
        store.write_batch(chunk, "m1", None).await.unwrap();
    }
    posts
}

/// The narrower reads behind lead-lag, the API's series and spikes give exactly the numbers of the
/// full bucket series (human posts and every post), and the spikes' volumes add up platforms and
/// hours as a recount from the posts does.
#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn chart_volume_and_spike_reads_agree_with_the_bucket_series(pool: PgPool) {
    let posts = seed_with_classes(&pool, PostClass::Automated).await;
    let (since, until) = (start(), start() + TimeDelta::hours(48));
    let mut automated_seen = false;
    for bucket in [Bucket::FiveMinutes, Bucket::Hour, Bucket::Day] {
        for platform in [None, Some(Platform::Reddit)] {
            for asset in ASSETS {
                let of = |population| {
                    queries::asset_buckets_of(
                        &pool, population, asset, platform, since, until, bucket,
                    )
                };
                let humans = of(Population::Humans).await.unwrap();
                let everyone = of(Population::All).await.unwrap();
                let chart = queries::chart_buckets(&pool, asset, platform, since, until, bucket)
                    .await
                    .unwrap();
                assert_eq!(chart.len(), humans.len(), "{asset} {bucket} {platform:?}");
                for ((c, all), (h, e)) in chart.iter().zip(humans.iter().zip(&everyone)) {
                    let what = format!("{asset} {bucket} {platform:?} {}", h.bucket);
                    assert_eq!(c.bucket, h.bucket, "{what}");
                    assert_counts(&c.counts, &h.counts, &what);
                    assert_eq!(c.all_assets_posts, h.all_assets_posts, "{what}");
                    assert_eq!(c.authors, h.authors, "{what}: authors");
                    let (cw, hw) = (c.engagement, h.engagement);
                    assert!((cw.weight_sum - hw.weight_sum).abs() < 1e-6, "{what}");
                    assert!(
                        (cw.weighted_score_sum - hw.weighted_score_sum).abs() < 1e-6,
                        "{what}"
                    );
                    assert_eq!(*all, e.counts.posts, "{what}: every post");
                    automated_seen |= e.counts.posts > h.counts.posts;
                }
                for (population, full) in
                    [(Population::Humans, &humans), (Population::All, &everyone)]
                {
                    let volume = queries::volume_series_of(
                        &pool, population, asset, platform, since, until, bucket,
                    )
                    .await
                    .unwrap();
                    let want: Vec<(DateTime<Utc>, i64)> =
                        full.iter().map(|b| (b.bucket, b.counts.posts)).collect();
                    assert_eq!(volume, want, "{asset} {bucket} {platform:?} {population:?}");
                }
            }
        }
    }
    assert!(
        automated_seen,
        "the automated posts make the populations differ"
    );

    // Spikes' volumes from the rollup: posts per asset and bucket over both platforms, and distinct
    // human authors per asset, platform and hour (a post without an author counts as one), summed.
    for bucket in [Bucket::Hour, Bucket::Day] {
        let mut want: BTreeMap<(String, DateTime<Utc>), (i64, i64)> = BTreeMap::new();
        let mut authors: BTreeMap<(String, Platform, DateTime<Utc>), BTreeSet<String>> =
            BTreeMap::new();
        for (i, p) in posts.iter().enumerate() {
            let human = p.class.as_ref().is_none_or(|c| c.class == PostClass::Human);
            let assets: BTreeSet<&str> = p.mentions.iter().map(|m| m.asset.as_str()).collect();
            for asset in assets {
                let key = (asset.to_string(), bucket.floor(p.post.created_at));
                want.entry(key).or_default().0 += i64::from(human);
                if human {
                    let hour = Bucket::Hour.floor(p.post.created_at);
                    let who = p.post.author.clone().unwrap_or_else(|| format!("#{i}"));
                    authors
                        .entry((asset.to_string(), p.post.platform, hour))
                        .or_default()
                        .insert(who);
                }
            }
        }
        for ((asset, _, hour), who) in authors {
            want.entry((asset, bucket.floor(hour))).or_default().1 += who.len() as i64;
        }
        let got =
            queries::volume_by_asset_of(&pool, Population::Humans, None, since, until, bucket)
                .await
                .unwrap();
        assert_eq!(got.len(), ASSETS.len());
        for (asset, series) in &got {
            for v in series {
                let w = want
                    .get(&(asset.clone(), v.bucket))
                    .copied()
                    .unwrap_or_default();
                assert_eq!((v.posts, v.authors), w, "{asset} {bucket} {}", v.bucket);
            }
        }
    }
}

/// What the reports say about people, recounted in Rust from the posts: distinct human authors (a
/// post without an author counts as one) per bucket, where a bucket longer than an hour adds up its
/// hours; and the engagement-weighted score Σ w·score ÷ Σ w of the scored human posts,
/// w = 1 + ln(1 + likes + reposts), per bucket and over a range in `top` and `sentiment`.
#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn authors_and_engagement_weighted_sentiment_match_a_recount(pool: PgPool) {
    let posts = seed_with_classes(&pool, PostClass::Promotional).await;
    let weight = |p: &EnrichedPost| {
        let likes = p.post.engagement.likes.unwrap_or(0);
        let reposts = p.post.engagement.reposts.unwrap_or(0);
        1.0 + ((1 + likes + reposts) as f64).ln()
    };
    // Per asset and `group` key: the authors seen per hour and platform, and Σ w, Σ w·score.
    type People = (
        BTreeMap<(Platform, DateTime<Utc>), BTreeSet<String>>,
        f64,
        f64,
    );
    let recount = |group: &dyn Fn(DateTime<Utc>) -> DateTime<Utc>,
                   since: DateTime<Utc>,
                   until: DateTime<Utc>| {
        let mut out: BTreeMap<(String, DateTime<Utc>), People> = BTreeMap::new();
        for (i, p) in posts.iter().enumerate() {
            let t = p.post.created_at;
            let human = p.class.as_ref().is_none_or(|c| c.class == PostClass::Human);
            if !human || t < since || t >= until {
                continue;
            }
            let assets: BTreeSet<&str> = p.mentions.iter().map(|m| m.asset.as_str()).collect();
            for asset in assets {
                let e = out.entry((asset.to_string(), group(t))).or_default();
                let who = p.post.author.clone().unwrap_or_else(|| format!("#{i}"));
                e.0.entry((p.post.platform, Bucket::Hour.floor(t)))
                    .or_default()
                    .insert(who);
                if let Some(s) = p.score {
                    e.1 += weight(p);
                    e.2 += weight(p) * f64::from(s.score);
                }
            }
        }
        out
    };
    let hour_sum = |who: &BTreeMap<(Platform, DateTime<Utc>), BTreeSet<String>>| {
        who.values().map(|s| s.len() as i64).sum::<i64>()
    };
    let distinct = |who: &BTreeMap<(Platform, DateTime<Utc>), BTreeSet<String>>| {
        let all: BTreeSet<(Platform, &String)> = who
            .iter()
            .flat_map(|((pl, _), s)| s.iter().map(move |a| (*pl, a)))
            .collect();
        all.len() as i64
    };
    let mut repeat_authors = false;
    let close = |got: Option<f64>, w: f64, ws: f64, what: &str| match got {
        Some(g) => assert!((g - ws / w).abs() < 1e-4, "{what}: {g} vs {}", ws / w),
        None => assert_eq!(w, 0.0, "{what}: no weighted score"),
    };
    let (since, until) = (start(), start() + TimeDelta::hours(48));

    // Per bucket, in the asset report, for every population (people are always the human posts).
    for bucket in [Bucket::FiveMinutes, Bucket::Hour, Bucket::Day] {
        let want = recount(&|t| bucket.floor(t), since, until);
        for population in [Population::Humans, Population::All] {
            for asset in ASSETS {
                let mut p = params(since, until, bucket);
                p.population = population;
                let asset_ref = AssetRef {
                    id: asset.to_string(),
                    symbol: None,
                };
                let rows = reports::asset_series(&pool, &asset_ref, &p).await.unwrap();
                assert_eq!(
                    rows.len(),
                    (48 * 3600 / bucket.width().num_seconds()) as usize
                );
                for r in rows {
                    let what = format!("{asset} {bucket} {population:?} {}", r.bucket);
                    let (who, w, ws) = want
                        .get(&(asset.to_string(), r.bucket))
                        .cloned()
                        .unwrap_or_default();
                    // Five-minute buckets count distinct authors from the posts, finer than an hour.
                    let authors = if bucket == Bucket::FiveMinutes {
                        distinct(&who)
                    } else {
                        hour_sum(&who)
                    };
                    assert_eq!(r.authors, authors, "{what}: authors");
                    repeat_authors |= bucket == Bucket::Day && distinct(&who) < hour_sum(&who);
                    close(r.weighted_score, w, ws, &what);
                }
            }
        }
    }

    assert!(
        repeat_authors,
        "authors post in several hours of a day, so adding up hours differs from counting once"
    );

    // Over a range, in top and sentiment. A range off whole days, read from both tables.
    let (since, until) = (
        start() + TimeDelta::hours(5),
        start() + TimeDelta::hours(41),
    );
    let want = recount(&|_| since, since, until);
    for bucket in [Bucket::FiveMinutes, Bucket::Hour] {
        let Report::Top(rows) = run_report(&pool, Kind::Top, &params(since, until, bucket))
            .await
            .unwrap()
        else {
            panic!("wrong report")
        };
        assert_eq!(rows.len(), ASSETS.len());
        for r in &rows {
            let what = format!("top {} {bucket}", r.asset.id);
            let (_, w, ws) = want[&(r.asset.id.clone(), since)].clone();
            close(r.weighted_score, w, ws, &what);
        }
        let Report::Sentiment(rows) =
            run_report(&pool, Kind::Sentiment, &params(since, until, bucket))
                .await
                .unwrap()
        else {
            panic!("wrong report")
        };
        for r in &rows {
            let (_, w, ws) = want[&(r.asset.id.clone(), since)].clone();
            close(
                r.engagement.weighted_score(),
                w,
                ws,
                &format!("sentiment {} {bucket}", r.asset.id),
            );
        }
    }
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn totals_and_sentiment_report_match_an_sql_recount(pool: PgPool) {
    seed(&pool).await;
    let (since, until) = (
        start() + TimeDelta::hours(6),
        start() + TimeDelta::hours(30),
    );
    // Recount straight from the base tables, not the rollup.
    let recount: Vec<(String, i64, i64, i64, i64, f64)> = sqlx::query_as(
        "WITH pa AS (SELECT DISTINCT m.post_id, m.asset_id FROM mentions m JOIN posts p ON p.id = m.post_id
                     WHERE p.created_at >= $1 AND p.created_at < $2)
         SELECT pa.asset_id, count(*), count(*) FILTER (WHERE s.label = 'positive'),
                count(*) FILTER (WHERE s.label = 'neutral'), count(*) FILTER (WHERE s.label = 'negative'),
                coalesce(sum(s.score), 0)::float8
         FROM pa LEFT JOIN sentiment s ON s.post_id = pa.post_id GROUP BY 1 ORDER BY 2 DESC, 1",
    )
    .bind(since)
    .bind(until)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(recount.len(), 4);
    for bucket in [Bucket::FiveMinutes, Bucket::Hour] {
        let Report::Sentiment(rows) =
            run_report(&pool, Kind::Sentiment, &params(since, until, bucket))
                .await
                .unwrap()
        else {
            panic!("wrong report")
        };
        assert_eq!(rows.len(), recount.len());
        for (r, (id, posts, pos, neu, neg, sum)) in rows.iter().zip(&recount) {
            assert_eq!(&r.asset.id, id);
            assert_eq!(
                (
                    r.counts.posts,
                    r.counts.positive,
                    r.counts.neutral,
                    r.counts.negative
                ),
                (*posts, *pos, *neu, *neg)
            );
            assert!((r.counts.score_sum - sum).abs() < 1e-4);
            assert_eq!(r.counts.balance(), pos - neg);
            let mean = r.counts.mean_score().unwrap();
            assert!((mean - sum / (pos + neu + neg) as f64).abs() < 1e-6);
        }
    }
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn top_ranks_by_volume_with_dominance_and_change(pool: PgPool) {
    let posts = seed(&pool).await;
    // Second day against the first.
    let (since, until) = (
        start() + TimeDelta::hours(24),
        start() + TimeDelta::hours(48),
    );
    let day = expected(&posts, Bucket::Day, None);
    let now: HashMap<&str, i64> = ASSETS
        .iter()
        .map(|a| (*a, day.get(&(a.to_string(), since)).map_or(0, |c| c.posts)))
        .collect();
    let before: HashMap<&str, i64> = ASSETS
        .iter()
        .map(|a| {
            (
                *a,
                day.get(&(a.to_string(), start())).map_or(0, |c| c.posts),
            )
        })
        .collect();
    let total: i64 = now.values().sum();

    let mut p = params(since, until, Bucket::Hour);
    p.limit = 3;
    let Report::Top(rows) = run_report(&pool, Kind::Top, &p).await.unwrap() else {
        panic!("wrong report")
    };
    assert_eq!(rows.len(), 3);
    let mut ranked: Vec<(&str, i64)> = now.iter().map(|(a, n)| (*a, *n)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (row, (asset, n)) in rows.iter().zip(&ranked) {
        assert_eq!((row.asset.id.as_str(), row.counts.posts), (*asset, *n));
        assert!((row.dominance - *n as f64 / total as f64).abs() < 1e-12);
        assert_eq!(row.previous_posts, before[asset]);
        let change = (*n - before[asset]) as f64 / before[asset] as f64;
        assert!((row.change.unwrap() - change).abs() < 1e-12);
    }
}

/// Writes `counts[i]` posts naming `asset` in hour i from `start()`.
async fn hourly_posts(store: &Store, asset: &str, counts: &[usize], tag: &str) {
    let mut batch = Vec::new();
    for (h, n) in counts.iter().enumerate() {
        for k in 0..*n {
            let t = start() + TimeDelta::hours(h as i64) + TimeDelta::minutes(k as i64 % 60);
            batch.push(enriched(
                &format!("{tag}-{h}-{k}"),
                t,
                vec![mention(asset, 0, 3)],
                Some((Positive, 0.5)),
            ));
        }
    }
    store.write_batch(&batch, "m1", None).await.unwrap();
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn spikes_flag_the_bucket_above_its_trailing_baseline(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    // 24 hours alternating 2 and 4 posts (mean 3, sample sd sqrt(24/23)), then 10 posts in hour 24.
    let mut counts: Vec<usize> = (0..24).map(|h| if h % 2 == 0 { 2 } else { 4 }).collect();
    counts.push(10);
    counts.push(3);
    hourly_posts(&store, "dogecoin", &counts, "d").await;
    // A steady asset never spikes.
    hourly_posts(&store, "bitcoin", &[5; 26], "b").await;

    let mut p = params(
        start() + TimeDelta::hours(20),
        start() + TimeDelta::hours(26),
        Bucket::Hour,
    );
    p.threshold = 2.0;
    let Report::Spikes(rows) = run_report(&pool, Kind::Spikes, &p).await.unwrap() else {
        panic!("wrong report")
    };
    assert_eq!(rows.len(), 1, "{rows:?}");
    // The baseline is under-dispersed (variance 24/23 < mean 3): a Poisson(3) tail, P(X >= 10).
    let below: f64 = (0..10)
        .map(|k| (-3.0f64).exp() * 3f64.powi(k) / (1..=k).map(f64::from).product::<f64>())
        .sum();
    let surprise = -(1.0 - below).log10();
    assert_eq!(rows[0].asset.id, "dogecoin");
    assert_eq!(rows[0].bucket, start() + TimeDelta::hours(24));
    assert_eq!(rows[0].posts, 10);
    assert_eq!(rows[0].authors, 1);
    assert!((rows[0].baseline - 3.0).abs() < 1e-12);
    assert!(
        (rows[0].surprise - surprise).abs() < 1e-9,
        "{} vs {surprise}",
        rows[0].surprise
    );
    let z = (10.0 - 3.0) / (24.0f64 / 23.0).sqrt();

    // The asset report shows the same z-score in that bucket.
    let mut p = params(
        start() + TimeDelta::hours(24),
        start() + TimeDelta::hours(25),
        Bucket::Hour,
    );
    p.asset = Some(AssetRef {
        id: "dogecoin".into(),
        symbol: None,
    });
    let Report::Asset(_, rows) = run_report(&pool, Kind::Asset, &p).await.unwrap() else {
        panic!("wrong report")
    };
    assert_eq!(rows.len(), 1);
    assert!((rows[0].volume_z.unwrap() - z).abs() < 1e-9);
    assert_eq!(rows[0].dominance, Some(10.0 / 15.0));

    // A higher threshold leaves nothing, and the report says so.
    let mut p = params(
        start() + TimeDelta::hours(20),
        start() + TimeDelta::hours(26),
        Bucket::Hour,
    );
    p.threshold = surprise + 0.01;
    let report = run_report(&pool, Kind::Spikes, &p).await.unwrap();
    let rendered = report.render(&p);
    assert!(rendered.table.rows.is_empty());
    assert!(rendered.empty.unwrap().contains("has a surprise of"));
    // The default floors (20 posts, 10 authors) keep a 10-post bucket out whatever its surprise.
    p.threshold = 2.0;
    p.min_posts = 20;
    p.min_authors = 10;
    let Report::Spikes(rows) = run_report(&pool, Kind::Spikes, &p).await.unwrap() else {
        panic!("wrong report")
    };
    assert!(rows.is_empty(), "{rows:?}");
}

/// Spikes read the series only of the assets that can reach the floors: a bucket whose platforms
/// reach them only together (7 + 7 + 7 posts against a floor of 20) is still found, and the report
/// is the one computed from every asset's full series, for hours and days, on all platforms and
/// on one.
#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn spikes_find_buckets_that_reach_the_floors_only_over_all_platforms(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let platforms = [Platform::Twitter, Platform::Reddit, Platform::Mastodon];
    let mut batch = Vec::new();
    // 24 quiet hours, then 21 posts by 21 people (cardano) and 19 (dogecoin) spread over the
    // platforms; bitcoin is busy on one platform every hour.
    for (asset, last) in [("cardano", [7, 7, 7]), ("dogecoin", [7, 6, 6])] {
        for h in 0..25 {
            let per_platform = if h < 24 { [1, 0, 0] } else { last };
            for (platform, n) in platforms.iter().zip(per_platform) {
                for k in 0..n {
                    let t = start() + TimeDelta::hours(h) + TimeDelta::minutes(k);
                    let id = format!("{asset}-{h}-{}-{k}", platform.as_str());
                    let mut p = enriched(&id, t, vec![mention(asset, 0, 3)], None);
                    p.post.platform = *platform;
                    p.post.author = Some(format!("{}-{k}", platform.as_str()));
                    batch.push(p);
                }
            }
        }
    }
    for h in 0..26 {
        for k in 0..30 {
            let t = start() + TimeDelta::hours(h) + TimeDelta::minutes(k);
            let mut p = enriched(
                &format!("b-{h}-{k}"),
                t,
                vec![mention("bitcoin", 0, 3)],
                None,
            );
            p.post.author = Some(format!("b{k}"));
            batch.push(p);
        }
    }
    store.write_batch(&batch, "m1", None).await.unwrap();

    let (since, until) = (
        start() + TimeDelta::hours(24),
        start() + TimeDelta::hours(26),
    );
    let mut p = params(since, until, Bucket::Hour);
    p.min_posts = 20;
    p.min_authors = 10;
    let Report::Spikes(rows) = run_report(&pool, Kind::Spikes, &p).await.unwrap() else {
        panic!("wrong report")
    };
    let found: Vec<(&str, DateTime<Utc>, i64, i64)> = rows
        .iter()
        .map(|r| (r.asset.id.as_str(), r.bucket, r.posts, r.authors))
        .collect();
    assert_eq!(found, [("cardano", since, 21, 21)]);

    for bucket in [Bucket::Hour, Bucket::Day] {
        for platform in [None, Some(Platform::Reddit), Some(Platform::Twitter)] {
            for min_posts in [1, 20, 25] {
                let mut p = params(since, until, bucket);
                p.platform = platform;
                p.min_posts = min_posts;
                p.min_authors = 5;
                p.threshold = 0.5;
                p.window = 2;
                let Report::Spikes(got) = run_report(&pool, Kind::Spikes, &p).await.unwrap() else {
                    panic!("wrong report")
                };
                let (since, until) = bucket.align(since, until);
                let warm = since - bucket.width() * p.window as i32;
                let all = queries::volume_by_asset_of(
                    &pool,
                    Population::Humans,
                    platform,
                    warm,
                    until,
                    bucket,
                )
                .await
                .unwrap();
                let mut want: Vec<(String, DateTime<Utc>, i64, i64, f64)> = all
                    .iter()
                    .flat_map(|(id, series)| reports::spikes_in(id, series, since, &p))
                    .map(|r| (r.asset.id, r.bucket, r.posts, r.authors, r.surprise))
                    .collect();
                want.sort_by(|a, b| b.4.total_cmp(&a.4).then(b.2.cmp(&a.2)).then(a.1.cmp(&b.1)));
                let got: Vec<(String, DateTime<Utc>, i64, i64, f64)> = got
                    .into_iter()
                    .map(|r| (r.asset.id, r.bucket, r.posts, r.authors, r.surprise))
                    .collect();
                assert_eq!(got, want, "{bucket} {platform:?} min_posts {min_posts}");
                if bucket == Bucket::Hour && platform.is_none() && min_posts == 20 {
                    assert!(got.iter().any(|r| r.0 == "cardano"), "{got:?}");
                }
            }
        }
    }
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn leadlag_finds_volume_leading_returns(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    // Volume at hour t sets the return at hour t + 2: price[t+2] = price[t+1] * exp(0.01 * (v[t] - 5)).
    let mut rng = fastrand::Rng::with_seed(3);
    let volume: Vec<usize> = (0..60).map(|_| rng.usize(1..10)).collect();
    hourly_posts(&store, "bitcoin", &volume, "v").await;
    let mut price = vec![100.0, 100.0];
    for t in 0..58 {
        let last = price[t + 1];
        price.push(last * (0.01 * (volume[t] as f64 - 5.0)).exp());
    }
    let points: Vec<PricePoint> = price
        .iter()
        .enumerate()
        .map(|(h, p)| PricePoint {
            asset: "bitcoin".into(),
            // Within the hour: the last price of the bucket is what counts.
            time: start() + TimeDelta::hours(h as i64) + TimeDelta::minutes(59),
            price: *p,
            volume: None,
            source: "test".into(),
        })
        .collect();
    store.write_prices(&points, None).await.unwrap();

    let mut p = params(start(), start() + TimeDelta::hours(60), Bucket::Hour);
    p.asset = Some(AssetRef {
        id: "bitcoin".into(),
        symbol: Some("BTC".into()),
    });
    p.max_lag = Some(4);
    let Report::Leadlag(l) = run_report(&pool, Kind::Leadlag, &p).await.unwrap() else {
        panic!("wrong report")
    };
    assert_eq!(l.price_source.as_deref(), Some("test"));
    assert_eq!(l.correlations.len(), 9);
    let best = l.best.unwrap();
    assert_eq!(best.lag, 2);
    assert!((best.r.unwrap() - 1.0).abs() < 1e-9);
    // The return series has 59 values (hours 1..59); lag 2 pairs volume 0..57 with them.
    assert_eq!(best.n, 58);
    let note = l.correlations.iter().find(|c| c.lag == -2).unwrap();
    assert!(note.r.unwrap().abs() < 0.5);
    let rendered = Report::Leadlag(l).render(&p);
    // The JSON carries the best lag itself, not only the note printed beside the table.
    let rows: serde_json::Value = serde_json::from_str(&rendered.table.json()).unwrap();
    let best: Vec<&serde_json::Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["best"] == true)
        .collect();
    assert_eq!(best.len(), 1, "{rows}");
    assert_eq!(best[0]["lag_buckets"], 2);
    assert_eq!(best[0]["asset"], "BTC");
    assert!(rendered.note.unwrap().contains("volume leads price by +2h"));
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn price_series_takes_the_last_price_per_bucket_from_the_fullest_source(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let pt = |min: i64, price: f64, source: &str| PricePoint {
        asset: "ethereum".into(),
        time: start() + TimeDelta::minutes(min),
        price,
        volume: None,
        source: source.into(),
    };
    store
        .write_prices(
            &[
                pt(0, 1.0, "a"),
                pt(30, 2.0, "a"),
                pt(70, 3.0, "a"),
                pt(10, 9.0, "b"),
                pt(200, 4.0, "a"),
            ],
            None,
        )
        .await
        .unwrap();
    let s = queries::price_series(
        &pool,
        "ethereum",
        None,
        start(),
        start() + TimeDelta::hours(4),
        Bucket::Hour,
    )
    .await
    .unwrap();
    assert_eq!(
        s,
        vec![
            (start(), 2.0),
            (start() + TimeDelta::hours(1), 3.0),
            (start() + TimeDelta::hours(3), 4.0)
        ]
    );
    let b = queries::price_series(
        &pool,
        "ethereum",
        Some("b"),
        start(),
        start() + TimeDelta::hours(4),
        Bucket::Hour,
    )
    .await
    .unwrap();
    assert_eq!(b, vec![(start(), 9.0)]);
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn assets_resolve_by_symbol_name_or_id(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let asset = |id: &str, symbol: &str, name: &str, rank: Option<u32>| Asset {
        id: id.into(),
        symbol: symbol.into(),
        name: name.into(),
        aliases: vec![],
        rank,
    };
    store
        .upsert_assets(&[
            asset("bitcoin", "BTC", "Bitcoin", Some(1)),
            asset("bitcoin-token", "BTC", "Bitcoin Token", Some(900)),
            asset("ethereum", "ETH", "Ethereum", Some(2)),
        ])
        .await
        .unwrap();
    for input in ["BTC", "btc", "bitcoin", "Bitcoin", " btc "] {
        let a = queries::resolve_asset(&pool, input).await.unwrap();
        assert_eq!(
            (a.id.as_str(), a.symbol.as_deref()),
            ("bitcoin", Some("BTC")),
            "{input}"
        );
    }
    assert_eq!(
        queries::resolve_asset(&pool, "bitcoin-token")
            .await
            .unwrap()
            .id,
        "bitcoin-token"
    );
    // Not in the registry, but stored: the id itself.
    hourly_posts(&store, "dogecoin", &[1], "x").await;
    let d = queries::resolve_asset(&pool, "DogeCoin").await.unwrap();
    assert_eq!((d.id.as_str(), d.symbol), ("dogecoin", None));
    let e = queries::resolve_asset(&pool, "NOPE").await.unwrap_err();
    assert!(matches!(&e, QueryError::UnknownAsset(s) if s == "NOPE"));
    assert!(e.to_string().contains("`NOPE`"));
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn views_agree_with_the_reports(pool: PgPool) {
    let posts = seed(&pool).await;
    let store = Store::from_pool(pool.clone());
    store
        .write_prices(
            &[PricePoint {
                asset: "bitcoin".into(),
                time: start() + TimeDelta::hours(23),
                price: 34000.0,
                volume: None,
                source: "binance".into(),
            }],
            None,
        )
        .await
        .unwrap();
    let want = expected(&posts, Bucket::Day, None);
    let daily: Vec<DailyRow> = sqlx::query_as(
        "SELECT day, asset_id, posts, sentiment_balance, mean_score, dominance FROM report_daily ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(daily.len(), want.len());
    for (day, asset, posts, balance, mean, dominance) in &daily {
        let w = want[&(asset.clone(), *day)];
        let all: i64 = want
            .iter()
            .filter(|((_, d), _)| d == day)
            .map(|(_, c)| c.posts)
            .sum();
        assert_eq!((*posts, *balance), (w.posts, w.balance()));
        assert!((mean.unwrap() - w.mean_score().unwrap()).abs() < 1e-6);
        assert!((dominance - w.posts as f64 / all as f64).abs() < 1e-12);
    }
    let hourly: i64 = sqlx::query_scalar("SELECT sum(posts)::int8 FROM report_hourly")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(hourly, want.values().map(|c| c.posts).sum::<i64>());
    let priced: (i64, Option<f64>, Option<String>) = sqlx::query_as(
        "SELECT posts, close_price, price_source FROM report_asset_daily_with_price
         WHERE asset_id = 'bitcoin' AND day = $1",
    )
    .bind(start())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        priced,
        (
            want[&("bitcoin".to_string(), start())].posts,
            Some(34000.0),
            Some("binance".into())
        )
    );
    // Every view column is documented.
    let undocumented: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname || '.' || a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
         WHERE c.relname LIKE 'report\\_%' AND c.relkind = 'v' AND a.attnum > 0
           AND col_description(c.oid, a.attnum) IS NULL",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(undocumented.is_empty(), "{undocumented:?}");
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn empty_ranges_say_so(pool: PgPool) {
    seed(&pool).await;
    let later = start() + TimeDelta::days(30);
    let mut p = params(later, later + TimeDelta::days(1), Bucket::Hour);
    for kind in [Kind::Top, Kind::Spikes, Kind::Sentiment] {
        let r = run_report(&pool, kind, &p).await.unwrap().render(&p);
        assert!(r.table.rows.is_empty(), "{kind:?}");
        // Machine formats still print a well-formed empty result.
        assert_eq!(r.table.json(), "[]\n", "{kind:?}");
        let header = r.table.csv();
        assert_eq!(header.lines().count(), 1, "{kind:?}: {header}");
        assert!(header.contains("asset"), "{kind:?}: {header}");
        assert!(
            r.empty.unwrap().contains("2021-02-04 00:00 UTC"),
            "{kind:?}"
        );
    }
    p.asset = Some(AssetRef {
        id: "bitcoin".into(),
        symbol: Some("BTC".into()),
    });
    let r = run_report(&pool, Kind::Asset, &p).await.unwrap().render(&p);
    assert_eq!(
        r.empty.unwrap(),
        "No post mentions BTC between 2021-02-04 00:00 UTC and 2021-02-05 00:00 UTC."
    );
    let r = run_report(&pool, Kind::Leadlag, &p)
        .await
        .unwrap()
        .render(&p);
    assert!(r.empty.unwrap().contains("No price of BTC"));
    p.asset = None;
    let e = run_report(&pool, Kind::Asset, &p).await.unwrap_err();
    assert!(matches!(e, reports::ReportError::AssetRequired("asset")));
}

/// Seeds a database of its own for the binary: the synthetic posts, the assets' registry rows and
/// hourly BTC prices.
async fn seed_for_binary() -> (String, Store) {
    let (url, pool) = fresh_database().await;
    coinpulse::store::MIGRATOR.run(&pool).await.unwrap();
    let store = Store::from_pool(pool.clone());
    let assets: Vec<Asset> = [
        ("bitcoin", "BTC", "Bitcoin"),
        ("ethereum", "ETH", "Ethereum"),
        ("cardano", "ADA", "Cardano"),
        ("dogecoin", "DOGE", "Dogecoin"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (id, symbol, name))| Asset {
        id: id.to_string(),
        symbol: symbol.to_string(),
        name: name.to_string(),
        aliases: vec![],
        rank: Some(i as u32 + 1),
    })
    .collect();
    store.upsert_assets(&assets).await.unwrap();
    seed(&pool).await;
    let prices: Vec<PricePoint> = (0..48)
        .map(|h| PricePoint {
            asset: "bitcoin".into(),
            time: start() + TimeDelta::hours(h),
            price: 30_000.0 * (1.0 + 0.01 * ((h * 7 % 11) as f64 - 5.0)),
            volume: None,
            source: "test".into(),
        })
        .collect();
    store.write_prices(&prices, None).await.unwrap();
    (url, store)
}

/// `coinpulse report ARGS` run as a user runs it, against `url`: (exit success, stdout, stderr).
fn cli_report(url: &str, args: &[String]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coinpulse"))
        .arg("--config")
        .arg(&config)
        .arg("report")
        .args(args)
        .env("DATABASE_URL", url)
        // The tests' own variable would read as a config override (COINPULSE_<KEY>).
        .env_remove("COINPULSE_SHARED_DIR")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_api_answers_what_the_command_line_prints() {
    let (url, store) = seed_for_binary().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        axum::serve(listener, coinpulse::api::router(store, Default::default())).into_future(),
    );
    let http = reqwest::Client::new();

    let since = "--since=2021-01-05T00:00:00Z";
    let until = "--until=2021-01-07T00:00:00Z";
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("top", vec![]),
        ("top", vec!["--limit=2", "--platform=reddit"]),
        ("top", vec!["--bucket=1d"]),
        ("asset", vec!["--asset=BTC"]),
        (
            "asset",
            vec!["--asset=BTC", "--asset=dogecoin", "--bucket=5m"],
        ),
        (
            "spikes",
            vec![
                "--threshold=1.5",
                "--window=6",
                "--min-posts=1",
                "--min-authors=1",
            ],
        ),
        (
            "spikes",
            vec![
                "--threshold=1",
                "--window=4",
                "--min-posts=1",
                "--min-authors=1",
                "--asset=ETH",
                "--asset=ADA",
            ],
        ),
        ("sentiment", vec![]),
        ("sentiment", vec!["--asset=Bitcoin", "--asset=ETH"]),
        ("leadlag", vec!["--asset=BTC", "--max-lag=3"]),
        ("leadlag", vec!["--asset=BTC", "--asset=ETH", "--max-lag=2"]),
        // Nothing stored there: `[]` from both.
        ("top", vec!["--since=2022-01-01", "--until=2022-01-02"]),
        (
            "asset",
            vec!["--asset=BTC", "--since=2022-01-01", "--until=2022-01-02"],
        ),
    ];
    let mut non_empty = 0;
    for (kind, flags) in &cases {
        let mut flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        if !flags.iter().any(|f| f.starts_with("--since")) {
            flags.extend([since.to_string(), until.to_string()]);
        }
        let query: Vec<(String, String)> = flags
            .iter()
            .map(|f| {
                let (k, v) = f[2..].split_once('=').unwrap();
                (k.replace('-', "_"), v.to_string())
            })
            .collect();
        let mut args = vec![kind.to_string()];
        args.extend(flags.iter().cloned());
        args.push("--format=json".into());
        let (ok, stdout, stderr) = cli_report(&url, &args);
        assert!(ok, "{args:?}: {stderr}");
        let cli: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {stdout:?}"));
        let resp = http
            .get(format!("{base}/api/v1/report/{kind}"))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{kind} {query:?}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/json",
            "{kind} {query:?}"
        );
        let api: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(api, cli, "{kind} {query:?}");
        let rows = cli.as_array().unwrap();
        if !rows.is_empty() {
            non_empty += 1;
        } else {
            // Nothing found: the command line says where the stored data is.
            let whose = if *kind == "asset" {
                "Stored posts mentioning BTC run from 2021-01-0"
            } else {
                "Stored posts run from 2021-01-0"
            };
            assert!(stderr.contains(whose), "{args:?}: {stderr}");
            assert!(
                stderr.contains("(try --since 2021-01-0"),
                "{args:?}: {stderr}"
            );
        }
        // Several assets: each row names its asset.
        if *kind == "asset" && !rows.is_empty() {
            let named: BTreeSet<&str> = rows.iter().map(|r| r["asset"].as_str().unwrap()).collect();
            let wanted = flags.iter().filter(|f| f.starts_with("--asset")).count();
            assert_eq!(named.len(), wanted, "{flags:?}");
        }
        for r in rows {
            if let Some(t) = r.get("bucket") {
                DateTime::parse_from_rfc3339(t.as_str().unwrap()).expect("RFC 3339 times");
            }
        }
    }
    assert_eq!(
        non_empty,
        cases.len() - 2,
        "every case but the empty ranges has rows"
    );

    // The same refusals, with the command line's sentence, as a 4xx JSON error.
    for (kind, flag, status) in [
        ("top", "--limit=0", 400),
        ("asset", "--since=yesterday-ish", 400),
        ("leadlag", "--asset=NOSUCHCOIN", 404),
        ("leadlag", "--bucket=1h", 400),
    ] {
        let (ok, _, stderr) = cli_report(&url, &[kind.to_string(), flag.to_string()]);
        assert!(!ok, "{kind} {flag} was accepted");
        let (k, v) = flag[2..].split_once('=').unwrap();
        let resp = http
            .get(format!("{base}/api/v1/report/{kind}"))
            .query(&[(k, v)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{kind} {flag}");
        let body: serde_json::Value = resp.json().await.unwrap();
        let message = body["error"].as_str().unwrap();
        assert!(!message.is_empty());
        assert!(
            stderr.contains(message),
            "{kind} {flag}: the API says {message:?}, the command line:\n{stderr}"
        );
    }
}

#[tokio::test]
async fn the_api_lists_assets_and_serves_series() {
    let (_url, store) = seed_for_binary().await;
    let app = coinpulse::api::router(store.clone(), Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());
    let get = |path: String| async move {
        let r = reqwest::get(path).await.unwrap();
        let status = r.status().as_u16();
        (status, r.json::<serde_json::Value>().await.unwrap())
    };

    let (status, assets) = get(format!("{base}/api/v1/assets?until=2021-01-06T12:00:00Z")).await;
    assert_eq!(status, 200);
    let assets = assets.as_array().unwrap();
    assert_eq!(assets.len(), ASSETS.len());
    // The 24 hours before `until`, recounted from the rollup.
    let want: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(posts), 0)::int8 FROM rollup_hourly
         WHERE asset_id = 'bitcoin' AND bucket >= '2021-01-05T12:00:00Z' AND bucket < '2021-01-06T12:00:00Z'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    let btc = assets.iter().find(|a| a["symbol"] == "BTC").unwrap();
    assert_eq!(btc["last_24h"]["posts"], want);
    assert!(want > 0);
    assert!(btc["last_price"].is_number());
    assert_eq!(btc["first_bucket"], "2021-01-05T00:00:00Z");

    let (status, s) = get(format!(
        "{base}/api/v1/series?asset=btc&since=2021-01-05&until=2021-01-07"
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(s["bucket"], "1h", "two days are drawn hourly");
    assert_eq!(s["time"].as_array().unwrap().len(), 48);
    for col in [
        "posts",
        "all_posts",
        "positive",
        "mean_score",
        "authors",
        "weighted_score",
        "price",
        "dominance",
    ] {
        assert_eq!(s[col].as_array().unwrap().len(), 48, "{col}");
    }
    // Each column adds up to what the rollup holds for the asset.
    for (col, sql) in [
        (
            "posts",
            "SELECT coalesce(sum(posts), 0)::int8 FROM rollup_hourly WHERE asset_id = 'bitcoin'",
        ),
        (
            "authors",
            "SELECT coalesce(sum(human_authors), 0)::int8 FROM rollup_hourly WHERE asset_id = 'bitcoin'",
        ),
    ] {
        let served: i64 = s[col]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .sum();
        let stored: i64 = sqlx::query_scalar(sql)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(served, stored, "{col}");
    }

    for (path, status) in [
        ("/api/v1/series?since=7d", 400),
        ("/api/v1/series?asset=BTC&bucket=2h", 400),
        ("/api/v1/series?asset=NOSUCHCOIN", 404),
        ("/api/v1/assets?nonsense=1", 400),
        ("/api/v1/report/nonsense", 404),
        ("/api/v1/nothing/here", 404),
    ] {
        let (got, body) = get(format!("{base}{path}")).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let (status, doc) = get(format!("{base}/api/v1/openapi.json")).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/report/{kind}"].is_object());
}

/// A coin renamed under a new CoinGecko id is two assets: a report on either side says where the
/// other part of the history is; a coin that kept its id (or never changed) gets no such note.
#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn a_report_on_a_renamed_coin_says_where_the_rest_of_its_history_is(pool: PgPool) {
    seed(&pool).await;
    let coin = |id: &str, symbol: &str, name: &str| Asset {
        id: id.into(),
        symbol: symbol.into(),
        name: name.into(),
        aliases: vec![],
        rank: None,
    };
    Store::from_pool(pool.clone())
        .upsert_assets(&[
            coin("matic-network", "MATIC", "Polygon"),
            coin("polygon-ecosystem-token", "POL", "POL (ex-MATIC)"),
        ])
        .await
        .unwrap();
    let notes = |words: &[&'static str]| {
        let pool = pool.clone();
        let mut all = vec!["asset", "--since=2021-01-05", "--until=2021-01-07"];
        all.extend_from_slice(words);
        async move {
            let args = coinpulse::report::cli::ReportArgs::parse_words(all).unwrap();
            coinpulse::report::cli::produce(&pool, &args, &Default::default(), Utc::now())
                .await
                .unwrap()
                .notes
        }
    };
    let pol = notes(&["--asset=POL"]).await;
    assert!(
        pol.iter().any(
            |n| n.contains("replaced MATIC (matic-network) on 2024-09-04")
                && n.contains("--asset MATIC")
        ),
        "{pol:?}"
    );
    let matic = notes(&["--asset=MATIC"]).await;
    assert!(matic.iter().any(|n| n.contains("--asset POL")), "{matic:?}");
    let both = notes(&["--asset=MATIC", "--asset=bitcoin"]).await;
    assert_eq!(
        both.iter().filter(|n| n.contains("CoinGecko id")).count(),
        1,
        "{both:?}"
    );
    let btc = notes(&["--asset=bitcoin"]).await;
    assert!(!btc.iter().any(|n| n.contains("CoinGecko id")), "{btc:?}");
}

/// The report views carry human-only counts beside the totals: with a third of the posts automated
/// or promotional, `human_posts`, the human balance and the human dominance equal a recount over
/// the human posts, hour by hour and day by day, and the totals still count every post.
#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn views_count_human_posts_beside_all(pool: PgPool) {
    use coinpulse::classify::{Classification, PostClass};
    let mut posts = synthetic();
    for (i, p) in posts.iter_mut().enumerate() {
        p.class = Some(match i % 3 {
            0 => Classification {
                class: PostClass::Automated,
                reasons: vec![],
            },
            1 => Classification {
                class: PostClass::Promotional,
                reasons: vec![],
            },
            _ => Classification::human(),
        });
    }
    // Every sixth post is stored as before classification existed: it counts as human.
    for p in posts.iter_mut().skip(3).step_by(6) {
        p.class = None;
    }
    let store = Store::from_pool(pool.clone());
    for chunk in posts.chunks(120) {
        store.write_batch(chunk, "m1", None).await.unwrap();
    }
    let human: Vec<EnrichedPost> = posts
        .iter()
        .filter(|p| p.class.as_ref().is_none_or(|c| c.class == PostClass::Human))
        .cloned()
        .collect();
    assert!(human.len() > 100 && human.len() < posts.len() - 100);
    for (view, bucket, sql) in [
        (
            "report_hourly",
            Bucket::Hour,
            "SELECT bucket, asset_id, posts, human_posts, human_sentiment_balance, human_dominance
             FROM report_hourly ORDER BY 1, 2",
        ),
        (
            "report_daily",
            Bucket::Day,
            "SELECT day, asset_id, posts, human_posts, human_sentiment_balance, human_dominance
             FROM report_daily ORDER BY 1, 2",
        ),
    ] {
        let want_all = expected(&posts, bucket, None);
        let want = expected(&human, bucket, None);
        let rows: Vec<HumanRow> = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        assert_eq!(rows.len(), want_all.len(), "{view}");
        for (b, asset, posts, human_posts, balance, dominance) in &rows {
            let key = (asset.clone(), *b);
            assert_eq!(*posts, want_all[&key].posts, "{view} {key:?}");
            let w = want.get(&key).copied().unwrap_or_default();
            assert_eq!(
                (*human_posts, *balance),
                (w.posts, w.balance()),
                "{view} {key:?}"
            );
            let all_human: i64 = want
                .iter()
                .filter(|((_, d), _)| d == b)
                .map(|(_, c)| c.posts)
                .sum();
            match dominance {
                Some(d) => assert!((d - w.posts as f64 / all_human as f64).abs() < 1e-12),
                None => assert_eq!(all_human, 0, "{view} {key:?}"),
            }
        }
    }
}

/// The chart's price line comes from the stored prices, not from the buckets that have mentions: an
/// asset mentioned in two hours of twelve still gets twelve hourly prices, so the line does not break
/// into dashes wherever nobody posted.
#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn the_chart_price_line_does_not_depend_on_mentions(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let prices: Vec<PricePoint> = (0..12)
        .map(|h| PricePoint {
            asset: "bitcoin".into(),
            time: start() + TimeDelta::hours(h),
            price: 30_000.0 + h as f64,
            volume: None,
            source: "binance".into(),
        })
        .collect();
    store.write_prices(&prices, None).await.unwrap();
    let posts: Vec<EnrichedPost> = [1, 7]
        .iter()
        .map(|&h| {
            enriched(
                &format!("p{h}"),
                start() + TimeDelta::hours(h) + TimeDelta::minutes(5),
                vec![mention("bitcoin", 0, 3)],
                None,
            )
        })
        .collect();
    store.write_batch(&posts, "m1", None).await.unwrap();
    let (since, until) = (start(), start() + TimeDelta::hours(12));
    let series = coinpulse::chart::data::volume_price(&pool, "bitcoin", since, until, Bucket::Hour)
        .await
        .unwrap();
    let with_posts = series.volume.iter().filter(|(_, v)| *v > 0).count();
    assert_eq!(with_posts, 2, "{:?}", series.volume);
    let hours: Vec<DateTime<Utc>> = series.price.iter().map(|(t, _)| *t).collect();
    let want: Vec<DateTime<Utc>> = (0..12).map(|h| start() + TimeDelta::hours(h)).collect();
    assert_eq!(hours, want);
    assert_eq!(series.price_source.as_deref(), Some("Binance"));
}
