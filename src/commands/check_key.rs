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
