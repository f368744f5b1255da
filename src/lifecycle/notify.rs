//! Mission reports to the agent (docs/missions.md#reports-to-the-agent):
//! what poll tells the agent's main session when a mission finishes, a
//! step becomes the bot's, or a target fails for good.
//!
//! The executor writes each report as owed in the same state update as the
//! change it reports (the texts are built here); [`deliver`], at the end of
//! every poll that is not idle, claims the owed ones under the state lock,
//! sends each through a [`ReportSink`] (the gateway's `sessions_send`
//! without waiting, docs/protocol.md#the-gateway) and marks them. The
//! exactly-once rule lives with the list itself, in `state::reports`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::record::{FAILED_TARGETS, INSIGHTS, RESULT};
use crate::config::mask_phone;
use crate::error::Result;
use crate::redact::{cut, sanitize_for_terminal};
use crate::state::reports::{AgentReport, ClaimedReport, Delivery, ReportStatus};
use crate::state::{MissionState, State, StateStore};

/// How long a poll's claim on the reports it sends holds (service time):
/// a minute, plus the longest one sending may take per report. A poll
/// killed while sending leaves it to expire; the next poll after that
/// sends again (at most once more).
pub const CLAIM_BASE: Duration = Duration::from_secs(60);
/// The longest one report's sending may take (`sessions_send` without
/// waiting answers at once).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(15);
/// Test-only: seconds poll sleeps after each report is sent, before it is
/// marked, so a test can kill it there (tests/poll_reports.rs). Not for
/// users; unset, nothing sleeps.
const TEST_PAUSE_ENV: &str = "CLAWDTALK_TEST_PAUSE_AFTER_REPORT_SEND";
/// Why owed reports are given up when a poll runs with reports off.
pub const OFF_REASON: &str = "reports to the agent are off (--no-notify or notify_agent = false)";

/// Where reports go: the gateway (`connect::gateway::Gateway::notify`), or
/// a recorder in tests. The future says whether the agent's side took it.
pub trait ReportSink: Send + Sync {
    fn send<'a>(&'a self, text: &'a str) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;
}

impl ReportSink for crate::connect::gateway::Gateway {
    fn send<'a>(&'a self, text: &'a str) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(self.notify(crate::connect::approval::Cleared::report(text.to_string()), SEND_TIMEOUT))
    }
}

/// The configured gateway, its HTTP client built on the first report only:
/// a poll with nothing to report (under cron, nearly every one) builds none.
pub struct LazyGateway {
    url: String,
    token: Option<crate::config::Secret>,
    agent_id: String,
    built: std::sync::OnceLock<crate::connect::gateway::Gateway>,
}

impl LazyGateway {
    pub fn new(url: &str, token: Option<crate::config::Secret>, agent_id: &str) -> LazyGateway {
        LazyGateway { url: url.into(), token, agent_id: agent_id.into(), built: std::sync::OnceLock::new() }
    }
}

impl ReportSink for LazyGateway {
    fn send<'a>(&'a self, text: &'a str) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(async move {
            if self.built.get().is_none() {
                let gw = crate::connect::gateway::Gateway::new(&self.url, self.token.clone(), &self.agent_id)?;
                let _ = self.built.set(gw);
            }
            match self.built.get() {
                Some(gw) => gw.send(text).await,
                None => Err(crate::error::Error::failed("cannot build the gateway client")),
            }
        })
    }
}

/// Reports are on: where they go. (Off is `PollOptions::notify = None`.)
#[derive(Clone)]
pub struct Notifier(pub Arc<dyn ReportSink>);

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Notifier")
    }
}

/// What became of one report in a poll (journal `report.sent` /
/// `report.unsent`, and poll's `--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportOutcome {
    pub slug: String,
    pub id: String,
    pub sent: bool,
    /// Why it was not sent (it is retried by a later poll unless `given_up`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub given_up: bool,
}

impl ReportOutcome {
    fn of(slug: &str, r: &AgentReport) -> ReportOutcome {
        ReportOutcome {
            slug: slug.to_string(),
            id: r.id.clone(),
            sent: r.status == ReportStatus::Sent,
            error: r.error.clone(),
            given_up: r.status == ReportStatus::Unsent,
        }
    }
}

/// Service text in a report: one line, no control characters, bounded.
fn clean(text: &str) -> String {
    cut(&sanitize_for_terminal(text).replace(['\n', '\r'], " "), 200)
}

