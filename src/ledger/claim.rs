//! Claims on owed run events: a record's run event is claimed under the
//! state lock before it is sent, so concurrent commands for one mission log
//! it once, and a dead claimer's events are retried once its claim expires.

use crate::api::events::{self, NewEvent};
use crate::api::Client;
use crate::state::{RecordKind, StateStore};

/// This process's claim on the records whose run events it sends.
#[derive(Debug, Clone)]
pub struct Claim {
    pub owner: String,
    /// The longest one request may take: every attempt timing out, plus
    /// the backoff between them.
    per_request: chrono::Duration,
}

impl Claim {
    /// A fresh claim for this process; `request_timeout` is the configured
    /// timeout of one attempt.
    pub fn new(request_timeout: std::time::Duration) -> Claim {
        let attempts = crate::api::RetryPolicy::default().max_attempts;
        let per_request = request_timeout
            .checked_mul(attempts)
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .and_then(|d| d.checked_add(&chrono::Duration::minutes(1)))
            .unwrap_or(chrono::TimeDelta::MAX);
        Claim { owner: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()), per_request }
    }

    /// When a claim taken at `now` for `records` run events expires: after
    /// the slowest run of every request they need (one look at the run and
    /// one log each), and never sooner than 10 minutes. So a live claimer is
    /// never overtaken; a dead one's records are retried once it expires.
    pub fn until(&self, now: chrono::DateTime<chrono::Utc>, records: usize) -> chrono::DateTime<chrono::Utc> {
        let requests = i32::try_from(records.saturating_add(1)).unwrap_or(i32::MAX);
        let ttl = self.per_request.checked_mul(requests).unwrap_or(chrono::TimeDelta::MAX);
        now.checked_add_signed(ttl.max(chrono::Duration::minutes(10)))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
    }
}

/// One run event a record owes, claimed by this process (the claim helpers
/// of [`crate::state::RecordKind`]), ready to send.
#[derive(Debug, Clone)]
pub struct OwedEvent {
    /// The record's id (`event_id`, `call_id`).
    pub id: String,
    /// Which of the record's run events: the flag that marks it logged.
    pub flag: &'static str,
    /// The mission and run it goes to.
    pub run: (String, String),
    pub event: NewEvent,
    /// Never sent before (the record got it just now, under this claim):
    /// nothing to look for on the run first.
    pub fresh: bool,
}

/// Send the run events this process claimed for records of `kind`, then
/// settle the claims in one update: sent ones are marked logged, failed
/// ones released for the next command. Those not `fresh` may have been
/// sent by a command that failed or died before marking them, so their run
/// is checked first and an event already there (same type and summary) is
/// only marked, not sent again. `retried_by` says in the notes which
/// command retries what is still owed. Returns notes for stderr.
#[allow(clippy::too_many_arguments)]
pub async fn send_claimed(
    client: &Client,
    store: &StateStore,
    slug: &str,
    kind: &'static RecordKind,
    claim: &Claim,
    owed: Vec<OwedEvent>,
    retried_by: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    let mut notes = Vec::new();
    let mut settled: Vec<(String, &'static str, bool)> = Vec::new();
    let (fresh, retries): (Vec<OwedEvent>, Vec<OwedEvent>) = owed.into_iter().partition(|o| o.fresh);
    let mut to_send = Vec::new();
    let mut runs: Vec<(String, String)> = retries.iter().map(|o| o.run.clone()).collect();
    runs.sort();
    runs.dedup();
    for run in runs {
        let group: Vec<&OwedEvent> = retries.iter().filter(|o| o.run == run).collect();
        match events::list(client, &run.0, &run.1).await {
            Ok(logged) => {
                for o in group {
                    let there = logged.iter().any(|l| {
                        l.kind.as_deref() == Some(o.event.kind.as_str())
                            && l.summary.as_deref() == Some(o.event.summary.as_str())
                    });
                    if there {
                        settled.push((o.id.clone(), o.flag, true));
                    } else {
                        to_send.push(o.clone());
                    }
                }
            }
            Err(e) => {
                notes.push(format!(
                    "warning: could not check run {} for the {} run event(s) still owed ({e}); they are kept in \
                     the state file and retried by {retried_by}",
                    run.1,
                    group.len()
                ));
                settled.extend(group.iter().map(|o| (o.id.clone(), o.flag, false)));
            }
        }
    }
    to_send.extend(fresh);
    for o in &to_send {
        let (mid, rid) = &o.run;
        match events::log(client, mid, rid, &o.event).await {
            Ok(_) => settled.push((o.id.clone(), o.flag, true)),
            Err(e) => {
                notes.push(format!(
                    "warning: could not log \"{}\" to run {rid} ({e}); it is kept in the state file and retried by \
                     {retried_by}",
                    o.event.summary
                ));
                settled.push((o.id.clone(), o.flag, false));
            }
        }
    }
    if settled.is_empty() {
        return notes;
    }
    let (s, owner) = (slug.to_string(), claim.owner.clone());
    let marked = store
        .update_async(move |st| {
            if let Some(m) = st.lookup_mut(&s) {
                for (id, flag, logged) in &settled {
                    m.settle_log(kind, id, flag, &owner, *logged, now);
                }
            }
            Ok(())
        })
        .await;
    if let Err(e) = marked {
        notes.push(format!(
            "warning: the run events were handled but the state file could not be updated ({e}); a later command \
             finds them on the run and does not send them again"
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeDelta, Utc};

    #[test]
    fn a_claim_lasts_for_every_request_it_covers_and_at_least_ten_minutes() {
        let c = Claim { owner: "1-a".into(), per_request: Duration::minutes(4) };
        let now = Utc::now();
        assert_eq!(c.until(now, 1) - now, Duration::minutes(10));
        assert_eq!(c.until(now, 4) - now, Duration::minutes(20));
        let huge = Claim { owner: "1-a".into(), per_request: TimeDelta::MAX };
        assert_eq!(huge.until(now, 3), chrono::DateTime::<Utc>::MAX_UTC);
    }
}
