//! `clawdtalk mission create NAME INSTRUCTIONS`.

use crate::api::missions;
use crate::cli::mission::MissionCreateArgs;
use crate::error::Result;
use crate::output::Outcome;

use super::Context;

/// `mission create NAME INSTRUCTIONS` → `Created mission: <id>`.
pub async fn run(ctx: &Context, a: MissionCreateArgs) -> Result<Outcome> {
    let client = ctx.client()?;
    let m = missions::create(&client, &a.name, &a.instructions).await?;
    let line = format!("Created mission: {}", m.id);
    Ok(Outcome::data(&m).line(line))
}