/// A report's id: `<slug>:<kind>:<what>`.
fn report_id(slug: &str, kind: &str, what: &str) -> String {
    format!("{slug}:{kind}:{}", clean(what))
}

/// Owe the report "the mission finished" (called as the mission is archived).
pub fn owe_finished(m: &mut MissionState, slug: &str, result: &Value, now: DateTime<Utc>) {
    let slug = &clean(slug);
    let run = clean(&m.run_id().unwrap_or_else(|| "run".into()));
    let id = report_id(slug, "mission_finished", &run);
    let status = clean(result["status"].as_str().unwrap_or("ended"));
    let reason = result["reason"].as_str().map(|r| format!(": {}", clean(r))).unwrap_or_default();
    let mut keys = vec![RESULT];
    for k in [INSIGHTS, FAILED_TARGETS] {
        if m.memory_get(k).is_some() {
            keys.push(k);
        }
    }
    let gets: Vec<String> = keys.iter().map(|k| format!("`clawdtalk memory get {slug} {k}`")).collect();
    let text = format!(
        "[ClawdTalk] report={id} Mission {slug} finished: {status}{reason}. Results are in its memory: {}.",
        gets.join(", ")
    );
    m.owe_report(&id, "mission_finished", text, now);
}

/// Owe "step `step` is now yours" for each of the bot's steps (one report
/// per step, ever: its id says which).
pub fn owe_bot_steps(m: &mut MissionState, slug: &str, steps: &[String], now: DateTime<Utc>) {
    let slug = &clean(slug);
    let (mid, rid) = (clean(&m.mission_id().unwrap_or_default()), clean(&m.run_id().unwrap_or_default()));
    for step in steps {
        let id = report_id(slug, "bot_step", step);
        let step = clean(step);
        let text = format!(
            "[ClawdTalk] report={id} Mission {slug}: the calls are done and step {step} is now yours to do. \
             When it is done: `clawdtalk plan update-step {mid} {rid} {step} completed`; the next poll closes \
             the mission."
        );
        m.owe_report(&id, "bot_step", text, now);
    }
}

/// Owe "a target failed for good" for each failed target (as written to
/// memory `failed_targets`).
pub fn owe_failed_targets(m: &mut MissionState, slug: &str, failed: &[Value], now: DateTime<Utc>) {
    let slug = &clean(slug);
    for f in failed {
        let Some(event) = f["event_id"].as_str() else { continue };
        let id = report_id(slug, "target_failed", event);
        let to = mask_phone(f["to"].as_str().unwrap_or_default());
        let reason = clean(f["reason"].as_str().unwrap_or("no retries left"));
        let attempts = f["attempts"].as_u64().map(|n| format!(" after {n} attempt(s)")).unwrap_or_default();
        let text = format!(
            "[ClawdTalk] report={id} Mission {slug}: target {to} failed for good{attempts} ({reason}); no \
             retries left. Details: `clawdtalk memory get {slug} {FAILED_TARGETS}`."
        );
        m.owe_report(&id, "target_failed", text, now);
    }
}

/// Some mission, active or archived, owes a report.
pub fn any_owed(state: &State) -> bool {
    state.missions().any(|(_, m)| m.reports_owed()) || state.archived().any(|(_, m)| m.reports_owed())
}

/// A mission in the state: active by slug, or archived by key.
#[derive(Debug, Clone)]
struct Where {
    archived: bool,
    key: String,
    slug: String,
}

fn owing(state: &State) -> Vec<Where> {
    let active = state.missions().filter(|(_, m)| m.reports_owed()).map(|(k, _)| Where {
        archived: false,
        key: k.to_string(),
        slug: k.to_string(),
    });
    let archived = state.archived().filter(|(_, m)| m.reports_owed()).map(|(k, m)| Where {
        archived: true,
        key: k.to_string(),
        slug: m.get_str("slug").unwrap_or_else(|| k.to_string()),
    });
    active.chain(archived).collect()
}

fn mission_mut<'a>(st: &'a mut State, w: &Where) -> Option<&'a mut MissionState> {
    if w.archived {
        st.archived_mission_mut(&w.key)
    } else {
        st.mission_mut(&w.key)
    }
}

