//! Tagger throughput against the ceiling, automaton build time for the default registry and the full
//! 18k-coin list, and the default registry's memory.
//!
//! The ceiling is a bare unanchored leftmost-longest, ASCII case-insensitive `find_iter` over the same
//! surface forms, built twice: as a contiguous NFA (what `aho-corasick` picks by itself for this many
//! patterns) and as a DFA (its fastest search). It finds candidates only, with no boundary or policy
//! check, so the tagger should not beat it by much unless it searches less text; the targets are
//! tag_into ≥ half the faster ceiling, and the ratio to flashtext from `scripts/bench_tagger.py`.
//!
//! Long posts: tagging time must grow linearly with the text. For 1 KB to 5 MB of three kinds of
//! text (`$BTC,` repeated without a space, `BTC ` repeated, and the replay tweets joined into one
//! line) the bench prints the median time of three passes and the throughput, which stays flat when
//! tagging is linear (it fell as the length grew when a check read back to the start of the token or
//! of the line for every candidate).
//!
//! Reload: a running daemon builds a new tagger beside the one in use and swaps it in (see
//! `coinpulse::pipeline::registry`). The bench prints the wall time of one build of the default
//! registry and the resident memory it adds, alone and while two taggers coexist during a swap.
//!
//! `cargo bench --bench tagger`. Reads the replay tweets from the shared data set (never committed).
//! `TAGGER_ONE_PASS=1 cargo bench --bench tagger` prints only the timed passes (used by
//! `scripts/bench_tagger.py`).

use std::time::Instant;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
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

/// The ceiling automaton: the tagger's surface forms, unanchored, leftmost-longest.
fn ceiling(tagger: &Tagger, kind: AhoCorasickKind) -> AhoCorasick {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .ascii_case_insensitive(true)
        .kind(Some(kind))
        .build(tagger.patterns())
        .expect("ceiling automaton")
}

