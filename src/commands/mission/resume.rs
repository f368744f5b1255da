//! `clawdtalk mission resume SLUG [--start --concurrency --stagger --max-calls]`
//! (docs/campaigns.md#pause-and-resume).

use crate::campaign::{control, report};
use crate::cli::mission::MissionResumeArgs;
use crate::error::Result;
use crate::output::Outcome;

use super::super::support::claim;
use super::Context;

/// `mission resume SLUG`: see [`control::resume`].
pub async fn run(ctx: &Context, a: MissionResumeArgs) -> Result<Outcome> {
    let store = ctx.state()?;
    let slug = store.read_async().await?.active_slug(&a.slug)?;
    let pacing = super::pacing(ctx, &a.pacing).await?;
    let now = ctx.service_now().await;
    let (entries, done) = control::resume(&ctx.client()?, &store, &claim(ctx), &slug, pacing, now).await?;
    if entries.is_empty() {
        let mut o = Outcome::data(serde_json::json!({"slug": slug, "totals": {"created": 0}, "targets": []}));
        o = o.line(format!("Nothing to resume: mission '{slug}' has no paused targets"));
        return Ok(o);
    }
    if let Some(e) = report::journal_entry("campaign.resumed", &slug, &done) {
        ctx.record(e).await;
    }
    let mut o = report::outcome(&entries, Some(&done), "call");
    o.data["slug"] = slug.into();
    Ok(o)
}
