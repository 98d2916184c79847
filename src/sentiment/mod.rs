//! Sentiment: scores each post negative / neutral / positive with a score in [-1, 1].
//!
//! The model is a linear SVM over hashed social-media features, small enough to ship inside the binary
//! (`data/sentiment-model.bin`) and fast enough to score a million posts in seconds on one core.
//!
//! - [`tokenize`]: normalisation and tokens for posts (URLs, users, cashtags, emoji, negation scope).
//! - [`features`]: hashed word 1–2-grams and character n-grams, TF-IDF weighted per block.
//! - [`lexicon`]: polarity cues from the VADER word list and a crypto slang list as extra word features.
//! - [`table`]: the weight table, on huge pages where the system allows.
//! - [`dcd`]: the LIBLINEAR dual coordinate descent solver as a linfa `Fit` over [`sparse`] rows;
//!   linfa-svm's SMO trainer is the reference it is tested against.
//! - [`train`]: IDF, NB lexicon scaling, one-vs-rest SVMs, calibration, the model file.
//! - [`model`]: loading and scoring ([`SentimentModel`]), explanations.
//! - [`cues`]: what the labelled data and the model make of each slang cue.
//! - [`eval`]: accuracy, macro-F1, per-class and per-source numbers (via linfa's confusion matrix).
//!
//! Solver choice, in numbers: linfa-svm's SMO trainer needs dense rows and a dense n×n kernel
//! (about 10 GB in f64 for the 35,724 training posts, before densifying 2^20 feature columns), so the
//! production trainer is dual coordinate descent over sparse rows. It trains the whole model (3
//! one-vs-rest SVMs, plus 3 folds × 3 SVMs for calibration) in 5.4 s at 250 MB peak RSS on one thread
//! (release, shared 2-core machine), 5.2 s on both cores. On a 400-row, 8-dimension dense problem (300 train, 100 held out, hinge
//! loss, C = 1) it gives the same labels as linfa-svm on 100% of held-out rows, with decision values
//! within 1e-4 (`tests/sentiment/solver.rs`).

pub mod cli;
pub mod cues;
pub mod data;
pub mod dcd;
pub mod eval;
pub mod features;
pub mod lexicon;
pub mod model;
pub mod sparse;
pub mod table;
pub mod tokenize;
pub mod train;

pub use model::{ModelError, Scratch, SentimentModel};
