//! Property tests that feed arbitrary input to every parser of outside input that lives in the
//! library: the `tag` and `score` stdin filters, the import formats and the config loader. (The
//! collectors' payload decoders are fuzzed through a local server in `tests/collect/fuzz.rs`.)
//!
//! Each target checks what must hold for any input: no panic, one output line per input line, every
//! output line valid JSON, mention spans that slice the text they came from, rejected records that
//! keep their line number. A normal test run tries a few dozen cases each; `scripts/fuzz.sh` runs
//! many more (`PROPTEST_CASES`, and `FUZZ_SECONDS` to keep going until that much time has passed).

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};

use crate::import::formats::{self, Columns, Record};
use crate::tag::Tagger;

/// Cases per target in a normal test run, unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 48;

/// Runs `test` over `strategy`, `PROPTEST_CASES` times, again and again until `FUZZ_SECONDS`
/// have passed when that is set.
fn fuzz<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let deadline = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(|s| Instant::now() + Duration::from_secs(s));
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    loop {
        if let Err(e) = runner.run(&strategy, &test) {
            panic!("{e}");
        }
        if deadline.is_none_or(|d| Instant::now() >= d) {
            break;
        }
    }
}

fn tagger() -> &'static Tagger {
    static TAGGER: OnceLock<Tagger> = OnceLock::new();
    TAGGER.get_or_init(|| Tagger::builtin().expect("the built-in registry loads"))
}

/// Text that reaches the tagger's rules: pieces of posts (forms, sigils, URLs, handles, case,
/// separators, multi-byte characters) glued in any order, and arbitrary strings.
fn post_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "$BTC",
            "$btc",
            "BTC",
            "bitcoin",
            "Bitcoin Cash",
            "ETH",
            "#ETH",
            "eth",
            "LINK",
            "link",
            "Harmony",
            "ONE",
            "$ONE",
            "0.5BTC",
            "BTCs",
            "@",
            "://",
            "www.",
            "r/",
            "u/",
            ".com",
            " ",
            "  ",
            ",",
            ".",
            "\n",
            "\r",
            "-",
            "'",
            "’",
            "&amp;",
            "é",
            "比",
            "🚀",
            "2️⃣",
            "\u{0}",
            "MOON",
            "I",
            "a",
            "the",
            "crypto",
            "\"",
            "(",
            "$",
            "#",
            "_",
            "Ξ",
            "₿",
        ])
        .prop_map(str::to_owned),
        "[A-Za-z]{1,8}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
}

/// Lines for the stdin filters: post texts, JSON objects holding them, and arbitrary bytes.
fn stdin_lines() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        4 => post_text().prop_map(String::into_bytes),
        3 => (any::<i64>(), post_text()).prop_map(|(id, text)| {
            serde_json::json!({"id": id, "text": text}).to_string().into_bytes()
        }),
        1 => prop::collection::vec(any::<u8>(), 0..80),
        1 => "\\{[\"a-z:, 0-9{}\\[\\]\\\\]{0,40}".prop_map(String::into_bytes),
    ];
    (prop::collection::vec(line, 0..8), any::<bool>()).prop_map(|(lines, final_newline)| {
        let mut out = lines.join(&b'\n');
        if final_newline && !out.is_empty() {
            out.push(b'\n');
        }
        out
    })
}

/// How many lines a filter must answer for `input`: one per `\n`-terminated line, plus an
/// unterminated last one.
fn line_count(input: &[u8]) -> usize {
    let newlines = input.iter().filter(|&&b| b == b'\n').count();
    newlines + usize::from(!input.is_empty() && !input.ends_with(b"\n"))
}

