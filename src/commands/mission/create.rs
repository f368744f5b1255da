//! `clawdtalk mission create NAME INSTRUCTIONS`.

use crate::api::missions;
use crate::cli::mission::MissionCreateArgs;
use crate::error::Result;
use crate::output::Outcome;

use super::Context;

/// `mission create NAME INSTRUCTIONS` → `Created mission: <id>`.
pub async fn run(ctx: &Context, a: MissionCreateArgs) -> Result<Outcome> {
    let client = ctx.client()?;
    let m = missions::create(&client, &a.name, &a.instructions).await?;
    let line = format!("Created mission: {}", m.id);
    Ok(Outcome::data(&m).line(line))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cli::mission::MissionCommand;
    use crate::error::Error;
    use crate::testing::{text, Harness, Reply};

    fn args(words: &[&str]) -> MissionCreateArgs {
        match super::super::parse_mission(&[&["create"], words].concat()) {
            MissionCommand::Create(a) => a,
            other => panic!("not mission create: {other:?}"),
        }
    }

    #[tokio::test]
    async fn create_posts_name_and_instructions_and_names_the_new_mission() {
        let h = Harness::start().await;
        h.service.on("POST", "/v1/missions", vec![Reply::ok(json!({"data": {"id": "m1", "name": "Roof"}}))]);
        let o = run(&h.ctx(), args(&["Roof", "Find a roofer in Köln"])).await.unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "POST /v1/missions");
        assert_eq!(r.json(), json!({"name": "Roof", "instructions": "Find a roofer in Köln"}));
        assert_eq!(text(&o), "Created mission: m1\n");
        assert_eq!(o.data["id"], "m1");
        assert_eq!(o.exit_code, 0);
    }

    #[tokio::test]
    async fn a_refused_create_is_a_service_error_sent_once() {
        let h = Harness::start().await;
        h.service.on("POST", "/v1/missions", vec![Reply::error(422, "name taken")]);
        let e = run(&h.ctx(), args(&["Roof", "x"])).await.unwrap_err();
        assert!(matches!(&e, Error::Api { status: 422, message, .. } if message.contains("name taken")), "{e:?}");
        assert_eq!(e.exit_code(), 1);
        // A POST that the service refused is not repeated.
        assert_eq!(h.service.lines(), ["POST /v1/missions"]);
    }

    #[tokio::test]
    async fn without_a_key_nothing_is_sent() {
        let h = Harness::start().await.without_keys();
        let e = run(&h.ctx(), args(&["Roof", "x"])).await.unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e:?}");
        assert!(h.service.requests().is_empty());
    }
}
