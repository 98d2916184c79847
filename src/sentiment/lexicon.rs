//! Polarity cues from human-rated word lists, as extra word features.
//!
//! The SVM learns polarity only for words frequent enough in 35,724 labelled posts. A word people rated
//! once, in general English ("appalling", "thrilled"), is usually rare there, and crypto slang
//! ("rekt", "ngmi", "wagmi", "rugpull") is all but absent: none of the labelled sources is about
//! crypto. Each token found in the VADER lexicon (`data/vader-lexicon.tsv`, 7,500 words and emoticons
//! rated -4..+4 by ten people each) or in the crypto slang list (`data/crypto-lexicon.tsv`, rated on
//! the same scale, and overriding VADER where both rate a token) therefore adds one of four
//! pseudo-words, `<lex+>`, `<lex++>`, `<lex->`, `<lex-->` (`++`/`--` when
//! the rating is 2 or more away from 0), and its sign flips inside a negation scope. Those four
//! features are frequent in training, so the model learns how much a lexicon hit is worth, and the
//! hit generalises to words the training data never showed with a label.
//!
//! Entries are keyed by the hash of their text as the tokenizer produces it (an entry is tokenized
//! like a post; entries that are not one token, such as `( '}{' )`, are left out), so a lookup costs
//! one probe with a hash the feature extractor has already computed.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::OnceLock;

use super::features::{PrehashedKey, token_hash};
use super::tokenize::{META, Tokens, tokenize};

static VADER: &str = include_str!("../../data/vader-lexicon.tsv");
static CRYPTO: &str = include_str!("../../data/crypto-lexicon.tsv");

/// The four lexicon classes, in the order of their pseudo-word names.
pub const NAMES: [&str; 4] = ["<lex-->", "<lex->", "<lex+>", "<lex++>"];

/// Token hash → class index into [`NAMES`] for a token outside a negation scope.
pub struct Lexicon {
    classes: HashMap<u64, u8, BuildHasherDefault<PrehashedKey>>,
}

impl Lexicon {
    /// The shipped lexicon (VADER, then the crypto slang list over it), parsed on first use.
    pub fn shipped() -> &'static Lexicon {
        static LEXICON: OnceLock<Lexicon> = OnceLock::new();
        LEXICON.get_or_init(|| {
            let mut lexicon = Lexicon::parse(VADER);
            lexicon.classes.extend(Lexicon::parse(CRYPTO).classes);
            lexicon
        })
    }

    /// Parses a lexicon file's `token<TAB>valence` lines (see [`entries`]).
    pub fn parse(source: &str) -> Lexicon {
        let mut classes = HashMap::default();
        let mut tokens = Tokens::new();
        for (entry, valence) in entries(source) {
            tokenize(entry, &mut tokens);
            let [token] = tokens.tokens.as_slice() else {
                continue;
            };
            if token.flags & META != 0 || valence == 0.0 {
                continue;
            }
            classes.insert(token_hash(tokens.str(token)), class(valence));
        }
        Lexicon { classes }
    }

    /// The class of a token by its [`token_hash`], flipped when the token is negated.
    #[inline]
    pub fn class(&self, hash: u64, negated: bool) -> Option<u8> {
        self.classes
            .get(&hash)
            .map(|&c| if negated { 3 - c } else { c })
    }

    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }
}

/// The crypto slang list's entries and ratings, in file order.
pub fn slang() -> Vec<(String, f32)> {
    entries(CRYPTO)
        .map(|(entry, valence)| (entry.to_string(), valence))
        .collect()
}

/// The `entry<TAB>valence` lines of a lexicon file; `#` lines are comments, malformed lines are
/// skipped (the files are part of the build, and a test checks that every line of them parses).
fn entries(source: &str) -> impl Iterator<Item = (&str, f32)> {
    source
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (entry, valence) = l.split_once('\t')?;
            Some((entry, valence.trim().parse().ok()?))
        })
}

fn class(valence: f32) -> u8 {
    match valence {
        v if v <= -2.0 => 0,
        v if v < 0.0 => 1,
        v if v < 2.0 => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_the_shipped_files_is_a_comment_or_an_entry() {
        for (i, line) in VADER.lines().chain(CRYPTO.lines()).enumerate() {
            if line.starts_with('#') {
                continue;
            }
            let (entry, valence) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("line {}: no tab", i + 1));
            assert!(!entry.is_empty(), "line {}", i + 1);
            let v: f32 = valence
                .parse()
                .unwrap_or_else(|_| panic!("line {}: bad valence {valence:?}", i + 1));
            assert!((-4.0..=4.0).contains(&v), "line {}: {v}", i + 1);
        }
        assert!(Lexicon::parse(VADER).len() > 7_000);
        // Every slang entry is one token, so none is silently left out.
        let slang_lines = CRYPTO.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(Lexicon::parse(CRYPTO).len(), slang_lines);
        assert_eq!(slang().len(), slang_lines);
    }

    #[test]
    fn slang_is_shipped_and_overrides_vader() {
        let shipped = Lexicon::shipped();
        let class = |w: &str| {
            shipped
                .class(token_hash(w), false)
                .map(|c| NAMES[c as usize])
        };
        assert_eq!(class("rekt"), Some("<lex-->"));
        assert_eq!(class("wagmi"), Some("<lex++>"));
        assert_eq!(class("🚀"), Some("<lex++>"));
        // VADER rates "exploit" -0.4 (to use something); in crypto posts it is a hack.
        assert_eq!(
            Lexicon::parse(VADER).class(token_hash("exploit"), false),
            Some(1)
        );
        assert_eq!(class("exploit"), Some("<lex-->"));
        // VADER entries without a slang rating are kept.
        assert_eq!(class("bankrupt"), Some("<lex-->"));
    }

    #[test]
    fn classes_follow_the_rating_and_flip_under_negation() {
        let lexicon = Lexicon::parse("good\t1.9\nexcellent\t2.7\nbad\t-2.5\nmeh\t-0.3\nzero\t0\n");
        let class = |w: &str, negated| {
            lexicon
                .class(token_hash(w), negated)
                .map(|c| NAMES[c as usize])
        };
        assert_eq!(class("good", false), Some("<lex+>"));
        assert_eq!(class("excellent", false), Some("<lex++>"));
        assert_eq!(class("bad", false), Some("<lex-->"));
        assert_eq!(class("meh", false), Some("<lex->"));
        assert_eq!(class("good", true), Some("<lex->"));
        assert_eq!(class("bad", true), Some("<lex++>"));
        assert_eq!(class("zero", false), None);
        assert_eq!(class("unrated", false), None);
    }

    #[test]
    fn entries_are_keyed_as_the_tokenizer_writes_them() {
        // Entries are case-folded like posts; emoticons are tokens of their own.
        let lexicon = Lexicon::parse("Love\t3.2\n:)\t2.0\n");
        let mut tokens = Tokens::new();
        tokenize("LOVE it :)", &mut tokens);
        let hits: Vec<&str> = tokens
            .tokens
            .iter()
            .filter(|t| lexicon.class(token_hash(tokens.str(t)), false).is_some())
            .map(|t| tokens.str(t))
            .collect();
        assert_eq!(hits, ["love", ":)"]);
    }
}
