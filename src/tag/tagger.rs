//! [`Tagger`]: a walk over the word starts of a post, an anchored lookup at each, a boundary check per
//! form found, then the policy decision.
//!
//! The lookups run on the original bytes with ASCII case-insensitivity, so mention offsets are byte
//! offsets of the input with no mapping step. Candidates are kept in a per-thread buffer until the end
//! of the post because whether `LINK` is a coin depends on whether the post is about crypto at all,
//! which may only be known from a later word.
//!
//! # Why word starts
//!
//! Tagging used to be one unanchored leftmost-longest Aho-Corasick search over the whole post,
//! resuming after each rejected match. On the 98,967 replay tweets that search reported 620,272
//! matches for 195,872 mentions: mostly short forms inside words (`eth` in `something`, `ada` in
//! `canada`) that the boundary check then threw away, and the search itself ran at ~600k posts/s
//! with nothing checked yet. But a form can only be a mention where the character before it does not
//! glue it to a word: a non-word character, the start of the text, or an ASCII digit (`0.5BTC`). So
//! [`Tagger::scan_words`] walks the text once, one table lookup per byte inside words, and asks the
//! [`AnchoredSearch`] for the longest form starting at each of the 3.7 million such positions per pass (2.3
//! million after the first-two-bytes filter). At a given start the longest form is what the old
//! leftmost-longest search returned there, and every start it rejected fails the left boundary check
//! anyway, so the mentions are the same: byte-for-byte identical `coinpulse tag` output on the whole
//! replay file. (The one place the old search could differ in principle, a context word matched
//! inside a word and skipped past, never changed an output there.)
//!
//! Measured on the replay tweets (`TAGGER_ONE_PASS=1 cargo bench --bench tagger`, median of five
//! passes, 2-core shared machine): 384k posts/s before, 488k now (0.57 of the bare unanchored DFA
//! `find_iter` ceiling over the same forms, 861k; the contiguous NFA ceiling is 611k). The lookups
//! dominate: the walks end at unpredictable depths. A hand-made byte-class trie with 16-bit
//! transitions reached ~670k, but the matching stays on `aho-corasick`, the maintained and fuzzed
//! implementation, rather than on a private copy of its anchored search.

use std::path::Path;

use std::cell::RefCell;

use chrono::{DateTime, Utc};

use super::TagError;
use super::anchored::AnchoredSearch;
use super::boundary::{
    TokenScan, char_after, char_before, is_capitalized, is_upper, is_word_char, starts_sentence,
};
use super::list::AssetList;
use super::registry::{Entry, NO_ASSET, Policy, Registry, SUFFIXES, configured_list};
use crate::config::TaggerConfig;
use crate::model::{Asset, Mention, MentionKind};

/// Finds coin mentions in post texts. Cheap to share: build once, use from every thread.
#[derive(Debug)]
pub struct Tagger {
    /// Every surface form, for anchored longest-match lookups at word starts.
    forms: AnchoredSearch,
    registry: Registry,
}

/// A match that passed its boundary checks, waiting for the post-level decision.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    entry: Entry,
    start: usize,
    end: usize,
    kind: MentionKind,
    need: Need,
    /// Accepted on its own or by the post (filled in once the whole post is scanned).
    accepted: bool,
}

thread_local! {
    /// Candidates of the post being tagged: one buffer per thread, so tagging allocates only mentions.
    static CANDIDATES: RefCell<Vec<Candidate>> = const { RefCell::new(Vec::new()) };
}

/// The evidence a candidate still needs from the rest of the post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// None: accepted whatever the rest of the post says.
    Nothing,
    /// The post must be a crypto post.
    CryptoPost,
    /// A crypto post, and another accepted mention within [`NEAR`] bytes (`atom, tezos and trx`).
    Neighbour,
}

/// How close (bytes between spans) a mention must be to lend its evidence to a lower-case word.
const NEAR: usize = 12;

/// Most mentions kept per post, the first ones in text order. A long list of coins is a few hundred
/// at most; a post with more is spam or an attack (a 5 MB post once made 524,289 mention rows).
pub const MAX_MENTIONS: usize = 256;

