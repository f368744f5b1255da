//! `clawdtalk mission list`.

use crate::api::missions;
use crate::error::Result;
use crate::output::{counted, Outcome, Table};

use super::Context;

/// `mission list` → a table of ids and names (the legacy `list-missions`
/// prints `id: name` lines from the same outcome's data).
pub async fn run(ctx: &Context) -> Result<Outcome> {
    let client = ctx.client()?;
    let ms = missions::list(&client).await?;
    let mut t = Table::new(["ID", "NAME"]);
    for m in &ms {
        t.row([m.id.clone(), m.name.clone().unwrap_or_else(|| "unnamed".into())]);
    }
    let total = ms.len();
    Ok(Outcome::data(&ms).table(t).note(counted(total, "mission", "missions")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::Error;
    use crate::testing::{text, Harness, Reply};

    #[tokio::test]
    async fn list_asks_for_one_page_and_shows_ids_and_names() {
        let h = Harness::start().await;
        h.service.on(
            "GET",
            "/v1/missions",
            vec![Reply::ok(json!({"data": [{"id": "m1", "name": "Roof"}, {"id": "m2"}]}))],
        );
        let o = run(&h.ctx()).await.unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "GET /v1/missions");
        assert_eq!(r.query_pairs(), [("page[size]".to_string(), "20".to_string())]);
        let t = text(&o);
        assert!(t.contains("m1") && t.contains("Roof"), "{t}");
        assert!(t.contains("m2") && t.contains("unnamed"), "{t}");
        assert_eq!(o.notes, ["2 missions"]);
    }

    #[tokio::test]
    async fn a_service_that_stays_down_is_retried_then_reported() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions", vec![Reply::error(503, "down")]);
        let e = run(&h.ctx()).await.unwrap_err();
        assert!(matches!(e, Error::Api { status: 503, .. }), "{e:?}");
        assert_eq!(h.service.lines(), vec!["GET /v1/missions"; 3]);
    }
}
