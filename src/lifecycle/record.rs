//! What poll keeps in a mission's memory besides the tracked events
//! themselves (those are [`crate::state::ScheduledEvent`] records, one type
//! for every reader and writer, under [`crate::state::SCHEDULED_EVENTS_KEY`]),
//! and the status values poll reasons on.

pub use crate::state::event::{
    merge_records, parse_records, AttemptOutcome, RetryIntent, RETRYABLE_CALL_STATUSES, TERMINAL_CALL_STATUSES,
    TERMINAL_STATUSES,
};

/// Memory key of the saved insights (an object keyed by event id).
pub const INSIGHTS: &str = "insights";
/// Memory key of the targets that failed every attempt (a list).
pub const FAILED_TARGETS: &str = "failed_targets";
/// Memory key of the mission's final result.
pub const RESULT: &str = "result";

/// Plan step statuses poll never changes again.
pub const TERMINAL_STEP_STATUSES: &[&str] = &["completed", "skipped", "failed"];
/// Run statuses poll never changes again.
pub const TERMINAL_RUN_STATUSES: &[&str] = &["succeeded", "failed", "cancelled"];
