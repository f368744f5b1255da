//! `clawdtalk memory save|get|append` and the legacy words `save-memory`,
//! `get-memory`, `append-memory` (same lines as telnyx_api.py).
//!
//! Unlike telnyx_api.py, writing to a slug that is not in the state file is
//! an error listing the known slugs (a typo would otherwise silently start a
//! second mission entry); `--create` makes the new entry on purpose. The
//! legacy words take `--create` too, and their error shows the exact command.

use serde_json::{json, Value};

use crate::cli::memory::{MemoryCommand, MemoryGetArgs, MemorySaveArgs};
use crate::error::{Error, Result};
use crate::output::{shell_word, Outcome};
use crate::state::{parse_memory_value, slugify, Found, MemoryWrite, State};

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

/// The active slug to write to: the mission named by `a.mission` (slug or
/// mission id), or with `--create` a new entry under that slug.
fn target_slug(s: &mut State, a: &MemorySaveArgs, words: &str) -> Result<String> {
    match s.find(&a.mission) {
        Some(Found::Active(slug)) => return Ok(slug),
        Some(Found::Archived(_)) if !a.create => return s.active_slug(&a.mission),
        _ => {}
    }
    if !a.create {
        let base = s.unknown(&a.mission).to_string();
        return Err(Error::usage(format!(
            "{base}. To start a new entry '{}' on purpose: clawdtalk {words} --create {} {} {}",
            a.mission,
            shell_word(&a.mission),
            shell_word(&a.key),
            shell_word(&a.value)
        )));
    }
    let slug = slugify(&a.mission);
    // An empty slug would become a top-level key "" that no command can name.
    if slug.is_empty() || slug != a.mission {
        return Err(Error::usage(format!(
            "--create needs a slug (lowercase letters, digits and -): use '{slug}' instead of '{}'",
            a.mission
        )));
    }
    s.mission_or_create(&slug);
    Ok(slug)
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

/// One memory write: the store's fast path when the slug is an active
/// mission, else the general path with the slug rules of [`target_slug`].
async fn write(ctx: &Context, a: MemorySaveArgs, w: MemoryWrite, words: &'static str) -> Result<(String, usize)> {
    // A blank key (an unset shell variable) would store a value nobody can name.
    crate::validate::plain_id("KEY", &a.key)?;
    let now = ctx.now();
    let (mission, key) = (a.mission.clone(), a.key.clone());
    let op = w.clone();
    ctx.state()?
        .write_memory_async(mission, key, w, now, move |s| {
            let slug = target_slug(s, &a, words)?;
            let n = match (s.mission_mut(&slug), op) {
                (Some(m), MemoryWrite::Save(v)) => m.memory_save(&a.key, v, now).map(|_| 1)?,
                (Some(m), MemoryWrite::Append(v)) => m.memory_append(&a.key, v, now)?,
                (None, _) => 0,
            };
            Ok((slug, n))
        })
        .await
}

/// `memory get SLUG [KEY]`: strings print as they are, objects and lists as
/// pretty JSON; a missing key prints `No memory found` (exit 0, as
/// telnyx_api.py), a mission without memory prints `{}`.
pub async fn get(ctx: &Context, a: MemoryGetArgs) -> Result<Outcome> {
    if let Some(k) = &a.key {
        crate::validate::plain_id("KEY", k)?;
    }
    let state = ctx.state()?.read_async().await?;
    let (_, m) = state.lookup(&a.mission)?;
    let value = match &a.key {
        Some(k) => m.memory_get(k).cloned().unwrap_or(Value::Null),
        None => Value::Object(m.memory().cloned().unwrap_or_default()),
    };
    Ok(match &value {
        Value::Null => Outcome::data(Value::Null).line("No memory found"),
        Value::String(s) => Outcome::data(&value).line(s.clone()),
        Value::Object(_) | Value::Array(_) => Outcome::json(value),
        other => Outcome::data(other).line(other.to_string()),
    })
}
