//! `clawdtalk mission create|get|list`.

use crate::api::missions;
use crate::cli::mission::{MissionCommand, MissionCreateArgs, MissionGetArgs};
use crate::error::Result;
use crate::output::{Outcome, Table};

use super::Context;

pub async fn run(ctx: &Context, cmd: MissionCommand) -> Result<Outcome> {
    match cmd {
        MissionCommand::Create(a) => create(ctx, a).await,
        MissionCommand::Get(a) => get(ctx, a).await,
        MissionCommand::List => list(ctx).await,
        MissionCommand::Init(a) => super::workflow::init(ctx, a).await,
        MissionCommand::SetupAgent(a) => super::workflow::setup_agent(ctx, a).await,
        MissionCommand::Complete(a) => super::workflow::complete(ctx, a.into()).await,
        MissionCommand::Status(a) => super::mission_status::status(ctx, a).await,
        MissionCommand::Cancel(a) => super::mission_status::cancel(ctx, a).await,
    }
}

/// `mission create NAME INSTRUCTIONS` → `Created mission: <id>`.
pub async fn create(ctx: &Context, a: MissionCreateArgs) -> Result<Outcome> {
    let client = ctx.client()?;
    let m = missions::create(&client, &a.name, &a.instructions).await?;
    let line = format!("Created mission: {}", m.id);
    Ok(Outcome::data(&m).line(line))
}

/// `mission get ID` → the mission as pretty JSON.
pub async fn get(ctx: &Context, a: MissionGetArgs) -> Result<Outcome> {
    let client = ctx.client()?;
    Ok(Outcome::json(missions::get(&client, &a.mission_id).await?))
}

/// `mission list` → `id: name` lines (as telnyx_api.py), a table on request is not needed.
pub async fn list(ctx: &Context) -> Result<Outcome> {
    let client = ctx.client()?;
    let ms = missions::list(&client).await?;
    let mut t = Table::new(["ID", "NAME"]);
    for m in &ms {
        t.row([m.id.clone(), m.name.clone().unwrap_or_else(|| "unnamed".into())]);
    }
    let total = ms.len();
    Ok(Outcome::data(&ms).table(t).note(format!("{total} missions")))
}

#[cfg(test)]
mod tests {}
