//! Clap definitions only: no behaviour lives here. One file per noun, named
//! as its `commands` module; `legacy.rs` holds the telnyx_api.py command
//! words.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub mod agent;
pub mod agentphone;
pub mod approval;
pub mod assistant;
pub mod call;
pub mod check_key;
pub mod connect;
pub mod demo;
pub mod docs;
pub mod event;
pub mod forget;
pub mod insights;
pub mod legacy;
pub mod mcp;
pub mod memory;
pub mod mission;
pub mod optout;
pub mod phone;
pub mod plan;
pub mod poll;
pub mod run;
pub mod sandbox;
pub mod schedule;
pub mod setup;
pub mod skill;
pub mod sms;
pub mod state;
pub mod status;
pub mod tail;

pub use legacy::LegacyCommand;

/// The help heading of the options every command takes.
pub const GLOBAL: &str = "Global options";

const AFTER_HELP: &str = "\
Exit codes: 0 success, 1 the service refused or failed, 2 bad usage or input,
3 configuration missing (no API key), 4 network unreachable or timed out,
5 a local file (state or config) unreadable, corrupt or unwritable.

The telnyx_api.py command words (create-mission, log-event, schedule-call, ...)
are accepted too, with the same arguments: see docs/legacy-words.md.";

/// Phone calls, SMS and calling missions for AI agents, through ClawdTalk.
#[derive(Debug, Parser)]
#[command(name = "clawdtalk", version, about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes. They are shown under their own heading
/// (`GLOBAL`) so a command's `--help` keeps its own options together.
#[derive(Debug, Clone, Args, Default)]
pub struct GlobalArgs {
    /// Print exactly one JSON document on stdout (for bots and scripts).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// ClawdTalk API key (overrides $CLAWDTALK_API_KEY and skill-config.json).
    #[arg(long, global = true, value_name = "KEY", hide_env_values = true, help_heading = GLOBAL)]
    pub api_key: Option<String>,
    /// API base URL ending in /v1 (overrides $CLAWDTALK_API_URL and `server` in skill-config.json).
    #[arg(long, global = true, value_name = "URL", help_heading = GLOBAL)]
    pub api_url: Option<String>,
    /// Configuration file (default: $CLAWDTALK_CONFIG, ./skill-config.json, then the user config dir).
    #[arg(long, global = true, value_name = "PATH", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,
    /// Mission state file (default: $CLAWDTALK_STATE_FILE, ./.missions_state.json if present, then the user data dir).
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    pub state: Option<PathBuf>,
    /// More logging on stderr (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Missions: create, get, list, status, cancel, init, setup-agent, complete, pause, resume, retry.
    ///
    /// A mission is one calling task of a bot ("get me three roof repair
    /// quotes"): a mission on the service with a run, a plan of steps, run
    /// events and linked assistants, plus an entry in the local state file
    /// (its slug, ids and memory). `init` starts one, `setup-agent` gives it
    /// a voice assistant and a caller-id number, `schedule call --mission`
    /// books its calls, `poll` follows them to the end, `status` shows it at
    /// a glance, `cancel` stops it and `complete` ends it by hand; `create`,
    /// `get` and `list` are the plain API calls.
    #[command(subcommand)]
    Mission(mission::MissionCommand),
    /// AgentPhone, a second provider: one call, one objective (call, get).
    #[command(subcommand)]
    Agentphone(agentphone::AgentPhoneCommand),
    /// Place a call now (to you, or --to a number); `call status ID`, `call end ID`.
    Call(call::CallArgs),
    /// Text messages: send, list, conversations.
    #[command(subcommand)]
    Sms(sms::SmsCommand),
    /// Ask the owner to approve an action on their phone (request, status); prints one outcome word.
    #[command(subcommand)]
    Approval(approval::ApprovalCommand),
    /// The local mission state file: list, get, remove, path.
    #[command(subcommand)]
    State(state::StateCommand),
    /// Mission memory in the state file: save, get, append.
    #[command(subcommand)]
    Memory(memory::MemoryCommand),
    /// Erase a number from every mission's memory and the journal (it stays on the opt-out list).
    Forget(forget::ForgetArgs),
    /// The opt-out list: numbers nothing calls or texts again (add, remove, list).
    #[command(subcommand)]
    Optout(optout::OptoutCommand),
    /// Serve the tools to an agent over MCP (stdio): missions, memory, calls, SMS, approvals, AgentPhone.
    Mcp(mcp::McpArgs),
    /// Configure the skill: API key, server, names, gateway (interactive on a terminal; --yes for agents).
    Setup(setup::SetupArgs),
    /// Check everything: config, key, service, connect daemon, gateway, state; exit 1 when a check fails.
    Status(status::StatusArgs),
    /// The OpenClaw skill file that teaches an agent clawdtalk: print, install.
    #[command(subcommand)]
    Skill(skill::SkillCommand),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff) of clawdtalk or of one command: `clawdtalk man schedule call | man -l -`.
    Man(docs::ManArgs),
    /// Runs of a mission: create, get, update, list.
    #[command(subcommand)]
    Run(run::RunCommand),
    /// A run's plan: create, get, update-step.
    #[command(subcommand)]
    Plan(plan::PlanCommand),
    /// Events logged on a run: log, list.
    #[command(subcommand)]
    Event(event::EventCommand),
    /// Voice/SMS assistants: create, list, get, update, connection-id.
    #[command(subcommand)]
    Assistant(assistant::AssistantCommand),
    /// Account phone numbers: list, available, assign.
    #[command(subcommand)]
    Phone(phone::PhoneCommand),
    /// Scheduled calls and SMS: call, sms, get, cancel, list, batch.
    #[command(subcommand)]
    Schedule(schedule::ScheduleCommand),
    /// Conversation insights: get.
    #[command(subcommand)]
    Insights(insights::InsightsCommand),
    /// Assistants linked to a run: link, list, unlink.
    #[command(subcommand)]
    Agent(agent::AgentCommand),
    /// Run the mission lifecycle: track scheduled calls, retry, finish runs (cron-safe).
    Poll(poll::PollArgs),
    /// Show the configured API key (masked); with --live, prove it against the service.
    CheckKey(check_key::CheckKeyArgs),
    /// Run a local ClawdTalk emulator (test keys, magic numbers, fast clock) until Ctrl-C; `sandbox call-in`.
    Sandbox(sandbox::SandboxArgs),
    /// Voice routing: the WebSocket client that relays calls, SMS and push-to-talk to your agent
    /// (run, start, stop, restart, status, watchdog).
    #[command(subcommand)]
    Connect(connect::ConnectCommand),
    /// Show (and --follow) the event journal: calls, SMS, approvals, poll changes; --exec runs a command per event.
    Tail(tail::TailArgs),
    /// A whole calling mission, offline, against an in-process sandbox (no configuration needed).
    Demo(demo::DemoArgs),
    /// The telnyx_api.py command words.
    #[command(flatten)]
    Legacy(LegacyCommand),
}

