//! Simulated posts for the demo: deterministic, seeded, paced over the shipped price history.
//!
//! Nothing here is anybody's post. Every text is filled in from templates written for coinpulse;
//! every author is `demo_user_NNN`; every link points at `demo.invalid`, a host reserved never to
//! resolve. What the generator borrows from reality is the price path (Binance hourly closes), so the
//! charts have something true to line the simulated chatter up against.
//!
//! How the chatter follows the price, per simulated hour `h` and asset (BTC, ETH):
//! - **Volume** is a Poisson draw whose rate rises with the absolute log return of the next few hours
//!   (weights 0.15·h, 0.35·h+1, 0.35·h+2, 0.15·h+3, so mentions *lead* price by one to three hours) and
//!   with the last day's volatility, and tilts up before rises (fear of missing out is louder than
//!   fear), so the lead–lag correlogram peaks at a positive lag.
//! - **Mood**: the bullish share follows the sign of the current and coming hour's return; a quarter
//!   of the texts are neutral news-like lines.
//! - SOL, DOGE, ADA, XRP and LINK get a low, steady rate and take their mood from Bitcoin.
//!
//! Each `(seed, stream, hour)` has its own random stream, so any hour can be generated on its own in
//! any order, and the same seed always yields the same posts. Each stream opens with one post at
//! `sim_start` that says the feed is simulated, so a collector's first round has something to anchor
//! on.

use chrono::{DateTime, TimeZone, Utc};

use super::prices::{self, History};
use crate::model::Platform;

/// The host every simulated link points at (RFC 2606: `.invalid` never resolves).
pub const DEMO_HOST: &str = "demo.invalid";
/// Twitter's snowflake epoch (2010-11-04T01:42:54.657Z) in Unix milliseconds.
pub const TWITTER_EPOCH_MS: i64 = 1_288_834_974_657;
/// Epoch of the simulated Reddit ids (2017-07-14), so they stay short.
const REDDIT_EPOCH_MS: i64 = 1_500_000_000_000;
/// How many distinct simulated authors there are.
pub const AUTHORS: u32 = 600;
/// Hours of returns the volume rate looks ahead: the generator stops this far before the data ends.
const LOOKAHEAD_HOURS: i64 = 3;

/// The three kinds of item the sandbox serves, each its own time-ordered stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    Tweet,
    Submission,
    Comment,
}

impl Stream {
    pub const ALL: [Stream; 3] = [Stream::Tweet, Stream::Submission, Stream::Comment];

    pub fn platform(self) -> Platform {
        match self {
            Stream::Tweet => Platform::Twitter,
            Stream::Submission | Stream::Comment => Platform::Reddit,
        }
    }

    fn index(self) -> u64 {
        self as u64
    }
}

/// What the template was chosen to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mood {
    Bullish,
    Bearish,
    Neutral,
}

/// One simulated post.
#[derive(Debug, Clone, PartialEq)]
pub struct SimPost {
    pub stream: Stream,
    /// Creation time in Unix milliseconds.
    pub created_ms: i64,
    /// Tie-breaker among posts of one stream created in the same millisecond.
    pub seq: u16,
    /// Index of the author, `0..AUTHORS`; [`OPENING_AUTHOR`] for the opening posts.
    pub author: u32,
    /// Submissions only.
    pub title: Option<String>,
    /// Tweet text, submission self-text (may be empty) or comment body.
    pub text: String,
    /// Reddit only.
    pub subreddit: &'static str,
    /// Symbols of the assets the text mentions.
    pub assets: Vec<&'static str>,
    pub mood: Mood,
    pub likes: i64,
    pub replies: i64,
    pub reposts: i64,
    /// Comments only: the fullname of the day's discussion thread they answer.
    pub link: Option<String>,
}

/// The author of the opening and daily-thread posts (`demo_feed`).
pub const OPENING_AUTHOR: u32 = u32::MAX;

impl SimPost {
    /// Position in its stream: ids grow with it.
    pub fn key(&self) -> (i64, u16) {
        (self.created_ms, self.seq)
    }

