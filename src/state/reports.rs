//! Mission reports owed to the agent (docs/missions.md#reports-to-the-agent):
//! the short messages `poll` sends to the agent's main session when a
//! mission finishes, a step becomes the bot's, or a target fails for good.
//!
//! Why they are kept here, like owed run events ([`super::claims`]): a
//! report must reach the agent once, across crashes and concurrent polls.
//! Each is written as owed in the same state update as the change it
//! reports, then claimed under the state lock before it is sent
//! ([`MissionState::claim_reports`]), then marked
//! ([`MissionState::settle_report`]). A poll killed between sending and
//! marking leaves a claim that expires; the next poll sends the report once
//! more, and a second expired claim marks it `unsent` instead of sending a
//! third time. So a report is sent at most twice, and once normally.
//!
//! The list lives in the mission's field [`REPORTS`] (outside memory, so it
//! moves to the archive with the mission), bounded to [`MAX_REPORTS`]; the
//! field [`REPORTS_OWED`] is present exactly while one is owed, which is
//! what poll's quick scan (`super::fast::poll_pending`) looks for.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::claims::LogClaim;
use super::mission::MissionState;
use super::time::timestamp;

/// Mission field holding the reports (a list of [`AgentReport`]).
pub const REPORTS: &str = "agent_reports";
/// Mission field set to `true` while some report is owed (absent otherwise).
pub const REPORTS_OWED: &str = "agent_reports_owed";
/// Most reports kept per mission: the oldest settled ones are dropped
/// first (only when all are owed, the oldest owed one), so the list never
/// grows without bound, even with a gateway that is never up; owed ones
/// are given up after [`MAX_ATTEMPTS`] polls anyway.
pub const MAX_REPORTS: usize = 20;
/// Sending attempts (failed ones, the gateway down or refusing) before a
/// report is given up as `unsent`.
pub const MAX_ATTEMPTS: u32 = 5;

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// To be sent (perhaps claimed by a poll that is sending it).
    Owed,
    /// The gateway accepted it.
    Sent,
    /// Given up: the reason is in `error`. Listed by `mission status`.
    Unsent,
}

/// One report to the agent, as kept in the mission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentReport {
    /// Stable id, also in the text: `<slug>:<kind>:<step, event or run>`.
    pub id: String,
    /// `mission_finished`, `bot_step` or `target_failed`.
    pub kind: String,
    /// The message, starting with `[ClawdTalk]`.
    pub text: String,
    pub status: ReportStatus,
    /// RFC 3339, when it became owed.
    pub created_at: String,
    /// Times it was claimed for sending.
    #[serde(default)]
    pub attempts: u32,
    /// Claims that expired with the report still owed (a poll died while
    /// sending it: it may have reached the agent).
    #[serde(default)]
    pub expired_claims: u32,
    /// The poll sending it now; void after its time.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "super::claims::lenient_claim")]
    pub claim: Option<LogClaim>,
    /// Why the last attempt failed, or why it was given up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
}

/// A report claimed for sending by [`MissionState::claim_reports`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedReport {
    pub id: String,
    pub text: String,
}

/// How one sending attempt went, for [`MissionState::settle_report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    Failed(String),
}

impl MissionState {
    /// Every report of the mission (entries that do not parse are skipped).
    pub fn agent_reports(&self) -> Vec<AgentReport> {
        let list = self.fields.get(REPORTS).and_then(Value::as_array);
        list.into_iter().flatten().filter_map(|v| serde_json::from_value(v.clone()).ok()).collect()
    }

    /// Whether some report is owed (the marker field).
    pub fn reports_owed(&self) -> bool {
        self.fields.get(REPORTS_OWED).is_some_and(|v| v == &Value::Bool(true))
    }

    fn put_reports(&mut self, list: Vec<AgentReport>, now: DateTime<Utc>) {
        let owed = list.iter().any(|r| r.status == ReportStatus::Owed);
        let values: Vec<Value> = list.iter().filter_map(|r| serde_json::to_value(r).ok()).collect();
        self.fields.insert(REPORTS.into(), Value::Array(values));
        if owed {
            self.fields.insert(REPORTS_OWED.into(), Value::Bool(true));
        } else {
            self.fields.shift_remove(REPORTS_OWED);
        }
        self.touch(now);
    }

