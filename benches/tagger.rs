//! Tagger throughput against the ceiling (a bare `find_iter` over the same automaton), automaton build
//! time for the default registry and the full 18k-coin list, and the default registry's memory.
//!
//! `cargo bench --bench tagger`. Reads the replay tweets from the shared data set (never committed).

use std::time::Instant;

use coinpulse::tag::Tagger;
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};

fn tweets() -> Vec<String> {
    let path = coinpulse::shared::file("data/replay/tweets_cryptop12_2020-11-01_2021-02-28.csv");
    let mut reader = csv::Reader::from_path(path).expect("replay tweets");
    let col = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "text")
        .expect("text column");
    reader
        .records()
        .map(|r| r.expect("csv record")[col].to_string())
        .collect()
}

fn bench(c: &mut Criterion) {
    let posts = tweets();
    let bytes: usize = posts.iter().map(String::len).sum();
    let tagger = Tagger::builtin().unwrap();
    eprintln!(
        "default registry: {} assets, automaton {} bytes, tagger total ~{} bytes",
        tagger.assets().len(),
        tagger.automaton().memory_usage(),
        tagger.memory_usage()
    );
    // One timed pass each, printed as posts/s, for the README table.
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut n = 0;
    for p in &posts {
        tagger.tag_into(p, &mut buf);
        n += buf.len();
    }
    let tag_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut hits = 0;
    for p in &posts {
        hits += tagger.automaton().find_iter(p.as_str()).count();
    }
    let bare_s = start.elapsed().as_secs_f64();
    eprintln!(
        "one pass over {} posts ({} MB): tag {:.0} posts/s ({} mentions), \
         bare find_iter {:.0} posts/s ({} matches)",
        posts.len(),
        bytes / 1_000_000,
        posts.len() as f64 / tag_s,
        n,
        posts.len() as f64 / bare_s,
        hits
    );
    let full = coinpulse::shared::file("data/assets/coins.csv");
    let start = Instant::now();
    let t = Tagger::from_file(&full).unwrap();
    eprintln!(
        "one build of the full list ({} assets): {:.1} ms, automaton {} bytes",
        t.assets().len(),
        start.elapsed().as_secs_f64() * 1000.0,
        t.automaton().memory_usage()
    );

    let mut group = c.benchmark_group("replay_tweets");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    group.bench_function("tag_into", |b| {
        let mut buf = Vec::new();
        b.iter(|| {
            for p in &posts {
                tagger.tag_into(black_box(p), &mut buf);
            }
        })
    });
    group.bench_function("bare_find_iter", |b| {
        b.iter(|| {
            let mut hits = 0;
            for p in &posts {
                hits += tagger.automaton().find_iter(black_box(p.as_str())).count();
            }
            hits
        })
    });
    group.finish();

    let mut group = c.benchmark_group("build");
    group.sample_size(10);
    group.bench_function("builtin", |b| b.iter(|| Tagger::builtin().unwrap()));
    group.bench_function("coins_csv_18k", |b| {
        b.iter(|| Tagger::from_file(&full).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
