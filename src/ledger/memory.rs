//! Mission memory in the state file: `memory save|get|append`, the legacy
//! words and the MCP tools `memory_get|memory_save|memory_append`
//! (docs/mcp.md) all read and write it here, under the one state lock.
//!
//! Writing to a slug that is not in the state file is an error listing the
//! known slugs (a typo would otherwise silently start a second mission
//! entry); `create` makes the new entry on purpose.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::output::shell_word;
use crate::state::{slugify, Found, MemoryWrite, State, StateStore};

/// Where a memory write goes: the mission (slug or mission id), the key,
/// whether an unknown slug starts a new entry, and the value as typed (for
/// the hint that shows the command with `--create`).
#[derive(Debug, Clone)]
pub struct MemoryTarget {
    pub mission: String,
    pub key: String,
    pub create: bool,
    pub value_text: String,
}

/// The active slug to write to: the mission named by `t.mission` (slug or
/// mission id), or with `create` a new entry under that slug. `words` is
/// the command the hint names (`memory save`, `save-memory`, …).
fn target_slug(s: &mut State, t: &MemoryTarget, words: &str) -> Result<String> {
    match s.find(&t.mission) {
        Some(Found::Active(slug)) => return Ok(slug),
        Some(Found::Archived(_)) if !t.create => return s.active_slug(&t.mission),
        _ => {}
    }
    if !t.create {
        let base = s.unknown(&t.mission).to_string();
        return Err(Error::usage(format!(
            "{base}. To start a new entry '{}' on purpose: clawdtalk {words} --create {} {} {}",
            t.mission,
            shell_word(&t.mission),
            shell_word(&t.key),
            shell_word(&t.value_text)
        )));
    }
    let slug = slugify(&t.mission);
    // An empty slug would become a top-level key "" that no command can name.
    if slug.is_empty() || slug != t.mission {
        return Err(Error::usage(format!(
            "--create needs a slug (lowercase letters, digits and -): use '{slug}' instead of '{}'",
            t.mission
        )));
    }
    s.mission_or_create(&slug);
    Ok(slug)
}

/// One memory write (save or append): the store's fast path when the slug
/// is an active mission, else the general path with the slug rules of
/// [`target_slug`]. Returns the slug and the value's length after the
/// write (1 for a save, the number of items for an append).
pub async fn write(
    store: &StateStore,
    t: MemoryTarget,
    w: MemoryWrite,
    now: chrono::DateTime<chrono::Utc>,
    words: &'static str,
) -> Result<(String, usize)> {
    // A blank key (an unset shell variable) would store a value nobody can name.
    crate::validate::plain_id("KEY", &t.key)?;
    let (mission, key) = (t.mission.clone(), t.key.clone());
    let op = w.clone();
    store
        .write_memory_async(mission, key, w, now, move |s| {
            let slug = target_slug(s, &t, words)?;
            let n = match (s.mission_mut(&slug), op) {
                (Some(m), MemoryWrite::Save(v)) => m.memory_save(&t.key, v, now).map(|_| 1)?,
                (Some(m), MemoryWrite::Append(v)) => m.memory_append(&t.key, v, now)?,
                (None, _) => 0,
            };
            Ok((slug, n))
        })
        .await
}

/// A mission's memory (completed missions too): one key's value (`Null`
/// when the key is missing) or, without a key, the whole memory object.
pub async fn read(store: &StateStore, mission: &str, key: Option<&str>) -> Result<Value> {
    if let Some(k) = key {
        crate::validate::plain_id("KEY", k)?;
    }
    let state = store.read_async().await?;
    let (_, m) = state.lookup(mission)?;
    Ok(match key {
        Some(k) => m.memory_get(k).cloned().unwrap_or(Value::Null),
        None => Value::Object(m.memory().cloned().unwrap_or_default()),
    })
}