/// Send every owed report (or, with reports off, give them up), each
/// claimed under the state lock first and marked after; with nothing owed
/// nothing is written and nothing sent. Runs under poll's lock, so two
/// polls never deliver at once. `now` is the service's time (claims are on
/// its clock).
pub async fn deliver(
    store: &StateStore,
    notifier: Option<&Notifier>,
    now: DateTime<Utc>,
) -> Result<Vec<ReportOutcome>> {
    let owing = owing(&store.read_async().await?);
    if owing.is_empty() {
        return Ok(Vec::new());
    }
    let Some(Notifier(sink)) = notifier else {
        return store
            .update_async(move |st| {
                let mut out = Vec::new();
                for w in &owing {
                    if let Some(m) = mission_mut(st, w) {
                        out.extend(m.give_up_reports(OFF_REASON, now).iter().map(|r| ReportOutcome::of(&w.slug, r)));
                    }
                }
                Ok(out)
            })
            .await;
    };
    let owner = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
    let (claimed, mut out) = claim(store, owing, &owner, now).await?;
    let pause = std::env::var(TEST_PAUSE_ENV).ok().and_then(|s| s.parse::<f64>().ok()).filter(|s| *s > 0.0);
    let mut settled: Vec<(Where, String, Delivery)> = Vec::new();
    for (w, r) in claimed {
        let how = match sink.send(&r.text).await {
            Ok(()) => Delivery::Sent,
            Err(e) => Delivery::Failed(clean(&e.to_string())),
        };
        if let (Some(secs), Delivery::Sent) = (pause, &how) {
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        }
        settled.push((w, r.id, how));
    }
    let marked = store
        .update_async(move |st| {
            let mut out = Vec::new();
            for (w, id, how) in &settled {
                if let Some(r) = mission_mut(st, w).and_then(|m| m.settle_report(id, &owner, how, now)) {
                    out.push(ReportOutcome::of(&w.slug, &r));
                }
            }
            Ok(out)
        })
        .await?;
    out.extend(marked);
    Ok(out)
}

