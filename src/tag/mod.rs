//! The tagger: finds which assets a post mentions.
pub mod cli;
