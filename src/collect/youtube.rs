//! YouTube: channel Atom feeds (free), `search.list` (sparingly), `videos.list` for the counts of
//! the videos a round found and `commentThreads.list` for their comments.
//!
//! Quota decides the design. `search.list` is worth 100 units (or one of the 100 daily searches,
//! depending on which page of Google's docs one trusts), so it runs at most every `search_interval`
//! with `publishedAfter` = the previous search, never re-reading. Comment threads cost 1 unit a page
//! and are read newest first for the `max_tracked_videos` most recent videos, for `track_videos_for`.
//! `videos.list` costs 1 unit per 50 ids and runs once a round for the new videos only, so the
//! counts are those at first sight; when it fails the videos go on without counts.
//! Channel feeds (`/feeds/videos.xml`, 15 newest uploads, no key, no quota) use their own HTTP client,
//! so they keep running while the API quota is exhausted. `quotaExceeded` pauses the API part until
//! midnight Pacific time, when Google resets quotas; `commentsDisabled` marks the video and moves on.
//!
//! Cursor: `{"last_search": "<RFC 3339>", "feeds": {"<channel id>": "<newest published>"},
//! "videos": {"<video id>": {"published": "..", "comments_after": "..", "seen": [..], "disabled": false}}}`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use quick_xml::events::Event;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::http::{Http, HttpSettings, Reply, parse_item};
use super::text::decode_entities;
use super::{Batch, BuildContext, SourceConfig, Budget, CollectError, Collector, Source, Track};
use crate::model::{Asset, Engagement, Platform, Post};

const SOURCE: &str = "youtube";

/// `[sources.youtube]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct YoutubeConfig {
    pub enabled: bool,
    /// Environment variable with a Data API v3 key. Needed for search and comments, not for feeds.
    pub api_key_env: Option<String>,
    pub base_url: String,
    pub feed_base_url: String,
    /// Channel ids (`UC...`) whose uploads are read from their Atom feeds.
    pub channels: Vec<String>,
    /// Run `search.list` for the tracked assets.
    pub search: bool,
    /// Replaces the query built from the tracked assets.
    pub query: Option<String>,
    pub track: Track,
    #[serde(with = "humantime_serde")]
    pub search_interval: Duration,
    pub comments: bool,
    pub max_tracked_videos: usize,
    #[serde(with = "humantime_serde")]
    pub track_videos_for: Duration,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    pub budget: Budget,
}

impl Default for YoutubeConfig {
    fn default() -> Self {
        YoutubeConfig {
            enabled: false,
            api_key_env: Some("YOUTUBE_API_KEY".into()),
            base_url: "https://www.googleapis.com/youtube/v3".into(),
            feed_base_url: "https://www.youtube.com".into(),
            channels: vec![],
            search: true,
            query: None,
            track: Track {
                top: Some(5),
                assets: vec![],
            },
            search_interval: Duration::from_secs(1800),
            comments: true,
            max_tracked_videos: 20,
            track_videos_for: Duration::from_secs(2 * 86_400),
            poll_interval: Duration::from_secs(600),
            budget: Budget::new(60, Duration::from_secs(60)),
        }
    }
}

