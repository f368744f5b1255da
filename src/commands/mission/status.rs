//! `clawdtalk mission status SLUG`.

use crate::cli::mission::MissionStatusArgs;
use crate::error::Result;
use crate::ledger::report::mission_status;
use crate::lifecycle::api_service::ApiService;
use crate::output::Outcome;

use super::Context;

/// A mission at a glance: see [`mission_status`].
pub async fn run(ctx: &Context, a: MissionStatusArgs) -> Result<Outcome> {
    mission_status(&ctx.state()?, || ApiService::from_config(&ctx.config, None), &a.slug).await
}
