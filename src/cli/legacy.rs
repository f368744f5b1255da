//! The telnyx_api.py command words, with the same positional arguments.
//! Hidden from `--help`'s main list (documented in README); each maps onto
//! the same handler as its noun-verb form, in `commands::legacy`.

use clap::Subcommand;

use super::mission::{MissionCreateArgs, MissionGetArgs};
use super::state::{MemoryGetArgs, MemorySaveArgs, MissionKeyArg};

#[derive(Debug, Subcommand)]
pub enum LegacyCommand {
    #[command(hide = true)]
    CreateMission(MissionCreateArgs),
    #[command(hide = true)]
    GetMission(MissionGetArgs),
    #[command(hide = true)]
    ListMissions,
    #[command(hide = true)]
    ListState,
    #[command(hide = true)]
    GetState(MissionKeyArg),
    #[command(hide = true)]
    RemoveState(MissionKeyArg),
    #[command(hide = true)]
    SaveMemory(MemorySaveArgs),
    #[command(hide = true)]
    GetMemory(MemoryGetArgs),
    #[command(hide = true)]
    AppendMemory(MemorySaveArgs),
}
