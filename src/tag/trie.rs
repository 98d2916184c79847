//! [`Trie`]: the longest surface form starting at a given byte, ASCII case-insensitive.
//!
//! The tagger only ever asks "which form starts exactly here?", and only at word starts (see
//! [`super::tagger`]): an anchored leftmost-longest search, which is the Aho-Corasick trie without its
//! failure transitions. Of the forms that are a prefix of the text at the start, the longest wins; a
//! unit test checks this against `aho-corasick`'s own anchored search.
//!
//! It is built here rather than taken from `aho-corasick` for its size. The crate's anchored DFA for
//! the 4,543 built-in forms takes 12.2 MB (rows padded to a power-of-two stride) and tagging with it
//! ran at 506k posts/s on the replay tweets; this table takes 3.4 MB and tagging runs at ~670k:
//!
//! - one row per state with one entry per byte class the forms use (71, ASCII case folded);
//! - 16-bit entries while the states fit in 15 bits (the built-in list has 23,513), 32-bit beyond;
//! - the top bit of an entry says that the target state spells a whole form, so a step is one load;
//! - states numbered breadth first, so the shallow ones every lookup visits share a few pages;
//! - the first two steps in one small table indexed by the first two bytes' classes, which also
//!   turns away the word starts no form can begin with without touching the trie.
//!
//! A lookup that gets past the pair table still costs ~20 ns on average (2.3 million per pass over
//! the replay tweets): the walks end at unpredictable depths.
//!
//! The price of dense rows is memory on big lists matched in full: the 18,289-coin `coins.csv` with
//! its ranks needs 1.3 MB, but the same list without ranks (every coin's symbol and name matched,
//! 129,303 states, 147 classes) needs 32-bit entries and 76 MB.

/// Dense trie over byte classes. States are numbered from 0 (the root); rows of `trans` are states.
#[derive(Debug)]
pub struct Trie {
    /// Byte to class; class 0 is a byte that occurs in no form.
    classes: [u8; 256],
    /// Row length: the number of classes.
    stride: usize,
    /// `trans[s * stride + c]`: the state after class `c` in state `s`, with the top bit set when
    /// that state spells a whole form; 0 when there is none (the root is never a target).
    trans: Table,
    /// Per state: the index of the form it spells, when it spells one.
    forms: Vec<u32>,
    /// `pairs[c0 * stride + c1]`: the first two steps of a lookup starting with classes `c0`, `c1`
    /// (class 0 standing for "no next byte" too) in one small table: the state after both (low 30
    /// bits, 0 for none) and whether the states after one and two bytes spell a form ([`PAIR_ONE`],
    /// [`PAIR_TWO`]). 0 means no form starts so, which is a third of the word starts of ordinary text.
    pairs: Vec<u32>,
}

/// Marks a transition into a state that spells a whole form, so a step needs one load.
const MATCH: u32 = 1 << 31;
/// In [`Trie::pairs`]: the state after the first byte spells a form.
const PAIR_ONE: u32 = 1 << 30;
/// In [`Trie::pairs`]: the state after the first two bytes spells a form.
const PAIR_TWO: u32 = 1 << 31;
/// State numbers stay below this so that they fit beside the flags of [`Trie::pairs`].
const MAX_STATES: u32 = 1 << 30;

/// The transition table: 16-bit entries while the states fit in 15 bits (the built-in registry's
/// ~23,500 do), which halves the memory every word start walks through; 32-bit otherwise.
#[derive(Debug)]
enum Table {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

/// The forms would need more states than a transition can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the surface forms need more than {} trie states", MAX_STATES - 1)]
pub struct TooLarge;

impl Trie {
    /// The trie over `forms`; a form's index is its position. Forms must be unique after ASCII
    /// case folding (a duplicate keeps the first index) and not empty (empty ones are ignored).
    pub fn new<'a>(forms: impl IntoIterator<Item = &'a str> + Clone) -> Result<Trie, TooLarge> {
        let mut classes = [0u8; 256];
        let mut next = 1usize;
        for form in forms.clone() {
            for &b in form.as_bytes() {
                let b = b.to_ascii_lowercase();
                if classes[b as usize] == 0 {
                    if next > u8::MAX as usize {
                        return Err(TooLarge);
                    }
                    classes[b as usize] = next as u8;
                    next += 1;
                }
            }
        }
        for b in b'A'..=b'Z' {
            classes[b as usize] = classes[b.to_ascii_lowercase() as usize];
        }
        let stride = next;
        let mut trans = vec![0u32; stride];
        let mut spelled: Vec<Option<u32>> = vec![None];
        for (index, form) in forms.into_iter().enumerate() {
            let Some((&last, init)) = form.as_bytes().split_last() else {
                continue;
            };
            let mut s = 0usize;
            for &b in init.iter().chain(std::iter::once(&last)) {
                let slot = s * stride + classes[b as usize] as usize;
                s = match trans[slot] & !MATCH {
                    0 => {
                        let new = spelled.len();
                        if new as u32 >= MAX_STATES {
                            return Err(TooLarge);
                        }
                        spelled.push(None);
                        trans.resize(trans.len() + stride, 0);
                        trans[slot] = new as u32;
                        new
                    }
                    t => t as usize,
                };
            }
            if spelled[s].is_none() {
                spelled[s] = Some(index as u32);
            }
        }
        // Number the states breadth first, so the shallow states that every word start visits share
        // a few pages at the front of the table instead of being spread over all of it.
        let mut order = Vec::with_capacity(spelled.len());
        let mut renumber = vec![0u32; spelled.len()];
        order.push(0usize);
        let mut head = 0;
        while head < order.len() {
            let s = order[head];
            head += 1;
            for &t in &trans[s * stride..(s + 1) * stride] {
                if t != 0 {
                    renumber[t as usize] = order.len() as u32;
                    order.push(t as usize);
                }
            }
        }
        let narrow = spelled.len() < 1 << 15;
        let flag = if narrow { 1 << 15 } else { MATCH };
        let mut bfs = vec![0u32; trans.len()];
        for (new, &old) in order.iter().enumerate() {
            for c in 0..stride {
                let t = trans[old * stride + c];
                if t != 0 {
                    let flag = if spelled[t as usize].is_some() {
                        flag
                    } else {
                        0
                    };
                    bfs[new * stride + c] = renumber[t as usize] | flag;
                }
            }
        }
        let mut pairs = vec![0u32; stride * stride];
        for c0 in 1..stride {
            let t = bfs[c0];
            if t == 0 {
                continue;
            }
            let s1 = (t & !flag) as usize;
            let one = if t & flag != 0 { PAIR_ONE } else { 0 };
            pairs[c0 * stride] = one;
            for c1 in 1..stride {
                let t = bfs[s1 * stride + c1];
                let two = if t & flag != 0 { PAIR_TWO } else { 0 };
                pairs[c0 * stride + c1] = one | two | (t & !flag);
            }
        }
        let trans = if narrow {
            Table::Narrow(bfs.into_iter().map(|t| t as u16).collect())
        } else {
            Table::Wide(bfs)
        };
        let forms = order.iter().map(|&old| spelled[old].unwrap_or(0)).collect();
        Ok(Trie {
            classes,
            stride,
            trans,
            forms,
            pairs,
        })
    }

