//! `clawdtalk poll`: the mission lifecycle (see `lifecycle`), once, or with
//! `--watch` until nothing is pending; `--cron-line` prints a crontab entry.

use std::collections::HashMap;
use std::time::Duration;

use chrono::SecondsFormat;
use serde_json::json;

use crate::cli::poll::PollArgs;
use crate::error::{Error, Result};
use crate::journal::{Entry, Kind};
use crate::lifecycle::api_service::ApiService;
use crate::lifecycle::executor::MissionReport;
use crate::lifecycle::notify::{LazyGateway, Notifier, ReportOutcome};
use crate::lifecycle::Policy;
use crate::lifecycle::Progress as LifecycleProgress;
use crate::lifecycle::{poll_once, watch, Pace, PollOptions, PollReport};
use crate::output::{counted, shell_word, Block, Outcome, Progress};

use super::Context;

pub async fn run(ctx: &Context, a: PollArgs) -> Result<Outcome> {
    if a.cron_line {
        return cron_line(ctx, &a);
    }
    let store = ctx.state()?;
    let opts = PollOptions {
        mission: a.mission.clone(),
        policy: Policy {
            busy_delay: Duration::from_secs(a.busy_delay * 60),
            no_answer_delay: Duration::from_secs(a.no_answer_delay * 60),
            failed_delay: Duration::from_secs(a.failed_delay * 60),
            max_retries: a.max_retries,
            ..Policy::default()
        },
        concurrency: a.concurrency.max(1),
        notify: notifier(ctx, &a)?,
        optout_dir: ctx.data_dir.clone(),
    };
    // Built on first need only: with nothing pending there is no client at all.
    let cell: std::cell::OnceCell<ApiService> = std::cell::OnceCell::new();
    let connect = || -> Result<&ApiService> {
        if cell.get().is_none() {
            let _ = cell.set(ctx.api_service()?);
        }
        cell.get().ok_or_else(|| Error::failed("cannot build the API client"))
    };
    if !a.watch {
        let report = poll_once(&store, connect, &opts).await?;
        ctx.record_all(journal_entries(&report)).await;
        return Ok(outcome(&[report], &stamp(ctx)));
    }

    let live = Live { ctx, progress: ctx.progress(), told: Default::default() };
    let pace = Pace { interval: a.interval.map(Duration::from_secs_f64) };
    let outcome = tokio::select! {
        r = watch(&store, connect, &opts, &pace, &live) => watched(&r?, &stamp(ctx)),
        // Stopping mid-poll is safe: every step is recorded before the next.
        _ = tokio::signal::ctrl_c() => {
            Outcome::data(json!({"stopped": true})).note("stopped (Ctrl-C); run `clawdtalk poll` again to continue")
        }
    };
    live.progress.finish();
    Ok(outcome)
}

/// Reports to the agent (docs/missions.md#reports-to-the-agent): on when
/// a gateway is configured, unless `--no-notify` or `notify_agent = false`.
fn notifier(ctx: &Context, a: &PollArgs) -> Result<Option<Notifier>> {
    let c = &ctx.config;
    if a.no_notify || !c.gateway_configured || !c.notify_agent()? {
        return Ok(None);
    }
    let gateway = LazyGateway::new(&c.gateway_url, c.gateway_token.clone(), &c.agent_id);
    Ok(Some(Notifier(std::sync::Arc::new(gateway))))
}

/// What a line of poll output starts with: an RFC 3339 time when the
/// printer stamps lines (stdout is not a terminal: a cron log), else nothing.
/// The time is this machine's clock, the log's own time; times inside the
/// lines that come from the service say "service time".
fn stamp(ctx: &Context) -> String {
    if ctx.printer.stamp {
        format!("{} ", ctx.now().to_rfc3339_opts(SecondsFormat::Secs, true))
    } else {
        String::new()
    }
}

/// `poll --watch` as it happens: each poll's changes printed once, on
/// stdout, as they come; the waiting shown on the progress (spinner or
/// stderr lines). Notes repeated by later polls are not printed again.
struct Live<'a> {
    ctx: &'a Context,
    progress: Progress,
    /// The last note line printed per mission.
    told: std::sync::Mutex<HashMap<String, String>>,
}

