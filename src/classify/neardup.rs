//! Near-duplicates across posts and authors: a SimHash index over a sliding time window.
//!
//! Copy-paste campaigns and template bots post the same text again and again with small changes (an
//! amount, a link, a handle). A post's text is reduced to its words (links, @handles and digits
//! dropped, lower case), its word 1- and 2-grams are hashed into a 64-bit SimHash (Charikar 2002), and
//! two posts are near-duplicates when their SimHashes differ in at most [`MAX_DISTANCE`] bits. The
//! index splits each SimHash into four 16-bit bands: two SimHashes within three bits agree exactly on at
//! least one band (pigeonhole), so a lookup only visits posts sharing a band.
//!
//! **Memory is bounded by construction.** The window is a ring of at most `capacity` entries (56 bytes:
//! time, SimHash, author hash, and for each band the previous entry with the same band value) plus a
//! table from each of the 4 × 65,536 band values to the newest entry holding it (2 MB, whatever the
//! capacity; a flat table is indexed directly where a hash map would hash every key): 2.8 + 2 MB for
//! the default 50,000 posts. Entries leave when
//! they fall out of the time span or the ring overwrites them, whichever comes first. Chains are never
//! edited: a walk stops at the first entry older than the window, and a band key is removed when the
//! entry it points at leaves. Each band walk visits at most [`MAX_WALK`] entries.
//!
//! After a restart the window is rebuilt by [`NearDupWindow::remember`]ing the recent stored posts in
//! time order, which gives the same state as having seen them live.

use chrono::{DateTime, Utc};

/// Two posts are near-duplicates when their SimHashes differ in at most this many bits.
pub const MAX_DISTANCE: u32 = 3;
/// Posts with fewer words than this (after dropping links, handles and digits) are not indexed: `$LINK`
/// and "Bitcoin" are said by thousands of people independently.
pub const MIN_WORDS: usize = 5;
/// Entries visited per band and lookup, newest first.
const MAX_WALK: usize = 256;
const BANDS: usize = 4;
const NONE: u64 = u64::MAX;

/// What the window knew about a post's text when it arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Echoes {
    /// Earlier near-duplicates by the same author.
    pub same_author: usize,
    /// Distinct other authors of earlier near-duplicates (posts without an author count one each).
    pub other_authors: usize,
    /// Words in the normalised text.
    pub words: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    seq: u64,
    time: i64,
    hash: u64,
    author: u64,
    prev: [u64; BANDS],
}

/// The sliding window. One per classifier; not shared between threads.
#[derive(Debug)]
pub struct NearDupWindow {
    ring: Vec<Entry>,
    capacity: usize,
    span: i64,
    /// Sequence number of the next entry; entries `next - len .. next` are in the ring.
    next: u64,
    /// Oldest live sequence number (older ones fell out of the time span or were overwritten).
    oldest: u64,
    /// The newest entry holding each band value, indexed by [`band_key`]; `NONE` when none does.
    heads: Vec<u64>,
}

impl NearDupWindow {
    /// A window of at most `capacity` posts spanning `span`.
    pub fn new(capacity: usize, span: std::time::Duration) -> NearDupWindow {
        let capacity = capacity.max(1);
        NearDupWindow {
            ring: Vec::with_capacity(capacity),
            capacity,
            span: span.as_secs() as i64,
            next: 0,
            oldest: 0,
            heads: vec![NONE; BANDS << 16],
        }
    }

