//! The CPU stage between collectors and the writer: tag mentions, score sentiment, then class the post.
//!
//! Tagging and scoring are pure functions of the post (its text, and its time for coins that changed
//! tickers), so a batch is enriched on a blocking thread
//! (`spawn_blocking`) and never stalls the async executor that drives HTTP and database I/O. The
//! model is built once at start-up and shared (`Send + Sync`). The tagger can be replaced while the
//! daemon runs (a new registry version, see [`super::registry`]): it sits behind an
//! `RwLock<Arc<Tagger>>` that each batch reads once, so every post of a batch is tagged by one
//! registry, never a mix, and a swap waits for no batch (readers hold the lock only to clone the
//! `Arc`). A lock taken once per batch costs nothing next to tagging the batch, and needs no crate
//! beyond std. Classification looks at earlier posts (near-duplicates, an author's repeats), so the
//! one classifier sits behind a mutex and takes each batch whole, in the order batches finish
//! scoring.

use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};

use crate::classify::Classifier;
use crate::config::Config;
use crate::model::{EnrichedPost, Mention, Post, Score, cap_text};
use crate::sentiment::{Scratch, SentimentModel};
use crate::tag::{AssetList, Tagger};

thread_local! {
    /// Each blocking-pool thread's scorer buffers and word cache, warm from one batch to the next.
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::new());
}

/// Tags, scores and classes posts. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Enricher {
    /// The current tagger; replaced whole by [`Enricher::swap_tagger`].
    tagger: RwLock<Arc<Tagger>>,
    model: SentimentModel,
    classifier: Mutex<Classifier>,
    /// Runs before each post is tagged; only tests set it, to make a post panic.
    fault: Option<fn(&Post)>,
}

/// A post whose enrichment panicked, with the panic message.
#[derive(Debug)]
pub struct Failed {
    pub post: Post,
    pub panic: String,
}

impl Enricher {
    /// The enricher the config asks for: the configured (or built-in) asset registry and model.
    pub fn from_config(config: &Config) -> Result<Enricher, String> {
        let tagger =
            Tagger::from_config(&config.tagger).map_err(|e| format!("asset registry: {e}"))?;
        Enricher::with_tagger(config, tagger)
    }

    /// Like [`Enricher::from_config`], the registry extended by what `coinpulse assets update`
    /// stored (see [`crate::store::assets`]).
    pub fn with_stored_assets(config: &Config, stored: AssetList) -> Result<Enricher, String> {
        let tagger = Tagger::from_config_and(&config.tagger, stored)
            .map_err(|e| format!("asset registry: {e}"))?;
        Enricher::with_tagger(config, tagger)
    }

    fn with_tagger(config: &Config, tagger: Tagger) -> Result<Enricher, String> {
        let model = SentimentModel::from_config(&config.sentiment)
            .map_err(|e| format!("sentiment model: {e}"))?;
        let classifier = Mutex::new(Classifier::new(&config.classify));
        Ok(Enricher {
            tagger: RwLock::new(Arc::new(tagger)),
            model,
            classifier,
            fault: None,
        })
    }

    /// The built-in registry and model.
    pub fn builtin() -> Enricher {
        Enricher::from_config(&Config::default()).expect("the built-in registry and model load")
    }

    /// The same enricher, running `fault` before tagging each post. Tests use it to make a chosen
    /// post panic the way a bug in the tagger or the scorer would.
    #[doc(hidden)]
    pub fn with_fault(self, fault: fn(&Post)) -> Enricher {
        Enricher {
            fault: Some(fault),
            ..self
        }
    }

    /// The tagger in use now (its `assets()` are the registry mentions are drawn from).
    pub fn tagger(&self) -> Arc<Tagger> {
        self.tagger
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the tagger: batches enriched from now on use `tagger`, a batch under way finishes
    /// with the one it started with. Returns the tagger replaced.
    pub fn swap_tagger(&self, tagger: Tagger) -> Arc<Tagger> {
        let mut current = self.tagger.write().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *current, Arc::new(tagger))
    }

    /// The version string stored with each score.
    pub fn model_version(&self) -> &str {
        self.model.version()
    }

    /// Whether `text` mentions any asset of the registry.
    pub fn mentions_any(&self, text: &str) -> bool {
        !self.tagger().tag(text).is_empty()
    }

    /// Tags and scores one post, reusing `scratch` for the scorer's buffers. The post is first made
    /// storable ([`Enricher::prepare`]): every collector and importer hands its posts in here. Not
    /// classified: see [`Enricher::enrich_all`].
    pub fn enrich(&self, post: Post, scratch: &mut Scratch) -> EnrichedPost {
        self.enrich_with(&self.tagger(), post, scratch)
    }

    fn enrich_with(&self, tagger: &Tagger, post: Post, scratch: &mut Scratch) -> EnrichedPost {
        let (post, text_truncated) = Self::prepare(post);
        let (mentions, score) = self.annotate(tagger, &post, scratch);
        EnrichedPost {
            post,
            mentions,
            score,
            class: None,
            text_truncated,
        }
    }

    /// Makes a post storable ([`Post::into_storable`]) and cuts a text longer than its platform
    /// allows ([`cap_text`]), so every post costs bounded time in tagging and scoring. Returns whether
    /// it cut.
    fn prepare(post: Post) -> (Post, bool) {
        let mut post = post.into_storable();
        let text_truncated = cap_text(&mut post);
        if text_truncated {
            tracing::warn!(
                platform = %post.platform,
                external_id = %post.external_id,
                kept_bytes = post.text.len(),
                "Post text longer than its platform allows; stored cut and flagged."
            );
        }
        (post, text_truncated)
    }

