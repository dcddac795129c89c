//! The pure core of ampx: what a manifest set says (`manifest`), what the
//! live project holds (`live`), how the two differ (`diff`) and which calls,
//! in which order, close the difference (`plan`). Their vocabularies are
//! modules of their own, so that the stages import downwards only: `kind`
//! (what an object is), `change` (what differs), `ops` (the calls a plan
//! makes). `diff` uses `change` and `ops`; `plan` uses `diff`.
//!
//! Every function here is a function of its inputs: no network, no async
//! runtime, no clock, no environment. The only input it reads itself is a
//! manifest file named to `manifest::load`. Cargo enforces the rule: this
//! crate may not depend on tokio, reqwest or axum (`cargo tree -p ampx-core`
//! shows none, and CI checks it), so that the diff and the plan are
//! unit-tested without a server and the CLI's IO stays at its edges.

pub mod change;
pub mod diff;
pub mod kind;
pub mod live;
pub mod manifest;
pub mod ops;
pub mod plan;
pub mod policy;
pub mod schema;
pub mod time;