impl LifecycleProgress for Live<'_> {
    fn set(&self, msg: String) {
        self.progress.set(msg);
    }
    fn count(&self, done: u64, total: u64, msg: String) {
        self.progress.count(done, total, msg);
    }
    fn polled(&self, report: &PollReport) {
        let entries = journal_entries(report);
        if let (Some(j), false) = (self.ctx.journal.clone(), entries.is_empty()) {
            // Not awaited (this is a callback); the runtime finishes it before the process ends.
            tokio::task::spawn_blocking(move || entries.into_iter().for_each(|e| j.append(e)));
        }
        let stamp = stamp(self.ctx);
        for m in &report.missions {
            let mut lines: Vec<String> = m.changes.clone();
            if let Some(status) = &m.ended {
                lines.push(ended_line(&m.slug, status));
            }
            if let Some(e) = &m.error {
                lines.push(error_line(e));
            }
            let notes = m.notes.join("; ");
            if let Ok(mut told) = self.told.lock() {
                if !notes.is_empty() && told.get(&m.slug) != Some(&notes) {
                    lines.extend(m.notes.iter().cloned());
                    told.insert(m.slug.clone(), notes);
                }
            }
            for l in lines {
                self.ctx.printer.live(&self.progress, &format!("{stamp}{}: {l}", m.slug));
            }
        }
        for r in &report.reports {
            self.ctx.printer.live(&self.progress, &format!("{stamp}{}", report_line(r)));
        }
    }
}

/// The journal's events for one poll (docs/journal.md): each change line
/// (numbers in them are already masked), a mission's end, a mission's
/// error, each report to the agent sent or not.
fn journal_entries(report: &PollReport) -> Vec<Entry> {
    let mut v = Vec::new();
    for m in &report.missions {
        v.extend(m.changes.iter().map(|c| Entry::new(Kind::Poll, "poll.change").mission(&m.slug).text(c)));
        if let Some(status) = &m.ended {
            v.push(Entry::new(Kind::Mission, "mission.ended").mission(&m.slug).status(status));
        }
        if let Some(e) = &m.error {
            v.push(Entry::new(Kind::Poll, "poll.error").mission(&m.slug).text(e));
        }
    }
    for r in &report.reports {
        let (event, status) = match (r.sent, r.given_up) {
            (true, _) => ("report.sent", "sent"),
            (false, true) => ("report.unsent", "given_up"),
            (false, false) => ("report.unsent", "retried"),
        };
        let mut e = Entry::new(Kind::Report, event).mission(&r.slug).id(&r.id).status(status);
        if let Some(err) = &r.error {
            e = e.text(err);
        }
        v.push(e);
    }
    v
}

/// A report to the agent, as poll tells it (docs/missions.md#reports-to-the-agent).
fn report_line(r: &ReportOutcome) -> String {
    let err = r.error.as_deref().unwrap_or("no reason given");
    match (r.sent, r.given_up) {
        (true, _) => format!("told the agent: report={}", r.id),
        (false, true) => format!(
            "warning: report={} was not sent and is given up ({err}); `clawdtalk mission status {}` lists it",
            r.id, r.slug
        ),
        (false, false) => format!("warning: report={} not sent yet ({err}); the next poll tries again", r.id),
    }
}

fn ended_line(slug: &str, status: &str) -> String {
    format!("mission ended: {status} (archived; `clawdtalk mission status {slug}`)")
}

fn error_line(e: &str) -> String {
    format!("error: {e} (nothing lost: the next poll tries again)")
}

/// The end of a watch: every line was printed as it happened, so only the
/// JSON document (all the polls' reports) and the exit code are left.
fn watched(reports: &[PollReport], stamp: &str) -> Outcome {
    let mut o = outcome(reports, stamp);
    o.blocks.clear();
    o.notes.retain(|n| !n.ends_with("nothing pending"));
    o.note(format!("{stamp}done: nothing pending"))
}

