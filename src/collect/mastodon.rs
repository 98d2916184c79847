//! Mastodon: public hashtag timelines of one instance.
//!
//! `GET /api/v1/timelines/tag/{tag}?min_id=<newest seen>` returns the page of statuses just newer than
//! the cursor; when it is full, the `Link` header's `rel="prev"` URL (its `min_id`) continues towards
//! newer ones. Status ids are per instance, so the cursor is per tag and the post id is the status
//! `uri`, which is the same on every instance. Content is HTML and is reduced to text.
//!
//! Cursor: `{"tags": {"bitcoin": "<newest status id seen>"}}`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::http::{Http, HttpSettings, parse_item};
use super::{Batch, BuildContext, SourceConfig, Budget, CollectError, Collector, Source, Track};
use crate::model::{Asset, Engagement, Platform, Post};

const SOURCE: &str = "mastodon";
const ENDPOINT: &str = "/api/v1/timelines/tag/{tag}";

/// `[sources.mastodon]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MastodonConfig {
    pub enabled: bool,
    /// The instance, e.g. `https://mastodon.social`.
    pub base_url: String,
    /// Hashtags without `#`; empty means the tracked assets' names.
    pub tags: Vec<String>,
    pub track: Track,
    /// Statuses per page, at most 40.
    pub limit: u32,
    pub max_pages_per_round: u32,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    pub budget: Budget,
}

impl Default for MastodonConfig {
    fn default() -> Self {
        MastodonConfig {
            enabled: false,
            base_url: "https://mastodon.social".into(),
            tags: vec![],
            track: Track {
                top: Some(10),
                assets: vec![],
            },
            limit: 40,
            max_pages_per_round: 3,
            poll_interval: Duration::from_secs(120),
            budget: Budget::new(100, Duration::from_secs(300)),
        }
    }
}