    /// The platform's own id: a snowflake for tweets, base-36 for Reddit.
    pub fn id(&self) -> String {
        match self.stream {
            Stream::Tweet => twitter_id(self.created_ms, self.seq).to_string(),
            _ => reddit_id(self.created_ms, self.seq),
        }
    }

    /// What the collector stores as `external_id`: the tweet id or the Reddit fullname.
    pub fn external_id(&self) -> String {
        match self.stream {
            Stream::Tweet => self.id(),
            Stream::Submission => format!("t3_{}", self.id()),
            Stream::Comment => format!("t1_{}", self.id()),
        }
    }

    pub fn created_at(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.created_ms)
            .single()
            .expect("simulated times lie in the price history")
    }

    /// Seconds as Reddit's `created_utc` float.
    pub fn created_utc(&self) -> f64 {
        self.created_ms as f64 / 1000.0
    }

    pub fn author_name(&self) -> String {
        author_name(self.author)
    }

    /// A numeric user id, as Twitter's `author_id`.
    pub fn author_id(&self) -> String {
        (4_200_000_000u64 + u64::from(self.author.min(AUTHORS))).to_string()
    }

    /// The text the collectors store: Reddit submissions are title, blank line, self-text.
    pub fn stored_text(&self) -> String {
        match (&self.title, self.text.trim().is_empty()) {
            (Some(title), true) => title.clone(),
            (Some(title), false) => format!("{title}\n\n{}", self.text),
            (None, _) => self.text.clone(),
        }
    }

    /// Where the post "lives": always on the reserved demo host.
    pub fn demo_url(&self) -> String {
        match self.stream {
            Stream::Tweet => format!(
                "https://{DEMO_HOST}/twitter/{}/status/{}",
                self.author_name(),
                self.id()
            ),
            _ => format!("https://{DEMO_HOST}{}", self.permalink()),
        }
    }

    /// Reddit's relative permalink (`/r/Bitcoin/comments/<id>/simulated/`).
    pub fn permalink(&self) -> String {
        match (self.stream, &self.link) {
            (Stream::Comment, Some(link)) => format!(
                "/r/{}/comments/{}/simulated/{}/",
                self.subreddit,
                link.trim_start_matches("t3_"),
                self.id()
            ),
            _ => format!("/r/{}/comments/{}/simulated/", self.subreddit, self.id()),
        }
    }
}

/// `demo_user_042`, or `demo_feed` for the feed's own posts.
pub fn author_name(index: u32) -> String {
    if index >= AUTHORS {
        "demo_feed".to_owned()
    } else {
        format!("demo_user_{index:03}")
    }
}

/// Follower count of a simulated author: fixed per author.
pub fn followers(index: u32) -> i64 {
    (splitmix(u64::from(index) ^ 0xF011_0E25) % 25_000) as i64 + 12
}

/// `((ms − epoch) << 22) | seq`, the snowflake layout `collect::twitter::snowflake_time` reads.
pub fn twitter_id(ms: i64, seq: u16) -> u64 {
    (((ms - TWITTER_EPOCH_MS) as u64) << 22) | u64::from(seq & 0x0FFF)
}

/// The `(ms, seq)` a simulated tweet id stands for.
pub fn decode_twitter_id(id: &str) -> Option<(i64, u16)> {
    let n: u64 = id.trim().parse().ok()?;
    Some(((n >> 22) as i64 + TWITTER_EPOCH_MS, (n & 0x0FFF) as u16))
}

/// Base-36 of `((ms − epoch) << 12) | seq`.
pub fn reddit_id(ms: i64, seq: u16) -> String {
    let mut n = (((ms - REDDIT_EPOCH_MS).max(0) as u64) << 12) | u64::from(seq & 0x0FFF);
    let mut digits = Vec::new();
    loop {
        digits.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).expect("ascii")
}

/// The `(ms, seq)` of a simulated Reddit id or fullname (`t3_...`).
pub fn decode_reddit_id(id: &str) -> Option<(i64, u16)> {
    let bare = id.split_once('_').map(|(_, b)| b).unwrap_or(id);
    let n = u64::from_str_radix(bare, 36).ok()?;
    Some(((n >> 12) as i64 + REDDIT_EPOCH_MS, (n & 0x0FFF) as u16))
}

