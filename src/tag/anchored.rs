//! [`AnchoredSearch`]: the longest surface form starting at a given byte, ASCII case-insensitive.
//!
//! The tagger only ever asks "which form starts exactly here?", and only at word starts (see
//! [`super::tagger`]): an anchored leftmost-longest search. That is what `aho-corasick` gives with
//! `StartKind::Anchored`; in anchored mode its automaton never follows a failure transition, so a
//! lookup is a walk down the trie of forms that stops at the first byte no form continues with.
//!
//! In front of it sits a 64 Kbit table of the (first byte, second byte) pairs a form can begin with,
//! ASCII case folded. A third of the word starts of ordinary text begin no form at all; the table
//! turns them away with one load instead of setting up a search.
//!
//! The automaton is a contiguous NFA, not a DFA. An anchored walk is a few bytes long and a DFA's
//! table is wide: the merged 2022 + 2025 registry (7,013 forms, 93 distinct bytes among them, long
//! 2025 names) made a 38.2 MB DFA that built in 75 ms and tagged the replay at 375k–406k posts/s,
//! where the contiguous NFA takes 1.1 MB, builds in 41–54 ms and tags at 428k–440k posts/s (the
//! cache misses of the big table cost more than the NFA's denser transitions;
//! `TAGGER_ONE_PASS=1 cargo bench --bench tagger`, two runs of each).

use aho_corasick::{AhoCorasick, AhoCorasickKind, Anchored, Input, MatchKind, StartKind};

/// Anchored longest-form lookups over a fixed list of surface forms.
#[derive(Debug)]
pub struct AnchoredSearch {
    automaton: AhoCorasick,
    /// Bit `b0 << 8 | b1` is set when a form can begin with bytes `b0 b1` (ASCII lower case; `b1` is
    /// any byte, or 0 for the end of the text, after a one-byte form).
    starts: Vec<u64>,
}

impl AnchoredSearch {
    /// The automaton over `forms`; a form's index is its position. Forms must not be empty (the
    /// registry never makes one): `aho-corasick` would report an empty form as a zero-length match.
    pub fn new<'a>(
        forms: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<AnchoredSearch, aho_corasick::BuildError> {
        let mut starts = vec![0u64; 1024];
        let mut set = |b0: u8, b1: u8| {
            let bit = usize::from(b0) << 8 | usize::from(b1);
            starts[bit / 64] |= 1 << (bit % 64);
        };
        for form in forms.clone() {
            match form.as_bytes() {
                [] => {}
                [b0] => (0..=255).for_each(|b1| set(b0.to_ascii_lowercase(), b1)),
                [b0, b1, ..] => set(b0.to_ascii_lowercase(), b1.to_ascii_lowercase()),
            }
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true)
            .start_kind(StartKind::Anchored)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(forms)?;
        Ok(AnchoredSearch { automaton, starts })
    }

    /// The longest form that `haystack[start..]` begins with: its index and its end.
    #[inline]
    pub fn longest_at(&self, haystack: &[u8], start: usize) -> Option<(usize, usize)> {
        let b0 = haystack.get(start)?.to_ascii_lowercase();
        let b1 = haystack.get(start + 1).map_or(0, u8::to_ascii_lowercase);
        let bit = usize::from(b0) << 8 | usize::from(b1);
        if self.starts[bit / 64] & (1 << (bit % 64)) == 0 {
            return None;
        }
        let input = Input::new(haystack).range(start..).anchored(Anchored::Yes);
        self.automaton
            .find(input)
            .map(|m| (m.pattern().as_usize(), m.end()))
    }

    /// Heap bytes of the automaton and the start table.
    pub fn memory_usage(&self) -> usize {
        self.automaton.memory_usage() + self.starts.capacity() * 8
    }

    /// The kind of automaton the forms were compiled into.
    pub fn kind(&self) -> AhoCorasickKind {
        self.automaton.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORMS: &[&str] = &[
        "bitcoin",
        "bitcoin cash",
        "bitcoin sv",
        "btc",
        "eth",
        "ethereum",
        "ethereum classic",
        "₿",
        "$ads",
        ".alpha",
        "1inch",
        "a",
        "ab",
        "xy",
    ];

    #[test]
    fn longest_form_at_a_start() {
        let search = AnchoredSearch::new(FORMS.iter().copied()).unwrap();
        let table = [
            ("Bitcoin Cash rocks", 0, Some(("bitcoin cash", 12))),
            ("bitcoin cashback", 0, Some(("bitcoin cash", 12))),
            ("bitcoin cas", 0, Some(("bitcoin", 7))),
            ("BITCOIN SV", 0, Some(("bitcoin sv", 10))),
            ("bitcoi", 0, None),
            ("ethereum classi", 0, Some(("ethereum", 8))),
            ("x ETH", 2, Some(("eth", 5))),
            ("x ETH", 1, None),
            ("₿ 1", 0, Some(("₿", 3))),
            ("$ADS up", 0, Some(("$ads", 4))),
            ("abc", 0, Some(("ab", 2))),
            ("acb", 0, Some(("a", 1))),
            ("", 0, None),
        ];
        for (text, start, want) in table {
            let got = search
                .longest_at(text.as_bytes(), start)
                .map(|(i, end)| (FORMS[i], end));
            assert_eq!(got, want, "{text:?} at {start}");
        }
        let at = |s: &str| {
            search
                .longest_at(s.as_bytes(), 0)
                .map(|(i, end)| (FORMS[i], end))
        };
        assert_eq!(at("a"), Some(("a", 1)));
        assert_eq!(at("ax"), Some(("a", 1)));
        assert_eq!(at("₿"), Some(("₿", 3)));
        assert_eq!(at("bx"), None);
        assert_eq!(at("b"), None);
        assert_eq!(at("z"), None);
        assert_eq!(at(" b"), None);
    }

    #[test]
    fn agrees_with_an_unfiltered_anchored_search() {
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true)
            .start_kind(StartKind::Anchored)
            .build(FORMS)
            .unwrap();
        let search = AnchoredSearch::new(FORMS.iter().copied()).unwrap();
        let text = "ab xyz abc xy I sold BTC, Bitcoin SV and bitcoin-cash for ETH/ethereum classic ₿ $ads .alpha 1inch abc xy ab ₿";
        for start in 0..=text.len() {
            let want = ac
                .find(Input::new(text).range(start..).anchored(Anchored::Yes))
                .map(|m| (m.pattern().as_usize(), m.end()));
            assert_eq!(
                search.longest_at(text.as_bytes(), start),
                want,
                "at {start}"
            );
        }
    }
}
