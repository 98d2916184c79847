//! Character classes and the checks made around every form the automaton finds.
//!
//! The automaton knows nothing about words, so these small functions decide whether a match stands
//! alone. They work on the original UTF-8 text and decode only the one character on each side, which
//! keeps the check nearly free next to the search itself.

/// A character that continues a word: letters (accented too), digits and `_`, but not the scripts
/// written without spaces (CJK ideographs, kana, hangul), where a Latin ticker stands alone.
pub fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    c.is_alphanumeric() && !is_unspaced_script(c)
}

/// CJK ideographs, kana, hangul and full-width forms: scripts that do not separate words with spaces.
pub fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF      // Hangul Jamo
        | 0x2E80..=0x2FDF    // CJK radicals
        | 0x3000..=0x30FF    // CJK punctuation, hiragana, katakana
        | 0x3100..=0x31FF    // bopomofo, hangul compatibility
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFF00..=0xFFEF    // half- and full-width forms
        | 0x20000..=0x3FFFF) // CJK extensions B..
}

/// The character ending at byte `at` (exclusive), if any.
pub fn char_before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

/// The character starting at byte `at`, if any.
pub fn char_after(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

/// Whether the span `start..end` sits inside a URL, an @handle, an e-mail address, a domain name or a
/// subreddit/user path (`r/Bitcoin`). `start` is where the form (or its `$`/`#`) begins.
///
/// One-off check: it reads the whole token before `start`. A scan over many candidates of one post
/// uses a [`TokenScan`], which reads each byte once.
pub fn in_excluded_token(text: &str, start: usize, end: usize) -> bool {
    TokenScan::default().excluded(text, start, end)
}

/// [`in_excluded_token`] for the candidates of one post taken left to right.
///
/// What the check needs from before the candidate (where its whitespace-delimited token starts, and
/// whether the token holds an `@` or a `://` before it) is carried forward from one candidate to the
/// next instead of being read backwards each time. Reading backwards made a post without spaces
/// quadratic: `$BTC,` repeated 160,000 times (800 KB) took two minutes to tag.
#[derive(Debug, Default)]
pub struct TokenScan {
    /// Bytes before this were read.
    scanned: usize,
    /// Start of the whitespace-delimited token that holds `scanned`.
    token_start: usize,
    /// The token has an `@` before `scanned`.
    at_sign: bool,
    /// End of the token's first `://` (it may reach past `scanned`).
    scheme_end: Option<usize>,
}

impl TokenScan {
    /// Like [`in_excluded_token`]. Cheap when `start` does not go back from the previous call; a
    /// `start` before it reads the text again from the beginning.
    pub fn excluded(&mut self, text: &str, start: usize, end: usize) -> bool {
        let bytes = text.as_bytes();
        if start < self.scanned {
            *self = TokenScan::default();
        }
        for (i, &b) in bytes[self.scanned..start].iter().enumerate() {
            let i = self.scanned + i;
            match b {
                b if b.is_ascii_whitespace() => {
                    self.token_start = i + 1;
                    self.at_sign = false;
                    self.scheme_end = None;
                }
                b'@' => self.at_sign = true,
                b':' if self.scheme_end.is_none() && bytes.get(i + 1..i + 3) == Some(b"//") => {
                    self.scheme_end = Some(i + 3);
                }
                _ => {}
            }
        }
        self.scanned = start;
        let head = &bytes[self.token_start..start];
        if self.at_sign
            || self.scheme_end.is_some_and(|e| e <= start)
            || starts_with_ci(head, b"www.")
        {
            return true;
        }
        // r/Bitcoin, /r/Bitcoin, u/someone.
        if head.len() >= 2
            && head[head.len() - 1] == b'/'
            && matches!(head[head.len() - 2], b'r' | b'u' | b'R' | b'U')
            && (head.len() == 2 || !head[head.len() - 3].is_ascii_alphanumeric())
        {
            return true;
        }
        // blog.bitcoin.org: a dot glued to a word before the match.
        if head.len() >= 2
            && head[head.len() - 1] == b'.'
            && head[head.len() - 2].is_ascii_alphanumeric()
        {
            return true;
        }
        // bitcoin.org, coinbase.com: a dot followed by a lower-case letter after the match.
        if end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_lowercase() {
            return true;
        }
        false
    }
}

fn starts_with_ci(hay: &[u8], prefix: &[u8]) -> bool {
    hay.len() >= prefix.len() && hay[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Whether `start` begins a sentence: nothing but whitespace and opening quotes or brackets before it
/// since the start of the text, a line break, or a `.`, `!`, `?`.
pub fn starts_sentence(text: &str, start: usize) -> bool {
    for c in text[..start].chars().rev() {
        match c {
            '\n' | '\r' => return true,
            c if c.is_whitespace() => continue,
            '"' | '\'' | '“' | '‘' | '(' | '[' | '*' | '>' | '-' | '•' => continue,
            '.' | '!' | '?' | ':' => return true,
            _ => return false,
        }
    }
    true
}

/// All cased letters of `s` are upper case, and it has at least two letters.
pub fn is_upper(s: &str) -> bool {
    let mut letters = 0;
    for c in s.chars() {
        if c.is_lowercase() {
            return false;
        }
        if c.is_alphabetic() {
            letters += 1;
        }
    }
    letters >= 2
}

/// Every word of `s` starts with an upper-case letter (`Harmony`, `The Graph`, `USD Coin`).
pub fn is_capitalized(s: &str) -> bool {
    s.split(' ').all(|w| {
        w.chars()
            .next()
            .is_some_and(|c| c.is_uppercase() || !c.is_alphabetic())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_chars() {
        let table = [
            ('a', true),
            ('Z', true),
            ('7', true),
            ('_', true),
            ('é', true),
            ('ß', true),
            ('ş', true),
            ('я', true),
            ('比', false),
            ('カ', false),
            ('한', false),
            ('🚀', false),
            ('-', false),
            ('\'', false),
            ('’', false),
            ('$', false),
            (' ', false),
        ];
        for (c, want) in table {
            assert_eq!(is_word_char(c), want, "{c:?}");
        }
    }

    #[test]
    fn excluded_tokens() {
        // (text, form, excluded)
        let table = [
            ("see https://bitcoin.org/en now", "bitcoin", true),
            ("follow @chainlink today", "chainlink", true),
            ("mail me at joe@bitcoin.com", "bitcoin", true),
            ("buy on coinbase.com", "coinbase", true),
            ("read blog.ethereum.org", "ethereum", true),
            ("posted in r/Bitcoin", "Bitcoin", true),
            ("posted in /r/Bitcoin", "Bitcoin", true),
            ("www.cardano.org", "cardano", true),
            ("I like bitcoin.", "bitcoin", false),
            ("I like bitcoin. Also", "bitcoin", false),
            ("ETH/BTC is up", "BTC", false),
            ("$eth.", "eth", false),
            ("RT @bob: $BTC up", "BTC", false),
        ];
        for (text, form, want) in table {
            let start = text.find(form).unwrap();
            assert_eq!(
                in_excluded_token(text, start, start + form.len()),
                want,
                "{text:?} / {form}"
            );
        }
    }

    /// The check as it was before [`TokenScan`]: reading the token back from `start` every time.
    fn read_back(text: &str, start: usize, end: usize) -> bool {
        let bytes = text.as_bytes();
        let token_start = bytes[..start]
            .iter()
            .rposition(|b| b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        let head = &bytes[token_start..start];
        head.contains(&b'@')
            || head.windows(3).any(|w| w == b"://")
            || starts_with_ci(head, b"www.")
            || (head.len() >= 2
                && head[head.len() - 1] == b'/'
                && matches!(head[head.len() - 2], b'r' | b'u' | b'R' | b'U')
                && (head.len() == 2 || !head[head.len() - 3].is_ascii_alphanumeric()))
            || (head.len() >= 2
                && head[head.len() - 1] == b'.'
                && head[head.len() - 2].is_ascii_alphanumeric())
            || (end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_lowercase())
    }

    proptest::proptest! {
        /// Carried forward over every position of a text, left to right (with a step back now
        /// and then), the scan answers what reading back answers.
        #[test]
        fn token_scan_agrees_with_reading_back(
            text in "[a-zA-Z@:/. \n$#é-]{0,60}",
            back in 0usize..8,
        ) {
            let starts: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
            let mut scan = TokenScan::default();
            for (k, &start) in starts.iter().enumerate() {
                let end = starts.get(k + 2).copied().unwrap_or(text.len());
                proptest::prop_assert_eq!(
                    scan.excluded(&text, start, end),
                    read_back(&text, start, end),
                    "{:?} at {}", text, start
                );
                if k == back {
                    let earlier = starts[k / 2];
                    proptest::prop_assert_eq!(
                        scan.excluded(&text, earlier, earlier),
                        read_back(&text, earlier, earlier)
                    );
                }
            }
        }
    }

    #[test]
    fn sentence_starts() {
        let table = [
            ("Compound interest", "Compound", true),
            ("I said. Compound", "Compound", true),
            ("wow!  \"Maker", "Maker", true),
            ("line one\nHarmony", "Harmony", true),
            ("I love Harmony", "Harmony", false),
            ("on Compound, yes", "Compound", false),
        ];
        for (text, form, want) in table {
            assert_eq!(
                starts_sentence(text, text.find(form).unwrap()),
                want,
                "{text:?}"
            );
        }
    }

    #[test]
    fn casing() {
        assert!(is_upper("LINK"));
        assert!(is_upper("ETH2"));
        assert!(!is_upper("Link"));
        assert!(!is_upper("T"));
        assert!(is_capitalized("The Graph"));
        assert!(!is_capitalized("the Graph"));
        assert!(is_capitalized("Harmony"));
    }
}
