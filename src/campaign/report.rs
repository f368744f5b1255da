//! A batch's plan and result as an [`Outcome`] (docs/campaigns.md#output):
//! one row per target (slot in UTC and in the callee's local time, or the
//! reason it is skipped) and totals; `--json` gets the same as one document.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use super::batch::Done;
use super::plan::{Action, Entry};
use super::record::TargetRecord;
use crate::journal::{Entry as JournalEntry, Kind};
use crate::output::{Outcome, Table};
use crate::redact::sanitize_for_terminal;

/// The slot in the record's first zone (`Mon 10:00 EST America/New_York`,
/// `+N zones` when the country has several).
fn local(rec: &TargetRecord) -> String {
    let Some(at) = rec.scheduled_at.as_deref().and_then(|s| DateTime::parse_from_rfc3339(s).ok()) else {
        return "-".into();
    };
    let Some(z) = rec.zones.first().and_then(|z| z.parse::<Tz>().ok()) else { return "-".into() };
    let t = at.with_timezone(&Utc).with_timezone(&z);
    let more = match rec.zones.len() {
        0 | 1 => String::new(),
        n => format!(" (+{} zones)", n - 1),
    };
    format!("{} {}{more}", t.format("%a %H:%M %Z"), z.name())
}

/// The journal line (docs/journal.md) of a run that created events
/// (`schedule batch`, `mission resume`, `mission retry --failed`), or None
/// when it created, adopted and failed nothing (a re-run).
pub fn journal_entry(event: &str, slug: &str, done: &Done) -> Option<JournalEntry> {
    let (created, adopted, failed) = (done.created.len(), done.adopted.len(), done.failed.len());
    if created + adopted + failed == 0 {
        return None;
    }
    let status = if failed == 0 { "ok" } else { "partial" };
    let text = format!("{created} created, {adopted} adopted, {failed} failed");
    Some(JournalEntry::new(Kind::Mission, event).mission(slug).status(status).text(&text))
}

/// The journal line of a `mission pause` that paused `paused` events
/// (None when it paused nothing: pausing again).
pub fn pause_journal_entry(slug: &str, paused: usize) -> Option<JournalEntry> {
    let text = crate::output::counted(paused, "event paused", "events paused");
    (paused > 0).then(|| JournalEntry::new(Kind::Mission, "campaign.paused").mission(slug).status("paused").text(&text))
}

fn row_json(e: &Entry, done: Option<&Done>) -> Value {
    let mut v = json!({"row": e.row, "phone": e.phone, "name": e.name});
    let (what, rec, reason) = match &e.action {
        Action::Schedule { record, moved } => {
            v["moved_by_daily_cap"] = json!(moved);
            ("schedule", Some(record), None)
        }
        Action::Recover { record } => ("recover", Some(record), None),
        Action::Exists { record } => ("exists", Some(record), None),
        Action::Skip { reason } => ("skip", None, Some(reason.clone())),
    };
    v["action"] = json!(what);
    if let Some(r) = rec {
        v["key"] = json!(r.key);
        v["phone"] = json!(r.phone);
        v["status"] = json!(r.status);
        v["scheduled_at"] = json!(r.scheduled_at);
        v["local_time"] = json!(local(r));
        v["zones"] = json!(r.zones);
        v["event_id"] = json!(r.event_id);
        let failed = done.and_then(|d| d.failed.iter().find(|(k, _)| *k == r.key));
        if let Some((_, why)) = failed {
            v["error"] = json!(why);
        }
    }
    if let Some(r) = reason {
        v["reason"] = json!(r);
    }
    v
}

/// Counts by what happens to each row.
#[derive(Debug, Default, serde::Serialize)]
struct Totals {
    rows: usize,
    to_schedule: usize,
    existing: usize,
    skipped: usize,
    moved_by_daily_cap: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    adopted: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed: Option<usize>,
}