/// The first line of a mission's block. The counts are of events before
/// this poll; when nothing was fetched but something changed (the plan,
/// the run), they would only contradict the lines below, so the slug
/// stands alone.
fn heading(m: &MissionReport) -> String {
    let pending = counted(m.pending_before, "event", "events");
    let changed = !m.changes.is_empty() || m.ended.is_some();
    match (m.pending_before, m.fetched) {
        (0, 0) => format!("{}:", m.slug),
        (_, 0) if changed => format!("{}:", m.slug),
        (_, 0) => format!("{}: {pending} pending", m.slug),
        (_, fetched) => {
            let retries = match m.retries_scheduled {
                0 => String::new(),
                n => format!(", {} scheduled", counted(n, "retry", "retries")),
            };
            format!("{}: {pending} pending, {fetched} fetched{retries}", m.slug)
        }
    }
}

/// Human lines and the JSON document for one or more polls; `stamp`
/// starts each mission's block (and the "nothing pending" note).
fn outcome(reports: &[PollReport], stamp: &str) -> Outcome {
    let last = reports.last().cloned().unwrap_or_default();
    let data = if reports.len() == 1 { json!(last) } else { json!({"polls": reports.len(), "reports": reports}) };
    let mut o = Outcome::data(data);
    if last.skipped_locked {
        return o.note(format!("{stamp}another poll is running; nothing done (it will pick everything up)"));
    }
    let mut any = false;
    for r in reports {
        for m in &r.missions {
            if m.pending_before == 0 && m.error.is_none() && m.changes.is_empty() && m.notes.is_empty() {
                continue;
            }
            any = true;
            let mut lines = vec![format!("{stamp}{}", heading(m))];
            lines.extend(m.changes.iter().map(|c| format!("  {c}")));
            if let Some(status) = &m.ended {
                lines.push(format!("  {}", ended_line(&m.slug, status)));
            }
            for n in &m.notes {
                lines.push(format!("  {n}"));
            }
            if let Some(e) = &m.error {
                lines.push(format!("  {}", error_line(e)));
            }
            o = o.block(Block::Line(lines.join("\n")));
        }
    }
    for r in reports.iter().flat_map(|r| r.reports.iter()) {
        o = o.note(format!("{stamp}{}", report_line(r)));
    }
    if !any {
        o = o.note(format!("{stamp}nothing pending"));
    }
    if let Some(code) =
        reports.iter().rev().flat_map(|r| r.missions.iter()).find_map(|m| m.error.as_ref().map(|_| m.exit_code))
    {
        // Only the last poll's errors count: an earlier one may have been retried.
        if last.first_error().is_some() {
            o = o.with_exit_code(code.max(1));
        }
    }
    o
}

