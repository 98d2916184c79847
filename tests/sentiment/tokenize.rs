//! Tokenizer behaviour on the things posts are made of.

use coinpulse::sentiment::tokenize::{Tokens, tokenize};

fn toks(s: &str) -> Vec<String> {
    let mut t = Tokens::new();
    tokenize(s, &mut t);
    t.rendered()
}

#[test]
fn negation_scope_runs_to_punctuation() {
    assert_eq!(
        toks("This is not a good buy, sell"),
        ["this", "is", "not", "a_NEG", "good_NEG", "buy_NEG", "sell"]
    );
    assert_eq!(
        toks("I don't like it! love it"),
        ["i", "don't", "like_NEG", "it_NEG", "!", "love", "it"]
    );
    assert_eq!(toks("never again"), ["never", "again_NEG"]);
}

#[test]
fn emoji_are_tokens_and_modifiers_are_dropped() {
    assert_eq!(
        toks("$BTC 🚀🚀 moon"),
        ["$btc", "<cashtag>", "🚀", "🚀", "moon"]
    );
    // thumbs up with a skin tone and a variation selector
    assert_eq!(toks("nice 👍🏽\u{FE0F}"), ["nice", "👍"]);
    assert_eq!(toks("sad :( but ok :)"), ["sad", ":(", "but", "ok", ":)"]);
}

#[test]
fn cashtags_urls_users_numbers() {
    assert_eq!(
        toks("@elon says $DOGE.X up +12.5% to $0.30 https://t.co/abc #crypto"),
        [
            "<user>",
            "says",
            "$doge.x",
            "<cashtag>",
            "up",
            "<pct+>",
            "to",
            "<money>",
            "<url>",
            "crypto"
        ]
    );
    assert_eq!(
        toks("down -3% on 1,000 coins, 50%"),
        ["down", "<pct->", "on", "<num>", "coins", "<pct>"]
    );
    assert_eq!(toks("www.example.com rocks"), ["<url>", "rocks"]);
}

#[test]
fn case_folding_with_allcaps_flag_and_elongation() {
    assert_eq!(
        toks("HODL sooooo GOOOD"),
        ["hodl", "<allcaps>", "soo", "good", "<allcaps>"]
    );
    assert_eq!(toks("I am ok"), ["i", "am", "ok"]);
    assert_eq!(toks("wow!!!!!"), ["wow", "!!"]);
}

#[test]
fn non_ascii_text() {
    // NFKC folds mathematical bold and full-width letters to ASCII.
    assert_eq!(toks("𝐁𝐔𝐋𝐋𝐈𝐒𝐇 ｍｏｏｎ"), ["bullish", "<allcaps>", "moon"]);
    assert_eq!(toks("Ça va très bien"), ["ça", "va", "très", "bien"]);
    assert_eq!(toks("比特币 涨"), ["比特币", "涨"]);
    assert_eq!(toks("it’s fine"), ["it's", "fine"]);
    assert_eq!(toks(""), Vec::<String>::new());
}

#[test]
fn normalisation_starts_where_the_ascii_ends() {
    // Only the text from the last ASCII character before the first other one is normalised: that
    // character still composes with a combining mark after it, and what follows is folded.
    assert_eq!(toks("nice cafe\u{301} here"), toks("nice café here"));
    assert_eq!(toks("nice cafe\u{301} here"), ["nice", "café", "here"]);
    assert_eq!(
        toks("BTC to the ｍｏｏｎ"),
        ["btc", "<allcaps>", "to", "the", "moon"]
    );
    assert_eq!(toks("e\u{301}"), ["é"]);
    // `…` is a compatibility character: NFKC makes it three full stops.
    assert_eq!(toks("not bad at all…"), toks("not bad at all..."));
}
