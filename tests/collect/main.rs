//! Collector tests: every source against a local wiremock server replaying the recorded responses in
//! `../shared/fixtures/` with their recorded status and headers. Nothing here leaves loopback.

mod biz;
#[path = "../common/mod.rs"]
mod common;
mod fuzz;
mod jetstream;
mod news;
mod prices;
mod reddit;
mod registry;
mod setup;
mod social;
mod support;
mod twitter;
