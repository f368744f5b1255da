//! `clawdtalk mission complete SLUG SUMMARY [PAYLOAD_JSON]` (and the legacy
//! word `complete`).

use crate::cli::mission::MissionCompleteArgs;
use crate::error::Result;
use crate::ledger::{self, CompleteRequest};
use crate::output::Outcome;

use super::super::support::claim;
use super::Context;

impl From<MissionCompleteArgs> for CompleteRequest {
    fn from(a: MissionCompleteArgs) -> Self {
        CompleteRequest {
            mission: a.mission.mission,
            mission_id: a.mission_id,
            run_id: a.run_id,
            summary: a.result.summary,
            payload_json: a.result.payload_json,
        }
    }
}

/// End the mission's run and archive it: see [`ledger::complete`].
pub async fn run(ctx: &Context, a: MissionCompleteArgs) -> Result<Outcome> {
    ledger::complete(&|| ctx.client(), &ctx.state()?, &claim(ctx), ctx.now(), a.into()).await
}
