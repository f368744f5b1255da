//! `clawdtalk mission …`

use clap::{Args, Subcommand};

use super::assistant::AssistantSpec;
use super::state::MissionKeyArg;

#[derive(Debug, Subcommand)]
pub enum MissionCommand {
    /// Create a mission (POST /missions).
    Create(MissionCreateArgs),
    /// Show one mission.
    Get(MissionGetArgs),
    /// List missions (first 20).
    List,
    /// A mission at a glance: run, plan steps, each target's calls and insights.
    Status(MissionStatusArgs),
    /// Cancel the remaining scheduled events, and (without --pending-only) the run.
    Cancel(MissionCancelArgs),
    /// Start a mission: create it, its run (and plan) and set it running; the
    /// ids go to the state file under the slug it prints. Re-running resumes.
    #[command(
        after_help = "Example:\n  clawdtalk mission init \"Find window washers\" \"Call and compare quotes\" \"Need 3 quotes\" \\\n      '[{\"step_id\":\"call_1\",\"description\":\"Call first lead\",\"sequence\":1}]'"
    )]
    Init(MissionInitArgs),
    /// Create the mission's voice assistant, link it to the run and pick the
    /// caller-id number; reuses what an earlier run already created.
    #[command(after_help = SETUP_AGENT_NUMBER)]
    SetupAgent(MissionSetupAgentArgs),
    /// Mark the mission's run succeeded with a summary and archive the
    /// mission in the state file (its memory stays readable).
    Complete(MissionCompleteArgs),
    /// Pause a campaign: cancel its events that have not started and record
    /// them as paused (never failed); `mission resume` schedules them again.
    #[command(after_help = "Example:\n  clawdtalk mission pause sweep")]
    Pause(MissionPauseArgs),
    /// Resume a paused campaign: each paused target gets a new event in its
    /// next open calling window (its own window, days and zones).
    #[command(after_help = "Example:\n  clawdtalk mission resume sweep --start +5m --concurrency 3 --stagger 2m")]
    Resume(MissionResumeArgs),
    /// Give each failed target of a campaign one new attempt, reopening the
    /// mission if poll already ended and archived it.
    #[command(after_help = "Example:\n  clawdtalk mission retry sweep --failed --start +10m")]
    Retry(MissionRetryArgs),
}

#[derive(Debug, Clone, Args)]
pub struct MissionPauseArgs {
    /// Mission slug (or mission id).
    pub slug: String,
}

/// How resumed or retried targets are paced (as `schedule batch`).
#[derive(Debug, Clone, Args)]
pub struct PacingArgs {
    /// First slot: relative (+2m) or RFC 3339 UTC; at least 60 s ahead.
    #[arg(long, value_name = "TIME", default_value = "+2m", allow_hyphen_values = true)]
    pub start: String,
    /// At most this many calls start in one --stagger slot.
    #[arg(long, value_name = "N", default_value_t = 5,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(super::bounds::MAX_CONCURRENCY)))]
    pub concurrency: u32,
    /// Time between slots: 90s, 2m, 1h.
    #[arg(long, value_name = "SPAN", default_value = "2m", value_parser = super::bounds::span)]
    pub stagger: std::time::Duration,
    /// At most this many targets get a new event.
    #[arg(long, value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=i64::from(super::bounds::MAX_BATCH_CALLS)))]
    pub max_calls: Option<u32>,
}

#[derive(Debug, Clone, Args)]
pub struct MissionResumeArgs {
    /// Mission slug (or mission id).
    pub slug: String,
    #[command(flatten)]
    pub pacing: PacingArgs,
}

#[derive(Debug, Clone, Args)]
pub struct MissionRetryArgs {
    /// Mission slug (or mission id); an archived mission is reopened.
    pub slug: String,
    /// Retry the targets whose attempts ended failed (required: the only kind of retry).
    #[arg(long, required = true)]
    pub failed: bool,
    #[command(flatten)]
    pub pacing: PacingArgs,
}

#[derive(Debug, Clone, Args)]
pub struct MissionStatusArgs {
    /// Mission slug (or mission id).
    pub slug: String,
}

#[derive(Debug, Clone, Args)]
pub struct MissionCancelArgs {
    /// Mission slug (or mission id).
    pub slug: String,
    /// Only cancel the events not yet run; the run stays open and the next
    /// poll finishes its steps from what was reached (goal met early).
    #[arg(long)]
    pub pending_only: bool,
}

#[derive(Debug, Clone, Args)]
pub struct MissionCreateArgs {
    /// Short descriptive name.
    pub name: String,
    /// Full description of the task.
    pub instructions: String,
}

#[derive(Debug, Clone, Args)]
pub struct MissionGetArgs {
    /// Mission id.
    pub mission_id: String,
}

#[derive(Debug, Clone, Args)]
pub struct MissionInitArgs {
    /// Mission name; its slug (lowercase, - for other characters) keys the state file.
    #[arg(allow_hyphen_values = true)]
    pub name: String,
    /// Full description of the task.
    #[arg(allow_hyphen_values = true)]
    pub instructions: String,
    /// The user's original request (saved as the run's input).
    #[arg(allow_hyphen_values = true)]
    pub request: String,
    /// Plan steps: [{"step_id","description","sequence"},...].
    pub steps_json: Option<String>,
}

/// Why setup-agent leaves the number unassigned (docs/protocol.md#workflows).
const SETUP_AGENT_NUMBER: &str = "\
The phone number: setup-agent takes a free number of the account as the caller id of the
mission's outbound calls and SMS, and does NOT assign it to the mission's assistant. An
assigned number routes inbound calls to its assistant, and an outbound mission must not take
over the owner's inbound line. (The skill documentation was written before upstream made
this change and still says the number is assigned.) To route inbound calls to the assistant on purpose:
  clawdtalk assistant connection-id ASSISTANT_ID && clawdtalk phone assign PHONE_ID CONNECTION_ID voice";

#[derive(Debug, Clone, Args)]
pub struct MissionSetupAgentArgs {
    /// Start a state entry when the slug is unknown (without it, an unknown slug is an error).
    #[arg(long)]
    pub create: bool,
    /// Mission slug (as printed by init) or mission id.
    pub mission: String,
    #[command(flatten)]
    pub assistant: AssistantSpec,
}

/// What a mission achieved, `SUMMARY [PAYLOAD_JSON]` (`mission complete`
/// and the legacy `complete` both end with it).
#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    /// What the mission achieved (the run's result_summary).
    #[arg(allow_hyphen_values = true)]
    pub summary: String,
    /// Structured result (the run's result_payload), JSON.
    pub payload_json: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct MissionCompleteArgs {
    #[command(flatten)]
    pub mission: MissionKeyArg,
    #[command(flatten)]
    pub result: CompletionArgs,
    /// Mission id (default: from the state file).
    #[arg(long, value_name = "MID")]
    pub mission_id: Option<String>,
    /// Run id (default: from the state file).
    #[arg(long, value_name = "RID")]
    pub run_id: Option<String>,
}