fn totals(entries: &[Entry], done: Option<&Done>) -> Totals {
    let mut t = Totals { rows: entries.len(), ..Totals::default() };
    for e in entries {
        match &e.action {
            Action::Schedule { moved, .. } => {
                t.to_schedule += 1;
                t.moved_by_daily_cap += usize::from(*moved);
            }
            Action::Recover { .. } => t.to_schedule += 1,
            Action::Exists { .. } => t.existing += 1,
            Action::Skip { .. } => t.skipped += 1,
        }
    }
    if let Some(d) = done {
        (t.created, t.adopted, t.failed) = (Some(d.created.len()), Some(d.adopted.len()), Some(d.failed.len()));
    }
    t
}

/// The outcome of a batch: `done` is `None` for `--dry-run`.
pub fn outcome(entries: &[Entry], done: Option<&Done>, what: &str) -> Outcome {
    let t = totals(entries, done);
    let rows: Vec<Value> = entries.iter().map(|e| row_json(e, done)).collect();
    let mut table = Table::new(["ROW", "NUMBER", "NAME", "SLOT (UTC)", "CALLEE LOCAL TIME", "RESULT"]);
    for (e, v) in entries.iter().zip(&rows) {
        let s = |k: &str| v[k].as_str().map(sanitize_for_terminal).unwrap_or_else(|| "-".into());
        let result = match v["action"].as_str() {
            Some("skip") => format!("skipped: {}", s("reason")),
            _ if v.get("error").is_some() => format!("failed: {}", s("error")),
            Some("exists") => format!("exists ({})", s("status")),
            _ if done.is_none() => "planned".to_string(),
            _ => s("status"),
        };
        let moved = if v["moved_by_daily_cap"] == true { " (daily cap: next day)" } else { "" };
        table.row([e.row.to_string(), s("phone"), s("name"), s("scheduled_at"), s("local_time"), result + moved]);
    }
    let summary = match done {
        None => format!(
            "Dry run: {} to schedule, {} already scheduled, {} skipped, of {} rows; nothing was sent",
            t.to_schedule, t.existing, t.skipped, t.rows
        ),
        Some(d) => format!(
            "Scheduled {} {what}s ({} adopted from an interrupted run), {} already scheduled, {} skipped, {} failed, of {} rows",
            d.created.len() + d.adopted.len(),
            d.adopted.len(),
            t.existing,
            t.skipped,
            d.failed.len(),
            t.rows
        ),
    };
    let mut o = Outcome::data(json!({"dry_run": done.is_none(), "totals": t, "targets": rows})).table(table);
    o = o.note(summary);
    if t.moved_by_daily_cap > 0 {
        o = o.note(format!("{} moved to a later day by daily_call_cap", t.moved_by_daily_cap));
    }
    if done.is_some_and(|d| !d.failed.is_empty()) {
        o = o
            .note("run the same command again to retry the failed ones (nothing is scheduled twice)")
            .with_exit_code(1);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip(row: usize, reason: &str) -> Entry {
        Entry {
            row,
            phone: "x".into(),
            name: Some("\u{1b}[31mred".into()),
            action: Action::Skip { reason: reason.into() },
        }
    }

    #[test]
    fn a_dry_run_lists_each_row_with_totals_and_sanitises_what_it_shows() {
        let o = outcome(&[skip(1, "duplicate of row 0"), skip(2, "bad\u{7}")], None, "call");
        assert_eq!(o.data["dry_run"], true);
        assert_eq!(o.data["totals"]["skipped"], 2);
        assert_eq!(o.data["targets"][0]["reason"], "duplicate of row 0");
        let shown = crate::output::render_blocks(&o.blocks);
        assert!(shown.contains("skipped: duplicate of row 0"), "{shown}");
        assert!(!shown.contains('\u{1b}') && !shown.contains('\u{7}'), "{shown:?}");
        assert!(o.notes[0].starts_with("Dry run: 0 to schedule"), "{:?}", o.notes);
    }
}
