//! `clawdtalk mission pause SLUG` (docs/campaigns.md#pause-and-resume).

use crate::campaign::control::{pause, LOCK_WAIT};
use crate::campaign::report::pause_journal_entry;
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
    if let Some(e) = pause_journal_entry(&r.slug, r.paused.len()) {
        ctx.record(e).await;
    }
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
    use serde_json::json;

    use super::*;
    use crate::cli::mission::MissionCommand;
    use crate::testing::{text, Harness, Reply};

    fn args(words: &[&str]) -> MissionPauseArgs {
        match super::super::parse_mission(&[&["pause"], words].concat()) {
            MissionCommand::Pause(a) => a,
            other => panic!("not mission pause: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_pending_event_is_cancelled_and_paused_and_pausing_again_sends_nothing() {
        let h = Harness::start().await;
        super::super::seed_roof(&h);
        h.service.on(
            "GET",
            "/v1/assistants/a1/events/e1",
            vec![Reply::ok(json!({"data": {"id": "e1", "status": "pending"}}))],
        );
        let o = run(&h.ctx(), args(&["roof"])).await.unwrap();
        assert_eq!(h.service.lines(), ["GET /v1/assistants/a1/events/e1", "DELETE /v1/assistants/a1/events/e1"]);
        assert_eq!(o.data, json!({"slug": "roof", "paused": ["e1"], "already_paused": 0, "under_way": []}));
        assert!(text(&o).starts_with("Paused 1 event for mission 'roof'"), "{}", text(&o));
        let st = h.state();
        let m = st.mission("roof").unwrap();
        assert!(m.scheduled_events()[0].paused);
        let again = run(&h.ctx(), args(&["roof"])).await.unwrap();
        assert_eq!(again.data["already_paused"], 1);
        assert_eq!(h.service.requests().len(), 2, "nothing more sent: {:?}", h.service.lines());
        let journal: Vec<(String, Option<String>)> =
            h.journal().into_iter().map(|r| (r.entry.event, r.entry.text)).collect();
        assert_eq!(journal, [("campaign.paused".to_string(), Some("1 event paused".to_string()))], "once, not again");
    }

    #[tokio::test]
    async fn an_archived_or_unknown_mission_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e = run(&h.ctx(), args(&["nope"])).await.unwrap_err();
        assert_eq!(e.exit_code(), 2, "{e:?}");
        assert!(h.service.requests().is_empty());
    }
}
