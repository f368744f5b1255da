//! `clawdtalk check-key [--live]`.

use serde_json::json;

use crate::api::missions;
use crate::cli::check_key::CheckKeyArgs;
use crate::error::Result;
use crate::output::Outcome;

use super::Context;

/// Print the key masked (`API key configured: cc_live_...abcd`, as
/// telnyx_api.py); with `--live`, prove it with one cheap request.
pub async fn run(ctx: &Context, a: CheckKeyArgs) -> Result<Outcome> {
    let key = ctx.config.require_key()?;
    let masked = key.masked();
    let source = ctx.config.api_key_source.clone().unwrap_or_default();
    let mut data = json!({"configured": true, "key": masked, "source": source, "api_url": ctx.config.api_url});
    let mut o = Outcome::default().line(format!("API key configured: {masked}"));
    if a.live {
        let client = ctx.client()?;
        missions::list(&client).await?;
        data["live"] = json!(true);
        o = o.line(format!("Key accepted by {}", ctx.config.api_url));
    }
    o.data = data;
    Ok(o)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::Error;
    use crate::testing::{text, Harness, Reply};

    #[tokio::test]
    async fn without_live_nothing_is_sent_and_the_key_is_masked() {
        let h = Harness::start().await;
        let o = run(&h.ctx(), CheckKeyArgs { live: false }).await.unwrap();
        assert!(h.service.requests().is_empty());
        let t = text(&o);
        assert!(t.starts_with("API key configured: cc_test_") && !t.contains("0123456789abcdef"), "{t}");
        assert_eq!(o.data["configured"], true);
        assert_eq!(o.data.get("live"), None);
    }

    #[tokio::test]
    async fn live_proves_the_key_with_one_mission_list() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions", vec![Reply::ok(json!({"data": []}))]);
        let o = run(&h.ctx(), CheckKeyArgs { live: true }).await.unwrap();
        let r = h.service.single();
        assert_eq!((r.line(), r.query.as_str()), ("GET /v1/missions".to_string(), "page[size]=20"));
        assert_eq!(o.data["live"], true);
        assert!(text(&o).contains(&format!("Key accepted by {}", h.service.api_url())));
    }

    #[tokio::test]
    async fn a_rejected_key_is_an_api_error() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/missions", vec![Reply::error(401, "invalid key")]);
        let e = run(&h.ctx(), CheckKeyArgs { live: true }).await.unwrap_err();
        assert!(matches!(e, Error::Api { status: 401, .. }), "{e:?}");
    }

    #[tokio::test]
    async fn no_key_is_a_configuration_error() {
        let h = Harness::start().await.without_keys();
        let e = run(&h.ctx(), CheckKeyArgs { live: true }).await.unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e:?}");
        assert!(h.service.requests().is_empty());
    }
}
