//! Post classes: tells posts written by people from the output of bots, giveaways and shills.
//!
//! Crypto social media is full of posts that are not opinions: giveaways ("RT + follow + tag 3 friends
//! to win 50 USDT"), airdrop, referral and presale promotion, cashtag-stuffed shill lists, price-ticker
//! and whale-alert bots, AutoModerator notices. Counted like opinions, they inflate social volume and
//! skew sentiment (a giveaway reads positive). This stage, between tagging and storage, gives every
//! post a [`PostClass`] and the [`Reason`]s that decided it, so volume and sentiment can count people.
//!
//! Every signal is a rule that explains itself, combined in a fixed order (see [`Classifier::classify`]):
//!
//! | signal | reasons | class |
//! |---|---|---|
//! | fixed machine templates ([`rules`]) | `bot_disclaimer`, `removed_placeholder`, `transfer_alert`, `release_feed`, `count_ticker`, `fund_update`, `listing_feed`, `ticker_list` | automated |
//! | platform metadata: the author is a known bot account | `bot_account` | automated |
//! | author behaviour: the same author posted near-identical text with different numbers ≥ 3 times in the window | `author_template` | automated |
//! | reward + call to action, giveaway/airdrop, presale, "join our Telegram", referral codes, paid promos ([`rules`]) | `reward_for_action`, `giveaway`, `presale`, `join_group`, `referral`, `paid_promotion` | promotional |
//! | cashtag/hashtag density against real words ([`rules::Shape`]) | `tag_stuffing` | promotional |
//! | near-duplicates of the post by ≥ 4 other authors in the window ([`neardup`]) | `copy_campaign` | promotional |
//!
//! Any automated reason makes a post `automated`; otherwise any promotional reason makes it
//! `promotional`; otherwise it is `human`. All reasons that fired are kept. No learned model: the rules
//! alone reach the targets on the labelled set (see README, "Post classes"), and every decision can be
//! read back as words.
//!
//! The rules are deliberately narrow, because throwing away a real person's post costs more than
//! counting a bot: news headlines, project announcements, "RT if you're still holding" without a
//! reward, and holdings lists of a dozen coins stay `human`.

pub mod cli;
pub mod eval;
pub mod neardup;
pub mod rules;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::Post;
use neardup::{Echoes, NearDupWindow};
use rules::{Rules, Shape};

/// Who wrote a post, as far as its text and its neighbours tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostClass {
    Human,
    Automated,
    Promotional,
}

impl PostClass {
    pub const ALL: [PostClass; 3] = [
        PostClass::Human,
        PostClass::Automated,
        PostClass::Promotional,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PostClass::Human => "human",
            PostClass::Automated => "automated",
            PostClass::Promotional => "promotional",
        }
    }
}

impl std::str::FromStr for PostClass {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PostClass::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown post class `{s}` (expected human, automated or promotional)")
            })
    }
}

/// One signal that fired. Stored by name (`reward_for_action`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    BotDisclaimer,
    RemovedPlaceholder,
    TransferAlert,
    ReleaseFeed,
    CountTicker,
    FundUpdate,
    ListingFeed,
    TickerList,
    BotAccount,
    AuthorTemplate,
    RewardForAction,
    Giveaway,
    Presale,
    JoinGroup,
    Referral,
    PaidPromotion,
    TagStuffing,
    CopyCampaign,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BotDisclaimer => "bot_disclaimer",
            Reason::RemovedPlaceholder => "removed_placeholder",
            Reason::TransferAlert => "transfer_alert",
            Reason::ReleaseFeed => "release_feed",
            Reason::CountTicker => "count_ticker",
            Reason::FundUpdate => "fund_update",
            Reason::ListingFeed => "listing_feed",
            Reason::TickerList => "ticker_list",
            Reason::BotAccount => "bot_account",
            Reason::AuthorTemplate => "author_template",
            Reason::RewardForAction => "reward_for_action",
            Reason::Giveaway => "giveaway",
            Reason::Presale => "presale",
            Reason::JoinGroup => "join_group",
            Reason::Referral => "referral",
            Reason::PaidPromotion => "paid_promotion",
            Reason::TagStuffing => "tag_stuffing",
            Reason::CopyCampaign => "copy_campaign",
        }
    }

    /// The class this reason alone would give.
    pub fn class(self) -> PostClass {
        match self {
            Reason::BotDisclaimer
            | Reason::RemovedPlaceholder
            | Reason::TransferAlert
            | Reason::ReleaseFeed
            | Reason::CountTicker
            | Reason::FundUpdate
            | Reason::ListingFeed
            | Reason::TickerList
            | Reason::BotAccount
            | Reason::AuthorTemplate => PostClass::Automated,
            Reason::RewardForAction
            | Reason::Giveaway
            | Reason::Presale
            | Reason::JoinGroup
            | Reason::Referral
            | Reason::PaidPromotion
            | Reason::TagStuffing
            | Reason::CopyCampaign => PostClass::Promotional,
        }
    }
}