/// Claim the owed reports of `owing` for `owner`; returns them, and those
/// given up instead (their second claim expired: see `state::reports`).
async fn claim(
    store: &StateStore,
    owing: Vec<Where>,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<(Vec<(Where, ClaimedReport)>, Vec<ReportOutcome>)> {
    let owner = owner.to_string();
    store
        .update_async(move |st| {
            let mut owed = 0usize;
            for w in &owing {
                if let Some(m) = mission_mut(st, w) {
                    owed += m.agent_reports().iter().filter(|r| r.status == ReportStatus::Owed).count();
                }
            }
            let ttl = CLAIM_BASE + SEND_TIMEOUT * u32::try_from(owed).unwrap_or(u32::MAX / 16).min(1000);
            let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1));
            let (mut claimed, mut given_up) = (Vec::new(), Vec::new());
            for w in owing {
                let Some(m) = mission_mut(st, &w) else { continue };
                let (c, g) = m.claim_reports(&owner, now, until);
                given_up.extend(g.iter().map(|r| ReportOutcome::of(&w.slug, r)));
                claimed.extend(c.into_iter().map(|r| (w.clone(), r)));
            }
            Ok((claimed, given_up))
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::super::engine::PlanStep;
    use super::super::testing::{setup, Fake};
    use super::super::{poll_once, PollOptions};
    use super::*;
    use crate::error::Error;

    /// A sink that records what it was sent, or fails while `down`.
    #[derive(Default)]
    struct Recorder {
        sent: Mutex<Vec<String>>,
        down: Mutex<bool>,
    }

    impl ReportSink for Recorder {
        fn send<'a>(&'a self, text: &'a str) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
            Box::pin(async move {
                if *self.down.lock().unwrap() {
                    return Err(Error::Network("the agent gateway is unreachable".into()));
                }
                self.sent.lock().unwrap().push(text.to_string());
                Ok(())
            })
        }
    }

    impl Recorder {
        /// The report ids sent, in order.
        fn ids(&self) -> Vec<String> {
            let sent = self.sent.lock().unwrap();
            sent.iter().filter_map(|t| t.split_whitespace().nth(1)?.strip_prefix("report=").map(String::from)).collect()
        }
    }

    fn opts(sink: &Arc<Recorder>) -> PollOptions {
        PollOptions { notify: Some(Notifier(sink.clone())), ..PollOptions::default() }
    }

    /// Poll until the mission is archived (or 12 polls), 11 minutes apart.
    async fn run_to_the_end(store: &StateStore, fake: &Fake, o: &PollOptions) {
        for _ in 0..12 {
            fake.play();
            poll_once(store, || Ok(fake), o).await.unwrap();
            if store.read().unwrap().mission("bot").is_none() {
                return;
            }
            if fake.plan.lock().unwrap().iter().any(|s| s.step_id == "analyze" && s.status == "pending") {
                // The bot does its step once told.
                fake.plan.lock().unwrap()[1].status = "completed".into();
            }
            fake.advance(11);
        }
    }

    #[tokio::test]
    async fn each_change_the_bot_should_know_is_reported_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "bot", &fake, &[("e1", "+15005550006"), ("e2", "+15005550001")]);
        fake.plan.lock().unwrap().push(PlanStep { step_id: "analyze".into(), status: "pending".into() });
        let sink = Arc::new(Recorder::default());
        let o = opts(&sink);
        run_to_the_end(&store, &fake, &o).await;
        // Ended: more polls send nothing more.
        for _ in 0..2 {
            poll_once(&store, || Ok(&fake), &o).await.unwrap();
        }
        let ids = sink.ids();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "each report once: {ids:?}");
        assert!(ids.iter().any(|i| i.starts_with("bot:target_failed:")), "{ids:?}");
        assert!(ids.contains(&"bot:mission_finished:r1".to_string()), "{ids:?}");
        assert_eq!(ids.len(), 2, "the failed target fails its step and so the mission: {ids:?}");
        let sent = sink.sent.lock().unwrap();
        assert!(sent.iter().all(|t| t.starts_with("[ClawdTalk] report=")), "{sent:?}");
        assert!(sent.iter().all(|t| !t.contains("5550001")), "numbers are masked: {sent:?}");
        let st = store.read().unwrap();
        let m = st.archived_mission("m-bot").unwrap();
        assert!(!m.reports_owed() && m.agent_reports().iter().all(|r| r.status == ReportStatus::Sent));
    }

    #[tokio::test]
    async fn a_step_left_to_the_bot_is_reported_once_while_it_waits() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "bot", &fake, &[("e1", "+15005550006")]);
        fake.plan.lock().unwrap().push(PlanStep { step_id: "analyze".into(), status: "pending".into() });
        let sink = Arc::new(Recorder::default());
        for _ in 0..3 {
            fake.play();
            poll_once(&store, || Ok(&fake), &opts(&sink)).await.unwrap();
        }
        assert_eq!(sink.ids(), vec!["bot:bot_step:analyze".to_string()]);
        let text = sink.sent.lock().unwrap()[0].clone();
        assert!(text.contains("plan update-step m-bot r1 analyze completed"), "{text}");
        // The bot does it: the end is reported, once.
        fake.plan.lock().unwrap()[1].status = "completed".into();
        for _ in 0..2 {
            poll_once(&store, || Ok(&fake), &opts(&sink)).await.unwrap();
        }
        assert_eq!(sink.ids(), vec!["bot:bot_step:analyze".to_string(), "bot:mission_finished:r1".to_string()]);
        let end = sink.sent.lock().unwrap()[1].clone();
        assert!(end.contains("finished: succeeded") && end.contains("`clawdtalk memory get bot result`"), "{end}");
    }

    #[tokio::test]
    async fn an_unreachable_gateway_keeps_the_report_owed_and_a_later_poll_sends_it() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "bot", &fake, &[("e1", "+15005550006")]);
        let sink = Arc::new(Recorder::default());
        *sink.down.lock().unwrap() = true;
        fake.play();
        let r = poll_once(&store, || Ok(&fake), &opts(&sink)).await.unwrap();
        assert_eq!(r.missions[0].ended.as_deref(), Some("succeeded"), "{r:?}");
        assert_eq!(r.reports.len(), 1);
        assert!(!r.reports[0].sent && !r.reports[0].given_up && r.reports[0].error.is_some(), "{r:?}");
        let unsent = store.read().unwrap().archived_mission("m-bot").unwrap().unsent_reports();
        assert_eq!(unsent.len(), 1, "listed for `mission status`");
        // The archived mission's owed report makes the next poll do work.
        let bytes = std::fs::read(store.path()).unwrap();
        assert_eq!(crate::state::fast::poll_pending(&bytes), Some(true));
        *sink.down.lock().unwrap() = false;
        let r = poll_once(&store, || Ok(&fake), &opts(&sink)).await.unwrap();
        assert!(r.reports[0].sent, "{r:?}");
        assert_eq!(sink.ids(), vec!["bot:mission_finished:r1".to_string()]);
        let bytes = std::fs::read(store.path()).unwrap();
        assert_eq!(crate::state::fast::poll_pending(&bytes), Some(false), "idle again");
    }

    #[tokio::test]
    async fn with_reports_off_nothing_is_owed_or_sent() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "bot", &fake, &[("e1", "+15005550006")]);
        fake.play();
        let r = poll_once(&store, || Ok(&fake), &PollOptions::default()).await.unwrap();
        assert_eq!(r.missions[0].ended.as_deref(), Some("succeeded"), "{r:?}");
        assert!(r.reports.is_empty());
        let st = store.read().unwrap();
        assert!(st.archived_mission("m-bot").unwrap().agent_reports().is_empty());
    }

    #[tokio::test]
    async fn turning_reports_off_gives_up_those_still_owed() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::new();
        let store = setup(dir.path(), "bot", &fake, &[("e1", "+15005550006")]);
        let sink = Arc::new(Recorder::default());
        *sink.down.lock().unwrap() = true;
        fake.play();
        poll_once(&store, || Ok(&fake), &opts(&sink)).await.unwrap();
        let r = poll_once(&store, || Ok(&fake), &PollOptions::default()).await.unwrap();
        assert!(r.reports[0].given_up, "{r:?}");
        let st = store.read().unwrap();
        let m = st.archived_mission("m-bot").unwrap();
        assert_eq!(m.unsent_reports()[0].error.as_deref(), Some(OFF_REASON));
        assert!(!m.reports_owed());
    }
}

