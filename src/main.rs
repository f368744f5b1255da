//! The thin binary: parse arguments, run, print, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use clawdtalk::cli::Cli;
use clawdtalk::commands::{self, Context};
use clawdtalk::output::Printer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let printer = Printer::new(cli.global.json);
    init_logging(cli.global.verbose, commands::log_setup(&cli.command));
    let ctx = match Context::from_cli(&cli, printer) {
        Ok(c) => c,
        Err(e) => {
            printer.error(&e);
            return ExitCode::from(e.exit_code());
        }
    };
    let runtime = if commands::needs_multi_thread(&cli.command) {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    } else {
        one_malloc_arena();
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            printer.message(&format!("error: cannot start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(&ctx, cli.command)) {
        Ok(outcome) => {
            printer.print(&outcome);
            ExitCode::from(outcome.exit_code)
        }
        Err(e) => {
            printer.error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Single-threaded commands still do their state-file work on tokio's
/// blocking pool, and glibc gives each such thread its own malloc arena:
/// memory freed in one is not reused by the other. One arena keeps a
/// 1,000-event poll about 5 MB smaller; nothing here contends for it.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any
    // thread but this one exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

fn level_of(name: &str) -> tracing::Level {
    name.parse().unwrap_or(tracing::Level::INFO)
}

fn init_logging(verbose: u8, setup: commands::LogSetup) {
    let level = match verbose {
        0 => setup.default_level,
        1 => "debug",
        _ => "trace",
    };
    // `Targets` reads the same `target=level` directives as an env filter
    // without a regex engine in the binary (smaller, and less to page in).
    let filter = std::env::var("CLAWDTALK_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| tracing_subscriber::filter::Targets::new().with_target("clawdtalk", level_of(level)));
    // The builder alone would stop at INFO; `filter` decides.
    let builder = tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_target(false);
    let _ = match setup
        .file
        .map(|f| clawdtalk::connect::daemon::RotatingLog::open(&f, clawdtalk::connect::daemon::LOG_MAX_BYTES))
    {
        Some(Ok(log)) => builder.with_ansi(false).with_writer(log).finish().with(filter).try_init(),
        Some(Err(e)) => {
            eprintln!("warning: cannot open the log file ({e}); logging to stderr");
            builder.with_writer(std::io::stderr).finish().with(filter).try_init()
        }
        None => builder.with_writer(std::io::stderr).finish().with(filter).try_init(),
    };
}
