//! `clawdtalk approval request|status`: ask the owner to approve an action on
//! their phone. Scripts read exactly one outcome word on stdout; every decided
//! outcome exits 0, only errors exit non-zero.

use std::time::Duration;

use serde_json::json;

use crate::api::approvals;
use crate::api::models::{ApprovalCreated, ApprovalRequest};
use crate::cli::approval::{ApprovalCommand, ApprovalRequestArgs, ApprovalStatusArgs};
use crate::error::{Error, Result};
use crate::output::Outcome;
use crate::validate;

use super::Context;

pub async fn run(ctx: &Context, cmd: ApprovalCommand) -> Result<Outcome> {
    match cmd {
        ApprovalCommand::Request(a) => request(ctx, a).await,
        ApprovalCommand::Status(a) => status(ctx, a).await,
    }
}

/// The outcome when nobody can be asked: `no_devices` when the owner has no
/// device registered (0 notified, 0 failed), `no_devices_reached` when every
/// push failed (0 notified, some failed). `None`: someone was notified.
pub fn unreachable_outcome(c: &ApprovalCreated) -> Option<&'static str> {
    match (c.devices_notified, c.devices_failed) {
        (0, 0) => Some("no_devices"),
        (0, _) => Some("no_devices_reached"),
        _ => None,
    }
}

/// `approval request ACTION [--details D] [--biometric] [--timeout S] [--no-wait]`.
pub async fn request(ctx: &Context, a: ApprovalRequestArgs) -> Result<Outcome> {
    let action = a.action.trim();
    if action.is_empty() {
        return Err(Error::usage("ACTION must describe what needs approving (e.g. \"Send the invoice to Bob\")"));
    }
    if !(a.poll_interval.is_finite() && a.poll_interval > 0.0) {
        return Err(Error::usage("--poll-interval must be a positive number of seconds"));
    }
    let req = ApprovalRequest {
        action: action.to_string(),
        require_biometric: a.biometric,
        expires_in: a.timeout,
        details: a.details.clone().filter(|d| !d.trim().is_empty()),
    };
    let client = ctx.client()?;
    let created = approvals::create(&client, &req).await?;
    let id = created.request_id.clone();
    let doc = |outcome: &str| {
        json!({
            "outcome": outcome,
            "request_id": id,
            "devices_notified": created.devices_notified,
            "devices_failed": created.devices_failed,
        })
    };
    if let Some(word) = unreachable_outcome(&created) {
        return Ok(Outcome::data(doc(word)).line(word));
    }
    if a.no_wait {
        return Ok(Outcome::data(doc("pending")).line(id.clone()));
    }
    let progress = ctx.progress();
    progress.set(format!("Waiting for approval (timeout: {}s)...", a.timeout));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(a.timeout);
    let interval = Duration::from_secs_f64(a.poll_interval);
    let word = loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break "timeout";
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
        let approval = approvals::get(&client, &id).await?;
        match approval.status.as_deref() {
            Some("approved") => break "approved",
            Some("denied") => break "denied",
            Some("expired") => break "expired",
            Some("pending") | None => {}
            Some(other) => {
                progress.finish();
                return Err(Error::failed(format!("approval {id}: unexpected status {other:?} from the service")));
            }
        }
    };
    progress.finish();
    Ok(Outcome::data(doc(word)).line(word))
}

/// `approval status ID`: the status word alone.
pub async fn status(ctx: &Context, a: ApprovalStatusArgs) -> Result<Outcome> {
    let id = validate::plain_id("REQUEST_ID", &a.request_id)?;
    let client = ctx.client()?;
    let approval = approvals::get(&client, &id).await?;
    let word = approval
        .status
        .clone()
        .ok_or_else(|| Error::failed(format!("approval {id}: the service's reply has no status")))?;
    Ok(Outcome::data(&approval).line(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_notified_distinguishes_no_devices_from_failed_pushes() {
        let c = |n, f| ApprovalCreated { devices_notified: n, devices_failed: f, ..Default::default() };
        assert_eq!(unreachable_outcome(&c(0, 0)), Some("no_devices"));
        assert_eq!(unreachable_outcome(&c(0, 2)), Some("no_devices_reached"));
        assert_eq!(unreachable_outcome(&c(1, 2)), None);
    }
}
