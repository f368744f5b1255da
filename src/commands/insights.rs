//! `clawdtalk insights get`.

use crate::api::insights;
use crate::cli::insights::{InsightsCommand, InsightsGetArgs};
use crate::error::Result;
use crate::output::Outcome;

use super::support::{check_ids, text};
use super::Context;

pub async fn run(ctx: &Context, cmd: InsightsCommand) -> Result<Outcome> {
    match cmd {
        InsightsCommand::Get(a) => get(ctx, a).await,
    }
}

/// `insights get CONV` → one `Insight: <result>` line per result of a
/// completed record; `--json` gives every record (completed or not).
pub async fn get(ctx: &Context, a: InsightsGetArgs) -> Result<Outcome> {
    check_ids(&[("CONVERSATION_ID", &a.conversation_id)])?;
    let records = insights::get(&ctx.client()?, &a.conversation_id).await?;
    let results = insights::completed_results(&records);
    let mut o = Outcome::data(&records);
    for r in &results {
        o = o.line(format!("Insight: {}", text(r)));
    }
    let pending = records.iter().filter(|i| !i.is_completed()).count();
    if results.is_empty() {
        o = o.note(format!("No completed insights yet ({pending} pending)"));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::Error;
    use crate::testing::{parse, text, Harness, Reply};

    fn args(conv: &str) -> InsightsCommand {
        match parse(&["insights", "get", conv]) {
            crate::cli::Command::Insights(c) => c,
            other => panic!("not an insights command: {other:?}"),
        }
    }

    #[tokio::test]
    async fn completed_results_are_shown_and_pending_ones_only_counted() {
        let h = Harness::start().await;
        h.service.on(
            "GET",
            "/v1/missions/conversations/c1/insights",
            vec![Reply::ok(json!({"data": [
                {"status": "completed", "conversation_insights": [{"result": "Quote: $400"}]},
                {"status": "in_progress", "conversation_insights": []},
            ]}))],
        );
        let o = run(&h.ctx(), args("c1")).await.unwrap();
        assert_eq!(h.service.single().line(), "GET /v1/missions/conversations/c1/insights");
        assert_eq!(text(&o), "Insight: Quote: $400\n");
        assert_eq!(o.data.as_array().map(Vec::len), Some(2));
        assert!(o.notes.is_empty());
    }

    #[tokio::test]
    async fn nothing_completed_says_how_many_are_pending() {
        let h = Harness::start().await;
        h.service.on(
            "GET",
            "/v1/missions/conversations/c1/insights",
            vec![Reply::ok(json!({"data": [{"status": "in_progress"}]}))],
        );
        let o = run(&h.ctx(), args("c1")).await.unwrap();
        assert_eq!(text(&o), "");
        assert_eq!(o.notes, vec!["No completed insights yet (1 pending)"]);
    }

    #[tokio::test]
    async fn an_unknown_conversation_is_an_api_error() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions/conversations/c1/insights", vec![Reply::error(404, "not found")]);
        let e = run(&h.ctx(), args("c1")).await.unwrap_err();
        assert!(matches!(e, Error::Api { status: 404, .. }), "{e:?}");
    }
}
