//! `clawdtalk mission setup-agent SLUG NAME INSTRUCTIONS [GREETING]
//! [OPTIONS_JSON]` (and the legacy word `setup-agent`).

use crate::cli::mission::MissionSetupAgentArgs;
use crate::error::Result;
use crate::ledger::{self, AssistantRequest, SetupAgentRequest};
use crate::output::Outcome;

use super::Context;

impl From<MissionSetupAgentArgs> for SetupAgentRequest {
    fn from(a: MissionSetupAgentArgs) -> Self {
        SetupAgentRequest { mission: a.mission, create: a.create, assistant: AssistantRequest::from(a.assistant) }
    }
}

/// Equip the mission with an assistant and a caller id: see [`ledger::setup_agent`].
pub async fn run(ctx: &Context, a: MissionSetupAgentArgs) -> Result<Outcome> {
    ledger::setup_agent(&|| ctx.client(), &ctx.state()?, ctx.now(), a.into()).await
}