/// Candidate buffers larger than this (in candidates) are freed after the post, so one huge post
/// does not keep megabytes per thread for the life of the process.
const KEEP_CANDIDATES: usize = 1 << 14;

impl Tagger {
    /// The tagger over the embedded default registry.
    pub fn builtin() -> Result<Tagger, TagError> {
        Tagger::new(Registry::builtin()?)
    }

    /// The tagger over a CSV or JSON asset list.
    pub fn from_file(path: &Path) -> Result<Tagger, TagError> {
        Tagger::new(Registry::from_file(path)?)
    }

    /// The embedded registry extended by `tagger.assets_file` (replaced by it with
    /// `tagger.assets_replace`).
    pub fn from_config(config: &TaggerConfig) -> Result<Tagger, TagError> {
        Tagger::with_file(config.assets_file.as_deref(), config.assets_replace)
    }

    /// The embedded registry, extended by the list at `path` or, with `replace`, replaced by it.
    pub fn with_file(path: Option<&Path>, replace: bool) -> Result<Tagger, TagError> {
        Tagger::from_list(configured_list(path, replace)?)
    }

    /// The configured registry (see [`Tagger::from_config`]) extended by what `coinpulse assets
    /// update` stored: newer coins and their dated ranks.
    pub fn from_config_and(config: &TaggerConfig, stored: AssetList) -> Result<Tagger, TagError> {
        let mut list = configured_list(config.assets_file.as_deref(), config.assets_replace)?;
        list.extend(stored);
        Tagger::from_list(list)
    }

    /// The tagger over an asset list with its dated rankings.
    pub fn from_list(list: AssetList) -> Result<Tagger, TagError> {
        Tagger::new(Registry::from_list(list)?)
    }

    /// The tagger over assets already in memory.
    pub fn from_assets(assets: Vec<Asset>) -> Result<Tagger, TagError> {
        Tagger::new(Registry::from_assets(assets)?)
    }

    fn new(registry: Registry) -> Result<Tagger, TagError> {
        let forms = AnchoredSearch::new(registry.forms.iter().map(|f| f.text.as_str()))?;
        tracing::debug!(
            forms = registry.forms.len(),
            assets = registry.assets.len(),
            kind = ?forms.kind(),
            bytes = forms.memory_usage(),
            "Tagger automaton built."
        );
        Ok(Tagger { forms, registry })
    }

    /// The assets this tagger knows, in list order.
    pub fn assets(&self) -> &[Asset] {
        &self.registry.assets
    }

