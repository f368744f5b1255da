//! The thin binary: parse arguments, run, print, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use clawdtalk::cli::Cli;
use clawdtalk::commands::{self, Context};
use clawdtalk::output::Printer;

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
    let ctx = match Context::from_cli(&cli) {
        Ok(c) => c,
        Err(e) => {
            printer.error(&e);
            return ExitCode::from(e.exit_code());
        }
    };
    let runtime = if commands::needs_multi_thread(&cli.command) {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    } else {
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

fn init_logging(verbose: u8, setup: commands::LogSetup) {
    let level = match verbose {
        0 => setup.default_level,
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLAWDTALK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("clawdtalk={level}")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = match setup
        .file
        .map(|f| clawdtalk::connect::daemon::RotatingLog::open(&f, clawdtalk::connect::daemon::LOG_MAX_BYTES))
    {
        Some(Ok(log)) => builder.with_ansi(false).with_writer(log).try_init(),
        Some(Err(e)) => {
            eprintln!("warning: cannot open the log file ({e}); logging to stderr");
            builder.with_writer(std::io::stderr).try_init()
        }
        None => builder.with_writer(std::io::stderr).try_init(),
    };
}