    /// Posts currently in the window.
    pub fn len(&self) -> usize {
        (self.next - self.oldest) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Looks `text` up against the window, then adds it.
    pub fn observe(&mut self, text: &str, author: Option<&str>, at: DateTime<Utc>) -> Echoes {
        let (hash, words) = simhash(text);
        let author = author_hash(author);
        let time = at.timestamp();
        self.expire(time);
        let mut echoes = Echoes {
            words,
            ..Echoes::default()
        };
        if words < MIN_WORDS {
            return echoes;
        }
        let mut others: Vec<u64> = Vec::new();
        let mut anonymous = 0usize;
        for band in 0..BANDS {
            let mut seq = self.heads[band_key(hash, band)];
            let mut walked = 0;
            while seq != NONE && seq >= self.oldest && walked < MAX_WALK {
                let entry = self.ring[(seq % self.capacity as u64) as usize];
                walked += 1;
                seq = entry.prev[band];
                // Count each entry once: in the first band it shares with the post.
                let first_band =
                    (0..band).all(|b| band_value(entry.hash, b) != band_value(hash, b));
                if !first_band || (entry.hash ^ hash).count_ones() > MAX_DISTANCE {
                    continue;
                }
                if author != 0 && entry.author == author {
                    echoes.same_author += 1;
                } else if entry.author == 0 {
                    anonymous += 1;
                } else if !others.contains(&entry.author) {
                    others.push(entry.author);
                }
            }
        }
        echoes.other_authors = others.len() + anonymous;
        self.insert(hash, author, time);
        echoes
    }

    /// Adds a post without looking it up: rebuilding the window from stored posts after a restart.
    pub fn remember(&mut self, text: &str, author: Option<&str>, at: DateTime<Utc>) {
        let (hash, words) = simhash(text);
        self.expire(at.timestamp());
        if words >= MIN_WORDS {
            self.insert(hash, author_hash(author), at.timestamp());
        }
    }

    fn insert(&mut self, hash: u64, author: u64, time: i64) {
        if self.len() == self.capacity {
            self.evict_oldest();
        }
        let seq = self.next;
        let mut prev = [NONE; BANDS];
        for (band, slot) in prev.iter_mut().enumerate() {
            *slot = std::mem::replace(&mut self.heads[band_key(hash, band)], seq);
        }
        let entry = Entry {
            seq,
            time,
            hash,
            author,
            prev,
        };
        let index = (seq % self.capacity as u64) as usize;
        if index == self.ring.len() {
            self.ring.push(entry);
        } else {
            self.ring[index] = entry;
        }
        self.next += 1;
    }

    /// Drops entries older than the span before `now`. Posts arriving out of order by less than the
    /// span are fine; the window only moves forward.
    fn expire(&mut self, now: i64) {
        while !self.is_empty() {
            let oldest = self.ring[(self.oldest % self.capacity as u64) as usize];
            if oldest.time >= now - self.span {
                break;
            }
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        let entry = self.ring[(self.oldest % self.capacity as u64) as usize];
        debug_assert_eq!(entry.seq, self.oldest);
        for band in 0..BANDS {
            let head = &mut self.heads[band_key(entry.hash, band)];
            if *head == entry.seq {
                *head = NONE;
            }
        }
        self.oldest += 1;
    }
}

fn band_value(hash: u64, band: usize) -> u64 {
    (hash >> (band * 16)) & 0xffff
}

/// The band number in the top bits, so equal values in different bands are different keys.
fn band_key(hash: u64, band: usize) -> usize {
    (band << 16) | band_value(hash, band) as usize
}

/// FNV-1a: stable across runs and platforms, so a rebuilt window hashes exactly as the live one did.
fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// The splitmix64 finaliser: nearby inputs spread over all 64 bits.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// 0 means "no author known".
fn author_hash(author: Option<&str>) -> u64 {
    match author.map(str::trim) {
        Some(a) if !a.is_empty() => fnv1a(a.to_lowercase().as_bytes(), 7).max(1),
        _ => 0,
    }
}

/// The SimHash of the text's words and word pairs, and how many words there were.
pub fn simhash(text: &str) -> (u64, usize) {
    let mut counts = [0i32; 64];
    let mut add = |h: u64| {
        for (bit, count) in counts.iter_mut().enumerate() {
            // +1 for a set bit, -1 for a clear one.
            *count += ((h >> bit) & 1) as i32 * 2 - 1;
        }
    };
    let mut words = 0;
    let mut previous: Option<u64> = None;
    for_each_word(text, |word| {
        let h = fnv1a(word, 1);
        if let Some(p) = previous {
            // A word pair: the two word hashes mixed, order-sensitive.
            add(mix(p.rotate_left(23) ^ h ^ 0x9e37_79b9_7f4a_7c15));
        }
        add(h);
        previous = Some(h);
        words += 1;
    });
    let hash = counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .fold(0u64, |h, (bit, _)| h | (1 << bit));
    (hash, words)
}

/// Calls `f` with each lower-case word of the text, without links, @handles and digits: `10,000 #XLM
/// transferred` and `9,000 #XLM transferred` are the same words. ASCII words are lowered into a
/// buffer reused from word to word; only other words allocate.
fn for_each_word(text: &str, mut f: impl FnMut(&[u8])) {
    let mut lowered = Vec::new();
    for token in text.split_whitespace() {
        if token.starts_with("http://") || token.starts_with("https://") || token.starts_with('@') {
            continue;
        }
        for word in token.split(|c: char| !c.is_alphabetic()) {
            if word.is_empty() {
                continue;
            }
            if word.is_ascii() {
                lowered.clear();
                lowered.extend(word.bytes().map(|b| b.to_ascii_lowercase()));
                f(&lowered);
            } else {
                f(word.to_lowercase().as_bytes());
            }
        }
    }
}