    /// The longest form that `haystack[start..]` begins with: its index and its end.
    #[inline]
    pub fn longest_at(&self, haystack: &[u8], start: usize) -> Option<(usize, usize)> {
        let c0 = haystack
            .get(start)
            .map_or(0, |&b| self.classes[b as usize] as usize);
        let c1 = haystack
            .get(start + 1)
            .map_or(0, |&b| self.classes[b as usize] as usize);
        match self.pairs[c0 * self.stride + c1] {
            0 => None,
            pair => self.longest_after_pair(pair, c0, haystack, start),
        }
    }

    fn longest_after_pair(
        &self,
        pair: u32,
        c0: usize,
        haystack: &[u8],
        start: usize,
    ) -> Option<(usize, usize)> {
        let mut found = None;
        if pair & PAIR_ONE != 0 {
            let s1 = match &self.trans {
                Table::Narrow(trans) => (trans[c0] & !(1 << 15)) as usize,
                Table::Wide(trans) => (trans[c0] & !MATCH) as usize,
            };
            found = Some((self.forms[s1] as usize, start + 1));
        }
        let s = (pair & (MAX_STATES - 1)) as usize;
        if s == 0 {
            return found;
        }
        if pair & PAIR_TWO != 0 {
            found = Some((self.forms[s] as usize, start + 2));
        }
        match &self.trans {
            Table::Narrow(trans) => self.walk(trans, 1 << 15, haystack, start + 2, s, found),
            Table::Wide(trans) => self.walk(trans, MATCH, haystack, start + 2, s, found),
        }
    }

    /// Goes on from state `s` at `haystack[from]`, keeping the last form seen.
    #[inline(always)]
    fn walk<T: Copy + Into<u32>>(
        &self,
        trans: &[T],
        flag: u32,
        haystack: &[u8],
        from: usize,
        mut s: usize,
        mut found: Option<(usize, usize)>,
    ) -> Option<(usize, usize)> {
        for (i, &b) in haystack[from..].iter().enumerate() {
            let c = self.classes[b as usize] as usize;
            if c == 0 {
                break;
            }
            let t: u32 = trans[s * self.stride + c].into();
            if t == 0 {
                break;
            }
            s = (t & !flag) as usize;
            if t & flag != 0 {
                found = Some((self.forms[s] as usize, from + i + 1));
            }
        }
        found
    }

    /// Heap bytes of the tables.
    pub fn memory_usage(&self) -> usize {
        let trans = match &self.trans {
            Table::Narrow(trans) => trans.capacity() * 2,
            Table::Wide(trans) => trans.capacity() * 4,
        };
        trans + (self.forms.capacity() + self.pairs.capacity()) * 4
    }

    /// Number of states, the root included.
    pub fn states(&self) -> usize {
        self.forms.len()
    }

    /// Number of byte classes (the row length).
    pub fn classes(&self) -> usize {
        self.stride
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasick, Anchored, Input, MatchKind, StartKind};

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
        let trie = Trie::new(FORMS.iter().copied()).unwrap();
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
            let got = trie
                .longest_at(text.as_bytes(), start)
                .map(|(i, end)| (FORMS[i], end));
            assert_eq!(got, want, "{text:?} at {start}");
        }
        let at = |s: &str| {
            trie.longest_at(s.as_bytes(), 0)
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
    fn agrees_with_an_anchored_aho_corasick_search() {
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true)
            .start_kind(StartKind::Anchored)
            .build(FORMS)
            .unwrap();
        let trie = Trie::new(FORMS.iter().copied()).unwrap();
        let text = "ab xyz abc xy I sold BTC, Bitcoin SV and bitcoin-cash for ETH/ethereum classic ₿ $ads .alpha 1inch abc xy ab ₿";
        for start in 0..=text.len() {
            let want = ac
                .find(Input::new(text).range(start..).anchored(Anchored::Yes))
                .map(|m| (m.pattern().as_usize(), m.end()));
            assert_eq!(trie.longest_at(text.as_bytes(), start), want, "at {start}");
        }
    }
}
