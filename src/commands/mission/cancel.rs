//! `clawdtalk mission cancel SLUG [--pending-only]`.

use crate::cli::mission::MissionCancelArgs;
use crate::error::Result;
use crate::lifecycle::cancel::cancel_mission;
use crate::output::Outcome;

use super::Context;

/// `mission cancel SLUG [--pending-only]`.
pub async fn run(ctx: &Context, a: MissionCancelArgs) -> Result<Outcome> {
    let store = ctx.state()?;
    // Unknown or archived slugs fail here, before any client is built.
    store.read_async().await?.active_slug(&a.slug)?;
    let svc = ctx.api_service()?;
    let r = cancel_mission(&svc, &store, &a.slug, a.pending_only).await?;
    let mut o = Outcome::data(&r).line(format!(
        "Cancelled {} scheduled event{} for mission '{}'",
        r.cancelled.len(),
        if r.cancelled.len() == 1 { "" } else { "s" },
        r.slug
    ));
    for id in &r.cancelled {
        o = o.line(format!("  {id}"));
    }
    if r.run_cancelled && r.archived {
        o = o.line("Run set to cancelled; the mission is archived (`clawdtalk mission status` still shows it)");
    } else if r.run_cancelled {
        o = o.line(format!(
            "Run set to cancelled; {} event{} already under way {} still tracked: the next `clawdtalk poll` \
             records how {} ended, then archives the mission",
            r.still_tracked.len(),
            if r.still_tracked.len() == 1 { "" } else { "s" },
            if r.still_tracked.len() == 1 { "is" } else { "are" },
            if r.still_tracked.len() == 1 { "it" } else { "they" },
        ));
        for id in &r.still_tracked {
            o = o.line(format!("  {id}"));
        }
    } else if a.pending_only {
        o = o.line("The run stays open: the next `clawdtalk poll` finishes its steps from the calls that were made");
    }
    Ok(o)
}
