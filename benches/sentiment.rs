//! Scoring throughput of the built-in model on dev.csv and the replay tweets (one thread), and
//! tokenization alone. `cargo bench --bench sentiment`.
//!
//! `score/*` reuses one scratch across passes, as a scoring thread of the daemon does, so its word
//! cache is warm: on the replay tweets (more distinct words than the cache holds) 2.8% of word
//! lookups still miss, but all of dev.csv's vocabulary fits, so every lookup hits after the first
//! pass. `score-fresh/*` starts each pass with a new scratch, an empty cache: the pessimistic bound
//! (12.9% of dev.csv's lookups miss in one pass).

use std::time::Duration;

use coinpulse::sentiment::tokenize::{Tokens, tokenize};
use coinpulse::sentiment::{Scratch, SentimentModel};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn texts(relative: &str) -> Vec<String> {
    let mut rdr = csv::Reader::from_path(coinpulse::shared::file(relative)).expect("readable CSV");
    let col = rdr
        .headers()
        .expect("header")
        .iter()
        .position(|h| h == "text")
        .expect("text column");
    rdr.records()
        .map(|r| r.expect("valid row")[col].to_string())
        .collect()
}

fn bench(c: &mut Criterion) {
    let model = SentimentModel::builtin().expect("built-in model");
    let sets = [
        ("dev", texts("data/sentiment/dev.csv")),
        (
            "replay",
            texts("data/replay/tweets_cryptop12_2020-11-01_2021-02-28.csv"),
        ),
    ];
    let mut g = c.benchmark_group("sentiment");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for (name, posts) in &sets {
        g.throughput(Throughput::Elements(posts.len() as u64));
        g.bench_function(format!("score/{name}"), |b| {
            let mut scratch = Scratch::new();
            b.iter(|| {
                let mut acc = 0.0f32;
                for p in posts {
                    acc += model.score_with(p, &mut scratch).score;
                }
                acc
            })
        });
        g.bench_function(format!("score-fresh/{name}"), |b| {
            b.iter(|| {
                let mut scratch = Scratch::new();
                let mut acc = 0.0f32;
                for p in posts {
                    acc += model.score_with(p, &mut scratch).score;
                }
                acc
            })
        });
        g.bench_function(format!("tokenize/{name}"), |b| {
            let mut t = Tokens::new();
            b.iter(|| {
                let mut n = 0;
                for p in posts {
                    tokenize(p, &mut t);
                    n += t.tokens.len();
                }
                n
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
