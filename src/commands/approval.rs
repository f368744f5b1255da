//! `clawdtalk approval request|status`: ask the owner to approve an action on
//! their phone. Scripts read exactly one outcome word on stdout; every decided
//! outcome exits 0, only errors exit non-zero.

use std::time::Duration;

use serde_json::json;

use crate::api::approvals::{self, unreachable_outcome};
use crate::api::models::ApprovalRequest;
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
        match approvals::decision(&approval, &id) {
            Ok(Some(word)) => break word,
            Ok(None) => {}
            Err(e) => {
                progress.finish();
                return Err(e);
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
    use crate::api::models::ApprovalCreated;

    #[test]
    fn nobody_notified_distinguishes_no_devices_from_failed_pushes() {
        let c = |n, f| ApprovalCreated { devices_notified: n, devices_failed: f, ..Default::default() };
        assert_eq!(unreachable_outcome(&c(0, 0)), Some("no_devices"));
        assert_eq!(unreachable_outcome(&c(0, 2)), Some("no_devices_reached"));
        assert_eq!(unreachable_outcome(&c(1, 2)), None);
    }
}

#[cfg(test)]
mod service_tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{parse, text, Harness, Reply};

    fn cmd(args: &[&str]) -> ApprovalCommand {
        match parse(&[&["approval"], args].concat()) {
            crate::cli::Command::Approval(c) => c,
            other => panic!("not an approval command: {other:?}"),
        }
    }

    fn created(notified: u32, failed: u32) -> Reply {
        Reply::ok(json!({"request_id": "apr_1", "devices_notified": notified, "devices_failed": failed}))
    }

    #[tokio::test]
    async fn request_asks_then_polls_until_the_owner_decides() {
        let h = Harness::start().await;
        h.service.on("POST", "/v1/approvals", vec![created(1, 0)]);
        h.service.on(
            "GET",
            "/v1/approvals/apr_1",
            vec![Reply::ok(json!({"status": "pending"})), Reply::ok(json!({"status": "approved"}))],
        );
        let args =
            ["request", "Pay $5", "--details", "to Bob", "--biometric", "--timeout", "60", "--poll-interval", "0.01"];
        let o = run(&h.ctx(), cmd(&args)).await.unwrap();
        let reqs = h.service.requests();
        assert_eq!(h.service.lines(), vec!["POST /v1/approvals", "GET /v1/approvals/apr_1", "GET /v1/approvals/apr_1"]);
        assert_eq!(
            reqs[0].json(),
            json!({"action": "Pay $5", "require_biometric": true, "expires_in": 60, "details": "to Bob"})
        );
        assert_eq!(text(&o), "approved\n");
        assert_eq!(o.data["outcome"], "approved");
        assert_eq!(o.exit_code, 0);
    }

    #[tokio::test]
    async fn no_wait_prints_the_request_id_without_polling() {
        let h = Harness::start().await;
        h.service.on("POST", "/v1/approvals", vec![created(2, 0)]);
        let o = run(&h.ctx(), cmd(&["request", "Pay", "--no-wait"])).await.unwrap();
        assert_eq!(h.service.lines(), vec!["POST /v1/approvals"]);
        assert_eq!(text(&o), "apr_1\n");
        assert_eq!(o.data["outcome"], "pending");
    }

    #[tokio::test]
    async fn an_owner_without_devices_is_an_outcome_not_an_error() {
        let h = Harness::start().await;
        h.service.on("POST", "/v1/approvals", vec![created(0, 0)]);
        let o = run(&h.ctx(), cmd(&["request", "Pay"])).await.unwrap();
        assert_eq!(h.service.lines(), vec!["POST /v1/approvals"]);
        assert_eq!((text(&o).as_str(), o.exit_code), ("no_devices\n", 0));
    }

    #[tokio::test]
    async fn a_blank_action_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e = run(&h.ctx(), cmd(&["request", "  "])).await.unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        assert!(h.service.requests().is_empty());
    }

    #[tokio::test]
    async fn an_unexpected_status_is_a_failure() {
        let h = Harness::start().await;
        h.service.on("POST", "/v1/approvals", vec![created(1, 0)]);
        h.service.on("GET", "/v1/approvals/apr_1", vec![Reply::ok(json!({"status": "maybe"}))]);
        let e = run(&h.ctx(), cmd(&["request", "Pay", "--poll-interval", "0.01"])).await.unwrap_err();
        assert!(matches!(&e, Error::Failed(m) if m.contains("\"maybe\"")), "{e:?}");
    }

    #[tokio::test]
    async fn status_prints_the_word_alone() {
        let h = Harness::start().await;
        h.service.on(
            "GET",
            "/v1/approvals/apr_1",
            vec![Reply::ok(json!({"data": {"id": "apr_1", "status": "denied"}}))],
        );
        let o = run(&h.ctx(), cmd(&["status", "apr_1"])).await.unwrap();
        assert_eq!(h.service.single().line(), "GET /v1/approvals/apr_1");
        assert_eq!(text(&o), "denied\n");
    }
}
