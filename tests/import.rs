//! `coinpulse import` end to end against a real PostgreSQL, on the real replay archive.

use std::collections::BTreeMap;
use std::sync::Arc;

use coinpulse::import::formats::Format;
use coinpulse::import::{ImportArgs, import_file};
use coinpulse::pipeline::Enricher;
use coinpulse::store::Store;
use sqlx::PgPool;

mod common;

fn args(path: std::path::PathBuf, format: Format) -> ImportArgs {
    ImportArgs {
        path,
        format,
        batch_size: 2000,
        price_source: "binance".into(),
    }
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn replay_tweets_import_once_with_matching_daily_counts(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let path = coinpulse::shared::file("data/replay/tweets_cryptop12_2020-11-01_2021-02-28.csv");
    let enricher = Arc::new(Enricher::builtin());
    let assets = Enricher::builtin().tagger().assets().to_vec();

    let first = import_file(
        &store,
        enricher.clone(),
        &assets,
        &args(path.clone(), Format::Cryptop12),
        false,
    )
    .await
    .unwrap();
    assert_eq!(first.read, 98_967);
    assert_eq!(first.stored, 98_967);
    // Every post went through the tagger on its way in; the rollup counts what it found.
    assert!(first.mentions > 50_000, "only {} mentions", first.mentions);
    assert!(
        first.rejected.is_empty(),
        "{:?}",
        &first.rejected[..first.rejected.len().min(3)]
    );

    let second = import_file(
        &store,
        enricher,
        &assets,
        &args(path.clone(), Format::Cryptop12),
        false,
    )
    .await
    .unwrap();
    assert_eq!((second.stored, second.duplicates), (0, 98_967));

    // Posts per UTC day, counted from the file itself.
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    let mut reader = csv::Reader::from_path(&path).unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        *expected.entry(record[1][..10].to_string()).or_default() += 1;
    }
    let stored: Vec<(String, i64)> = sqlx::query_as(
        "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), count(*)
         FROM posts GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(stored.into_iter().collect::<BTreeMap<_, _>>(), expected);
    common::assert_rollup_matches_recount(&pool).await;
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn malformed_rows_are_rejected_with_line_numbers_and_good_rows_kept(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(
        &path,
        "post_id,created_at_utc,platform,query_coins,author,text,replies,retweets,likes,author_followers\n\
         1,2021-01-01T00:00:00Z,twitter,BTC,u_a,first good row,0,0,0,\n\
         2,not-a-time,twitter,BTC,u_b,bad time,0,0,0,\n\
         3,2021-01-01T01:00:00Z,twitter,BTC,u_c,\"multi\nline good row\",1,2,3,4\n\
         4,2021-01-01T02:00:00Z,twitter,BTC,u_d,too few fields\n\
         5,2021-01-01T03:00:00Z,twitter,BTC,u_e,bad count,many,0,0,\n\
         6,2021-01-01T04:00:00Z,twitter,BTC,u_f,last good row,0,0,0,\n",
    )
    .unwrap();
    let summary = import_file(
        &store,
        Arc::new(Enricher::builtin()),
        &[],
        &args(path, Format::Cryptop12),
        false,
    )
    .await
    .unwrap();
    assert_eq!(summary.read, 6);
    assert_eq!(summary.stored, 3);
    let lines: Vec<u64> = summary.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 6, 7], "{:?}", summary.rejected);
    assert!(summary.rejected[0].reason.contains("created_at_utc"));
    assert!(summary.rejected[1].reason.contains("fields"));
    assert!(summary.rejected[2].reason.contains("replies"));
    let rendered = summary.render();
    assert!(rendered.contains("rejected line 3"), "{rendered}");
    let ids: Vec<String> = sqlx::query_scalar("SELECT external_id FROM posts ORDER BY 1")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(ids, ["1", "3", "6"]);
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn shipped_price_history_imports(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/prices/binance_btc_eth_hourly.csv");
    let summary = import_file(
        &store,
        Arc::new(Enricher::builtin()),
        Enricher::builtin().tagger().assets(),
        &args(path, Format::PricesCsv),
        false,
    )
    .await
    .unwrap();
    assert_eq!(summary.prices, 65_154);
    assert!(summary.rejected.is_empty());
    let (n, max): (i64, f64) =
        sqlx::query_as("SELECT count(*), max(price) FROM prices WHERE asset_id = 'bitcoin'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(n, 32_577);
    assert!(max > 60_000.0 && max < 70_000.0, "BTC max {max}");
}

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn daily_price_files_import_and_a_second_run_counts_duplicates(pool: PgPool) {
    let store = Store::from_pool(pool.clone());
    let assets = Enricher::builtin().tagger().assets().to_vec();
    // Two daily layouts: `symbol,name,date,open,high,low,close,volume_usd,market_cap_usd` and
    // `date,symbol,close_usd`.
    // The built-in registry (2022) knows 11 of the 12 CrypTop12 tickers (not `MIOTA`) and 29 of the
    // 36 of December 2024.
    for (file, rows, known) in [
        ("data/replay/prices_daily_cryptop12.csv", 14_940, 11 * 1_245),
        ("data/replay/prices_daily_2024-12.csv", 1_116, 29 * 31),
    ] {
        let path = coinpulse::shared::file(file);
        let run = || async {
            import_file(
                &store,
                Arc::new(Enricher::builtin()),
                &assets,
                &args(path.clone(), Format::PricesCsv),
                false,
            )
            .await
            .unwrap()
        };
        let first = run().await;
        assert_eq!(first.read, rows, "{file}");
        // Every row is a price or a rejection naming an asset the registry does not know.
        assert_eq!(first.prices + first.rejected.len() as u64, rows, "{file}");
        assert!(
            first
                .rejected
                .iter()
                .all(|r| r.reason.contains("unknown asset")),
            "{file}: {:?}",
            &first.rejected[..first.rejected.len().min(3)]
        );
        assert!(first.prices >= known, "{file}: {}", first.render());
        assert_eq!(first.duplicate_prices, 0, "{file}");
        let second = run().await;
        assert_eq!(
            (second.prices, second.duplicate_prices),
            (0, first.prices),
            "{file}"
        );
        assert!(
            second
                .render()
                .contains(&format!("duplicate prices {}", first.prices)),
            "{}",
            second.render()
        );
    }
    // A daily close lands at the day's 00:00 UTC.
    let btc: f64 = sqlx::query_scalar(
        "SELECT price FROM prices WHERE asset_id = 'bitcoin' AND time = '2021-01-01T00:00:00Z'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let expected: f64 = std::fs::read_to_string(coinpulse::shared::file(
        "data/replay/prices_daily_cryptop12.csv",
    ))
    .unwrap()
    .lines()
    .find(|l| l.starts_with("BTC,") && l.contains(",2021-01-01,"))
    .and_then(|l| l.split(',').nth(6)?.parse().ok())
    .unwrap();
    assert_eq!(btc, expected);
}

/// `external_id, text, author, url, language, raw` of a stored post.
type StoredPost = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<serde_json::Value>,
);

