//! `clawdtalk state list|get|remove|path` and the legacy words `list-state`,
//! `get-state`, `remove-state`. All file access goes through [`crate::state`].

use serde_json::{json, Map, Value};

use crate::cli::state::{MissionKeyArg, StateCommand, StateListArgs};
use crate::error::Result;
use crate::output::{Block, Outcome, Table};
use crate::state::{Found, MissionState, State};

use super::Context;

pub async fn run(ctx: &Context, cmd: StateCommand) -> Result<Outcome> {
    match cmd {
        StateCommand::List(a) => list(ctx, a).await,
        StateCommand::Get(a) => get(ctx, a).await,
        StateCommand::Remove(a) => remove(ctx, a).await,
        StateCommand::Path => path(ctx),
    }
}

/// One row of `state list`: the entry's fields without its memory (which
/// can be large), plus `slug` and `archived`.
fn summary(slug: &str, m: &MissionState, archived: bool) -> Value {
    let mut o: Map<String, Value> =
        m.fields().iter().filter(|(k, _)| *k != "memory").map(|(k, v)| (k.clone(), v.clone())).collect();
    o.insert("slug".into(), json!(m.get_str("slug").unwrap_or_else(|| slug.to_string())));
    o.insert("archived".into(), json!(archived));
    Value::Object(o)
}

fn rows(state: &State, all: bool) -> Vec<Value> {
    let mut out: Vec<Value> = state.missions().map(|(slug, m)| summary(slug, m, false)).collect();
    if all {
        out.extend(state.archived().map(|(key, m)| summary(key, m, true)));
    }
    out
}

/// `state list [--all]`: a table of missions.
pub async fn list(ctx: &Context, a: StateListArgs) -> Result<Outcome> {
    let state = ctx.state()?.read_async().await?;
    let rows = rows(&state, a.all);
    let mut t = Table::new(["SLUG", "NAME", "STATUS", "MISSION", "RUN"]);
    let cell = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
    for r in &rows {
        let status =
            if r["archived"] == json!(true) { format!("{} (archived)", cell(r, "status")) } else { cell(r, "status") };
        t.row([cell(r, "slug"), cell(r, "mission_name"), status, cell(r, "mission_id"), cell(r, "run_id")]);
    }
    let o = Outcome::data(&rows);
    Ok(if rows.is_empty() { o.note(empty_list_note(state.archived().count())) } else { o.table(t) })
}

/// What an empty `state list` says: finished missions are archived, not
/// gone, so say how many there are and how to see them.
fn empty_list_note(archived: usize) -> String {
    match archived {
        0 => "no missions in the state file".to_string(),
        n => format!(
            "no active missions ({} archived; see `clawdtalk state list --all` or `clawdtalk mission status SLUG`)",
            n
        ),
    }
}

/// `list-state`: `slug: mission_name [status]` per active mission, as
/// telnyx_api.py printed (`None` and `unknown` for missing fields).
pub async fn list_legacy(ctx: &Context) -> Result<Outcome> {
    let state = ctx.state()?.read_async().await?;
    let mut o = Outcome::data(rows(&state, false));
    for (slug, m) in state.missions() {
        let name = m.mission_name().unwrap_or_else(|| "None".into());
        let status = m.status().unwrap_or_else(|| "unknown".into());
        o = o.line(format!("{slug}: {name} [{status}]"));
    }
    Ok(o)
}

/// `state get SLUG|MISSION_ID`: the entry as pretty JSON (archived ones too).
pub async fn get(ctx: &Context, a: MissionKeyArg) -> Result<Outcome> {
    let state = ctx.state()?.read_async().await?;
    let (found, m) = state.lookup(&a.mission)?;
    let mut o = Outcome::json(m.fields());
    if let Found::Archived(_) = found {
        o = o.note(format!("mission '{}' is completed (archived)", a.mission));
    }
    Ok(o)
}

/// `state remove SLUG|MISSION_ID` → `Removed SLUG from state`. Removes an
/// active entry, or an archived one when no active entry matches.
pub async fn remove(ctx: &Context, a: MissionKeyArg) -> Result<Outcome> {
    let key = a.mission.clone();
    let (slug, removed) = ctx
        .state()?
        .update_async(move |s| {
            let found = s.find(&key).ok_or_else(|| s.unknown(&key))?;
            Ok(match found {
                Found::Active(slug) => {
                    let m = s.remove(&slug);
                    (slug, m)
                }
                Found::Archived(k) => {
                    let m = s.remove_archived(&k);
                    (m.as_ref().and_then(|m| m.get_str("slug")).unwrap_or(k), m)
                }
            })
        })
        .await?;
    let data = json!({"removed": slug, "state": removed.map(|m| Value::Object(m.fields().clone()))});
    Ok(Outcome::data(data).line(format!("Removed {slug} from state")))
}

/// `state path`: the file every state command uses, and (stderr) why.
pub fn path(ctx: &Context) -> Result<Outcome> {
    let loc = ctx.state_location()?;
    let shown = loc.path.display().to_string();
    let exists = loc.path.is_file();
    let data = json!({"path": shown, "source": loc.source.describe(), "exists": exists});
    let mut note = format!("(from {})", loc.source.describe());
    if !exists {
        note.push_str("; the file does not exist yet: it is created on the first write");
    }
    Ok(Outcome::data(data).block(Block::Line(shown)).note(note))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    use super::*;
    use crate::testing::{parse, Harness};

    fn list_args(words: &[&str]) -> StateListArgs {
        match parse(&[&["state", "list"], words].concat()) {
            crate::cli::Command::State(StateCommand::List(a)) => a,
            other => panic!("not a state list command: {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_empty_list_counts_the_archived_missions_and_says_where_they_are() {
        let h = Harness::start().await;
        let o = list(&h.ctx(), list_args(&[])).await.unwrap();
        assert_eq!(o.notes, vec!["no missions in the state file"]);
        let now = h.ctx().now();
        h.ctx()
            .state()
            .unwrap()
            .update(move |st| {
                st.mission_or_create("roof").set("mission_id", "m1");
                st.archive("roof", Map::from_iter([("status".to_string(), json!("succeeded"))]), now);
                Ok(())
            })
            .unwrap();
        let o = list(&h.ctx(), list_args(&[])).await.unwrap();
        assert_eq!(o.notes.len(), 1);
        assert!(
            o.notes[0].starts_with("no active missions (1 archived; see `clawdtalk state list --all`"),
            "{:?}",
            o.notes
        );
        let all = list(&h.ctx(), list_args(&["--all"])).await.unwrap();
        assert!(all.notes.is_empty() && all.data.as_array().map(Vec::len) == Some(1), "{:?}", all.data);
    }
}
