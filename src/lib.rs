//! ampx keeps Amplitude Experiment flags in Git.
//!
//! The flow is `manifests → live state → semantic diff → ordered plan →
//! rendered diff → apply → verify`. The pure stages (manifests, the live
//! state's model, diff, plan) live in the `ampx-core` crate, which may not
//! depend on an async runtime or an HTTP client; the stand-in API lives in
//! `ampx-emulator`, which may not depend on either of the others. This crate
//! is the command line around them: the API client (`api`), the live reader
//! (`fetch`), `apply`, rendering, export, saved plans and the commands. Only
//! `api`, `fetch`, `apply`, `export`'s reader and `commands` touch the
//! network; everything they hand to the core is data.

pub use ampx_core::{diff, kind, live, manifest, plan, policy, schema, time};
pub use ampx_emulator as emulator;

pub mod api;
pub mod apply;
pub mod cli;
pub mod commands;
pub mod config;
pub mod edit;
pub mod error;
pub mod export;
pub mod fetch;
pub mod progress;
pub mod refs;
pub mod render;
pub mod saved;
pub mod secrets;

#[cfg(test)]
mod tests {
    /// The client's offline checks and the emulator take their limits from
    /// the same documentation, separately; when the two copies part, one of
    /// them has misread it.
    #[test]
    fn client_and_emulator_read_the_same_limits_from_the_docs() {
        assert_eq!(
            crate::manifest::MAX_INCLUSIONS,
            crate::emulator::limits::MAX_INCLUSIONS
        );
        assert_eq!(crate::manifest::OPS, crate::emulator::limits::CONDITION_OPS);
    }
}
