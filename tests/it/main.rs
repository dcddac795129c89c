//! The integration tests, as one test binary: the binary run as a user runs
//! it (cli, saved plans, secrets), the library's flow against the in-process
//! emulator (e2e, experiments, groups, export, gitops), and the emulator made
//! unreliable or hostile on purpose (reliability, hostile). `harness` is what
//! they share: `Env::builder()` and `Ampx::at(url)`.

mod harness;
mod hostile_server;

mod answers;
mod cli;
mod docs_examples;
mod e2e;
mod environments;
mod experiments;
mod export;
mod gitops;
mod groups;
mod hostile;
mod install;
mod interrupt;
mod lifecycle;
mod projects;
mod promotion;
mod readable;
mod refs;
mod reliability;
mod saved_plans;
mod secrets;
mod show_config;