    fn annotate(
        &self,
        tagger: &Tagger,
        post: &Post,
        scratch: &mut Scratch,
    ) -> (Vec<Mention>, Option<Score>) {
        if let Some(fault) = self.fault {
            fault(post);
        }
        let mentions = tagger.tag_at(&post.text, post.created_at);
        let score = Some(self.model.score_with(&post.text, scratch));
        (mentions, score)
    }

    /// Tags and scores a batch with the calling thread's scratch, so buffers and the scorer's word
    /// cache stay warm from one batch to the next on the blocking pool's threads; then classes it
    /// in order.
    pub fn enrich_all(&self, posts: Vec<Post>) -> Vec<EnrichedPost> {
        let tagger = self.tagger();
        let mut enriched: Vec<EnrichedPost> = SCRATCH.with_borrow_mut(|scratch| {
            posts
                .into_iter()
                .map(|p| self.enrich_with(&tagger, p, scratch))
                .collect()
        });
        self.classify_all(&mut enriched);
        enriched
    }

    /// Classes enriched posts in order: the classifier's window sees them as production does.
    fn classify_all(&self, enriched: &mut [EnrichedPost]) {
        let mut classifier = self.classifier.lock().unwrap_or_else(|e| e.into_inner());
        for p in enriched {
            p.class = Some(classifier.classify(&p.post));
        }
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

    /// [`Enricher::enrich_all`] for the daemon and import: a post whose tagging or scoring panics
    /// comes back as [`Failed`] (to be kept in `rejected_posts`) instead of taking its batch, and the
    /// task that enriches every batch, down with it. The scratch it may have left half-updated is
    /// replaced.
    pub fn enrich_isolated(&self, posts: Vec<Post>) -> (Vec<EnrichedPost>, Vec<Failed>) {
        let mut enriched = Vec::with_capacity(posts.len());
        let mut failed = Vec::new();
        // One registry for the whole batch, even if a new one is swapped in meanwhile.
        let tagger = self.tagger();
        SCRATCH.with_borrow_mut(|scratch| {
            for post in posts {
                let (post, text_truncated) = Self::prepare(post);
                let annotated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.annotate(&tagger, &post, scratch)
                }));
                match annotated {
                    Ok((mentions, score)) => enriched.push(EnrichedPost {
                        post,
                        mentions,
                        score,
                        class: None,
                        text_truncated,
                    }),
                    Err(panic) => {
                        *scratch = Scratch::new();
                        let panic = panic_message(panic.as_ref());
                        tracing::error!(
                            platform = %post.platform,
                            external_id = %post.external_id,
                            %panic,
                            "Enrichment panicked on a post; it is kept in rejected_posts."
                        );
                        failed.push(Failed { post, panic });
                    }
                }
            }
        });
        self.classify_all(&mut enriched);
        (enriched, failed)
    }
}

/// The message a panic carried (`panic!("...")` gives a `&str` or a `String`).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    format!("enrichment panicked: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Platform;

    fn post(id: &str, text: &str) -> Post {
        Post {
            platform: Platform::Twitter,
            external_id: id.into(),
            author: None,
            text: text.into(),
            url: None,
            created_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            language: None,
            engagement: Default::default(),
            raw: None,
        }
    }

    #[test]
    fn a_panicking_post_is_handed_back_and_the_others_are_enriched() {
        let enricher = Enricher::builtin().with_fault(|p| {
            if p.text.contains("poison") {
                panic!("tagger bug on {}", p.external_id)
            }
        });
        let (enriched, failed) = enricher.enrich_isolated(vec![
            post("1", "$BTC to the moon"),
            post("2", "poison \u{0}$ETH"),
            post("3", "$ETH looks great"),
        ]);
        let ids: Vec<&str> = enriched
            .iter()
            .map(|p| p.post.external_id.as_str())
            .collect();
        assert_eq!(ids, ["1", "3"]);
        assert!(
            enriched
                .iter()
                .all(|p| !p.mentions.is_empty() && p.score.is_some())
        );
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].post.external_id, "2");
        assert_eq!(
            failed[0].post.text, "poison $ETH",
            "kept as it would be stored"
        );
        assert_eq!(failed[0].panic, "enrichment panicked: tagger bug on 2");
    }

    fn post_on(platform: Platform, text: String) -> Post {
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
        let e = enricher.enrich(post_on(Platform::Twitter, long.clone()), &mut scratch);
        assert!(e.text_truncated);
        assert!(e.post.text.len() <= max && e.post.text.len() > max - 4);
        assert!(long.starts_with(&e.post.text));
        assert!(e.mentions.iter().all(|m| m.end <= e.post.text.len()));
        assert_eq!(e.mentions.len(), crate::tag::MAX_MENTIONS);

        let bluesky = "a".repeat(Platform::Bluesky.max_text_bytes() + 1);
        let e = enricher.enrich(post_on(Platform::Bluesky, bluesky), &mut scratch);
        assert!(e.text_truncated);
        assert_eq!(e.post.text.len(), Platform::Bluesky.max_text_bytes());

        let e = enricher.enrich(
            post_on(Platform::Twitter, "$BTC to the moon".into()),
            &mut scratch,
        );
        assert!(!e.text_truncated);
        assert_eq!(e.post.text, "$BTC to the moon");
    }
}
