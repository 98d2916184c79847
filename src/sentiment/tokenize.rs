//! Social-media text → normalised tokens, written into a reusable buffer.
//!
//! General-purpose tokenizers throw away exactly what carries sentiment in posts: `$BTC`, `🚀`, `:(`,
//! `+12%`, "NOT good", "soooo bad". This one keeps them as tokens of their own:
//!
//! - URLs become `<url>`, `@someone` becomes `<user>`, numbers `<num>`, `$12.5` `<money>`, percentages
//!   `<pct>` with their sign (`<pct+>`, `<pct->`), because the sign of a move is sentiment in finance.
//! - Cashtags stay as tokens (`$btc`) and add the class marker `<cashtag>`; `#moon` becomes `moon`.
//! - Emoji and other symbols are one token per character (variation selectors, zero-width joiners and
//!   skin tones dropped); a few ASCII emoticons (`:)`, `:(`, `<3`, ...) are tokens too.
//! - Letters are case-folded; a shouted word (two or more letters, all capitals) adds `<allcaps>`.
//!   Runs of three or more equal characters fold to two (`soooo` → `soo`, `!!!!` → `!!`).
//! - Negation: after `not`, `no`, `never`, `can't`, ... every word up to the next `. , ; : ! ?` carries a
//!   negation mark (rendered `good_NEG`), so "not good" and "good" are different features. This is the
//!   syntactic scope; the features may use only its first words (`FeatureConfig::negation_words`).
//! - Non-ASCII text is NFKC-normalised first, so `𝐁𝐔𝐋𝐋𝐈𝐒𝐇` and full-width letters read as ASCII.
//!
//! Nothing is allocated per post once the buffers have grown: tokens are spans into one `String`.

use unicode_normalization::UnicodeNormalization;

/// A token is a word (char n-grams are taken from it).
pub const WORD: u8 = 1;
/// The token is inside a negation scope.
pub const NEGATED: u8 = 2;
/// A marker (`<allcaps>`, `<cashtag>`): a unigram feature only, not part of bigrams.
pub const META: u8 = 4;
/// The word opens a negation scope (`not`, `can't`, ...); the words after it carry [`NEGATED`].
pub const NEGATOR: u8 = 8;

/// One token: a span of [`Tokens::text`] and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub start: u32,
    pub end: u32,
    pub flags: u8,
}

/// The tokens of one post. Reuse one value across posts to avoid allocation.
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    /// Normalised token texts, back to back.
    pub text: String,
    pub tokens: Vec<Token>,
    /// NFKC output for non-ASCII input.
    nfkc: String,
}

impl Tokens {
    pub fn new() -> Self {
        Self::default()
    }

    /// The text of one token (without the negation mark).
    pub fn str(&self, t: &Token) -> &str {
        &self.text[t.start as usize..t.end as usize]
    }

    /// Tokens rendered for people: `good_NEG`, `$btc`, `<url>`.
    pub fn rendered(&self) -> Vec<String> {
        self.tokens
            .iter()
            .map(|t| {
                let mut s = self.str(t).to_string();
                if t.flags & NEGATED != 0 {
                    s.push_str("_NEG");
                }
                s
            })
            .collect()
    }

    fn push(&mut self, s: &str, flags: u8) {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        self.tokens.push(Token {
            start,
            end: self.text.len() as u32,
            flags,
        });
    }

    /// Start a token whose text is then appended with [`Tokens::push_char_folded`].
    fn begin(&self) -> u32 {
        self.text.len() as u32
    }

    fn finish(&mut self, start: u32, flags: u8) {
        self.tokens.push(Token {
            start,
            end: self.text.len() as u32,
            flags,
        });
    }

    /// [`Tokens::push_char_folded`] for a whole ASCII word (the common case, in one pass that keeps
    /// the last two bytes pushed instead of re-reading the token). Returns whether the word is
    /// shouted: two or more capitals and no lower-case letter.
    fn push_ascii_word_folded(&mut self, word: &[u8]) -> bool {
        let (mut capitals, mut lower) = (0u32, false);
        // The last two bytes pushed for this word; 0 is never a word byte.
        let (mut before_last, mut last) = (0u8, 0u8);
        for &b in word {
            capitals += u32::from(b.is_ascii_uppercase());
            lower |= b.is_ascii_lowercase();
            let l = b.to_ascii_lowercase();
            if before_last != l || last != l {
                self.text.push(char::from(l));
                before_last = last;
                last = l;
            }
        }
        capitals >= 2 && !lower
    }