    /// The surface forms the automaton holds (lower case), in pattern order, for benchmarks that compare
    /// against a bare Aho-Corasick search over the same patterns.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.registry.forms.iter().map(|f| f.text.as_str())
    }

    /// The kind of automaton the surface forms were compiled into.
    pub fn automaton_kind(&self) -> aho_corasick::AhoCorasickKind {
        self.forms.kind()
    }

    /// Heap bytes used by the automaton and its start table alone.
    pub fn automaton_memory_usage(&self) -> usize {
        self.forms.memory_usage()
    }

    /// Heap bytes used by the automaton and the registry (approximate for the registry).
    pub fn memory_usage(&self) -> usize {
        let forms: usize = self
            .registry
            .forms
            .iter()
            .map(|f| std::mem::size_of_val(f) + f.text.capacity() + f.prefixes.capacity() * 4)
            .sum();
        let assets: usize = self
            .registry
            .assets
            .iter()
            .map(|a| {
                std::mem::size_of_val(a)
                    + a.id.capacity()
                    + a.symbol.capacity()
                    + a.name.capacity()
                    + a.aliases.iter().map(|s| s.capacity() + 24).sum::<usize>()
            })
            .sum();
        self.forms.memory_usage() + forms + assets
    }

    /// The mentions in `text` of a post written today, in text order, non-overlapping, at most [`MAX_MENTIONS`].
    ///
    /// Time is linear in the length of `text`: every check made around a candidate reads a bounded
    /// neighbourhood or state carried along the post (see `benches/tagger.rs`, 1 KB to 5 MB).
    pub fn tag(&self, text: &str) -> Vec<Mention> {
        let mut out = Vec::new();
        self.tag_into(text, &mut out);
        out
    }

    /// The mentions in `text` of a post written at `at`: a form several coins share goes to the one
    /// that was meant then (see [`crate::tag`], "Dates").
    pub fn tag_at(&self, text: &str, at: DateTime<Utc>) -> Vec<Mention> {
        let mut out = Vec::new();
        self.tag_at_into(text, at, &mut out);
        out
    }

    /// Like [`Tagger::tag`], replacing the contents of `out`. A caller that reuses `out` from post to
    /// post saves the allocations too: the strings of the mentions already in it are overwritten in
    /// place.
    pub fn tag_into(&self, text: &str, out: &mut Vec<Mention>) {
        self.tag_era_into(text, self.registry.eras.latest(), out);
    }

    /// Like [`Tagger::tag_at`], replacing the contents of `out`.
    pub fn tag_at_into(&self, text: &str, at: DateTime<Utc>, out: &mut Vec<Mention>) {
        self.tag_era_into(text, self.registry.eras.at(at.timestamp()), out);
    }

    fn tag_era_into(&self, text: &str, era: usize, out: &mut Vec<Mention>) {
        CANDIDATES.with_borrow_mut(|candidates| {
            candidates.clear();
            let kept = self.tag_with(text, era, candidates, out);
            out.truncate(kept);
            if candidates.capacity() > KEEP_CANDIDATES {
                *candidates = Vec::new();
            }
        });
    }

    /// The dates of the market-cap rankings behind the registry, oldest first.
    pub fn ranking_dates(&self) -> &[chrono::NaiveDate] {
        &self.registry.ranking_dates
    }

    /// Tags `text` into the first entries of `out` (overwriting, then appending); returns how many.
    fn tag_with(
        &self,
        text: &str,
        era: usize,
        candidates: &mut Vec<Candidate>,
        out: &mut Vec<Mention>,
    ) -> usize {
        self.scan_cashtags(text, candidates);
        let cashtags = candidates.len();
        let mut crypto = cashtags > 0;
        self.scan_words(text, candidates, &mut crypto);
        if cashtags > 0 {
            candidates.sort_by_key(|c| c.start);
            let mut last_end = 0;
            candidates.retain(|c| {
                let keep = c.start >= last_end;
                if keep {
                    last_end = c.end;
                }
                keep
            });
        }
        for c in candidates.iter_mut() {
            c.accepted = c.need == Need::Nothing || (crypto && c.need == Need::CryptoPost);
        }
        let candidates = &candidates[..];
        let mut kept = 0;
        for (i, c) in candidates.iter().enumerate() {
            if kept == MAX_MENTIONS {
                break;
            }
            let near = |j: usize| {
                candidates[j].accepted && {
                    let o = &candidates[j];
                    o.end + NEAR >= c.start && c.end + NEAR >= o.start
                }
            };
            let keep = c.accepted
                || (crypto
                    && c.need == Need::Neighbour
                    && ((i > 0 && near(i - 1) && list_gap(&text[candidates[i - 1].end..c.start]))
                        || (i + 1 < candidates.len()
                            && near(i + 1)
                            && list_gap(&text[c.end..candidates[i + 1].start]))));
            if !keep {
                continue;
            }
            let asset = self.registry.asset_in(&c.entry, era);
            if asset == NO_ASSET {
                continue; // a coin ranked only later: not a coin yet when the post was written
            }
            let asset = asset as usize;
            let (id, symbol) = (
                &self.registry.assets[asset].id,
                &self.registry.symbols[asset],
            );
            let surface = &text[c.start..c.end];
            match out.get_mut(kept) {
                Some(m) => {
                    m.asset.clone_from(id);
                    m.symbol.clone_from(symbol);
                    m.surface.clear();
                    m.surface.push_str(surface);
                    (m.start, m.end, m.kind) = (c.start, c.end, c.kind);
                }
                None => out.push(Mention {
                    asset: id.clone(),
                    symbol: symbol.clone(),
                    surface: surface.to_string(),
                    start: c.start,
                    end: c.end,
                    kind: c.kind,
                }),
            }
            kept += 1;
        }
        kept
    }

    /// Every surface form that starts a word, left to right, with the boundary and policy checks.
    ///
    /// A form can only be a mention where the character before it is not part of a word (or is an
    /// ASCII digit: `0.5BTC`), so the automaton is only asked there, and only when the first two bytes can
    /// begin some form. Inside a word the loop does one table lookup per byte. At each such position
    /// the longest form wins, as in a leftmost-longest search; after an accepted mention or a context
    /// word the scan resumes at its end, after a rejected one at the next position.
    fn scan_words(&self, text: &str, out: &mut Vec<Candidate>, crypto: &mut bool) {
        let bytes = text.as_bytes();
        let mut at = 0;
        // Whether the character before `at` glues a form starting at `at` to a word.
        let mut glued = false;
        let mut tokens = TokenScan::default();
        while at < bytes.len() {
            let b = bytes[at];
            if !glued && let Some((index, end)) = self.forms.longest_at(bytes, at) {
                let resume = if self.registry.forms[index].context {
                    if self.bounded(text, at, end) && !tokens.excluded(text, at, end) {
                        *crypto = true;
                    }
                    Some(end)
                } else {
                    self.check(text, at, end, index, &mut tokens).map(|c| {
                        *crypto |= c.need == Need::Nothing;
                        out.push(c);
                        c.end
                    })
                };
                if let Some(resume) = resume {
                    at = resume;
                    glued = char_before(text, at).is_some_and(glues);
                    continue;
                }
            }
            if b.is_ascii() {
                glued = b.is_ascii_alphabetic() || b == b'_';
                at += 1;
            } else {
                let c = char_after(text, at).expect("a character starts here");
                glued = glues(c);
                at += c.len_utf8();
            }
        }
    }

    /// Cashtags of symbols that are never matched bare (`$HEGIC`, `$ONE`, `$T`): every `$` followed by
    /// a known cashtag-only symbol and a word boundary.
    fn scan_cashtags(&self, text: &str, out: &mut Vec<Candidate>) {
        if self.registry.cashtags.is_empty() {
            return;
        }
        let bytes = text.as_bytes();
        let mut buf = [0u8; 24];
        let mut tokens = TokenScan::default();
        for (dollar, _) in text.match_indices('$') {
            let start = dollar + 1;
            let len = bytes[start..]
                .iter()
                .take(buf.len() + 1)
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if len == 0 || len > buf.len() {
                continue;
            }
            let end = start + len;
            if char_before(text, dollar).is_some_and(is_word_char)
                || char_after(text, end).is_some_and(is_word_char)
            {
                continue;
            }
            for (b, c) in buf.iter_mut().zip(&bytes[start..end]) {
                *b = c.to_ascii_lowercase();
            }
            let Ok(symbol) = std::str::from_utf8(&buf[..len]) else {
                continue;
            };
            if let Some(&entry) = self.registry.cashtags.get(symbol)
                && !tokens.excluded(text, dollar, end)
            {
                out.push(Candidate {
                    entry,
                    start: dollar,
                    end,
                    kind: MentionKind::Cashtag,
                    need: Need::Nothing,
                    accepted: true,
                });
            }
        }
    }

    /// Plain word boundaries on both sides (for context words).
    fn bounded(&self, text: &str, start: usize, end: usize) -> bool {
        !char_before(text, start).is_some_and(is_word_char)
            && !char_after(text, end).is_some_and(is_word_char)
    }

    /// Boundary, sigil and exclusion checks for one form found at a word start, and the policy decision as far as
    /// this match alone can tell. `tokens` carries the exclusion state along the post.
    fn check(
        &self,
        text: &str,
        start: usize,
        end: usize,
        index: usize,
        tokens: &mut TokenScan,
    ) -> Option<Candidate> {
        let form = &self.registry.forms[index];
        let bytes = text.as_bytes();
        // Where the sigil (if any) starts, where the form itself starts, and what it means.
        let (span_start, form_start, kind, entry) = if form.bare.is_none() {
            (start, start + 1, MentionKind::Cashtag, form.cash?)
        } else {
            match start.checked_sub(1).map(|i| bytes[i]) {
                Some(b'$') => (
                    start - 1,
                    start,
                    MentionKind::Cashtag,
                    form.cash.or(form.bare)?,
                ),
                Some(b'#') => (start - 1, start, MentionKind::Hashtag, form.bare?),
                _ => {
                    let e = form.bare?;
                    (start, start, e.kind, e)
                }
            }
        };
        let upper = is_upper(&text[form_start..end]);
        let distinctive = entry.policy == Policy::Always;

        // Left boundary.
        match char_before(text, span_start) {
            None => {}
            Some('&') => return None, // &amp;
            Some(c) if c.is_ascii_digit() && kind == MentionKind::Symbol && upper => {} // 0.5BTC
            // neo-bank
            Some('-')
                if !distinctive
                    && kind != MentionKind::Cashtag
                    && char_before(text, span_start - 1).is_some_and(is_word_char) =>
            {
                return None;
            }
            Some(c) if is_word_char(c) => return None,
            Some(_) => {}
        }

        // Right boundary, falling back to shorter forms that are prefixes of this one.
        let (entry, end) = match self.right_boundary(text, end, entry, kind) {
            Some(end) => (entry, end),
            None => self.shorter_prefix(text, form_start, index, kind)?,
        };
        if tokens.excluded(text, span_start, end) {
            return None;
        }
        let surface = &text[form_start..end];
        let upper = is_upper(surface) && !shouting(text, span_start, end);
        let lower = !surface.chars().any(char::is_uppercase);
        // Capitalised like a name, where capitals mean something.
        // Symbols are written in upper or lower case; `Swap`, `Stake`, `Cake` are words.
        let titled = !lower
            && !entry.proper_name
            && entry.kind != MentionKind::Symbol
            && is_capitalized(surface)
            && (surface.contains(' ') || !starts_sentence(text, span_start))
            && !after_capitalized_word(text, span_start)
            && !before_titled_word(text, end);
        let need = match (kind, entry.policy) {
            (MentionKind::Cashtag, _) | (_, Policy::Always) => Need::Nothing,
            (_, Policy::CashtagOnly) => return None,
            (MentionKind::Hashtag, _) | (_, Policy::Weak) if lower => Need::Neighbour,
            _ if lower => return None,
            (MentionKind::Hashtag, _) => Need::CryptoPost,
            (_, Policy::Weak) if upper && entry.kind == MentionKind::Symbol => Need::Nothing,
            _ if upper || titled => Need::CryptoPost,
            _ => return None,
        };
        Some(Candidate {
            entry,
            start: span_start,
            end,
            kind,
            need,
            accepted: false,
        })
    }

    /// The end of the mention if `end` is a valid right boundary for `entry`: a non-word character, the
    /// end of the text, a plural `s` or a lower-to-upper case change (distinctive forms only).
    fn right_boundary(
        &self,
        text: &str,
        end: usize,
        entry: Entry,
        kind: MentionKind,
    ) -> Option<usize> {
        let distinctive = entry.policy == Policy::Always;
        match char_after(text, end) {
            None => Some(end),
            Some('-') if !distinctive && kind != MentionKind::Cashtag => {
                if char_after(text, end + 1).is_some_and(is_word_char) {
                    None
                } else {
                    Some(end)
                }
            }
            // A keycap digit (`2️⃣`) continues a form that ends in a digit.
            Some('\u{FE0F}' | '\u{20E3}')
                if char_before(text, end).is_some_and(|c| c.is_ascii_digit()) =>
            {
                None
            }
            // A contraction (`haven't`) is a word, not a form.
            Some('\'' | '’')
                if !distinctive
                    && text[end..]
                        .chars()
                        .nth(1)
                        .is_some_and(|c| c.is_alphabetic() && c != 's') =>
            {
                None
            }
            Some(c) if !is_word_char(c) => Some(end),
            Some(c) if distinctive => {
                let last = char_before(text, end)?;
                if kind == MentionKind::Hashtag && c.is_uppercase() && last.is_lowercase() {
                    return Some(end); // #BitcoinAndBlackAmerica
                }
                let rest = &text[end..];
                // bitcoins, BTCs, Bitcoiners.
                for (i, suffix) in SUFFIXES.iter().enumerate() {
                    if entry.suffixes & (1 << i) != 0
                        && rest.starts_with(suffix)
                        && if entry.kind == MentionKind::Symbol {
                            *suffix == "s" && last.is_uppercase()
                        } else {
                            true
                        }
                        && !char_after(text, end + suffix.len()).is_some_and(is_word_char)
                    {
                        return Some(end + suffix.len());
                    }
                }
                None
            }
            Some(_) => None,
        }
    }

    fn shorter_prefix(
        &self,
        text: &str,
        form_start: usize,
        index: usize,
        kind: MentionKind,
    ) -> Option<(Entry, usize)> {
        for &p in &self.registry.forms[index].prefixes {
            let prefix = &self.registry.forms[p as usize];
            let entry = if kind == MentionKind::Cashtag {
                prefix.cash.or(prefix.bare)
            } else {
                prefix.bare
            }?;
            let end = form_start + prefix.text.len();
            if let Some(end) = self.right_boundary(text, end, entry, kind) {
                return Some((entry, end));
            }
        }
        None
    }
}