/// `poll --cron-line`: a crontab entry with absolute paths.
fn cron_line(ctx: &Context, a: &PollArgs) -> Result<Outcome> {
    let exe =
        std::env::current_exe().map_err(|e| Error::failed(format!("cannot find the clawdtalk binary's path: {e}")))?;
    let state = ctx.state_location()?.path;
    let state = if state.is_absolute() { state } else { ctx.cwd.join(state) };
    let log = state.with_file_name("poll.log");
    let mut cmd =
        format!("{} poll --state {}", shell_word(&exe.display().to_string()), shell_word(&state.display().to_string()));
    if let Some(cfg) = &ctx.config.file {
        let cfg = if cfg.is_absolute() { cfg.clone() } else { ctx.cwd.join(cfg) };
        cmd.push_str(&format!(" --config {}", shell_word(&cfg.display().to_string())));
    }
    if let Some(m) = &a.mission {
        cmd.push_str(&format!(" --mission {}", shell_word(m)));
    }
    if a.no_notify {
        cmd.push_str(" --no-notify");
    }
    if a.max_retries != 2 {
        cmd.push_str(&format!(" --max-retries {}", a.max_retries));
    }
    let line = format!("* * * * * {cmd} >> {} 2>&1", shell_word(&log.display().to_string()));
    let mut o = Outcome::data(json!({"cron_line": line, "state": state, "log": log})).line(line);
    if ctx.config.file.is_none() {
        o = o.note(
            "cron starts with an almost empty environment: put the API key in a config file \
             (skill-config.json or the user config dir), not only in your shell",
        );
    }
    Ok(o.note("add it with `crontab -e`; poll takes a lock, so overlapping runs are harmless"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::clock::ServiceClock;
    use crate::testing::{parse, text, Harness, Reply};
    use std::sync::Arc;

    fn args(words: &[&str]) -> PollArgs {
        match parse(&[&["poll"], words].concat()) {
            crate::cli::Command::Poll(a) => a,
            other => panic!("not a poll command: {other:?}"),
        }
    }

    /// A state file with mission `roof` tracking one call scheduled for 11:59.
    fn one_pending_call(h: &Harness) {
        let now = h.ctx().now();
        h.ctx()
            .state()
            .unwrap()
            .update(move |st| {
                let m = st.mission_or_create("roof");
                m.set("mission_id", "m1");
                m.set("run_id", "r1");
                m.set("assistant_id", "a1");
                m.set("agent_phone", "+15550001111");
                let events = json!([{"event_id": "e1", "assistant_id": "a1", "channel": "call", "to": "+15551234567",
                    "scheduled_at": "2026-01-01T11:59:00Z", "step_id": "calls", "status": "pending"}]);
                m.memory_save(crate::state::SCHEDULED_EVENTS_KEY, events, now)
            })
            .unwrap();
    }

    #[tokio::test]
    async fn nothing_pending_sends_nothing() {
        let h = Harness::start().await;
        let o = run(&h.ctx(), args(&[])).await.unwrap();
        assert!(h.service.requests().is_empty());
        assert_eq!(o.notes, vec!["nothing pending"]);
        assert_eq!(o.exit_code, 0);
    }

    #[tokio::test]
    async fn a_finished_call_completes_its_step_and_ends_the_mission_on_the_services_clock() {
        let h = Harness::start().await;
        one_pending_call(&h);
        // No sample yet: the cheapest read takes one; its Date is the service's time.
        h.service.on(
            "GET",
            "/v1/missions",
            vec![Reply::ok(json!({"data": []})).header("date", "Fri, 02 Jan 2026 08:00:00 GMT")],
        );
        h.service.on(
            "GET",
            "/v1/assistants/a1/events/e1",
            vec![Reply::ok(json!({"data": {"id": "e1", "status": "completed", "call_status": "completed", "conversation_id": "conv1"}}))],
        );
        h.service.on(
            "GET",
            "/v1/missions/conversations/conv1/insights",
            vec![Reply::ok(
                json!({"data": [{"status": "completed", "conversation_insights": [{"result": "talked"}]}]}),
            )],
        );
        h.service.on(
            "GET",
            "/v1/missions/m1/runs/r1",
            vec![Reply::ok(json!({"data": {"id": "r1", "status": "running"}}))],
        );
        h.service.on(
            "GET",
            "/v1/missions/m1/runs/r1/plan",
            vec![Reply::ok(json!({"data": [{"step_id": "calls", "status": "in_progress"}]}))],
        );
        let sc = Arc::new(ServiceClock::new(h.clock.clone(), &h.service.api_url(), None));
        let ctx = Context { clock: sc.clone(), service_clock: Some(sc), ..h.ctx() };
        let o = run(&ctx, args(&[])).await.unwrap();
        let reqs = h.service.requests();
        assert_eq!(
            h.service.lines()[..2],
            ["GET /v1/missions".to_string(), "GET /v1/assistants/a1/events/e1".to_string()]
        );
        assert_eq!(reqs[0].query, "page[size]=1");
        let step = reqs.iter().find(|r| r.line() == "PATCH /v1/missions/m1/runs/r1/plan/steps/calls").unwrap();
        assert_eq!(step.json(), json!({"status": "completed"}));
        let run_end = reqs.iter().find(|r| r.line() == "PATCH /v1/missions/m1/runs/r1").unwrap();
        assert_eq!(run_end.json()["status"], "succeeded");
        assert_eq!(o.data["now"], "2026-01-02T08:00:00Z", "the service's time, not the local clock's");
        let t = text(&o);
        assert!(t.starts_with("roof: 1 event pending, 1 fetched\n  e1 +1 ***4567: completed"), "{t}");
        assert!(t.contains("mission ended: succeeded"), "{t}");
        let events: Vec<(String, Option<String>)> =
            h.journal().into_iter().map(|r| (r.entry.event, r.entry.mission)).collect();
        assert!(events.contains(&("poll.change".into(), Some("roof".into()))), "{events:?}");
        assert_eq!(events.last(), Some(&("mission.ended".into(), Some("roof".into()))), "{events:?}");
        assert!(h.journal().iter().all(|r| !r.entry.text.as_deref().unwrap_or("").contains("5551234567")));
        assert_eq!(o.exit_code, 0);
    }

    #[tokio::test]
    async fn poll_lines_for_a_log_start_with_an_rfc3339_time() {
        let h = Harness::start().await;
        one_pending_call(&h);
        h.service.on(
            "GET",
            "/v1/assistants/a1/events/e1",
            vec![Reply::ok(json!({"data": {"id": "e1", "status": "pending"}}))],
        );
        let mut ctx = h.ctx();
        ctx.printer.stamp = true;
        let o = run(&ctx, args(&[])).await.unwrap();
        let stamp = ctx.now().to_rfc3339_opts(SecondsFormat::Secs, true);
        assert!(text(&o).starts_with(&format!("{stamp} roof: 1 event pending, 1 fetched")), "{}", text(&o));
        // On a terminal: no time.
        let o = run(&h.ctx(), args(&[])).await.unwrap();
        assert!(text(&o).starts_with("roof: 1 event pending"), "{}", text(&o));
    }

    #[test]
    fn a_poll_that_fetched_nothing_but_ended_the_run_shows_no_stale_counts() {
        let m = MissionReport {
            slug: "roof".into(),
            pending_before: 1,
            changes: vec!["run → succeeded: all done".into()],
            ended: Some("succeeded".into()),
            ..Default::default()
        };
        let t = text(&outcome(&[PollReport { missions: vec![m.clone()], ..Default::default() }], ""));
        assert!(t.starts_with("roof:\n  run → succeeded"), "{t}");
        assert!(!t.contains("pending"), "{t}");
        let idle = MissionReport { changes: vec![], ended: None, pending_before: 2, ..m };
        assert_eq!(heading(&idle), "roof: 2 events pending");
    }

    #[test]
    fn a_watch_ends_with_the_document_only_its_lines_were_printed_live() {
        let m = MissionReport {
            slug: "roof".into(),
            pending_before: 1,
            fetched: 1,
            changes: vec!["x".into()],
            ..Default::default()
        };
        let o = watched(&[PollReport { missions: vec![m], ..Default::default() }], "");
        assert!(o.blocks.is_empty(), "{:?}", o.blocks);
        assert_eq!(o.notes, vec!["done: nothing pending"]);
        assert_eq!(o.data["missions"][0]["changes"][0], "x");
    }

    #[tokio::test]
    async fn an_interval_beyond_a_day_is_refused_before_anything_is_sent() {
        // The bound is the parser's (crate::cli::bounds): nothing runs at all.
        use clap::Parser;
        let e = crate::cli::Cli::try_parse_from(["clawdtalk", "poll", "--watch", "--interval", "90000"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(e.to_string().contains("--interval"), "{e}");
    }

    #[tokio::test]
    async fn a_service_outage_is_reported_per_mission_and_exits_non_zero() {
        let h = Harness::start().await;
        one_pending_call(&h);
        h.service.on("GET", "/v1/assistants/a1/events/e1", vec![Reply::error(503, "down")]);
        let o = run(&h.ctx(), args(&[])).await.unwrap();
        // A GET is retried before the poll gives up on the mission.
        assert_eq!(h.service.lines(), vec!["GET /v1/assistants/a1/events/e1"; 3]);
        assert!(text(&o).contains("error:") && text(&o).contains("nothing lost"), "{}", text(&o));
        assert_ne!(o.exit_code, 0);
    }
}