#[cfg(test)]
mod gateway_tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::ReportSink;
    use crate::connect::gateway::Gateway;

    /// A gateway answering one request with `body` (HTTP 200); returns its
    /// URL and the request it received.
    async fn gateway(body: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            // The whole request: its head, then content-length bytes of body.
            let mut req: Vec<u8> = Vec::new();
            let mut buf = vec![0u8; 16384];
            loop {
                let text = String::from_utf8_lossy(&req).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= len {
                        break;
                    }
                }
                let n = sock.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
            sock.write_all(reply.as_bytes()).await.unwrap();
            let _ = sock.shutdown().await;
            String::from_utf8_lossy(&req).into_owned()
        });
        (url, seen)
    }

    #[tokio::test]
    async fn a_report_goes_to_the_main_session_without_waiting_and_accepted_is_delivered() {
        let (url, seen) = gateway(r#"{"ok":true,"result":{"details":{"runId":"r","status":"accepted"}}}"#).await;
        let gw = Gateway::new(&url, None, "main").unwrap();
        gw.send("[ClawdTalk] report=a:bot_step:x hi").await.unwrap();
        let req = seen.await.unwrap();
        let body: serde_json::Value = serde_json::from_str(req.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["tool"], "sessions_send");
        assert_eq!(body["args"]["sessionKey"], "agent:main:main");
        assert_eq!(body["args"]["timeoutSeconds"], 0);
        assert_eq!(body["args"]["message"], "[ClawdTalk] report=a:bot_step:x hi");
    }

    #[tokio::test]
    async fn a_refusal_in_any_shape_is_not_delivered() {
        for body in [
            r#"{"ok":false,"error":{"type":"forbidden","message":"tool not allowed"}}"#,
            r#"{"ok":true,"result":{"details":{"status":"forbidden"}}}"#,
            r#"{"ok":true,"result":{"content":[{"type":"text","text":"{\"status\":\"error\",\"error\":\"no session\"}"}]}}"#,
        ] {
            let (url, _) = gateway(body).await;
            let gw = Gateway::new(&url, None, "main").unwrap();
            let e = gw.send("[ClawdTalk] x").await.unwrap_err();
            assert!(e.to_string().contains("refused"), "{body}: {e}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_gateway_is_a_network_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let gw = Gateway::new(&url, None, "main").unwrap();
        let e = tokio::time::timeout(Duration::from_secs(20), gw.send("[ClawdTalk] x")).await.unwrap().unwrap_err();
        assert_eq!(e.exit_code(), 4, "{e:?}");
    }
}