/// Whether `c` before a form glues it to a word, so that it cannot be a mention: a word character
/// other than an ASCII digit (a digit may be an amount, `0.5BTC`; [`Tagger::check`] decides).
fn glues(c: char) -> bool {
    is_word_char(c) && !c.is_ascii_digit()
}

/// Whether the word before `start` (same sentence, one space away) is capitalised: the form is then
/// part of a longer proper noun (`Federal Reserve`, `Ocean Spray`).
fn after_capitalized_word(text: &str, start: usize) -> bool {
    let before = &text[..start];
    let Some(rest) = before.strip_suffix(' ') else {
        return false;
    };
    let word = rest
        .rsplit(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("");
    word.chars().next().is_some_and(char::is_uppercase)
        && !starts_sentence(text, start - 1 - word.len())
}

/// How far (bytes) [`shouting`] looks for the neighbouring words. Reading to the ends of the line
/// made every upper-case candidate cost the whole line, so a long one-line post was quadratic.
const SHOUT_REACH: usize = 256;

/// Whether the upper case at `start..end` is shouting: a neighbouring word of four or more letters in
/// the same line, within [`SHOUT_REACH`] bytes, is upper case too (`MASK MANDATES`, `BORING, I JUST
/// WANT`).
fn shouting(text: &str, start: usize, end: usize) -> bool {
    let loud = |w: &str| w.len() >= 4 && w.chars().all(|c| c.is_ascii_uppercase());
    let from = text.floor_char_boundary(start.saturating_sub(SHOUT_REACH));
    let to = text.ceil_char_boundary(end.saturating_add(SHOUT_REACH));
    let line_before = text[from..start].rsplit('\n').next().unwrap_or("");
    let line_after = text[end..to].split('\n').next().unwrap_or("");
    let before = line_before
        .split(|c: char| !c.is_alphabetic())
        .rfind(|w| w.len() >= 2);
    let after = line_after
        .split(|c: char| !c.is_alphabetic())
        .find(|w| w.len() >= 2);
    before.is_some_and(loud) || after.is_some_and(loud)
}

/// Whether the text between two mentions is list punctuation or a list word (`, `, ` and `, ` / `,
/// `, no `, ` &gt; `): the mentions are items of one list.
fn list_gap(gap: &str) -> bool {
    gap.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .all(|w| {
            matches!(
                w.to_ascii_lowercase().as_str(),
                "and" | "or" | "vs" | "no" | "not" | "even" | "gt" | "lt" | "amp" | "nor"
            )
        })
}

/// Whether the next word (one space away) is in title case: the form is the start of a longer proper
/// noun (`Alpha Homora`, `Cake Wallet`). An upper-case ticker after a name (`Harmony ONE`) is not.
fn before_titled_word(text: &str, end: usize) -> bool {
    let Some(rest) = text[end..].strip_prefix(' ') else {
        return false;
    };
    let word_len = rest
        .find(|c: char| !c.is_alphanumeric())
        .unwrap_or(rest.len());
    let mut chars = rest[..word_len].chars();
    chars.next().is_some_and(char::is_uppercase) && chars.any(char::is_lowercase)
}