/// Bounds on the numbers a user types, checked by clap before anything
/// runs (a bad value exits 2, nothing sent). Why: an unbounded number
/// overflows into nonsense (a busy delay of 2^64 minutes retried at once),
/// hangs a cron job for centuries, or places a call and then fails to
/// follow it (`--timeout 0`).
pub mod bounds {
    /// Most retries per target `poll` makes.
    pub const MAX_RETRIES: u32 = 10;
    /// Longest retry delay, in minutes (7 days).
    pub const MAX_DELAY_MINUTES: u64 = 7 * 24 * 60;
    /// Longest wait or timeout, in seconds (1 day).
    pub const MAX_WAIT_SECS: u64 = 24 * 60 * 60;
    /// Shortest pause between polls (hidden test knobs), in seconds: above
    /// zero so a loop never spins.
    pub const MIN_PAUSE_SECS: f64 = 0.001;
    /// Most calls starting in one `schedule batch` slot.
    pub const MAX_CONCURRENCY: u32 = 100;
    /// Most targets one `schedule batch --max-calls` allows.
    pub const MAX_BATCH_CALLS: u32 = 100_000;

    /// A parser for an RFC 3339 instant between 1970 and 9999.
    pub fn instant(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
        chrono::DateTime::parse_from_rfc3339(s.trim())
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|_| format!("{s:?} is not an RFC 3339 time (e.g. 2026-01-05T15:00:00Z)"))
            .and_then(|t| if t.timestamp() >= 0 { Ok(t) } else { Err(format!("{s} is before 1970")) })
    }

    /// A parser for a span between 1 second and 1 day: `90s`, `2m`, `1h` or
    /// plain seconds.
    pub fn span(s: &str) -> Result<std::time::Duration, String> {
        let t = s.trim();
        let (n, mult) = match t.char_indices().last() {
            Some((i, 's')) => (&t[..i], 1),
            Some((i, 'm')) => (&t[..i], 60),
            Some((i, 'h')) => (&t[..i], 3600),
            _ => (t, 1),
        };
        let secs = n.parse::<u64>().ok().and_then(|n| n.checked_mul(mult)).filter(|v| (1..=86_400).contains(v));
        secs.map(std::time::Duration::from_secs)
            .ok_or_else(|| format!("{s:?} is not a span between 1s and 24h (e.g. 90s, 2m, 1h)"))
    }

    /// A parser for a number of seconds (fractions allowed) in `min..=max`.
    pub fn seconds(min: f64, max: f64) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
        move |s: &str| {
            let v: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number of seconds (e.g. 300 or 0.5)"))?;
            if v.is_finite() && (min..=max).contains(&v) {
                Ok(v)
            } else {
                Err(format!("{s} is out of range: give between {min} and {max} seconds"))
            }
        }
    }

    /// A parser for a [`std::time::Duration`] in seconds, in `min..=max`.
    pub fn duration(
        min: f64,
        max: f64,
    ) -> impl Fn(&str) -> Result<std::time::Duration, String> + Clone + Send + Sync + 'static {
        let secs = seconds(min, max);
        move |s: &str| secs(s).map(std::time::Duration::from_secs_f64)
    }

    /// A parser for a fraction in `0..=1`.
    pub fn fraction(s: &str) -> Result<f64, String> {
        let v: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number between 0 and 1"))?;
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(format!("{s} is out of range: give a number between 0 and 1"))
        }
    }

    /// A parser for a clock speed: above 0, at most a million times real time.
    pub fn speed(s: &str) -> Result<f64, String> {
        let v: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number (e.g. 10)"))?;
        if v.is_finite() && v > 0.0 && v <= 1e6 {
            Ok(v)
        } else {
            Err(format!("{s} is out of range: give a speed above 0 and at most 1000000"))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use proptest::prelude::*;

        #[test]
        fn seconds_refuse_zero_negative_huge_and_non_numbers() {
            let p = seconds(1.0, 86_400.0);
            for bad in ["0", "-1", "86401", "1e300", "NaN", "inf", "soon", ""] {
                assert!(p(bad).is_err(), "{bad}");
            }
            assert_eq!(p("1").unwrap(), 1.0);
            assert_eq!(p(" 86400 ").unwrap(), 86_400.0);
            assert!(fraction("1.5").is_err() && fraction("-0.1").is_err() && fraction("0.5").is_ok());
            assert!(speed("0").is_err() && speed("inf").is_err() && speed("200").is_ok());
        }

        proptest! {
            #[test]
            fn a_duration_parser_never_panics_and_stays_in_bounds(s in "\\PC{0,30}", f in any::<f64>()) {
                let p = duration(MIN_PAUSE_SECS, 3600.0);
                for text in [s, f.to_string()] {
                    if let Ok(d) = p(&text) {
                        prop_assert!(d.as_secs_f64() >= MIN_PAUSE_SECS * 0.999 && d.as_secs_f64() <= 3600.0);
                    }
                }
            }
        }
    }
}