impl SourceConfig for MastodonConfig {
    const NAME: &'static str = SOURCE;

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn check(&self) -> Result<(), String> {
        super::check_url("sources.mastodon.base_url", &self.base_url)?;
        if !(1..=40).contains(&self.limit) {
            return Err("invalid value for key `sources.mastodon.limit`: must be 1 to 40".into());
        }
        for t in &self.tags {
            if t.is_empty() || t.starts_with('#') {
                return Err(format!(
                    "invalid value for key `sources.mastodon.tags`: `{t}` (write tags without `#`)"
                ));
            }
        }
        super::check_positive(
            "sources.mastodon.max_pages_per_round",
            self.max_pages_per_round.into(),
        )?;
        self.budget.check("sources.mastodon.budget")
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Collector>, CollectError> {
        let mut config = self.clone();
        config.base_url = ctx.url(&self.base_url);
        Ok(Box::new(MastodonCollector::new(
            &config,
            ctx.http.clone(),
            ctx.tracked,
        )?))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MastodonCursor {
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Status {
    id: String,
    uri: String,
    url: Option<String>,
    created_at: DateTime<Utc>,
    language: Option<String>,
    content: String,
    #[serde(default)]
    spoiler_text: String,
    replies_count: Option<i64>,
    reblogs_count: Option<i64>,
    favourites_count: Option<i64>,
    account: Account,
    /// A reblog carries the original; the original is collected where it appears itself.
    reblog: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Account {
    acct: String,
    followers_count: Option<i64>,
}

/// The `min_id` of the `rel="prev"` link, if any.
pub fn prev_min_id(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        if !params.contains("rel=\"prev\"") {
            return None;
        }
        let url = url.trim().trim_start_matches('<').trim_end_matches('>');
        let query = url.split_once('?')?.1;
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix("min_id=").map(str::to_owned))
    })
}

pub struct MastodonCollector {
    http: Http,
    config: MastodonConfig,
    tags: Vec<String>,
}

impl MastodonCollector {
    pub fn new(
        config: &MastodonConfig,
        http: HttpSettings,
        tracked: &[Asset],
    ) -> Result<Self, CollectError> {
        let tags: Vec<String> = if config.tags.is_empty() {
            config
                .track
                .select(tracked)
                .iter()
                .map(|a| {
                    a.name
                        .to_lowercase()
                        .chars()
                        .filter(|c| c.is_alphanumeric())
                        .collect()
                })
                .filter(|t: &String| !t.is_empty())
                .collect()
        } else {
            config.tags.clone()
        };
        if tags.is_empty() {
            return Err(CollectError::fatal(
                SOURCE,
                "no hashtags to follow (set `sources.mastodon.tags`)",
            ));
        }
        Ok(MastodonCollector {
            http: Http::new(
                SOURCE,
                http,
                Some(config.budget),
                "public timelines need no token; the instance refuses anonymous access (check `sources.mastodon.base_url`)",
            )?,
            config: config.clone(),
            tags,
        })
    }

    async fn page(
        &mut self,
        tag: &str,
        min_id: Option<&str>,
    ) -> Result<(Vec<Post>, Option<String>, usize), CollectError> {
        let url = format!(
            "{}/api/v1/timelines/tag/{tag}",
            self.config.base_url.trim_end_matches('/')
        );
        let mut params = vec![("limit", self.config.limit.to_string())];
        if let Some(m) = min_id {
            params.push(("min_id", m.to_owned()));
        }
        let reply = self
            .http
            .send(ENDPOINT, |c| c.get(&url).query(&params))
            .await?;
        let reply = self.http.check(reply)?;
        let items: Vec<serde_json::Value> = reply.json(SOURCE)?;
        let prev = reply
            .headers
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(prev_min_id);
        let mut posts = Vec::new();
        let mut newest: Option<String> = None;
        for (i, raw) in items.iter().enumerate() {
            let s: Status = parse_item(SOURCE, ENDPOINT, &format!("[{i}]"), raw)?;
            if newest.as_deref().is_none_or(|n| id_newer(&s.id, n)) {
                newest = Some(s.id.clone());
            }
            if s.reblog.as_ref().is_some_and(|r| !r.is_null()) {
                continue;
            }
            let mut text = super::text::html_to_text(&s.content);
            if !s.spoiler_text.is_empty() {
                text = format!("{}\n\n{text}", s.spoiler_text);
            }
            if text.is_empty() {
                continue;
            }
            posts.push(Post {
                platform: Platform::Mastodon,
                external_id: s.uri,
                author: Some(s.account.acct),
                text,
                url: s.url,
                created_at: s.created_at,
                language: s.language,
                engagement: Engagement {
                    replies: s.replies_count,
                    reposts: s.reblogs_count,
                    likes: s.favourites_count,
                    views: None,
                    author_followers: s.account.followers_count,
                },
                raw: Some(raw.clone()),
            });
        }
        posts.reverse();
        Ok((posts, newest.or(prev), items.len()))
    }
}

/// Mastodon ids are numeric strings of growing length; compare as numbers.
fn id_newer(a: &str, b: &str) -> bool {
    (a.len(), a) > (b.len(), b)
}

#[async_trait::async_trait]
impl Source for MastodonCollector {
    const NAME: &'static str = SOURCE;
    type Cursor = MastodonCursor;

    async fn poll(
        &mut self,
        cursor: Option<Self::Cursor>,
    ) -> Result<Batch<Self::Cursor>, CollectError> {
        let mut state = cursor.unwrap_or_default();
        let mut posts = Vec::new();
        let mut more = false;
        let mut stopped = None;
        'tags: for tag in self.tags.clone() {
            for _ in 0..self.config.max_pages_per_round {
                let min_id = state.tags.get(&tag).cloned();
                let (page, newest, count) = match self.page(&tag, min_id.as_deref()).await {
                    Ok(p) => p,
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(e) => {
                        stopped = Some(e);
                        break 'tags;
                    }
                };
                posts.extend(page);
                if let Some(n) = newest {
                    state.tags.insert(tag.clone(), n);
                }
                // A first read takes one page; after that, a full page means more are waiting.
                if min_id.is_none() || (count as u32) < self.config.limit {
                    continue 'tags;
                }
            }
            more = true;
        }
        super::finish_post_round(
            posts,
            more,
            stopped,
            self.config.poll_interval,
            self.http.pause_remaining(),
            state,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_prev() {
        let link = "<http://localhost:3000/api/v1/timelines/tag/hoot?max_id=117020593741189701>; rel=\"next\", <http://localhost:3000/api/v1/timelines/tag/hoot?min_id=117020593741189701>; rel=\"prev\"";
        assert_eq!(prev_min_id(link).as_deref(), Some("117020593741189701"));
        assert_eq!(prev_min_id("<http://x/?max_id=1>; rel=\"next\""), None);
    }

    #[test]
    fn numeric_id_order() {
        assert!(id_newer("117020593741189702", "117020593741189701"));
        assert!(id_newer("1000", "999"));
        assert!(!id_newer("999", "1000"));
    }
}
