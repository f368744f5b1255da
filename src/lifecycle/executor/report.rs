//! What a poll reports: per poll and per mission (printed by `poll`, kept
//! by `watch`, serialized for `--json`).

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What one poll did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PollReport {
    /// Another poll held the lock: this one did nothing.
    pub skipped_locked: bool,
    /// The service's time, when the service was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub now: Option<DateTime<Utc>>,
    pub missions: Vec<MissionReport>,
    /// Reports to the agent sent, failed or given up in this poll.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<crate::lifecycle::notify::ReportOutcome>,
}

impl PollReport {
    /// Missions that still have unsettled events after this poll.
    pub fn pending(&self) -> usize {
        self.missions.iter().filter(|m| m.pending_after > 0).count()
    }
    /// The first error, for the exit code.
    pub fn first_error(&self) -> Option<&MissionReport> {
        self.missions.iter().find(|m| m.error.is_some())
    }
}

/// What happened to one mission.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MissionReport {
    pub slug: String,
    /// Unsettled events before / after.
    pub pending_before: usize,
    pub pending_after: usize,
    /// Events fetched from the service.
    pub fetched: usize,
    /// Human lines, one per change.
    pub changes: Vec<String>,
    pub retries_scheduled: usize,
    pub notes: Vec<String>,
    /// The run's final status when the mission ended in this poll.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    pub archived: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Plan steps left to the bot once the calls are done (the mission stays
    /// open, and later polls check the plan until they are terminal).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub awaiting: Vec<String>,
    /// Nothing was due: no request was sent for this mission.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub idle: bool,
    #[serde(skip)]
    pub exit_code: u8,
}