    /// Append a lower-cased character, folding runs longer than two.
    fn push_char_folded(&mut self, start: u32, c: char) {
        if c.is_ascii() {
            // Most text is ASCII: compare bytes instead of decoding the tail backwards. An ASCII
            // byte at the end of valid UTF-8 is always a whole char, so this is the same test.
            let l = c.to_ascii_lowercase() as u8;
            let tail = &self.text.as_bytes()[start as usize..];
            if !tail.ends_with(&[l, l]) {
                self.text.push(l as char);
            }
            return;
        }
        for l in c.to_lowercase() {
            let tail = &self.text[start as usize..];
            let mut it = tail.chars().rev();
            if it.next() == Some(l) && it.next() == Some(l) {
                continue;
            }
            self.text.push(l);
        }
    }
}

const NEGATORS: &[&str] = &[
    "not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "cannot", "without",
    "nowhere", "cant", "dont", "doesnt", "didnt", "isnt", "wasnt", "arent", "werent", "wont",
    "wouldnt", "shouldnt", "couldnt", "aint", "havent", "hasnt", "hadnt",
];

/// The first bytes and the longest length of [`NEGATORS`]: most words are rejected by these two
/// checks, before the list is compared word by word.
const NEGATOR_INITIALS: [bool; 256] = {
    let mut initials = [false; 256];
    let mut i = 0;
    while i < NEGATORS.len() {
        initials[NEGATORS[i].as_bytes()[0] as usize] = true;
        i += 1;
    }
    initials
};
const NEGATOR_MAX_LEN: usize = {
    let mut max = 0;
    let mut i = 0;
    while i < NEGATORS.len() {
        if NEGATORS[i].len() > max {
            max = NEGATORS[i].len();
        }
        i += 1;
    }
    max
};

fn is_negator(word: &str) -> bool {
    word.ends_with("n't")
        || (word.len() <= NEGATOR_MAX_LEN
            && word
                .as_bytes()
                .first()
                .is_some_and(|&b| NEGATOR_INITIALS[b as usize])
            && NEGATORS.contains(&word))
}

const EMOTICONS: &[&str] = &[
    ":-)", ":)", ":-(", ":(", ":-D", ":D", ";-)", ";)", ":P", ":p", ":'(", ":/", ":-/", "<3", "=)",
    "=(", "xD", "XD",
];