impl SourceConfig for YoutubeConfig {
    const NAME: &'static str = SOURCE;

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn check(&self) -> Result<(), String> {
        if self.enabled && (self.search || self.comments) {
            match &self.api_key_env {
                Some(env) => super::check_env_name("sources.youtube.api_key_env", env)?,
                None => return Err("missing value for key `sources.youtube.api_key_env`: search and comments need an API key (or set search = false and comments = false to read channel feeds only)".into()),
            }
        }
        if self.enabled && !self.search && self.channels.is_empty() {
            return Err("invalid value for key `sources.youtube.channels`: with search = false, name at least one channel".into());
        }
        super::check_url("sources.youtube.base_url", &self.base_url)?;
        super::check_url("sources.youtube.feed_base_url", &self.feed_base_url)?;
        if self.search_interval < Duration::from_secs(900) {
            return Err("invalid value for key `sources.youtube.search_interval`: at least 15m (the daily search quota is about 100)".into());
        }
        self.budget.check("sources.youtube.budget")
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Collector>, CollectError> {
        let mut config = self.clone();
        config.base_url = ctx.url(&self.base_url);
        config.feed_base_url = ctx.url(&self.feed_base_url);
        let key = match &self.api_key_env {
            Some(var) if self.search || self.comments => Some(ctx.secrets.require(
                SOURCE,
                "sources.youtube.api_key_env",
                var,
            )?),
            _ => None,
        };
        Ok(Box::new(YoutubeCollector::new(
            &config,
            ctx.http.clone(),
            ctx.tracked,
            key,
        )?))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoCursor {
    pub published: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments_after: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct YoutubeCursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_search: Option<DateTime<Utc>>,
    #[serde(default)]
    pub feeds: BTreeMap<String, DateTime<Utc>>,
    #[serde(default)]
    pub videos: BTreeMap<String, VideoCursor>,
}

/// The next midnight in America/Los_Angeles, when YouTube quotas reset. US daylight time runs from
/// the second Sunday of March to the first Sunday of November.
pub fn next_pacific_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    fn nth_sunday(year: i32, month: u32, n: u32) -> NaiveDate {
        let first = NaiveDate::from_ymd_opt(year, month, 1).expect("valid date");
        let offset = (7 - first.weekday().num_days_from_sunday()) % 7;
        first + chrono::Days::new(u64::from(offset + 7 * (n - 1)))
    }
    let dst_on = |d: NaiveDate| {
        let start = nth_sunday(d.year(), 3, 2);
        let end = nth_sunday(d.year(), 11, 1);
        d > start && d <= end
    };
    let is_dst_at = |t: DateTime<Utc>| {
        let y = t.year();
        let start = nth_sunday(y, 3, 2)
            .and_hms_opt(10, 0, 0)
            .expect("time")
            .and_utc();
        let end = nth_sunday(y, 11, 1)
            .and_hms_opt(9, 0, 0)
            .expect("time")
            .and_utc();
        t >= start && t < end
    };
    let offset_h = if is_dst_at(now) { 7 } else { 8 };
    let local = now - chrono::Duration::hours(offset_h);
    let tomorrow = local.date_naive().succ_opt().expect("date in range");
    let back = if dst_on(tomorrow) { 7 } else { 8 };
    Utc.from_utc_datetime(&tomorrow.and_hms_opt(0, 0, 0).expect("midnight"))
        + chrono::Duration::hours(back)
}

/// One entry of a channel feed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedEntry {
    pub video_id: String,
    pub channel_id: String,
    pub title: String,
    pub author: String,
    pub published: Option<DateTime<Utc>>,
    pub description: String,
    pub views: Option<i64>,
    pub ratings: Option<i64>,
    pub link: Option<String>,
}

/// Parses a channel's Atom feed.
pub fn parse_feed(xml: &str) -> Result<Vec<FeedEntry>, String> {
    fn attrs(entry: &mut FeedEntry, name: &str, e: &quick_xml::events::BytesStart) {
        let attr = |key: &str| {
            e.attributes()
                .flatten()
                .find(|a| a.key.as_ref() == key.as_bytes())
                .and_then(|a| a.unescape_value().ok())
                .map(|v| v.into_owned())
        };
        match name {
            "link" if attr("rel").as_deref().is_none_or(|r| r == "alternate") => {
                entry.link = attr("href")
            }
            "media:statistics" => entry.views = attr("views").and_then(|v| v.parse().ok()),
            "media:starRating" => entry.ratings = attr("count").and_then(|v| v.parse().ok()),
            _ => {}
        }
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut entries = Vec::new();
    let mut current: Option<FeedEntry> = None;
    let mut path: Vec<String> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("XML error at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if name == "entry" {
                    current = Some(FeedEntry::default());
                }
                if let Some(entry) = current.as_mut() {
                    attrs(entry, &name, &e);
                }
                path.push(name);
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if let Some(entry) = current.as_mut() {
                    attrs(entry, &name, &e);
                }
            }
            Event::End(_) if path.pop().as_deref() == Some("entry") => {
                entries.extend(current.take());
            }
            Event::Text(t) => {
                if let Some(entry) = current.as_mut() {
                    let text = t
                        .unescape()
                        .map_err(|e| format!("XML error: {e}"))?
                        .into_owned();
                    let parent = path.len().checked_sub(2).map(|i| path[i].as_str());
                    match path.last().map(String::as_str) {
                        Some("yt:videoId") => entry.video_id = text,
                        Some("yt:channelId") => entry.channel_id = text,
                        Some("title") if parent == Some("entry") => entry.title = text,
                        Some("name") if parent == Some("author") => entry.author = text,
                        Some("published") if parent == Some("entry") => {
                            entry.published = text.parse().ok()
                        }
                        Some("media:description") => entry.description = text,
                        _ => {}
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !path.is_empty() {
        return Err(format!("XML ended inside <{}>", path.join("><")));
    }
    Ok(entries)
}

#[derive(Debug, Deserialize)]
struct ListResponse {
    #[serde(default)]
    items: Vec<serde_json::Value>,
    #[serde(rename = "nextPageToken")]
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchItem {
    id: SearchId,
    snippet: SearchSnippet,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchId {
    video_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchSnippet {
    published_at: DateTime<Utc>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    channel_title: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Thread {
    snippet: ThreadSnippet,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreadSnippet {
    top_level_comment: Comment,
    total_reply_count: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Comment {
    id: String,
    snippet: CommentSnippet,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentSnippet {
    author_display_name: Option<String>,
    text_original: Option<String>,
    text_display: Option<String>,
    like_count: Option<i64>,
    published_at: DateTime<Utc>,
    video_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VideoItem {
    id: String,
    statistics: Option<Statistics>,
}

/// Counts arrive as decimal strings; one the owner hides (usually likes) is absent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Statistics {
    #[serde(default, deserialize_with = "count")]
    view_count: Option<i64>,
    #[serde(default, deserialize_with = "count")]
    like_count: Option<i64>,
    #[serde(default, deserialize_with = "count")]
    comment_count: Option<i64>,
}

fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Count {
        Text(String),
        Number(i64),
    }
    match Option::<Count>::deserialize(d)? {
        None => Ok(None),
        Some(Count::Number(n)) => Ok(Some(n)),
        Some(Count::Text(t)) => t
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected a count, found {t:?}"))),
    }
}

/// The first `errors[].reason` of a Google error envelope.
fn google_reason(reply: &Reply) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(&reply.body).ok()?;
    v.pointer("/error/errors/0/reason")
        .and_then(|r| r.as_str())
        .map(str::to_owned)
}

pub struct YoutubeCollector {
    api: Http,
    feeds: Http,
    key: Option<SecretString>,
    config: YoutubeConfig,
    query: Option<String>,
}

impl YoutubeCollector {
    pub fn new(
        config: &YoutubeConfig,
        http: HttpSettings,
        tracked: &[Asset],
        key: Option<SecretString>,
    ) -> Result<Self, CollectError> {
        if let Some(key) = &key {
            super::require_tls(SOURCE, "sources.youtube.base_url", &config.base_url)?;
            super::redact::register_secret("youtube.api_key", key);
        }
        let query = config.query.clone().or_else(|| {
            let names: Vec<String> = config
                .track
                .select(tracked)
                .iter()
                .map(|a| a.name.to_lowercase())
                .collect();
            (!names.is_empty()).then(|| names.join("|"))
        });
        let hint = format!(
            "check the API key in {} (`sources.youtube.api_key_env`) and that the YouTube Data API v3 is enabled for its project",
            config.api_key_env.as_deref().unwrap_or("(none)")
        );
        Ok(YoutubeCollector {
            api: Http::new(SOURCE, http.clone(), Some(config.budget), hint)?,
            feeds: Http::new(
                SOURCE,
                http,
                None,
                "channel feeds need no key; check `sources.youtube.channels`",
            )?,
            key,
            config: config.clone(),
            query,
        })
    }

    /// An API call; `Ok(Err(reason))` hands the non-fatal reasons back to the caller.
    async fn api_get(
        &mut self,
        endpoint: &str,
        params: Vec<(&str, String)>,
    ) -> Result<Result<ListResponse, String>, CollectError> {
        let Some(key) = self.key.clone() else {
            return Err(CollectError::fatal(
                SOURCE,
                "no API key configured (`sources.youtube.api_key_env`)",
            ));
        };
        let url = format!("{}{endpoint}", self.config.base_url.trim_end_matches('/'));
        let reply = self
            .api
            .send(endpoint, |c| {
                c.get(&url)
                    .query(&params)
                    .query(&[("key", key.expose_secret())])
            })
            .await?;
        if !reply.status.is_success() {
            let reason = google_reason(&reply).unwrap_or_default();
            match reason.as_str() {
                "quotaExceeded" | "dailyLimitExceeded" => {
                    let now = self.api.now();
                    let wait = (next_pacific_midnight(now) - now)
                        .to_std()
                        .unwrap_or(Duration::from_secs(3600));
                    self.api.block_for(wait);
                    tracing::warn!(
                        source = SOURCE,
                        wait_s = wait.as_secs(),
                        "Daily API quota used up, pausing API calls until midnight Pacific time."
                    );
                    return Err(CollectError::rate_limited(
                        SOURCE,
                        format!(
                            "{endpoint}: quota exceeded; API calls resume at midnight Pacific time, in {}s",
                            wait.as_secs()
                        ),
                        wait,
                    ));
                }
                "commentsDisabled" | "videoNotFound" | "forbidden"
                    if endpoint == "/commentThreads" =>
                {
                    return Ok(Err(reason));
                }
                "keyInvalid" | "keyExpired" => {
                    return Err(CollectError::fatal(
                        SOURCE,
                        format!(
                            "{endpoint} answered HTTP {}: {} ({reason}); check the API key in {} (`sources.youtube.api_key_env`)",
                            reply.status.as_u16(),
                            reply.snippet(),
                            self.config.api_key_env.as_deref().unwrap_or("(none)")
                        ),
                    ));
                }
                _ => {}
            }
        }
        let reply = self.api.check(reply)?;
        Ok(Ok(reply.json(SOURCE)?))
    }

    async fn poll_feed(
        &mut self,
        channel: &str,
        state: &mut YoutubeCursor,
        posts: &mut Vec<Post>,
    ) -> Result<(), CollectError> {
        let endpoint = "/feeds/videos.xml";
        let url = format!(
            "{}{endpoint}",
            self.config.feed_base_url.trim_end_matches('/')
        );
        let reply = self
            .feeds
            .send(endpoint, |c| c.get(&url).query(&[("channel_id", channel)]))
            .await?;
        let reply = self.feeds.check(reply)?;
        let xml = String::from_utf8_lossy(&reply.body);
        let entries = parse_feed(&xml).map_err(|e| {
            CollectError::transient(
                SOURCE,
                format!("malformed feed of channel {channel}: {e}"),
                Duration::from_secs(600),
            )
        })?;
        let after = state.feeds.get(channel).copied();
        let mut newest = after;
        for e in entries {
            let Some(published) = e.published else {
                continue;
            };
            if e.video_id.is_empty() || after.is_some_and(|a| published <= a) {
                continue;
            }
            newest = newest.max(Some(published));
            self.track_video(state, &e.video_id, published);
            posts.push(Post {
                platform: Platform::Youtube,
                external_id: e.video_id.clone(),
                author: Some(e.author.clone()).filter(|a| !a.is_empty()),
                text: join_text(&e.title, &e.description),
                url: Some(e.link.clone().unwrap_or_else(|| format!("https://www.youtube.com/watch?v={}", e.video_id))),
                created_at: published,
                language: None,
                engagement: Engagement { views: e.views, ..Default::default() },
                raw: Some(serde_json::json!({"videoId": e.video_id, "channelId": e.channel_id, "title": e.title, "published": published, "views": e.views, "ratings": e.ratings})),
            });
        }
        if let Some(n) = newest {
            state.feeds.insert(channel.to_owned(), n);
        }
        Ok(())
    }

    fn track_video(&self, state: &mut YoutubeCursor, id: &str, published: DateTime<Utc>) {
        state.videos.entry(id.to_owned()).or_insert(VideoCursor {
            published,
            ..Default::default()
        });
    }

    async fn search(
        &mut self,
        state: &mut YoutubeCursor,
        posts: &mut Vec<Post>,
    ) -> Result<(), CollectError> {
        let Some(q) = self.query.clone() else {
            return Ok(());
        };
        let now = self.api.now();
        let after = state.last_search.unwrap_or(now - chrono::Duration::days(1));
        let endpoint = "/search";
        let resp = match self
            .api_get(
                endpoint,
                vec![
                    ("part", "snippet".into()),
                    ("q", q),
                    ("type", "video".into()),
                    ("order", "date".into()),
                    ("maxResults", "50".into()),
                    (
                        "publishedAfter",
                        after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    ),
                ],
            )
            .await?
        {
            Ok(r) => r,
            Err(reason) => {
                return Err(CollectError::transient(
                    SOURCE,
                    format!("{endpoint}: {reason}"),
                    Duration::from_secs(600),
                ));
            }
        };
        if resp.next_page_token.is_some() {
            tracing::info!(
                source = SOURCE,
                "Search has more than one page of new videos; only the newest 50 are taken (lower `sources.youtube.search_interval`)."
            );
        }
        for (i, raw) in resp.items.iter().enumerate() {
            let item: SearchItem = parse_item(SOURCE, endpoint, &format!("items[{i}]"), raw)?;
            let Some(id) = item.id.video_id else { continue };
            self.track_video(state, &id, item.snippet.published_at);
            posts.push(Post {
                platform: Platform::Youtube,
                url: Some(format!("https://www.youtube.com/watch?v={id}")),
                external_id: id,
                author: item.snippet.channel_title,
                text: join_text(
                    &decode_entities(&item.snippet.title),
                    &decode_entities(&item.snippet.description),
                ),
                created_at: item.snippet.published_at,
                language: None,
                engagement: Engagement::default(),
                raw: Some(raw.clone()),
            });
        }
        state.last_search = Some(now);
        Ok(())
    }

    /// Fills views, likes and comment counts of the video posts from `videos.list`, 50 ids a call.
    /// A video the answer leaves out (deleted, private) keeps what it had.
    async fn details(&mut self, videos: &mut [Post]) -> Result<(), CollectError> {
        let mut ids: Vec<String> = videos.iter().map(|p| p.external_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let endpoint = "/videos";
        for chunk in ids.chunks(50) {
            let resp = match self
                .api_get(
                    endpoint,
                    vec![
                        ("part", "snippet,statistics".into()),
                        // `maxResults` does not go with `id`; 50 ids is the documented cap.
                        ("id", chunk.join(",")),
                    ],
                )
                .await?
            {
                Ok(r) => r,
                Err(reason) => {
                    return Err(CollectError::transient(
                        SOURCE,
                        format!("{endpoint}: {reason}"),
                        Duration::from_secs(600),
                    ));
                }
            };
            for (i, raw) in resp.items.iter().enumerate() {
                let item: VideoItem = parse_item(SOURCE, endpoint, &format!("items[{i}]"), raw)?;
                let Some(stats) = item.statistics else {
                    continue;
                };
                for post in videos.iter_mut().filter(|p| p.external_id == item.id) {
                    let e = &mut post.engagement;
                    e.views = stats.view_count.or(e.views);
                    e.likes = stats.like_count.or(e.likes);
                    e.replies = stats.comment_count.or(e.replies);
                }
            }
        }
        Ok(())
    }

    async fn comments(
        &mut self,
        video: &str,
        vc: &mut VideoCursor,
        posts: &mut Vec<Post>,
    ) -> Result<(), CollectError> {
        let endpoint = "/commentThreads";
        let resp = match self
            .api_get(
                endpoint,
                vec![
                    ("part", "snippet".into()),
                    ("videoId", video.to_owned()),
                    ("maxResults", "100".into()),
                    ("order", "time".into()),
                    ("textFormat", "plainText".into()),
                ],
            )
            .await?
        {
            Ok(r) => r,
            Err(reason) => {
                tracing::info!(source = SOURCE, video, reason = %reason, "Comments unavailable for this video, no longer reading them.");
                vc.disabled = true;
                return Ok(());
            }
        };
        let mut newest = vc.comments_after;
        let mut at_newest: Vec<String> = Vec::new();
        let mut found = Vec::new();
        for (i, raw) in resp.items.iter().enumerate() {
            let t: Thread = parse_item(SOURCE, endpoint, &format!("items[{i}]"), raw)?;
            let c = t.snippet.top_level_comment;
            let published = c.snippet.published_at;
            if vc
                .comments_after
                .is_some_and(|a| published < a || (published == a && vc.seen.contains(&c.id)))
            {
                continue;
            }
            if newest.is_none_or(|n| published > n) {
                newest = Some(published);
                at_newest.clear();
            }
            if Some(published) == newest {
                at_newest.push(c.id.clone());
            }
            let Some(text) = c
                .snippet
                .text_original
                .or(c.snippet.text_display)
                .filter(|t| !t.trim().is_empty())
            else {
                continue;
            };
            let vid = c.snippet.video_id.unwrap_or_else(|| video.to_owned());
            found.push(Post {
                platform: Platform::Youtube,
                url: Some(format!("https://www.youtube.com/watch?v={vid}&lc={}", c.id)),
                external_id: c.id,
                author: c.snippet.author_display_name,
                text,
                created_at: published,
                language: None,
                engagement: Engagement {
                    replies: t.snippet.total_reply_count,
                    likes: c.snippet.like_count,
                    ..Default::default()
                },
                raw: Some(raw.clone()),
            });
        }
        if newest != vc.comments_after {
            vc.comments_after = newest;
            vc.seen = at_newest;
        } else {
            vc.seen.extend(at_newest);
        }
        found.reverse();
        posts.extend(found);
        Ok(())
    }
}

fn join_text(title: &str, description: &str) -> String {
    if description.trim().is_empty() {
        title.to_owned()
    } else {
        format!("{title}\n\n{description}")
    }
}

#[async_trait::async_trait]
impl Source for YoutubeCollector {
    const NAME: &'static str = SOURCE;
    type Cursor = YoutubeCursor;

    async fn poll(
        &mut self,
        cursor: Option<Self::Cursor>,
    ) -> Result<Batch<Self::Cursor>, CollectError> {
        let mut state = cursor.unwrap_or_default();
        let mut posts = Vec::new();
        let mut stopped: Option<CollectError> = None;
        for channel in self.config.channels.clone() {
            if let Err(e) = self.poll_feed(&channel, &mut state, &mut posts).await {
                if e.is_fatal() {
                    return Err(e);
                }
                stopped = Some(e);
                break;
            }
        }
        let now = self.api.now();
        let search_due = state
            .last_search
            .is_none_or(|t| (now - t).to_std().unwrap_or_default() >= self.config.search_interval);
        if stopped.is_none()
            && self.config.search
            && self.key.is_some()
            && search_due
            && let Err(e) = self.search(&mut state, &mut posts).await
        {
            if e.is_fatal() {
                return Err(e);
            }
            stopped = Some(e);
        }
        // Everything so far is a video; comments come below.
        if stopped.is_none()
            && self.key.is_some()
            && !posts.is_empty()
            && let Err(e) = self.details(&mut posts).await
        {
            if e.is_fatal() {
                return Err(e);
            }
            tracing::warn!(source = SOURCE, error = %e, videos = posts.len(), "Video details unavailable; keeping the videos without counts.");
        }
        // Forget videos past their window, keep the newest few.
        let horizon = now
            - chrono::Duration::from_std(self.config.track_videos_for)
                .unwrap_or(chrono::Duration::days(2));
        state.videos.retain(|_, v| v.published >= horizon);
        let mut by_age: Vec<(String, DateTime<Utc>)> = state
            .videos
            .iter()
            .map(|(k, v)| (k.clone(), v.published))
            .collect();
        by_age.sort_by_key(|v| std::cmp::Reverse(v.1));
        for (id, _) in by_age.iter().skip(self.config.max_tracked_videos) {
            state.videos.remove(id);
        }
        if stopped.is_none() && self.config.comments && self.key.is_some() {
            for (id, _) in by_age.into_iter().take(self.config.max_tracked_videos) {
                let Some(mut vc) = state.videos.get(&id).cloned() else {
                    continue;
                };
                if vc.disabled {
                    continue;
                }
                match self.comments(&id, &mut vc, &mut posts).await {
                    Ok(()) => {
                        state.videos.insert(id, vc);
                    }
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(e) => {
                        stopped = Some(e);
                        break;
                    }
                }
            }
        }
        let mut next_poll_in = self.config.poll_interval;
        if let Some(e) = stopped {
            if posts.is_empty() {
                return Err(e);
            }
            tracing::info!(source = SOURCE, error = %e, "Round cut short; keeping what was fetched.");
            next_poll_in = e
                .retry_in()
                .unwrap_or(next_poll_in)
                .min(self.config.poll_interval);
        }
        Ok(Batch {
            posts,
            prices: vec![],
            cursor: Some(state),
            next_poll_in,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacific_midnight_winter_and_summer() {
        let t: DateTime<Utc> = "2024-01-15T12:00:00Z".parse().unwrap();
        assert_eq!(
            next_pacific_midnight(t).to_rfc3339(),
            "2024-01-16T08:00:00+00:00"
        );
        let t: DateTime<Utc> = "2024-07-15T06:30:00Z".parse().unwrap();
        // 23:30 PDT on the 14th: midnight is 30 minutes away.
        assert_eq!(
            next_pacific_midnight(t).to_rfc3339(),
            "2024-07-15T07:00:00+00:00"
        );
        // The Saturday before DST starts (2024-03-10): the next midnight is still PST.
        let t: DateTime<Utc> = "2024-03-09T20:00:00Z".parse().unwrap();
        assert_eq!(
            next_pacific_midnight(t).to_rfc3339(),
            "2024-03-10T08:00:00+00:00"
        );
        // The Sunday DST starts: the following midnight is PDT.
        let t: DateTime<Utc> = "2024-03-10T20:00:00Z".parse().unwrap();
        assert_eq!(
            next_pacific_midnight(t).to_rfc3339(),
            "2024-03-11T07:00:00+00:00"
        );
    }
}