#[test]
fn fuzz_tag_stdin() {
    fuzz(stdin_lines(), |input| {
        let mut out = Vec::new();
        crate::tag::cli::tag_stream(tagger(), &mut &input[..], &mut out).unwrap();
        let out = String::from_utf8(out).expect("tag writes UTF-8");
        prop_assert_eq!(out.lines().count(), line_count(&input));
        for line in out.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
            prop_assert!(
                v.get("mentions").is_some() || v.get("error").is_some(),
                "{}",
                line
            );
        }
        Ok(())
    });
}

#[test]
fn fuzz_score_stdin() {
    let model = crate::sentiment::SentimentModel::builtin().expect("the built-in model loads");
    fuzz(stdin_lines(), |input| {
        let mut out = Vec::new();
        crate::sentiment::cli::score_stream(&model, &input[..], &mut out, None).unwrap();
        let out = String::from_utf8(out).expect("score writes UTF-8");
        prop_assert_eq!(out.lines().count(), line_count(&input));
        for line in out.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
            if let Some(score) = v.get("score").and_then(|s| s.as_f64()) {
                prop_assert!((-1.0..=1.0).contains(&score), "{}", line);
            }
        }
        Ok(())
    });
}

/// A CSV document with `header` and rows mixing plausible and arbitrary fields.
fn csv_document(header: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        post_text(),
        "-?[0-9]{1,20}(\\.[0-9]{0,6})?",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}Z?",
        Just("BTC".to_owned()),
        Just("\"".to_owned()),
    ];
    let row = prop::collection::vec(field, 0..12).prop_map(|fields| {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&fields).unwrap();
        w.into_inner().unwrap()
    });
    prop_oneof![
        4 => prop::collection::vec(row, 0..6).prop_map(move |rows| {
            let mut doc = format!("{header}\n").into_bytes();
            rows.iter().for_each(|r| doc.extend_from_slice(r));
            doc
        }),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ]
}

/// Reads `doc` as the import does and parses every record with `parse`; checks that a rejected
/// record keeps its line number and that a post has an id and a text.
fn check_csv(
    doc: &[u8],
    required: &[&str],
    parse: impl Fn(&Columns, &csv::StringRecord, u64) -> formats::Parsed,
) -> Result<(), TestCaseError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(doc);
    let Ok(header) = reader.headers().cloned() else {
        return Ok(());
    };
    let Ok(cols) = Columns::new(&header, required) else {
        return Ok(());
    };
    let mut record = csv::StringRecord::new();
    while let Ok(true) = reader.read_record(&mut record) {
        let line = record.position().map_or(0, |p| p.line());
        match parse(&cols, &record, line) {
            Ok(Record::Post(post)) => {
                prop_assert!(!post.external_id.trim().is_empty());
            }
            Ok(Record::Price(p)) => prop_assert!(p.price.is_finite() && p.price >= 0.0),
            Err(rejected) => prop_assert_eq!(rejected.line, line),
        }
    }
    Ok(())
}

#[test]
fn fuzz_import_cryptop12() {
    let header = "post_id,created_at_utc,platform,query_coins,author,text,replies,retweets,likes,author_followers";
    fuzz(csv_document(header), |doc| {
        check_csv(&doc, formats::CRYPTOP12_COLUMNS, formats::cryptop12)
    });
}

#[test]
fn fuzz_import_reddit_csv() {
    let header = "post_id,parent_id,kind,created_at_utc,subreddit,title,text,score";
    fuzz(csv_document(header), |doc| {
        check_csv(&doc, formats::REDDIT_COLUMNS, formats::reddit_csv)
    });
}

#[test]
fn fuzz_import_prices_csv() {
    let header = "symbol,pair,open_time_utc,open,high,low,close,volume_base,volume_quote";
    let symbols: HashMap<String, String> = [("BTC".to_owned(), "bitcoin".to_owned())].into();
    fuzz(csv_document(header), |doc| {
        check_csv(&doc, formats::PRICES_COLUMNS, |cols, record, line| {
            match formats::PriceColumns::new(cols) {
                Ok(price_cols) => {
                    formats::prices_csv(cols, &price_cols, record, line, &symbols, "import")
                }
                Err(reason) => Err(formats::Rejected { line, reason }),
            }
        })
    });
}

