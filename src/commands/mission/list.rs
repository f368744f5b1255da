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
