//! Progress on stderr for long reads and applies. Shown only when stderr is
//! a terminal and `-q` is not given, so logs, pipes and CI stay clean, and
//! stdout carries only the report (`--format json > plan.json` stays valid).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns progress on for this process when stderr is a terminal and the
/// user did not ask for quiet.
pub fn init(quiet: bool) {
    ENABLED.store(!quiet && std::io::stderr().is_terminal(), Ordering::Relaxed);
}

/// A bar of `total` steps; hidden when progress is off or there is too little
/// to show.
pub fn bar(total: usize, message: &str) -> ProgressBar {
    if !ENABLED.load(Ordering::Relaxed) || total < 2 {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    // Cleared when done or dropped (an error ends it early too).
    let pb = pb.with_finish(ProgressFinish::AndClear);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(message.to_string());
    pb
}
