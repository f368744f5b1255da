//! `clawdtalk mission retry SLUG --failed [--start --concurrency --stagger --max-calls]`
//! (docs/campaigns.md#retrying-failed-targets).

use crate::campaign::{report, retry};
use crate::cli::mission::MissionRetryArgs;
use crate::error::Result;
use crate::output::{counted, Outcome};

use super::super::support::claim;
use super::Context;

/// `mission retry SLUG --failed`: see [`retry::retry_failed`].
pub async fn run(ctx: &Context, a: MissionRetryArgs) -> Result<Outcome> {
    let store = ctx.state()?;
    // Unknown slugs fail before any client is built (archived ones are reopened).
    store.read_async().await?.lookup(&a.slug)?;
    let pacing = super::pacing(ctx, &a.pacing).await?;
    let now = ctx.service_now().await;
    let (r, entries, done) =
        retry::retry_failed(&ctx.api_service()?, &ctx.client()?, &store, &claim(ctx), &a.slug, pacing, now).await?;
    if let Some(e) = report::journal_entry("campaign.retried", &r.slug, &done) {
        ctx.record(e).await;
    }
    let mut o = if entries.is_empty() {
        Outcome::data(serde_json::json!({"totals": {"created": 0}, "targets": []}))
            .line(format!("Nothing to retry: mission '{}' has no failed targets", r.slug))
    } else {
        report::outcome(&entries, Some(&done), "call")
    };
    if r.reopened {
        o = o.line(format!(
            "Mission '{}' reopened from the archive (its earlier result is kept as previous_result)",
            r.slug
        ));
    }
    if r.run_reopened {
        o = o.line("Run set back to running");
    }
    if !r.steps_reopened.is_empty() {
        o = o.line(format!("Steps back to in_progress: {}", r.steps_reopened.join(", ")));
    }
    if r.not_again > 0 {
        o = o.line(format!(
            "{} not called again (reached, or marked so)",
            counted(r.not_again, "failed target is", "failed targets are")
        ));
    }
    o.data["retry"] = serde_json::to_value(&r).unwrap_or_default();
    Ok(o)
}