/// An invalid generator setting.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    #[error("invalid start time {start}: the shipped price history covers {first} … {last}")]
    StartOutOfRange {
        start: DateTime<Utc>,
        first: DateTime<Utc>,
        last: DateTime<Utc>,
    },
    #[error("invalid volume scale {0}: must be a finite number above 0")]
    Scale(f64),
}

/// Everything a demo asset needs for texts and rates.
struct Coin {
    symbol: &'static str,
    names: &'static [&'static str],
    hashtags: &'static [&'static str],
    /// Index in `prices::PRICED`, for BTC and ETH.
    priced: Option<usize>,
    /// Base rates per hour: tweets, submissions, comments.
    rates: [f64; 3],
    subreddits: &'static [&'static str],
}

const COINS: [Coin; 7] = [
    Coin {
        symbol: "BTC",
        names: &["Bitcoin", "bitcoin", "BTC", "Bitcoin"],
        hashtags: &["#Bitcoin", "#BTC", "#crypto"],
        priced: Some(0),
        rates: [24.0, 2.0, 8.0],
        subreddits: &["Bitcoin", "Bitcoin", "CryptoCurrency", "CryptoMarkets"],
    },
    Coin {
        symbol: "ETH",
        names: &["Ethereum", "ether", "ETH", "Ethereum"],
        hashtags: &["#Ethereum", "#ETH", "#crypto"],
        priced: Some(1),
        rates: [16.0, 1.4, 5.5],
        subreddits: &["ethereum", "ethereum", "CryptoCurrency", "CryptoMarkets"],
    },
    Coin {
        symbol: "SOL",
        names: &["Solana", "SOL"],
        hashtags: &["#Solana", "#crypto"],
        priced: None,
        rates: [1.2, 0.12, 0.5],
        subreddits: &["CryptoCurrency", "CryptoMarkets"],
    },
    Coin {
        symbol: "DOGE",
        names: &["Dogecoin", "doge", "Dogecoin"],
        hashtags: &["#Dogecoin", "#doge"],
        priced: None,
        rates: [1.6, 0.15, 0.6],
        subreddits: &["CryptoCurrency", "CryptoMarkets"],
    },
    Coin {
        symbol: "ADA",
        names: &["Cardano", "ADA"],
        hashtags: &["#Cardano", "#crypto"],
        priced: None,
        rates: [1.0, 0.1, 0.4],
        subreddits: &["CryptoCurrency", "CryptoMarkets"],
    },
    Coin {
        symbol: "XRP",
        names: &["XRP", "Ripple"],
        hashtags: &["#XRP", "#crypto"],
        priced: None,
        rates: [1.0, 0.1, 0.4],
        subreddits: &["CryptoCurrency", "CryptoMarkets"],
    },
    Coin {
        symbol: "LINK",
        names: &["Chainlink", "LINK"],
        hashtags: &["#Chainlink", "#DeFi"],
        priced: None,
        rates: [0.8, 0.08, 0.3],
        subreddits: &["CryptoCurrency", "CryptoMarkets"],
    },
];

