//! `clawdtalk mission init NAME INSTRUCTIONS REQUEST [STEPS_JSON]` (and the
//! legacy word `init`).

use crate::cli::mission::MissionInitArgs;
use crate::error::Result;
use crate::ledger::{self, InitRequest};
use crate::output::Outcome;

use super::Context;

impl From<MissionInitArgs> for InitRequest {
    fn from(a: MissionInitArgs) -> Self {
        InitRequest { name: a.name, instructions: a.instructions, request: a.request, steps_json: a.steps_json }
    }
}

/// Start (or resume) the mission: see [`ledger::init`].
pub async fn run(ctx: &Context, a: MissionInitArgs) -> Result<Outcome> {
    ledger::init(&|| ctx.client(), &ctx.state()?, ctx.now(), a.into()).await
}
