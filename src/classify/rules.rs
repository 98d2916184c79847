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

use regex::Regex;

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

/// The compiled phrase rules.
#[derive(Debug)]
pub struct Rules {
    automated: Vec<(Reason, Regex)>,
    promotional: Vec<(Reason, Regex)>,
    reward: Regex,
    call_to_action: Regex,
    giveaway: Regex,
    list_title: Regex,
}

impl Default for Rules {
    fn default() -> Self {
        Rules::new()
    }
}

fn re(pattern: &str) -> Regex {
    Regex::new(&format!("(?i){pattern}")).expect("the built-in rule patterns compile")
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
        Rules {
            automated,
            promotional,
            reward: re(
                r"giveaways?\b|\bgive ?away|\bgiving away|\bairdrop|\bprize|\bto win\b|\bwin \$?\d|\blucky winners?\b|\bwinners?\b|\bbounty\b|\bdraw\b|cctip|\bi will give\b|\bi'?ll give\b|\bi'?ll send\b|\bi will send\b|\bgive (someone|everyone|one)\b|\bfree (nft|money|crypto|btc|eth)\b|\brewarded\b",
            ),
            call_to_action: re(
                r"\bretweets?\b|\brts?\b|\bfollow(ing|s)?\b|\btag (\d+|a|your|three|two|\w+) friends?\b|\btag \d|notifications?\b|🔔|\blike\b|\bcomment\b|\bjoin\b|\bsubscribe\b|\bsign up\b|\bdownload\b|\benter\b|\bpost your\b",
            ),
            giveaway: re(r"giveaway|@cctip_io"),
            list_title: re(
                r"\btop \d+ (mentions|performing|gainers|coins)\b|\breached a new ath\b|\bgainers (in|of) the last\b",
            ),
        }
    }

    /// Every rule that fires on `text`, automated reasons first.
    pub fn check(&self, text: &str, shape: &Shape, into: &mut Vec<Reason>) {
        for (reason, pattern) in &self.automated {
            if pattern.is_match(text) {
                into.push(*reason);
            }
        }
        if shape.stuffed() && self.list_title.is_match(text) {
            into.push(Reason::TickerList);
        }
        for (reason, pattern) in &self.promotional {
            if pattern.is_match(text) {
                into.push(*reason);
            }
        }
        if self.reward.is_match(text) && self.call_to_action.is_match(text) {
            into.push(Reason::RewardForAction);
        } else if self.giveaway.is_match(text) {
            into.push(Reason::Giveaway);
        }
        if shape.stuffed() && !into.contains(&Reason::TickerList) {
            into.push(Reason::TagStuffing);
        }
    }
}