/// A post's class and every reason that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    pub class: PostClass,
    pub reasons: Vec<Reason>,
}

impl Classification {
    pub fn human() -> Classification {
        Classification {
            class: PostClass::Human,
            reasons: Vec::new(),
        }
    }

    /// Reason names, as stored.
    pub fn reason_names(&self) -> Vec<String> {
        self.reasons
            .iter()
            .map(|r| r.as_str().to_string())
            .collect()
    }
}

/// What `--explain` shows: the measurements behind the reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Features {
    #[serde(flatten)]
    pub shape: Shape,
    #[serde(flatten)]
    pub echoes: Echoes,
}

/// `[classify]` in config.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifyConfig {
    /// How far back near-duplicates are looked for.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// At most this many posts are kept in the near-duplicate window (~140 bytes each).
    pub window_posts: usize,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        ClassifyConfig {
            window: Duration::from_secs(7 * 24 * 3600),
            window_posts: 50_000,
        }
    }
}

/// Earlier near-duplicates by the same author that make a numbered post a template.
pub const TEMPLATE_REPEATS: usize = 3;
/// Numbers a post needs for `author_template` ("day 125" is a person counting, not a feed).
pub const TEMPLATE_NUMBERS: usize = 2;
/// Other authors of earlier near-duplicates that make a post part of a copy-paste campaign.
pub const CAMPAIGN_AUTHORS: usize = 4;
/// Words a post needs for `copy_campaign` (short cheers repeat by chance).
pub const CAMPAIGN_WORDS: usize = 8;

/// Author names of platform bots.
const BOT_ACCOUNTS: &[&str] = &["automoderator"];

/// Classifies posts in arrival order. Holds the near-duplicate window, so one instance sees one stream.
#[derive(Debug)]
pub struct Classifier {
    rules: Rules,
    window: NearDupWindow,
}

impl Classifier {
    pub fn new(config: &ClassifyConfig) -> Classifier {
        Classifier {
            rules: Rules::new(),
            window: NearDupWindow::new(config.window_posts, config.window),
        }
    }

    /// Classifies one post and adds it to the window.
    pub fn classify(&mut self, post: &Post) -> Classification {
        self.classify_text(&post.text, post.author.as_deref(), post.created_at)
            .0
    }

    /// The classification and the features behind it.
    pub fn classify_text(
        &mut self,
        text: &str,
        author: Option<&str>,
        at: DateTime<Utc>,
    ) -> (Classification, Features) {
        let shape = Shape::of(text);
        let echoes = self.window.observe(text, author, at);
        let mut reasons = Vec::new();
        self.rules.check(text, &shape, &mut reasons);
        if author.is_some_and(|a| BOT_ACCOUNTS.contains(&a.trim().to_lowercase().as_str())) {
            reasons.push(Reason::BotAccount);
        }
        if echoes.same_author >= TEMPLATE_REPEATS && shape.numbers >= TEMPLATE_NUMBERS {
            reasons.push(Reason::AuthorTemplate);
        }
        if echoes.other_authors >= CAMPAIGN_AUTHORS && echoes.words >= CAMPAIGN_WORDS {
            reasons.push(Reason::CopyCampaign);
        }
        reasons.sort_by_key(|r| (r.class() != PostClass::Automated, *r as u8));
        reasons.dedup();
        let class = reasons.first().map_or(PostClass::Human, |r| r.class());
        (
            Classification { class, reasons },
            Features { shape, echoes },
        )
    }

    /// Adds a stored post to the window without classifying it (rebuilding after a restart).
    pub fn remember(&mut self, text: &str, author: Option<&str>, at: DateTime<Utc>) {
        self.window.remember(text, author, at);
    }

    /// Posts in the near-duplicate window.
    pub fn window_len(&self) -> usize {
        self.window.len()
    }
}

#[cfg(test)]
mod tests;
