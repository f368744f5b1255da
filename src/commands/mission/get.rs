//! `clawdtalk mission get ID`.

use crate::api::missions;
use crate::cli::mission::MissionGetArgs;
use crate::error::Result;
use crate::output::Outcome;

use super::Context;

/// `mission get ID` → the mission as pretty JSON.
pub async fn run(ctx: &Context, a: MissionGetArgs) -> Result<Outcome> {
    let client = ctx.client()?;
    Ok(Outcome::json(missions::get(&client, &a.mission_id).await?))
}
