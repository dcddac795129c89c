use std::process::ExitCode;

use clap::CommandFactory;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // Usage errors exit 1 (bad input), not clap's 2: 2 means "differences
    // found" for plan --detailed-exitcode and drift.
    let matches = match ampx::cli::Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    // ampx.toml's defaults, under the command line and the environment. A
    // config that does not read stops here, before any API call.
    let cli = match ampx::config::resolve(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("{}", ampx::render::text::printable_text(&e.to_string()));
            return ExitCode::from(1);
        }
    };
    let default = match cli.global.verbose {
        _ if cli.global.quiet => "error",
        0 => "warn",
        1 => "ampx=info",
        _ => "ampx=debug",
    };
    ampx::progress::init(cli.global.quiet);
    ampx::render::text::set_color(match cli.global.color {
        ampx::cli::ColorChoice::Auto => None,
        ampx::cli::ColorChoice::Always => Some(true),
        ampx::cli::ColorChoice::Never => Some(false),
    });
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(ampx::secrets::ScrubbedStderr)
        // Colour as --color, NO_COLOR, CLICOLOR_FORCE and TERM decide.
        .with_ansi(ampx::render::text::colour_for(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ))
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(ampx::commands::run(cli)) {
        Ok(status) => ExitCode::from(status as u8),
        Err(e) => {
            if e.is_reported() {
                // An error can quote the API; its control characters are
                // shown, not sent to the terminal.
                let text = ampx::render::text::printable_text(&e.to_string());
                eprintln!("{}", ampx::secrets::scrub(&text));
            }
            ExitCode::from(e.status() as u8)
        }
    }
}
