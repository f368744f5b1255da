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
