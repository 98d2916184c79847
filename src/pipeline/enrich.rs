//! The CPU stage between collectors and the writer: tag mentions, then score sentiment.
//!
//! Both steps are pure functions of the post (its text, and its time for coins that changed tickers), so a batch is enriched on a blocking thread
//! (`spawn_blocking`) and never stalls the async executor that drives HTTP and database I/O. The
//! tagger and the model are built once at start-up and shared (`Send + Sync`).

use crate::config::Config;
use crate::model::{Asset, EnrichedPost, Post};
use crate::sentiment::{Scratch, SentimentModel};
use crate::tag::{AssetList, Tagger};

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

    /// Like [`Enricher::from_config`], the registry extended by what `coinpulse assets update`
    /// stored (see [`crate::store::assets`]).
    pub fn with_stored_assets(config: &Config, stored: AssetList) -> Result<Enricher, String> {
        let tagger = Tagger::from_config_and(&config.tagger, stored)
            .map_err(|e| format!("asset registry: {e}"))?;
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

    /// Tags and scores one post, reusing `scratch` for the scorer's buffers.
    pub fn enrich(&self, post: Post, scratch: &mut Scratch) -> EnrichedPost {
        let mentions = self.tagger.tag_at(&post.text, post.created_at);
        let score = Some(self.model.score_with(&post.text, scratch));
        EnrichedPost {
            post,
            mentions,
            score,
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
