//! `clawdtalk mission status SLUG`.

use crate::cli::mission::MissionStatusArgs;
use crate::error::Result;
use crate::ledger::report::mission_status;
use crate::output::Outcome;

use super::Context;

/// A mission at a glance: see [`mission_status`].
pub async fn run(ctx: &Context, a: MissionStatusArgs) -> Result<Outcome> {
    mission_status(&ctx.state()?, || ctx.api_service(), &a.slug).await
}
