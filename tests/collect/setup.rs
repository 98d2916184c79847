//! Config checks, `build_collectors` and the `poll` command.

use coinpulse::collect::{CollectError, Secrets, build_collectors};
use coinpulse::config::Config;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::support::*;

fn load(text: &str) -> Result<Config, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, text).unwrap();
    Config::load_from(&file, true, std::iter::empty()).map_err(|e| e.to_string())
}

#[test]
fn enabled_source_without_its_env_name_is_rejected_naming_the_key() {
    let err = load("[sources.twitter]\nenabled = true\nbearer_token_env = \"\"\n").unwrap_err();
    assert!(err.contains("sources.twitter.bearer_token_env"), "{err}");
    let err = load("[sources.reddit]\nenabled = true\nsubreddits = [\"r/Bitcoin\"]\n").unwrap_err();
    assert!(err.contains("sources.reddit.subreddits"), "{err}");
    let err = load("[sources.binance]\ninterval = \"2m\"\n").unwrap_err();
    assert!(err.contains("sources.binance.interval"), "{err}");
    let err = load("[sources.youtube]\nsearch_interval = \"1m\"\n").unwrap_err();
    assert!(err.contains("sources.youtube.search_interval"), "{err}");
    let err = load("[sources.mastodon]\nbudget = { requests = 0, per = \"5m\" }\n").unwrap_err();
    assert!(err.contains("sources.mastodon.budget"), "{err}");
    let err = load("[sources.jetstream]\nenabled = true\ncompress = true\n").unwrap_err();
    assert!(err.contains("sources.jetstream.compress"), "{err}");
    let err = load("[sources.jetstream]\nurl = [\"http://x/subscribe\"]\n").unwrap_err();
    assert!(err.contains("sources.jetstream.url"), "{err}");
    let err = load("[sources.news]\nenabled = true\nfeeds = []\n").unwrap_err();
    assert!(err.contains("sources.news.feeds"), "{err}");
    let err = load("[sources.news]\nfeeds = [\"ftp://example.com/rss\"]\n").unwrap_err();
    assert!(err.contains("sources.news.feeds"), "{err}");
    let err = load("[sources.biz]\npoll_interval = \"5s\"\n").unwrap_err();
    assert!(err.contains("sources.biz.poll_interval"), "{err}");
}

#[test]
fn build_collectors_reports_missing_credentials_and_builds_the_rest() {
    let config = load(
        "[sources.twitter]\nenabled = true\nbearer_token_env = \"COINPULSE_TEST_UNSET_TOKEN_VAR\"\n\
         [sources.coingecko]\nenabled = true\n[sources.binance]\nenabled = true\n",
    )
    .unwrap();
    let (assets, secrets) = (assets(), Secrets::from_env());
    let built = build_collectors(
        &config,
        &config.sources.build_context(&assets, None, &secrets),
    );
    let names: Vec<&str> = built.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["twitter", "coingecko", "binance"]);
    match &built[0].1 {
        Err(CollectError::Fatal { message, .. }) => {
            assert!(
                message.contains("COINPULSE_TEST_UNSET_TOKEN_VAR"),
                "{message}"
            );
            assert!(
                message.contains("sources.twitter.bearer_token_env"),
                "{message}"
            );
        }
        other => panic!(
            "expected a fatal error, got {:?}",
            other.as_ref().map(|c| c.name())
        ),
    }
    assert_eq!(built[1].1.as_ref().unwrap().name(), "coingecko");
    assert_eq!(built[2].1.as_ref().unwrap().name(), "binance");
}

#[tokio::test]
async fn poll_command_prints_json_lines_or_stores_the_round() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/simple/price"))
        .respond_with(fixture("coingecko/simple_price_bitcoin_usd.json"))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "[sources.coingecko]\nenabled = true\ncurrent = \"simple\"\nbackfill_days = 0\ntrack = { assets = [\"bitcoin\"] }\n",
    )
    .unwrap();
    let (database_url, pool) = crate::common::fresh_database().await;
    let run = |extra: &'static [&'static str]| {
        let file = file.clone();
        let uri = server.uri();
        let database_url = database_url.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_coinpulse"))
                .args([
                    "--config",
                    file.to_str().unwrap(),
                    "poll",
                    "coingecko",
                    "--once",
                    "--base-url",
                    &uri,
                ])
                .args(extra)
                .env("COINPULSE_DATABASE__URL", database_url)
                .output()
                .unwrap()
        })
    };
    let out = run(&["--stdout"]).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["asset"], "bitcoin");
    assert_eq!(lines[0]["price"], 49013.0);

    // Without --stdout the round is stored: the price and the cursor, in one transaction.
    let out = run(&[]).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (asset, price): (String, f64) = sqlx::query_as("SELECT asset_id, price FROM prices")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((asset.as_str(), price), ("bitcoin", 49013.0));
    let cursors: i64 =
        sqlx::query_scalar("SELECT count(*) FROM cursors WHERE source = 'coingecko'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(cursors, 1);
}
