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
