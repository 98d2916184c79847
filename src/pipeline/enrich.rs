//! The CPU stage between collectors and the writer: tag mentions, then score sentiment.
//!
//! Both steps are pure functions of the post text, so a batch is enriched on a blocking thread
//! (`spawn_blocking`) and never stalls the async executor that drives HTTP and database I/O. The
//! tagger and the model are built once at start-up and shared (`Send + Sync`).

use crate::config::Config;
use crate::model::{Asset, EnrichedPost, Post, cap_text};
use crate::sentiment::{Scratch, SentimentModel};
use crate::tag::Tagger;

/// Tags and scores posts. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Enricher {
    tagger: Tagger,
    model: SentimentModel,
}

impl Enricher {
    /// The enricher the config asks for: the configured (or built-in) asset registry and model.
    pub fn from_config(config: &Config) -> Result<Enricher, String> {
        let tagger =
            Tagger::from_config(&config.tagger).map_err(|e| format!("asset registry: {e}"))?;
        let model = SentimentModel::from_config(&config.sentiment)
            .map_err(|e| format!("sentiment model: {e}"))?;
        Ok(Enricher { tagger, model })
    }

    /// The built-in registry and model.
    pub fn builtin() -> Enricher {
        Enricher::from_config(&Config::default()).expect("the built-in registry and model load")
    }

    /// The asset registry mentions are drawn from.
    pub fn assets(&self) -> &[Asset] {
        self.tagger.assets()
    }

    /// The version string stored with each score.
    pub fn model_version(&self) -> &str {
        self.model.version()
    }

    /// Tags and scores one post, reusing `scratch` for the scorer's buffers. A text longer than its
    /// platform allows is cut first ([`cap_text`]), so every post costs bounded time here.
    pub fn enrich(&self, mut post: Post, scratch: &mut Scratch) -> EnrichedPost {
        let text_truncated = cap_text(&mut post);
        if text_truncated {
            tracing::warn!(
                platform = %post.platform,
                external_id = %post.external_id,
                kept_bytes = post.text.len(),
                "Post text longer than its platform allows; stored cut and flagged."
            );
        }
        let mentions = self.tagger.tag(&post.text);
        let score = Some(self.model.score_with(&post.text, scratch));
        EnrichedPost {
            post,
            mentions,
            score,
            text_truncated,
        }
    }

    /// Tags and scores a batch with the calling thread's scratch, so buffers and the scorer's word
    /// cache stay warm from one batch to the next on the blocking pool's threads.
    pub fn enrich_all(&self, posts: Vec<Post>) -> Vec<EnrichedPost> {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::new());
        }
        SCRATCH
            .with_borrow_mut(|scratch| posts.into_iter().map(|p| self.enrich(p, scratch)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Platform;

    fn post(platform: Platform, text: String) -> Post {
        Post {
            platform,
            external_id: "1".into(),
            author: None,
            text,
            url: None,
            created_at: chrono::Utc::now(),
            language: None,
            engagement: Default::default(),
            raw: None,
        }
    }

    #[test]
    fn texts_longer_than_their_platform_allows_are_cut_and_flagged() {
        let enricher = Enricher::builtin();
        let mut scratch = Scratch::new();
        // Two-byte characters, so the limit falls inside one: the cut goes back to a boundary.
        let long = format!("x{}", "é $BTC ".repeat(20_000));
        let max = Platform::Twitter.max_text_bytes();
        assert!(long.len() > max);
        let e = enricher.enrich(post(Platform::Twitter, long.clone()), &mut scratch);
        assert!(e.text_truncated);
        assert!(e.post.text.len() <= max && e.post.text.len() > max - 4);
        assert!(long.starts_with(&e.post.text));
        assert!(e.mentions.iter().all(|m| m.end <= e.post.text.len()));
        assert_eq!(e.mentions.len(), crate::tag::MAX_MENTIONS);

        let bluesky = "a".repeat(Platform::Bluesky.max_text_bytes() + 1);
        let e = enricher.enrich(post(Platform::Bluesky, bluesky), &mut scratch);
        assert!(e.text_truncated);
        assert_eq!(e.post.text.len(), Platform::Bluesky.max_text_bytes());

        let e = enricher.enrich(
            post(Platform::Twitter, "$BTC to the moon".into()),
            &mut scratch,
        );
        assert!(!e.text_truncated);
        assert_eq!(e.post.text, "$BTC to the moon");
    }
}