    /// Record a report as owed, unless one with this id exists (a change
    /// recomputed after a crash reports nothing new). Keeps the list
    /// within [`MAX_REPORTS`]. Returns whether it was added.
    pub fn owe_report(&mut self, id: &str, kind: &str, text: String, now: DateTime<Utc>) -> bool {
        let mut list = self.agent_reports();
        if list.iter().any(|r| r.id == id) {
            return false;
        }
        list.push(AgentReport {
            id: id.to_string(),
            kind: kind.to_string(),
            text,
            status: ReportStatus::Owed,
            created_at: timestamp(now),
            attempts: 0,
            expired_claims: 0,
            claim: None,
            error: None,
            sent_at: None,
        });
        while list.len() > MAX_REPORTS {
            let i = list.iter().position(|r| r.status != ReportStatus::Owed).unwrap_or(0);
            list.remove(i);
        }
        self.put_reports(list, now);
        true
    }

    /// Claim every owed report no live claimer is sending, for `owner`
    /// until `until`. Call inside [`crate::state::StateStore::update`]. A
    /// report whose earlier claim expired was perhaps sent already: it is
    /// sent once more, and when that claim expires too it is marked
    /// `unsent` instead (returned second, with the reason) — never a third
    /// send.
    pub fn claim_reports(
        &mut self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> (Vec<ClaimedReport>, Vec<AgentReport>) {
        if !self.reports_owed() {
            return (Vec::new(), Vec::new());
        }
        let mut list = self.agent_reports();
        let (mut claimed, mut given_up) = (Vec::new(), Vec::new());
        for r in list.iter_mut().filter(|r| r.status == ReportStatus::Owed) {
            if r.claim.as_ref().is_some_and(|c| c.live(now)) {
                continue;
            }
            if r.claim.take().is_some() {
                r.expired_claims += 1;
                if r.expired_claims >= 2 {
                    r.status = ReportStatus::Unsent;
                    r.error = Some("sending was interrupted twice; it may have reached the agent once".into());
                    given_up.push(r.clone());
                    continue;
                }
            }
            r.attempts += 1;
            r.claim = Some(LogClaim { owner: owner.to_string(), until: timestamp(until) });
            claimed.push(ClaimedReport { id: r.id.clone(), text: r.text.clone() });
        }
        if !claimed.is_empty() || !given_up.is_empty() {
            self.put_reports(list, now);
        }
        (claimed, given_up)
    }

    /// Settle `owner`'s attempt at the report `id`: sent marks it sent
    /// (whoever holds the claim: it went out either way); a failure
    /// releases the claim (when still `owner`'s) and keeps the reason, and
    /// after [`MAX_ATTEMPTS`] gives it up as `unsent`. Returns the report
    /// as settled.
    pub fn settle_report(&mut self, id: &str, owner: &str, how: &Delivery, now: DateTime<Utc>) -> Option<AgentReport> {
        let mut list = self.agent_reports();
        let r = list.iter_mut().find(|r| r.id == id && r.status == ReportStatus::Owed)?;
        match how {
            Delivery::Sent => {
                r.status = ReportStatus::Sent;
                r.claim = None;
                r.error = None;
                r.sent_at = Some(timestamp(now));
            }
            Delivery::Failed(reason) => {
                if r.claim.as_ref().is_some_and(|c| c.owner == owner) {
                    r.claim = None;
                }
                r.error = Some(reason.clone());
                if r.attempts >= MAX_ATTEMPTS {
                    r.status = ReportStatus::Unsent;
                }
            }
        }
        let out = r.clone();
        self.put_reports(list, now);
        Some(out)
    }

    /// Give up every owed report nobody is sending (reports turned off
    /// with some still owed): each becomes `unsent` with `reason`.
    pub fn give_up_reports(&mut self, reason: &str, now: DateTime<Utc>) -> Vec<AgentReport> {
        if !self.reports_owed() {
            return Vec::new();
        }
        let mut list = self.agent_reports();
        let mut out = Vec::new();
        for r in
            list.iter_mut().filter(|r| r.status == ReportStatus::Owed && !r.claim.as_ref().is_some_and(|c| c.live(now)))
        {
            r.status = ReportStatus::Unsent;
            r.claim = None;
            r.error = Some(reason.to_string());
            out.push(r.clone());
        }
        if !out.is_empty() {
            self.put_reports(list, now);
        }
        out
    }

    /// Reports that have not reached the agent and are not being sent:
    /// given up, or owed after a failed attempt (`mission status` lists
    /// them).
    pub fn unsent_reports(&self) -> Vec<AgentReport> {
        self.agent_reports()
            .into_iter()
            .filter(|r| r.status == ReportStatus::Unsent || (r.status == ReportStatus::Owed && r.error.is_some()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_767_225_600 + s, 0).unwrap()
    }

    #[test]
    fn a_report_is_owed_once_per_id_and_the_marker_follows_it() {
        let mut m = MissionState::default();
        assert!(m.owe_report("roof:mission_finished:r1", "mission_finished", "[ClawdTalk] x".into(), t(0)));
        assert!(!m.owe_report("roof:mission_finished:r1", "mission_finished", "[ClawdTalk] y".into(), t(1)));
        assert_eq!(m.agent_reports().len(), 1);
        assert!(m.reports_owed());
        let (claimed, _) = m.claim_reports("me", t(2), t(62));
        assert_eq!(claimed.len(), 1);
        m.settle_report(&claimed[0].id, "me", &Delivery::Sent, t(3)).unwrap();
        assert!(!m.reports_owed() && !m.fields().contains_key(REPORTS_OWED));
        assert_eq!(m.agent_reports()[0].status, ReportStatus::Sent);
        assert!(m.claim_reports("me", t(4), t(64)).0.is_empty(), "a sent report is never claimed again");
    }

    #[test]
    fn a_live_claim_is_not_taken_and_an_expired_one_is_resent_once_then_given_up() {
        let mut m = MissionState::default();
        m.owe_report("a:bot_step:review", "bot_step", "[ClawdTalk] z".into(), t(0));
        assert_eq!(m.claim_reports("p1", t(0), t(60)).0.len(), 1);
        assert!(m.claim_reports("p2", t(30), t(90)).0.is_empty(), "p1 is still sending it");
        // p1 died between sending and marking: the claim expires, p2 sends once more.
        assert_eq!(m.claim_reports("p2", t(61), t(121)).0.len(), 1);
        // p2 died too: given up, not sent a third time.
        let (claimed, given_up) = m.claim_reports("p3", t(122), t(182));
        assert!(claimed.is_empty());
        assert_eq!(given_up.len(), 1);
        let r = &m.agent_reports()[0];
        assert_eq!((r.status, r.attempts), (ReportStatus::Unsent, 2));
        assert!(!m.reports_owed());
        assert_eq!(m.unsent_reports().len(), 1);
    }

    #[test]
    fn failed_attempts_keep_the_report_listed_and_give_it_up_after_the_last() {
        let mut m = MissionState::default();
        m.owe_report("a:target_failed:e1", "target_failed", "[ClawdTalk] f".into(), t(0));
        for i in 0..MAX_ATTEMPTS {
            let now = t(i64::from(i) * 10);
            let (c, _) = m.claim_reports("p", now, now + Duration::seconds(5));
            assert_eq!(c.len(), 1, "attempt {i}");
            let r = m.settle_report(&c[0].id, "p", &Delivery::Failed("gateway down".into()), now).unwrap();
            assert_eq!(m.unsent_reports().len(), 1, "listed while owed after a failure");
            assert_eq!(r.status == ReportStatus::Unsent, i + 1 == MAX_ATTEMPTS);
        }
        assert!(!m.reports_owed());
        assert!(m.claim_reports("p", t(100), t(160)).0.is_empty());
    }

    #[test]
    fn the_list_stays_bounded_and_pushes_out_settled_reports_first() {
        let mut m = MissionState::default();
        m.owe_report("a:x:0", "bot_step", "s".into(), t(0));
        let (c, _) = m.claim_reports("p", t(0), t(60));
        m.settle_report(&c[0].id, "p", &Delivery::Sent, t(1));
        for i in 1..=MAX_REPORTS {
            m.owe_report(&format!("a:x:{i}"), "bot_step", "s".into(), t(2));
        }
        let list = m.agent_reports();
        assert_eq!(list.len(), MAX_REPORTS);
        assert!(list.iter().all(|r| r.id != "a:x:0"), "the sent one went first");
        m.owe_report("a:x:new", "bot_step", "s".into(), t(3));
        assert_eq!(m.agent_reports().len(), MAX_REPORTS);
    }

    #[test]
    fn turning_reports_off_gives_up_what_is_owed() {
        let mut m = MissionState::default();
        m.owe_report("a:x:1", "bot_step", "s".into(), t(0));
        let out = m.give_up_reports("reports to the agent are off", t(1));
        assert_eq!(out.len(), 1);
        assert!(!m.reports_owed());
        assert_eq!(m.unsent_reports()[0].error.as_deref(), Some("reports to the agent are off"));
    }
}