/// Median posts/s of `runs` passes of `f` over `posts`, and what the last pass returned.
fn posts_per_s(
    posts: &[String],
    runs: usize,
    mut f: impl FnMut(&[String]) -> usize,
) -> (f64, usize) {
    let mut rates = Vec::new();
    let mut found = 0;
    for _ in 0..runs {
        let start = Instant::now();
        found = black_box(f(posts));
        rates.push(posts.len() as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    (rates[runs / 2], found)
}

/// One line per measurement, for the README table and `scripts/bench_tagger.py`.
fn one_pass(posts: &[String], tagger: &Tagger, nfa: &AhoCorasick, dfa: &AhoCorasick) {
    let bytes: usize = posts.iter().map(String::len).sum();
    eprintln!(
        "default registry: {} assets, {} surface forms, automaton {:?} {} bytes, tagger total ~{} bytes; \
         ceiling automata: contiguous NFA {} bytes, DFA {} bytes",
        tagger.assets().len(),
        tagger.patterns().count(),
        tagger.automaton_kind(),
        tagger.automaton_memory_usage(),
        tagger.memory_usage(),
        nfa.memory_usage(),
        dfa.memory_usage()
    );
    let runs = 5;
    let (tag, mentions) = posts_per_s(posts, runs, |posts| {
        let mut buf = Vec::new();
        let mut n = 0;
        for p in posts {
            tagger.tag_into(p, &mut buf);
            n += buf.len();
        }
        n
    });
    let bare = |ac: &AhoCorasick| {
        posts_per_s(posts, runs, |posts| {
            posts.iter().map(|p| ac.find_iter(p.as_str()).count()).sum()
        })
    };
    let (nfa_rate, nfa_hits) = bare(nfa);
    let (dfa_rate, dfa_hits) = bare(dfa);
    eprintln!(
        "median of {runs} passes over {} posts ({:.1} MB):",
        posts.len(),
        bytes as f64 / 1e6
    );
    eprintln!("tag_into posts/s: {tag:.0} ({mentions} mentions)");
    eprintln!("ceiling contiguous-nfa find_iter posts/s: {nfa_rate:.0} ({nfa_hits} matches)");
    eprintln!("ceiling dfa find_iter posts/s: {dfa_rate:.0} ({dfa_hits} matches)");
    eprintln!(
        "tag_into / ceiling: {:.2} of contiguous-nfa, {:.2} of dfa",
        tag / nfa_rate,
        tag / dfa_rate
    );
}

/// `unit` repeated to `len` bytes (cut at a character boundary).
fn repeat_to(unit: &str, len: usize) -> String {
    let mut s = unit.repeat(len / unit.len() + 1);
    s.truncate(s.floor_char_boundary(len));
    s
}

/// Time per length for long single posts, one line per kind and length.
fn long_posts(posts: &[String], tagger: &Tagger) {
    let joined = posts.join(" ").replace(['\n', '\r'], " ");
    type Make<'a> = Box<dyn Fn(usize) -> String + 'a>;
    let kinds: [(&str, Make); 3] = [
        ("'$BTC,' repeated", Box::new(|n| repeat_to("$BTC,", n))),
        ("'BTC ' repeated", Box::new(|n| repeat_to("BTC ", n))),
        (
            "replay tweets as one line",
            Box::new(|n| repeat_to(&joined, n)),
        ),
    ];
    eprintln!("long posts, median of 3 passes:");
    for (name, make) in &kinds {
        for len in [1_000, 10_000, 100_000, 1_000_000, 5_000_000] {
            let text = make(len);
            let mut times = Vec::new();
            let mut found = 0;
            let mut buf = Vec::new();
            for _ in 0..3 {
                let start = Instant::now();
                tagger.tag_into(black_box(&text), &mut buf);
                times.push(start.elapsed().as_secs_f64());
                found = buf.len();
            }
            times.sort_by(f64::total_cmp);
            let t = times[1];
            eprintln!(
                "  {name:<27} {:>9} bytes: {:>10.3} ms  {:>7.1} MB/s  ({found} mentions kept)",
                text.len(),
                t * 1e3,
                text.len() as f64 / t / 1e6
            );
        }
    }
}

/// Resident memory of this process in bytes (`VmRSS`).
fn resident() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .expect("VmRSS in /proc/self/status")
        * 1024
}

/// Build time and resident memory of the default registry's tagger, as a reload sees them: one
/// tagger in use, a second built beside it, the first dropped.
fn reload_cost() {
    // The first build also loads what every build shares (the word list); measure the ones after.
    let first = Tagger::builtin().unwrap();
    coinpulse::memory::release_free_memory();
    let base = resident();
    let start = Instant::now();
    let second = Tagger::builtin().unwrap();
    let build = start.elapsed();
    let both = resident();
    drop(first);
    coinpulse::memory::release_free_memory();
    let after = resident();
    let mb = |b: usize| b as f64 / 1e6;
    eprintln!(
        "reload of the default registry ({} assets): build {:.1} ms; resident memory +{:.1} MB for \
         the new tagger beside the one in use (heap estimate {:.1} MB); {:+.1} MB against before the \
         build once the old one is dropped",
        second.assets().len(),
        build.as_secs_f64() * 1e3,
        mb(both.saturating_sub(base)),
        mb(second.memory_usage()),
        (after as f64 - base as f64) / 1e6
    );
}

fn bench(c: &mut Criterion) {
    reload_cost();
    let posts = tweets();
    let bytes: usize = posts.iter().map(String::len).sum();
    let tagger = Tagger::builtin().unwrap();
    let nfa = ceiling(&tagger, AhoCorasickKind::ContiguousNFA);
    let dfa = ceiling(&tagger, AhoCorasickKind::DFA);
    one_pass(&posts, &tagger, &nfa, &dfa);
    if std::env::var_os("TAGGER_ONE_PASS").is_some() {
        return;
    }
    long_posts(&posts, &tagger);
    let full = coinpulse::shared::file("data/assets/coins.csv");
    let start = Instant::now();
    let t = Tagger::from_file(&full).unwrap();
    eprintln!(
        "one build of the full list ({} assets): {:.1} ms, automaton {:?} {} bytes",
        t.assets().len(),
        start.elapsed().as_secs_f64() * 1000.0,
        t.automaton_kind(),
        t.automaton_memory_usage()
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
    for (name, ac) in [("ceiling_contiguous_nfa", &nfa), ("ceiling_dfa", &dfa)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut hits = 0;
                for p in &posts {
                    hits += ac.find_iter(black_box(p.as_str())).count();
                }
                hits
            })
        });
    }
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
