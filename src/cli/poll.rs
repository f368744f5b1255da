//! `clawdtalk poll`

use clap::Args;

/// Run the mission lifecycle once (or until nothing is pending): fetch every
/// tracked scheduled event that has not ended, record how it went, fetch
/// insights, retry busy or unanswered numbers, move plan steps, and finish
/// the run when every step is done. Safe to run from cron every minute.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Retry policy: busy after 10 min, no-answer after 30 min, failed (network) after 5 min, \
up to --max-retries per target; then the target is failed (memory `failed_targets`).\n\
Cron: `clawdtalk poll --cron-line` prints a ready crontab entry.")]
pub struct PollArgs {
    /// Only this mission (slug or mission id).
    #[arg(long, value_name = "SLUG")]
    pub mission: Option<String>,
    /// Keep polling until nothing is pending, sleeping by how soon events are due.
    #[arg(long)]
    pub watch: bool,
    /// Retries per target after the first attempt.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=i64::from(super::bounds::MAX_RETRIES)))]
    pub max_retries: u32,
    /// Minutes before a busy number is called again.
    #[arg(long, value_name = "MIN", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=super::bounds::MAX_DELAY_MINUTES))]
    pub busy_delay: u64,
    /// Minutes before an unanswered number is called again.
    #[arg(long, value_name = "MIN", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=super::bounds::MAX_DELAY_MINUTES))]
    pub no_answer_delay: u64,
    /// Minutes before a failed (network) call is tried again.
    #[arg(long, value_name = "MIN", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=super::bounds::MAX_DELAY_MINUTES))]
    pub failed_delay: u64,
    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    pub concurrency: usize,
    /// Send no reports to the agent (mission finished, a step is the bot's,
    /// a target failed for good); they are on when a gateway is configured.
    /// The config key `notify_agent = false` does the same for every poll.
    #[arg(long)]
    pub no_notify: bool,
    /// Print a crontab line that runs poll every minute (the crontab is not edited).
    #[arg(long)]
    pub cron_line: bool,
    /// With --watch: a fixed pause between polls in seconds instead of the
    /// table (demos and tests against a fast sandbox).
    #[arg(long, hide = true, value_name = "SECS", value_parser = super::bounds::seconds(super::bounds::MIN_PAUSE_SECS, super::bounds::MAX_WAIT_SECS as f64))]
    pub interval: Option<f64>,
}