/// Symbols and names of every asset the generator writes about, for matching search queries.
pub fn coin_terms() -> Vec<(&'static str, &'static [&'static str])> {
    COINS.iter().map(|c| (c.symbol, c.names)).collect()
}

// Placeholders: {c} cashtag, {n} name, {h} hashtag, {p} price, {a} size of the hour's move,
// {m} signed move. Templates with {p}, {a} or {m} are used only for assets with a price.
const BULLISH: &[&str] = &[
    "{c} looking strong here, next stop the moon 🚀",
    "{n} is mooning again 🚀🚀 {h}",
    "HODL your {n}, this is just the beginning 💎🙌",
    "Just bought more {c} at {p}. Not selling. {h}",
    "{n} breaking out, {a} in the last hour 📈",
    "Bears getting rekt today. {c} up {a} 🚀",
    "wagmi. {n} to new highs {h}",
    "Loaded up on {c}, feeling bullish 🐂",
    "{n} pumping hard, shorts getting liquidated 🔥",
    "Green candles everywhere. {c} {h} 📈",
    "Told you to HODL {n}. Up {a} and climbing 🚀",
    "{c} holding above {p} like a champ 💪",
];
const BEARISH: &[&str] = &[
    "{c} dumping, {a} gone in an hour 📉",
    "Sold my {n}. This looks like the top. ngmi",
    "{n} bleeding again 📉 {h}",
    "Got rekt on {c} longs today 😭",
    "{c} losing support at {p}, careful out there",
    "Paper hands everywhere, {n} crashing 📉 {h}",
    "This {n} chart looks terrible. Bear market incoming 🐻",
    "Capitulation? {c} down {a} 😬",
    "Whoever bought {n} at the top: ngmi 📉",
    "{c} rejected again, not touching it 🙅",
];
const NEUTRAL: &[&str] = &[
    "{n} trading at {p} right now. {h}",
    "{c} hourly close: {p} ({m})",
    "What's everyone's take on {n} this week?",
    "Reading up on {n} fees and confirmation times.",
    "Market update: {c} at {p}, {m} over the last hour.",
    "New to crypto, is {n} worth learning about? {h}",
    "Anyone tracking {c} volume on the exchanges today?",
    "{n} network upgrade notes, summary thread below {h}",
];
const TITLES_BULLISH: &[&str] = &[
    "{n} just broke {p}, what's next?",
    "Why I'm still bullish on {n}",
    "{n} mooning, HODLers rejoice 🚀",
    "{c} up {a} in an hour, is the bull run back?",
    "Stop selling your {n}",
];
const TITLES_BEARISH: &[&str] = &[
    "{n} down {a} in an hour, is this the top?",
    "Got rekt on {n}, lessons learned",
    "Why I sold all my {n}",
    "{c} below {p}. Bear market confirmed?",
    "Is {n} going to zero? 📉",
];
const TITLES_NEUTRAL: &[&str] = &[
    "Daily {n} analysis: price at {p}",
    "Question about {n} wallets",
    "{n} network activity this week",
    "How do you all track {c}?",
    "ELI5: how does {n} actually work?",
];

/// The deterministic post generator.
#[derive(Debug, Clone)]
pub struct Generator {
    seed: u64,
    sim_start: DateTime<Utc>,
    scale: f64,
    history: &'static History,
}

impl Generator {
    /// A generator whose posts start at `sim_start`. `scale` multiplies every rate (1.0 = about 60
    /// tweets, 4 submissions and 20 comments an hour on average).
    pub fn new(seed: u64, sim_start: DateTime<Utc>, scale: f64) -> Result<Self, GeneratorError> {
        let history = prices::history();
        let (first, last) = history.span();
        // One day of volatility behind, the lookahead in front.
        let first_ok = first + chrono::Duration::hours(24);
        let last_ok = last - chrono::Duration::hours(LOOKAHEAD_HOURS);
        if sim_start < first_ok || sim_start > last_ok {
            return Err(GeneratorError::StartOutOfRange {
                start: sim_start,
                first: first_ok,
                last: last_ok,
            });
        }
        if !(scale.is_finite() && scale > 0.0) {
            return Err(GeneratorError::Scale(scale));
        }
        Ok(Generator {
            seed,
            sim_start,
            scale,
            history,
        })
    }

    pub fn sim_start(&self) -> DateTime<Utc> {
        self.sim_start
    }

    /// The last moment posts are generated for: the end of the price history, less the lookahead.
    pub fn sim_end(&self) -> DateTime<Utc> {
        self.history.span().1 - chrono::Duration::hours(LOOKAHEAD_HOURS)
    }

    /// Expected posts per hour about `symbol` in `stream` during grid hour `h` (the Poisson rate).
    pub fn rate(&self, stream: Stream, symbol: &str, h: i64) -> f64 {
        let Some(coin) = COINS.iter().find(|c| c.symbol == symbol) else {
            return 0.0;
        };
        let base = coin.rates[stream.index() as usize] * self.scale;
        let Some(a) = coin.priced else {
            return base;
        };
        let hist = self.history;
        let m = hist.mean_abs_return(a);
        let r = |k: i64| hist.log_return(a, h + k);
        let lead =
            (0.15 * r(0).abs() + 0.35 * r(1).abs() + 0.35 * r(2).abs() + 0.15 * r(3).abs()) / m;
        let rms = ((0..24).map(|k| r(-k).powi(2)).sum::<f64>() / 24.0).sqrt();
        // For these fat-tailed returns the RMS runs about 1.5 times the mean absolute value.
        let vol = rms / (1.5 * m);
        let signed = (0.5 * r(1) + 0.5 * r(2)) / m;
        let mult = (0.35 + 0.45 * lead + 0.2 * vol) * (1.0 + 0.3 * (signed / 2.0).tanh());
        base * mult.clamp(0.2, 8.0)
    }

    /// Probability that a post about a priced asset in hour `h` is bullish, and that it is bearish.
    pub fn mood_odds(&self, asset: usize, h: i64) -> (f64, f64) {
        let hist = self.history;
        let m = hist.mean_abs_return(asset);
        let s = (0.4 * hist.log_return(asset, h) + 0.6 * hist.log_return(asset, h + 1)) / m;
        let bull = 0.72 / (1.0 + (-1.6 * s).exp());
        (bull, 0.72 - bull)
    }

    /// Grid hour of a time.
    pub fn hour_of(&self, t: DateTime<Utc>) -> i64 {
        self.history.hour_index(t)
    }

    /// Every post of `stream` created in grid hour `h` and not before `sim_start`, in stream order.
    pub fn hour(&self, stream: Stream, h: i64) -> Vec<SimPost> {
        let hist = self.history;
        let start = hist.hour_start(h);
        let end = start + chrono::Duration::hours(1);
        if end <= self.sim_start || start > self.sim_end() {
            return Vec::new();
        }
        let mut rng = fastrand::Rng::with_seed(splitmix(
            self.seed ^ splitmix((h as u64).wrapping_mul(0x9E37_79B9) ^ (stream.index() << 56)),
        ));
        let mut posts: Vec<SimPost> = Vec::new();
        // The feed's own posts come first so they take seq 0 at their millisecond.
        for at in self.feed_posts_in(start, end) {
            if let Some(p) = self.feed_post(stream, at) {
                posts.push(p);
            }
        }
        let start_ms = start.timestamp_millis();
        for coin in &COINS {
            let n = poisson(&mut rng, self.rate(stream, coin.symbol, h));
            for _ in 0..n {
                let ms = start_ms + rng.i64(0..3_600_000);
                posts.push(self.post(&mut rng, stream, coin, h, ms));
            }
        }
        let from = self.sim_start.timestamp_millis();
        posts.retain(|p| p.created_ms >= from && p.created_ms <= self.sim_end().timestamp_millis());
        // Stable: the feed's posts stay ahead of generated ones at the same millisecond.
        posts.sort_by_key(|p| p.created_ms);
        let mut last = (i64::MIN, 0u16);
        for p in &mut posts {
            p.seq = if p.created_ms == last.0 {
                last.1 + 1
            } else {
                0
            };
            last = (p.created_ms, p.seq);
        }
        posts
    }

    /// Every post of `stream` from `sim_start` through `until` (inclusive), in stream order.
    pub fn posts(&self, stream: Stream, until: DateTime<Utc>) -> Vec<SimPost> {
        let until_ms = until.timestamp_millis();
        let mut out = Vec::new();
        for h in self.hour_of(self.sim_start)..=self.hour_of(until) {
            out.extend(
                self.hour(stream, h)
                    .into_iter()
                    .filter(|p| p.created_ms <= until_ms),
            );
        }
        out
    }

    /// Times in `[start, end)` at which the feed posts itself: `sim_start`, then every midnight.
    fn feed_posts_in(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        if self.sim_start >= start && self.sim_start < end {
            out.push(self.sim_start);
        }
        let midnight = start
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc();
        if midnight == start && start > self.sim_start {
            out.push(start);
        }
        out
    }

    /// The day's discussion thread a comment at `ms` answers.
    fn thread_for(&self, ms: i64) -> String {
        let t = Utc.timestamp_millis_opt(ms).single().expect("in range");
        let midnight = t
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc();
        let at = midnight.max(self.sim_start);
        format!("t3_{}", reddit_id(at.timestamp_millis(), 0))
    }

    fn feed_post(&self, stream: Stream, at: DateTime<Utc>) -> Option<SimPost> {
        let day = at.format("%B %-d, %Y");
        let opening = at == self.sim_start;
        let (title, text) = match (stream, opening) {
            (Stream::Tweet, true) => (
                None,
                "Simulated feed: coinpulse demo replay of Binance hourly $BTC and $ETH closes starts now. Every post in this feed is generated.".to_owned(),
            ),
            (Stream::Tweet, false) => return None,
            (Stream::Submission, _) => (
                Some(format!("[Simulated] Daily Discussion - {day}")),
                "This thread is part of the coinpulse demo: the posts are generated, the Bitcoin and Ethereum prices are Binance hourly closes replayed. Please keep discussion civil.".to_owned(),
            ),
            (Stream::Comment, true) => (
                None,
                "Simulated feed started: comments about Bitcoin and Ethereum below are generated by the coinpulse demo.".to_owned(),
            ),
            (Stream::Comment, false) => return None,
        };
        let ms = at.timestamp_millis();
        Some(SimPost {
            stream,
            created_ms: ms,
            seq: 0,
            author: OPENING_AUTHOR,
            title,
            text,
            subreddit: "CryptoCurrency",
            assets: vec!["BTC", "ETH"],
            mood: Mood::Neutral,
            likes: 1,
            replies: 0,
            reposts: 0,
            link: (stream == Stream::Comment).then(|| self.thread_for(ms)),
        })
    }

    fn post(
        &self,
        rng: &mut fastrand::Rng,
        stream: Stream,
        coin: &Coin,
        h: i64,
        ms: i64,
    ) -> SimPost {
        // Unpriced coins move with the market, which here means Bitcoin.
        let (bull, bear) = self.mood_odds(coin.priced.unwrap_or(0), h);
        let x = rng.f64();
        let mood = if x < bull {
            Mood::Bullish
        } else if x < bull + bear {
            Mood::Bearish
        } else {
            Mood::Neutral
        };
        let fill = |rng: &mut fastrand::Rng, set: &[&str]| {
            let usable: Vec<&str> = set
                .iter()
                .copied()
                .filter(|t| {
                    coin.priced.is_some()
                        || !(t.contains("{p}") || t.contains("{a}") || t.contains("{m}"))
                })
                .collect();
            let t = usable[rng.usize(0..usable.len())];
            self.fill(rng, t, coin, h)
        };
        let (texts, titles) = match mood {
            Mood::Bullish => (BULLISH, TITLES_BULLISH),
            Mood::Bearish => (BEARISH, TITLES_BEARISH),
            Mood::Neutral => (NEUTRAL, TITLES_NEUTRAL),
        };
        let mut assets = vec![coin.symbol];
        let (title, mut text) = match stream {
            Stream::Submission => {
                let title = fill(rng, titles);
                let body = if rng.bool() {
                    fill(rng, texts)
                } else {
                    String::new()
                };
                (Some(title), body)
            }
            _ => (None, fill(rng, texts)),
        };
        if rng.f64() < 0.1 {
            let other = &COINS[rng.usize(0..COINS.len())];
            if other.symbol != coin.symbol {
                let line = format!("Also watching ${} 👀", other.symbol);
                if text.is_empty() {
                    text = line;
                } else {
                    text = format!("{text} {line}");
                }
                assets.push(other.symbol);
            }
        }
        let likes = (rng.f64().powi(4) * 400.0) as i64;
        SimPost {
            stream,
            created_ms: ms,
            seq: 0,
            author: rng.u32(0..AUTHORS),
            title,
            text,
            subreddit: coin.subreddits[rng.usize(0..coin.subreddits.len())],
            assets,
            mood,
            likes,
            replies: likes / 8 + i64::from(rng.u8(0..3)),
            reposts: likes / 5,
            link: (stream == Stream::Comment).then(|| self.thread_for(ms)),
        }
    }

    fn fill(&self, rng: &mut fastrand::Rng, template: &str, coin: &Coin, h: i64) -> String {
        let mut out = template.replace("{c}", &format!("${}", coin.symbol));
        out = out.replace("{n}", coin.names[rng.usize(0..coin.names.len())]);
        out = out.replace("{h}", coin.hashtags[rng.usize(0..coin.hashtags.len())]);
        if let Some(a) = coin.priced {
            // The price the poster sees is the last close before the post.
            let price = self.history.close(a, h - 1);
            let ret = self.history.log_return(a, h - 1).exp_m1() * 100.0;
            out = out.replace("{p}", &format_usd(price));
            out = out.replace("{a}", &format!("{:.1}%", ret.abs()));
            out = out.replace("{m}", &format!("{ret:+.1}%"));
        }
        out
    }
}

/// `$29,374` (cents below $100).
pub fn format_usd(price: f64) -> String {
    if price < 100.0 {
        return format!("${price:.2}");
    }
    let whole = price.round() as u64;
    let digits = whole.to_string();
    let mut out = String::from("$");
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A Poisson draw: Knuth's method for small rates, a rounded normal above 30.
fn poisson(rng: &mut fastrand::Rng, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda < 30.0 {
        let limit = (-lambda).exp();
        let mut k = 0;
        let mut p = rng.f64();
        while p > limit {
            k += 1;
            p *= rng.f64();
        }
        return k;
    }
    // Box–Muller.
    let u1 = rng.f64().max(f64::MIN_POSITIVE);
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * rng.f64()).cos();
    (lambda + lambda.sqrt() * z).round().max(0.0) as u32
}

/// SplitMix64: spreads nearby seeds over the whole range.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> DateTime<Utc> {
        "2021-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn ids_round_trip_and_grow_with_time() {
        let ms = start().timestamp_millis();
        assert_eq!(
            decode_twitter_id(&twitter_id(ms, 3).to_string()),
            Some((ms, 3))
        );
        assert_eq!(
            decode_reddit_id(&format!("t3_{}", reddit_id(ms, 7))),
            Some((ms, 7))
        );
        assert!(twitter_id(ms, 0) < twitter_id(ms, 1));
        assert!(twitter_id(ms, 4095) < twitter_id(ms + 1, 0));
        let t = crate::collect::twitter::snowflake_time(&twitter_id(ms, 9).to_string()).unwrap();
        assert_eq!(t, start());
    }

    #[test]
    fn keys_are_unique_and_sorted_within_a_stream() {
        let g = Generator::new(7, start(), 3.0).unwrap();
        for stream in Stream::ALL {
            let posts = g.posts(stream, start() + chrono::Duration::hours(12));
            assert!(posts.len() > 10, "{stream:?}: {}", posts.len());
            assert!(
                posts.windows(2).all(|w| w[0].key() < w[1].key()),
                "{stream:?}"
            );
            assert_eq!(
                posts[0].created_at(),
                start(),
                "{stream:?} opens at sim_start"
            );
        }
    }

    #[test]
    fn texts_are_filled_in_and_links_are_reserved() {
        let g = Generator::new(1, start(), 1.0).unwrap();
        for stream in Stream::ALL {
            for p in g.posts(stream, start() + chrono::Duration::hours(6)) {
                let text = p.stored_text();
                assert!(!text.contains('{') && !text.is_empty(), "{text}");
                assert!(p.demo_url().starts_with("https://demo.invalid/"));
                assert!(p.author_name().starts_with("demo_"));
            }
        }
    }

    #[test]
    fn starts_outside_the_history_are_refused() {
        let e = Generator::new(1, "2016-01-01T00:00:00Z".parse().unwrap(), 1.0).unwrap_err();
        assert!(e.to_string().contains("2017-09-22"), "{e}");
        assert!(Generator::new(1, "2022-01-01T00:00:00Z".parse().unwrap(), 1.0).is_err());
        assert!(Generator::new(1, start(), 0.0).is_err());
    }

    #[test]
    fn usd_formats() {
        assert_eq!(format_usd(29374.21), "$29,374");
        assert_eq!(format_usd(730.4), "$730");
        assert_eq!(format_usd(1234567.0), "$1,234,567");
        assert_eq!(format_usd(0.5), "$0.50");
    }
}
