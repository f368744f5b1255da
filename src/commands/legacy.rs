//! Maps each telnyx_api.py command word onto the noun-verb handler.
//! Where telnyx_api.py printed differently from the noun-verb form, the
//! legacy word keeps the original's lines (bots parse them).

use crate::cli::LegacyCommand;
use crate::error::Result;
use crate::output::{Block, Outcome};

use super::{memory, mission, state, Context};

pub async fn run(ctx: &Context, cmd: LegacyCommand) -> Result<Outcome> {
    match cmd {
        LegacyCommand::CreateMission(a) => mission::create(ctx, a).await,
        LegacyCommand::GetMission(a) => mission::get(ctx, a).await,
        LegacyCommand::ListState => state::list_legacy(ctx).await,
        LegacyCommand::GetState(a) => state::get(ctx, a).await,
        LegacyCommand::RemoveState(a) => state::remove(ctx, a).await,
        LegacyCommand::SaveMemory(a) => memory::save(ctx, a, "save-memory").await,
        LegacyCommand::GetMemory(a) => memory::get(ctx, a).await,
        LegacyCommand::AppendMemory(a) => memory::append(ctx, a, "append-memory").await,
        LegacyCommand::ListMissions => {
            let mut o = mission::list(ctx).await?;
            // telnyx_api.py printed `id: name` per mission.
            let lines = o
                .data
                .as_array()
                .map(|ms| {
                    ms.iter()
                        .map(|m| {
                            let id = m.get("id").and_then(|v| v.as_str()).unwrap_or_default();
                            let name = m.get("name").and_then(|v| v.as_str()).unwrap_or("unnamed");
                            Block::Line(format!("{id}: {name}"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            o.blocks = lines;
            o.notes.clear();
            Ok(o)
        }
    }
}
