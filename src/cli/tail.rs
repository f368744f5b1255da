//! `clawdtalk tail`

use clap::Args;

/// Show the event journal: calls, SMS, approvals, poll's status changes and
/// AgentPhone results, one line each (docs/journal.md). Reads only the
/// journal file, so it works while `connect` holds the service's WebSocket.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  \
clawdtalk tail --since 1h --kind call,sms\n  \
clawdtalk tail --follow --json | jq .\n  \
clawdtalk tail --follow --exec ./on-event.sh\n\n\
The journal is journal.ndjson in the user data directory; see docs/journal.md.")]
pub struct TailArgs {
    /// Keep running and show events as they are appended (Ctrl-C stops).
    #[arg(short, long)]
    pub follow: bool,
    /// Only events from the last DURATION (30s, 10m, 2h, 7d) or since an RFC 3339 time.
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Only events of this mission (its slug).
    #[arg(long, value_name = "SLUG")]
    pub mission: Option<String>,
    /// Only these kinds, comma-separated: call, sms, approval, poll, mission, agentphone, report, optout.
    #[arg(long, value_name = "KIND,...", value_delimiter = ',')]
    pub kind: Vec<String>,
    /// Run CMD (with `sh -c`) once per event, the event's JSON line on its
    /// stdin; one at a time, each for at most 60 s. Its output goes to stderr.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
}