/// Characters that only modify the emoji before them.
fn is_emoji_modifier(c: char) -> bool {
    matches!(
        c,
        '\u{FE0E}' | '\u{FE0F}' | '\u{200D}' | '\u{20E3}' | '\u{1F3FB}'..='\u{1F3FF}'
    )
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Tokenize `input` into `out` (cleared first).
pub fn tokenize(input: &str, out: &mut Tokens) {
    out.text.clear();
    out.tokens.clear();
    // NFKC leaves ASCII alone and composes no ASCII character with an ASCII character after it, so
    // an ASCII prefix is already normal and cannot change with what follows. Only the rest is checked
    // and normalised, from the last ASCII character before the first other one (that character may
    // compose with a combining mark after it). Most posts with any non-ASCII character have it near
    // the end (an emoji, a closing `…`).
    let Some(first) = input.bytes().position(|b| !b.is_ascii()) else {
        scan(input, out);
        return;
    };
    let (normal, rest) = input.split_at(first.saturating_sub(1));
    // Emoji and most non-Latin text are already NFKC; checking is far cheaper than rewriting.
    if unicode_normalization::is_nfkc_quick(rest.chars())
        == unicode_normalization::IsNormalized::Yes
    {
        scan(input, out);
    } else {
        let mut nfkc = std::mem::take(&mut out.nfkc);
        nfkc.clear();
        nfkc.push_str(normal);
        nfkc.extend(rest.nfkc());
        scan(&nfkc, out);
        out.nfkc = nfkc;
    }
}

fn scan(s: &str, out: &mut Tokens) {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut negated = false;
    while i < s.len() {
        let c = s[i..].chars().next().expect("i is on a char boundary");
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let rest = &s[i..];
        let next = rest[c.len_utf8()..].chars().next();
        // HTML entities left over from scraping.
        if c == '&'
            && let Some(e) = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
                .iter()
                .find(|e| rest.starts_with(**e))
        {
            i += e.len();
            continue;
        }
        if matches!(c, 'h' | 'H' | 'w' | 'W')
            && (starts_with_ignore_case(rest, "http://")
                || starts_with_ignore_case(rest, "https://")
                || starts_with_ignore_case(rest, "www."))
        {
            i += rest.find(char::is_whitespace).unwrap_or(rest.len());
            out.push("<url>", 0);
            continue;
        }
        if matches!(c, ':' | ';' | '<' | '=' | 'x' | 'X')
            && let Some(e) = EMOTICONS.iter().find(|e| rest.starts_with(**e))
        {
            let after = rest[e.len()..].chars().next();
            if after.is_none_or(|a| !a.is_alphanumeric()) {
                out.push(e, 0);
                i += e.len();
                continue;
            }
        }
        match c {
            '@' if next.is_some_and(is_word_char) => {
                i += 1 + word_len(&rest[1..]);
                out.push("<user>", 0);
            }
            '$' if next.is_some_and(|n| n.is_ascii_alphabetic()) => {
                let len = 1 + rest[1..]
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '.'))
                    .unwrap_or(rest.len() - 1);
                let tag = rest[..len].trim_end_matches('.');
                i += len;
                let start = out.begin();
                for ch in tag.chars() {
                    out.text.extend(ch.to_lowercase());
                }
                out.finish(start, 0);
                out.push("<cashtag>", META);
            }
            '$' if next.is_some_and(|n| n.is_ascii_digit()) => {
                i += 1 + number_len(&rest[1..]);
                // `$5k`, `$1.2B`
                i += rest_alpha_len(&s[i..]);
                out.push("<money>", 0);
            }
            '#' if next.is_some_and(is_word_char) => {
                i += 1;
            }
            '+' | '-' | '0'..='9'
                if c.is_ascii_digit() || next.is_some_and(|n| n.is_ascii_digit()) =>
            {
                let sign = if c.is_ascii_digit() { 0 } else { 1 };
                let len = sign + number_len(&rest[sign..]);
                i += len;
                if bytes.get(i) == Some(&b'%') {
                    i += 1;
                    out.push(
                        match c {
                            '+' => "<pct+>",
                            '-' => "<pct->",
                            _ => "<pct>",
                        },
                        0,
                    );
                } else {
                    out.push("<num>", 0);
                }
            }
            '!' | '?' => {
                let run = rest
                    .find(|ch: char| ch != '!' && ch != '?')
                    .unwrap_or(rest.len());
                let start = out.begin();
                for ch in rest[..run].chars() {
                    out.push_char_folded(start, ch);
                }
                out.finish(start, 0);
                i += run;
                negated = false;
            }
            '.' | ',' | ';' | ':' => {
                i += 1;
                negated = false;
            }
            _ if c.is_alphabetic() => {
                let len = word_len(rest);
                let word = &rest[..len];
                i += len;
                let start = out.begin();
                let shouted = if word.is_ascii() {
                    out.push_ascii_word_folded(word.as_bytes())
                } else {
                    for ch in word.chars() {
                        out.push_char_folded(start, if ch == '’' { '\'' } else { ch });
                    }
                    word.chars().filter(|ch| ch.is_uppercase()).count() >= 2
                        && !word.chars().any(char::is_lowercase)
                };
                let mut flags = WORD;
                if negated {
                    flags |= NEGATED;
                }
                if is_negator(&out.text[start as usize..]) {
                    flags |= NEGATOR;
                    negated = true;
                }
                out.finish(start, flags);
                if shouted {
                    out.push("<allcaps>", META);
                }
            }
            _ if !c.is_ascii() && !c.is_alphanumeric() => {
                i += c.len_utf8();
                if !is_emoji_modifier(c) && !c.is_control() {
                    let mut buf = [0u8; 4];
                    out.push(c.encode_utf8(&mut buf), 0);
                }
            }
            _ => i += c.len_utf8(),
        }
    }
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Letters, digits, `_` and inner apostrophes (`don't`, `it’s`).
fn word_len(s: &str) -> usize {
    // ASCII letters, digits and `_` need no decoding; anything else goes the general way below.
    let ascii = s
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
        .unwrap_or(s.len());
    if s.as_bytes()
        .get(ascii)
        .is_none_or(|&b| b.is_ascii() && b != b'\'')
    {
        return ascii;
    }
    let mut end = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((at, ch)) = chars.next() {
        if is_word_char(ch) {
            end = at + ch.len_utf8();
        } else if (ch == '\'' || ch == '’')
            && end == at
            && chars.peek().is_some_and(|(_, n)| n.is_alphabetic())
        {
            continue;
        } else {
            break;
        }
    }
    end
}

/// Digits with inner `.` or `,` (`1,000.5`).
fn number_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut end = 0;
    let mut j = 0;
    while j < b.len() {
        if b[j].is_ascii_digit() {
            j += 1;
            end = j;
        } else if (b[j] == b'.' || b[j] == b',') && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
            j += 1;
        } else {
            break;
        }
    }
    end
}

fn rest_alpha_len(s: &str) -> usize {
    s.find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        let mut t = Tokens::new();
        tokenize(s, &mut t);
        t.rendered()
    }

    #[test]
    fn words_and_elongation() {
        assert_eq!(toks("Soooo gooood!!!!"), ["soo", "good", "!!"]);
    }

    #[test]
    fn apostrophes_stay_inside_words() {
        assert_eq!(toks("it's fine"), ["it's", "fine"]);
        assert_eq!(toks("it’s"), ["it's"]);
    }
}