#[sqlx::test(migrator = "coinpulse::store::MIGRATOR")]
async fn nul_bytes_bad_lines_and_refused_rows_cost_only_themselves(pool: PgPool) {
    // Stands in for any value the database refuses after sanitising.
    sqlx::query(
        "ALTER TABLE posts ADD CONSTRAINT refuse_marked CHECK (text NOT LIKE '%refuse me%')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let store = Store::from_pool(pool.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("posts.jsonl");
    let line = |id: &str, text: &str| {
        format!(
            r#"{{"platform":"twitter","id":"{id}","created_at":"2021-01-01T00:00:00Z","text":"{text}"}}"#
        )
    };
    let mut file: Vec<u8> = Vec::new();
    for l in [
        line("1", "first $BTC"),
        // A NUL in every string field and inside the raw JSON, key and value.
        r#"{"platform":"twitter","id":"2\u0000","created_at":"2021-01-01T00:00:00Z","text":"nul \u0000$ETH","author":"a\u0000b","url":"https://x.com/\u0000","language":"e\u0000n","raw":{"k\u0000":["v\u0000"]}}"#.to_string(),
    ] {
        file.extend_from_slice(l.as_bytes());
        file.push(b'\n');
    }
    file.extend_from_slice(b"{\"platform\":\"twitter\",\"id\":\"3\",\"text\":\"\xff\xfe\"}\n");
    for l in [
        r#"{"platform":"twitter","id":"4","created_at":"-300000000000","text":"too old"}"#
            .to_string(),
        line("5", "please refuse me"),
        line("6", "last $BTC"),
    ] {
        file.extend_from_slice(l.as_bytes());
        file.push(b'\n');
    }
    std::fs::write(&path, file).unwrap();
    let mut import = args(path, Format::Jsonl);
    import.batch_size = 2;
    let summary = import_file(&store, Arc::new(Enricher::builtin()), &[], &import, false)
        .await
        .expect("the import runs to the end");
    assert_eq!(
        (summary.read, summary.stored),
        (6, 3),
        "{}",
        summary.render()
    );
    let lines: Vec<u64> = summary.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [3, 4, 5], "{:?}", summary.rejected);
    assert!(summary.rejected[0].reason.contains("UTF-8"));
    assert!(summary.rejected[1].reason.contains("PostgreSQL"));
    assert!(summary.rejected[2].reason.contains("refuse_marked"));
    let rendered = summary.render();
    assert!(rendered.contains("rejected line 5"), "{rendered}");

    let stored: Vec<StoredPost> = sqlx::query_as(
        "SELECT external_id, text, author, url, language, raw FROM posts ORDER BY external_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(stored.len(), 3);
    let (id, text, author, url, language, raw) = &stored[1];
    assert_eq!((id.as_str(), text.as_str()), ("2", "nul $ETH"));
    assert_eq!(author.as_deref(), Some("ab"));
    assert_eq!(url.as_deref(), Some("https://x.com/"));
    assert_eq!(language.as_deref(), Some("en"));
    assert_eq!(raw, &Some(serde_json::json!({"k": ["v"]})));
    let spans: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.surface, substr(p.text, m.start_byte + 1, m.end_byte - m.start_byte)
         FROM mentions m JOIN posts p ON p.id = m.post_id WHERE p.external_id = '2'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].0, spans[0].1, "spans index the text as stored");
    let kept: (String, String) = sqlx::query_as("SELECT source, external_id FROM rejected_posts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept, ("import".to_string(), "5".to_string()));
    common::assert_rollup_matches_recount(&pool).await;
}
