//! The CPU stage between collectors and the writer: tag mentions, score sentiment, then class the post.
//!
//! Tagging and scoring are pure functions of the post text, so a batch is enriched on a blocking thread
//! (`spawn_blocking`) and never stalls the async executor that drives HTTP and database I/O. The
//! tagger and the model are built once at start-up and shared (`Send + Sync`). Classification looks
//! at earlier posts (near-duplicates, an author's repeats), so the one classifier sits behind a mutex
//! and takes each batch whole, in the order batches finish scoring.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::classify::Classifier;
use crate::config::Config;
use crate::model::{Asset, EnrichedPost, Post};
use crate::sentiment::{Scratch, SentimentModel};
use crate::tag::Tagger;

/// Tags, scores and classes posts. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Enricher {
    tagger: Tagger,
    model: SentimentModel,
    classifier: Mutex<Classifier>,
}

impl Enricher {
    /// The enricher the config asks for: the configured (or built-in) asset registry and model.
    pub fn from_config(config: &Config) -> Result<Enricher, String> {
        let tagger =
            Tagger::from_config(&config.tagger).map_err(|e| format!("asset registry: {e}"))?;
        let model = SentimentModel::from_config(&config.sentiment)
            .map_err(|e| format!("sentiment model: {e}"))?;
        let classifier = Mutex::new(Classifier::new(&config.classify));
        Ok(Enricher {
            tagger,
            model,
            classifier,
        })
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

    /// Tags and scores one post, reusing `scratch` for the scorer's buffers. Not classified: see
    /// [`Enricher::enrich_all`].
    pub fn enrich(&self, post: Post, scratch: &mut Scratch) -> EnrichedPost {
        let mentions = self.tagger.tag(&post.text);
        let score = Some(self.model.score_with(&post.text, scratch));
        EnrichedPost {
            post,
            mentions,
            score,
            class: None,
        }
    }

    /// Tags and scores a batch with the calling thread's scratch, so buffers and the scorer's word
    /// cache stay warm from one batch to the next on the blocking pool's threads; then classes it
    /// in order.
    pub fn enrich_all(&self, posts: Vec<Post>) -> Vec<EnrichedPost> {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::new());
        }
        let mut enriched: Vec<EnrichedPost> = SCRATCH.with_borrow_mut(|scratch| {
            posts.into_iter().map(|p| self.enrich(p, scratch)).collect()
        });
        let mut classifier = self.classifier.lock().unwrap_or_else(|e| e.into_inner());
        for p in &mut enriched {
            p.class = Some(classifier.classify(&p.post));
        }
        enriched
    }

    /// Rebuilds the classifier's near-duplicate window from stored posts (oldest first) after a restart.
    pub fn remember<'a>(
        &self,
        posts: impl IntoIterator<Item = (&'a str, Option<&'a str>, DateTime<Utc>)>,
    ) {
        let mut classifier = self.classifier.lock().unwrap_or_else(|e| e.into_inner());
        for (text, author, at) in posts {
            classifier.remember(text, author, at);
        }
    }
}