#[test]
fn fuzz_import_jsonl() {
    let value = prop_oneof![
        Just(serde_json::Value::Null),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        post_text().prop_map(serde_json::Value::from),
        Just(serde_json::json!("2021-01-13T21:00:00Z")),
        Just(serde_json::json!("twitter")),
        Just(serde_json::json!({"nested": [1, "x"]})),
    ];
    let keys = prop::sample::select(vec![
        "platform",
        "id",
        "created_at",
        "text",
        "author",
        "url",
        "language",
        "replies",
        "reposts",
        "likes",
        "views",
        "author_followers",
        "raw",
        "unknown",
    ]);
    let object = prop::collection::vec((keys, value), 0..10).prop_map(|fields| {
        let mut line = serde_json::json!({
            "platform": "twitter", "id": "1", "created_at": "2021-01-13T21:00:00Z", "text": "$BTC"
        });
        for (k, v) in fields {
            line[k] = v;
        }
        line.to_string()
    });
    let line = prop_oneof![4 => object, 1 => any::<String>()];
    fuzz(line, |line| {
        match formats::jsonl(&line, 7) {
            Ok(Record::Post(post)) => {
                prop_assert!(!post.external_id.trim().is_empty() && !post.text.trim().is_empty());
            }
            Ok(Record::Price(_)) => prop_assert!(false, "a JSONL line is a post"),
            Err(rejected) => prop_assert_eq!(rejected.line, 7),
        }
        Ok(())
    });
}

/// `config.toml` as shipped, parsed once.
fn shipped_config() -> toml::Table {
    let text = include_str!("../config.toml");
    toml::from_str(text).expect("config.toml parses")
}

#[test]
fn fuzz_config_loader() {
    let value = prop_oneof![
        any::<i64>().prop_map(toml::Value::from),
        any::<f64>().prop_map(toml::Value::from),
        any::<bool>().prop_map(toml::Value::from),
        prop_oneof![
            any::<String>(),
            "[0-9]{1,25}(ns|ms|s|m|h|d|w|days|weeks)?",
            "(https?|ftp)://[a-z0-9.:/@]{0,20}",
        ]
        .prop_map(toml::Value::from),
        prop::collection::vec(any::<String>(), 0..3).prop_map(toml::Value::from),
    ];
    // Leaves of the shipped config replaced (by index in a walk of its keys), or arbitrary text.
    let doc = prop_oneof![
        4 => prop::collection::vec((any::<usize>(), value), 1..6).prop_map(|changes| {
            let mut table = shipped_config();
            for (i, v) in changes {
                let mut leaves = Vec::new();
                collect_leaves(&mut table, &mut leaves);
                let n = leaves.len();
                *leaves[i % n] = v;
            }
            toml::to_string(&table).expect("a table serialises")
        }),
        1 => any::<String>(),
    ];
    let env = prop::collection::vec(
        (
            prop_oneof![
                Just("DATABASE_URL".to_owned()),
                "COINPULSE_[A-Z_]{0,30}",
                "COINPULSE_(PIPELINE|SOURCES__TWITTER|CHARTS|HTTP)__[A-Z_]{1,20}",
            ],
            any::<String>(),
        ),
        0..3,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    fuzz((doc, env), |(doc, env)| {
        std::fs::write(&path, &doc).unwrap();
        if let Err(e) = crate::config::Config::load_from(&path, true, env) {
            let message = e.to_string();
            prop_assert!(!message.is_empty());
        }
        Ok(())
    });
}

fn collect_leaves<'a>(table: &'a mut toml::Table, out: &mut Vec<&'a mut toml::Value>) {
    for (_, value) in table.iter_mut() {
        match value {
            toml::Value::Table(t) => collect_leaves(t, out),
            leaf => out.push(leaf),
        }
    }
}
