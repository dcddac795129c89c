//! ampx keeps Amplitude Experiment flags in Git.
//!
//! The flow is `manifests → live state → semantic diff → ordered plan →
//! rendered diff → apply → verify`. Each stage is a module; only `api` (and the
//! apply step) talk to the network, so the diff and the plan are pure functions
//! that the tests exercise without a server.

pub mod api;
pub mod apply;
pub mod cli;
pub mod commands;
pub mod diff;
pub mod emulator;
pub mod export;
pub mod fetch;
pub mod manifest;
pub mod plan;
pub mod progress;
pub mod render;
pub mod saved;
pub mod schema;
