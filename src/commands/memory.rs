//! `clawdtalk memory save|get|append` and the legacy words `save-memory`,
//! `get-memory`, `append-memory` (same lines as telnyx_api.py).
//!
//! Unlike telnyx_api.py, writing to a slug that is not in the state file is
//! an error listing the known slugs (a typo would otherwise silently start a
//! second mission entry); `--create` makes the new entry on purpose. The
//! legacy words take `--create` too, and their error shows the exact command.

use serde_json::{json, Value};

use crate::cli::memory::{MemoryCommand, MemoryGetArgs, MemorySaveArgs};
use crate::error::Result;
use crate::ledger::{self, memory::MemoryTarget};
use crate::output::Outcome;
use crate::state::{parse_memory_value, MemoryWrite};

use super::Context;

pub async fn run(ctx: &Context, cmd: MemoryCommand) -> Result<Outcome> {
    match cmd {
        MemoryCommand::Save(a) => save(ctx, a, "memory save").await,
        MemoryCommand::Get(a) => get(ctx, a).await,
        MemoryCommand::Append(a) => append(ctx, a, "memory append").await,
    }
}

/// The legacy words `save-memory`, `get-memory`, `append-memory`: the same
/// commands, whose hints name the word that was typed.
pub async fn run_legacy(ctx: &Context, cmd: MemoryCommand) -> Result<Outcome> {
    match cmd {
        MemoryCommand::Save(a) => save(ctx, a, "save-memory").await,
        MemoryCommand::Get(a) => get(ctx, a).await,
        MemoryCommand::Append(a) => append(ctx, a, "append-memory").await,
    }
}

/// `memory save SLUG KEY VALUE` → `Saved memory 'KEY' for mission 'SLUG'`.
pub async fn save(ctx: &Context, a: MemorySaveArgs, words: &'static str) -> Result<Outcome> {
    let value = parse_memory_value("VALUE", &a.value)?;
    let key = a.key.clone();
    let (slug, _) = write(ctx, a, MemoryWrite::Save(value.clone()), words).await?;
    let line = format!("Saved memory '{key}' for mission '{slug}'");
    Ok(Outcome::data(json!({"mission": slug, "key": key, "value": value})).line(line))
}

/// `memory append SLUG KEY ITEM` → `Appended to memory 'KEY' for mission
/// 'SLUG' (now N items)`.
pub async fn append(ctx: &Context, a: MemorySaveArgs, words: &'static str) -> Result<Outcome> {
    let item = parse_memory_value("ITEM", &a.value)?;
    let key = a.key.clone();
    let (slug, n) = write(ctx, a, MemoryWrite::Append(item), words).await?;
    let line = format!("Appended to memory '{key}' for mission '{slug}' (now {n} items)");
    Ok(Outcome::data(json!({"mission": slug, "key": key, "count": n})).line(line))
}

/// One memory write through [`ledger::memory::write`].
async fn write(ctx: &Context, a: MemorySaveArgs, w: MemoryWrite, words: &'static str) -> Result<(String, usize)> {
    let t = MemoryTarget { mission: a.mission, key: a.key, create: a.create, value_text: a.value };
    ledger::memory::write(&ctx.state()?, t, w, ctx.now(), words).await
}

/// `memory get SLUG [KEY]`: strings print as they are, objects and lists as
/// pretty JSON; a missing key prints `No memory found` (exit 0, as
/// telnyx_api.py), a mission without memory prints `{}`.
pub async fn get(ctx: &Context, a: MemoryGetArgs) -> Result<Outcome> {
    let value = ledger::memory::read(&ctx.state()?, &a.mission, a.key.as_deref()).await?;
    Ok(match &value {
        Value::Null => Outcome::data(Value::Null).line("No memory found"),
        Value::String(s) => Outcome::data(&value).line(s.clone()),
        Value::Object(_) | Value::Array(_) => Outcome::json(value),
        other => Outcome::data(other).line(other.to_string()),
    })
}
