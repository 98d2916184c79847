//! Sentiment: scores each post negative / neutral / positive with a score in [-1, 1].
//!
//! The model is a linear SVM over hashed social-media features, small enough to ship inside the binary
//! (`data/sentiment-model.bin`) and fast enough to score a million posts in seconds on one core.
//!
//! - [`tokenize`]: normalisation and tokens for posts (URLs, users, cashtags, emoji, negation scope).
//! - [`features`]: hashed word 1–2-grams and character n-grams, TF-IDF weighted per block.
//! - [`dcd`]: the LIBLINEAR dual coordinate descent solver as a linfa `Fit` over [`sparse`] rows;
//!   linfa-svm's SMO trainer is the reference it is tested against.
//! - [`train`]: IDF, NB lexicon scaling, one-vs-rest SVMs, calibration, the model file.
//! - [`model`]: loading and scoring ([`SentimentModel`]), explanations.
//! - [`eval`]: accuracy, macro-F1, per-class and per-source numbers (via linfa's confusion matrix).
//!
//! Solver choice, in numbers: linfa-svm builds a dense n×n kernel (3.2 GB at 20k rows, about 80 GB for
//! the 36k-row training set with its char n-grams densified it would not even hold the records), so
//! the production trainer is dual coordinate descent, which trains the full model (3 classes plus 3
//! calibration folds) in seconds; see the README table for measured times. On a 300-row dense problem
//! both give the same labels on held-out rows and near-identical decision values
//! (`tests/sentiment_solver.rs`).

pub mod cli;
pub mod data;
pub mod dcd;
pub mod eval;
pub mod features;
pub mod model;
pub mod sparse;
pub mod tokenize;
pub mod train;

pub use model::{ModelError, Scratch, SentimentModel};
