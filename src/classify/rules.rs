//! The text rules: what one post says about itself, without looking at any other post.
//!
//! Each rule is a phrase family that people do not write by accident, so each fires alone and names
//! itself as a [`Reason`]. Promotion needs a *reward and a call to action together* ("RT + follow to
//! win $50"): either alone is ordinary speech ("I'll follow the chart", "airdrop season is here" are
//! not promotions), except a giveaway announcement or a tipping-bot drop (`@cctip_io`), which are. Automation is recognised by the
//! fixed templates machines write (bot disclaimers, whale-transfer alerts, fund and holder-count
//! updates, ticker lists, release feeds). Cashtag stuffing is a long run of tags with no words between
//! them, or a post naming so many coins that it cannot be about them: a trader's watchlist of five or
//! ten coins is ordinary; a tail of fifteen or a run of ten tags is not.

use std::collections::HashSet;

use regex::RegexSet;

use super::Reason;

/// A run of this many cashtags/hashtags with no word between them is stuffing.
pub const STUFFED_RUN: usize = 10;
/// This many distinct cashtags in one post is stuffing.
pub const STUFFED_CASHTAGS: usize = 15;

/// Counts that describe the shape of a post, also shown by `coinpulse classify --explain`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Shape {
    /// Distinct cashtags (`$BTC` and `$btc` are one).
    pub cashtags: usize,
    pub hashtags: usize,
    /// Words of two or more letters outside tags, handles and links.
    pub words: usize,
    /// The longest run of tags with no word between them.
    pub tag_run: usize,
    /// Numbers outside links (`10,000,000`, `1.70`).
    pub numbers: usize,
}

impl Shape {
    pub fn of(text: &str) -> Shape {
        let mut shape = Shape::default();
        let mut cashtags: HashSet<String> = HashSet::new();
        let mut run = 0usize;
        for raw in text.split_whitespace() {
            if raw.starts_with("http://") || raw.starts_with("https://") {
                continue;
            }
            let token = raw.trim_start_matches(|c: char| {
                !c.is_alphanumeric() && c != '$' && c != '#' && c != '@'
            });
            let mut chars = token.chars();
            let first = chars.next();
            let second_is_letter = chars.next().is_some_and(|c| c.is_alphabetic());
            match first {
                Some('$') if second_is_letter => {
                    let symbol: String = token[1..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric())
                        .map(|c| c.to_ascii_lowercase())
                        .collect();
                    if (2..=10).contains(&symbol.len()) {
                        cashtags.insert(symbol);
                    }
                    run += 1;
                }
                Some('#') if second_is_letter => {
                    shape.hashtags += 1;
                    run += 1;
                }
                Some('@') => {}
                _ => {
                    let words = count_words(token);
                    shape.numbers += count_numbers(token);
                    shape.words += words;
                    if words > 0 {
                        run = 0;
                    }
                }
            }
            shape.tag_run = shape.tag_run.max(run);
        }
        shape.cashtags = cashtags.len();
        shape
    }

    /// Too many tags for the words around them: the post advertises a list, it does not talk.
    pub fn stuffed(&self) -> bool {
        self.tag_run >= STUFFED_RUN || self.cashtags >= STUFFED_CASHTAGS
    }
}

/// Words of two or more letters in a token (`to/from` is two).
fn count_words(token: &str) -> usize {
    token
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.chars().count() >= 2)
        .count()
}

/// Numbers in a token that does not start with a letter (`$17.03`, `1,831,771`; not `TRC20`).
fn count_numbers(token: &str) -> usize {
    let mut count = 0;
    let mut prev: Option<char> = None;
    for c in token.chars() {
        if c.is_ascii_digit() && !prev.is_some_and(|p| p.is_alphanumeric() || p == '.' || p == ',')
        {
            count += 1;
        }
        prev = Some(c);
    }
    count
}

/// What a phrase pattern stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phrase {
    /// A template or promotion that is a reason by itself.
    Reason(Reason),
    Reward,
    CallToAction,
    Giveaway,
    ListTitle,
}

/// The compiled phrase rules: one `RegexSet`, so a post is scanned once for all of them.
#[derive(Debug)]
pub struct Rules {
    set: RegexSet,
    phrases: Vec<Phrase>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules::new()
    }
}

/// Case-insensitive, with ASCII word boundaries: a Unicode `\b` makes the regex engine give up its
/// lazy DFA on any post with a non-ASCII character (most of them: emoji) and fall back to the
/// PikeVM, which took four fifths of classification time. The rules' words are ASCII, so only a
/// letter like `é` glued to a cue word reads differently.
fn re(pattern: &str) -> String {
    format!("(?i){}", pattern.replace(r"\b", r"(?-u:\b)"))
}

