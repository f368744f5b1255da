//! `clawdtalk phone list|available|assign`.

use serde_json::{json, Value};

use crate::api::phones;
use crate::cli::phone::{PhoneAssignArgs, PhoneCommand};
use crate::error::Result;
use crate::output::{Outcome, Table};
use crate::validate;

use super::support::{check_ids, phone_status, reply_or};
use super::Context;

pub async fn run(ctx: &Context, cmd: PhoneCommand) -> Result<Outcome> {
    match cmd {
        PhoneCommand::List => list(ctx).await,
        PhoneCommand::Available => available(ctx).await,
        PhoneCommand::Assign(a) => assign(ctx, a).await,
    }
}

/// `phone list` → a table of numbers, each `available` or `assigned`.
pub async fn list(ctx: &Context) -> Result<Outcome> {
    let ps = phones::list(&ctx.client()?).await?;
    let mut t = Table::new(["ID", "NUMBER", "STATUS"]);
    for p in &ps {
        t.row([p.id.clone(), p.phone_number.clone(), phone_status(p.is_available()).to_string()]);
    }
    Ok(Outcome::data(&ps).table(t))
}

/// `phone available` → `Found available: <number>`; exit 1 when the account
/// has no free number (the user must buy a dedicated one).
pub async fn available(ctx: &Context) -> Result<Outcome> {
    Ok(match phones::available(&ctx.client()?).await? {
        Some(p) => {
            let line = format!("Found available: {}", p.phone_number);
            Outcome::data(&p).line(line)
        }
        None => Outcome::data(Value::Null)
            .note("ERROR: No available phone numbers found")
            .note("Buy a dedicated number for your ClawdTalk account, then try again.")
            .with_exit_code(1),
    })
}

/// `phone assign PID CONNECTION_ID [voice|sms]` → `Assigned phone number <pid>`.
pub async fn assign(ctx: &Context, a: PhoneAssignArgs) -> Result<Outcome> {
    check_ids(&[("PHONE_ID", &a.phone_id), ("CONNECTION_ID", &a.connection_id)])?;
    let kind = validate::word("TYPE", &a.kind, phones::ASSIGN_TYPES)?;
    let reply = phones::assign(&ctx.client()?, &a.phone_id, &a.connection_id, kind).await?;
    let data = reply_or(reply, json!({"id": a.phone_id, "connection_id": a.connection_id, "type": kind}));
    Ok(Outcome::data(data).line(format!("Assigned phone number {}", a.phone_id)))
}
