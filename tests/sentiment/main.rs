//! Sentiment tests, in one binary (each test binary costs a link): the shipped model against the
//! labelled data and its explanations, the solver against linfa-svm and training's determinism, and
//! the tokenizer.

mod model;
mod solver;
mod tokenize;
