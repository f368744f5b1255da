//! `clawdtalk mission get ID`.

use crate::api::missions;
use crate::cli::mission::MissionGetArgs;
use crate::error::Result;
use crate::output::Outcome;

use super::Context;

/// `mission get ID` → the mission as pretty JSON.
pub async fn run(ctx: &Context, a: MissionGetArgs) -> Result<Outcome> {
    let client = ctx.client()?;
    Ok(Outcome::json(missions::get(&client, &a.mission_id).await?))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cli::mission::MissionCommand;
    use crate::error::Error;
    use crate::testing::{text, Harness, Reply};

    fn args(words: &[&str]) -> MissionGetArgs {
        match super::super::parse_mission(&[&["get"], words].concat()) {
            MissionCommand::Get(a) => a,
            other => panic!("not mission get: {other:?}"),
        }
    }

    #[tokio::test]
    async fn get_fetches_the_encoded_id_and_shows_the_mission_as_json() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions/m%2F1", vec![Reply::ok(json!({"data": {"id": "m/1", "name": "Roof"}}))]);
        let o = run(&h.ctx(), args(&["m/1"])).await.unwrap();
        assert_eq!(h.service.single().line(), "GET /v1/missions/m%2F1");
        assert_eq!(o.data["name"], "Roof");
        let t = text(&o);
        assert!(t.contains("\"name\": \"Roof\""), "{t}");
    }

    #[tokio::test]
    async fn a_dot_id_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e = run(&h.ctx(), args(&[".."])).await.unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        assert_eq!(e.exit_code(), 2);
        assert!(h.service.requests().is_empty());
    }

    #[tokio::test]
    async fn an_unknown_mission_is_the_services_404() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions/nope", vec![Reply::error(404, "mission not found")]);
        let e = run(&h.ctx(), args(&["nope"])).await.unwrap_err();
        assert!(matches!(e, Error::Api { status: 404, .. }), "{e:?}");
        assert_eq!(e.exit_code(), 1);
    }
}