impl Rules {
    pub fn new() -> Rules {
        let automated = vec![
            (
                Reason::BotDisclaimer,
                re(
                    r"\bi am a bot\b|action was performed automatically|auto[- ]?generated by a bot|this summary is auto",
                ),
            ),
            (
                Reason::RemovedPlaceholder,
                re(r"^\s*\[(removed|deleted)\]\s*$"),
            ),
            (
                Reason::TransferAlert,
                re(r"transferred from .{1,40} to .{0,40}wallet|\btx: *https?://"),
            ),
            (
                Reason::ReleaseFeed,
                re(r"github (update|release)|new release:? v?\d"),
            ),
            (
                Reason::CountTicker,
                re(r"yesterday:.{0,60}\d.{0,60}today:|holders: *[\d,]+ +today"),
            ),
            (
                Reason::FundUpdate,
                re(r"net assets under management|holdings per share"),
            ),
            (
                Reason::ListingFeed,
                re(r"new trading pairs|futures weekly update"),
            ),
        ];
        let promotional = vec![
            (Reason::Presale, re(r"\bpre-?sale\b|\bbuy tokens\b")),
            (
                Reason::JoinGroup,
                re(
                    r"\bjoin (our|their|the|my) (telegram|tg|discord|group|channel)\b|\btg: *https?://|\bt\.me/",
                ),
            ),
            (
                Reason::Referral,
                re(
                    r"\breferral\b|\buse (my )?code\b|\bpromo code\b|\binvite (link|code)\b|\bi personally invite you\b",
                ),
            ),
            (
                Reason::PaidPromotion,
                re(
                    r"\bfeatured project\b|\bsponsor(ed)? giveaway\b|\bpaid promo|\bsubscribe to (the|my|our) (letter|newsletter)\b|\byou can buy it\b|\bdownload the app\b|\bdon[’']t wait\b|\bget in early\b|\bpost your (cashapp|paypal)\b",
                ),
            ),
        ];
        let others = vec![
            (
                Phrase::Reward,
                re(
                    r"giveaways?\b|\bgive ?away|\bgiving away|\bairdrop|\bprize|\bto win\b|\bwin \$?\d|\blucky winners?\b|\bwinners?\b|\bbounty\b|\bdraw\b|cctip|\bi will give\b|\bi'?ll give\b|\bi'?ll send\b|\bi will send\b|\bgive (someone|everyone|one)\b|\bfree (nft|money|crypto|btc|eth)\b|\brewarded\b",
                ),
            ),
            (
                Phrase::CallToAction,
                re(
                    r"\bretweets?\b|\brts?\b|\bfollow(ing|s)?\b|\btag (\d+|a|your|three|two|\w+) friends?\b|\btag \d|notifications?\b|🔔|\blike\b|\bcomment\b|\bjoin\b|\bsubscribe\b|\bsign up\b|\bdownload\b|\benter\b|\bpost your\b",
                ),
            ),
            (Phrase::Giveaway, re(r"giveaway|@cctip_io")),
            (
                Phrase::ListTitle,
                re(
                    r"\btop \d+ (mentions|performing|gainers|coins)\b|\breached a new ath\b|\bgainers (in|of) the last\b",
                ),
            ),
        ];
        let (phrases, patterns): (Vec<Phrase>, Vec<String>) = automated
            .into_iter()
            .chain(promotional)
            .map(|(reason, pattern)| (Phrase::Reason(reason), pattern))
            .chain(others)
            .unzip();
        Rules {
            set: RegexSet::new(&patterns).expect("the built-in rule patterns compile"),
            phrases,
        }
    }

    /// Every rule that fires on `text`, automated reasons first.
    pub fn check(&self, text: &str, shape: &Shape, into: &mut Vec<Reason>) {
        let hits = self.set.matches(text);
        let hit = |phrase: Phrase| hits.iter().any(|i| self.phrases[i] == phrase);
        for i in hits.iter() {
            if let Phrase::Reason(reason) = self.phrases[i] {
                into.push(reason);
            }
        }
        if shape.stuffed() && hit(Phrase::ListTitle) {
            into.push(Reason::TickerList);
        }
        if hit(Phrase::Reward) && hit(Phrase::CallToAction) {
            into.push(Reason::RewardForAction);
        } else if hit(Phrase::Giveaway) {
            into.push(Reason::Giveaway);
        }
        if shape.stuffed() && !into.contains(&Reason::TickerList) {
            into.push(Reason::TagStuffing);
        }
    }
}
