//! `clawdtalk mission pause SLUG` (docs/campaigns.md#pause-and-resume).

use crate::campaign::control::{pause, LOCK_WAIT};
use crate::cli::mission::MissionPauseArgs;
use crate::error::Result;
use crate::output::{counted, Outcome};

use super::Context;

/// `mission pause SLUG`: see [`pause`].
pub async fn run(ctx: &Context, a: MissionPauseArgs) -> Result<Outcome> {
    let store = ctx.state()?;
    // Unknown or archived slugs fail here, before any client is built.
    store.read_async().await?.active_slug(&a.slug)?;
    let r = pause(&ctx.api_service()?, &store, &a.slug, LOCK_WAIT).await?;
    let mut o = Outcome::data(&r).line(format!(
        "Paused {} for mission '{}' (cancelled on the service, recorded as paused)",
        counted(r.paused.len(), "event", "events"),
        r.slug
    ));
    if r.already_paused > 0 {
        o = o.line(format!("{} already paused", counted(r.already_paused, "target was", "targets were")));
    }
    if !r.under_way.is_empty() {
        o = o.line(format!(
            "{} already under way: poll records how it ends",
            counted(r.under_way.len(), "event is", "events are")
        ));
    }
    Ok(o.line("`clawdtalk mission resume` schedules the paused targets again"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::mission::MissionCommand;
    use crate::testing::{text, Harness};

    #[tokio::test]
    async fn pausing_a_mission_without_targets_pauses_nothing_and_sends_nothing() {
        let h = Harness::start().await;
        super::super::seed_roof(&h);
        let MissionCommand::Pause(a) = super::super::parse_mission(&["pause", "roof"]) else { panic!() };
        let o = run(&h.ctx(), a).await.unwrap();
        assert_eq!(o.data["paused"], serde_json::json!([]));
        assert!(text(&o).starts_with("Paused 0 events for mission 'roof'"), "{}", text(&o));
        assert!(h.service.requests().is_empty(), "{:?}", h.service.lines());
    }
}
