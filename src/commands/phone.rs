//! `clawdtalk phone list|available|assign`.

use serde_json::{json, Value};

use crate::api::phones;
use crate::cli::phone::{PhoneAssignArgs, PhoneCommand, PhoneListArgs};
use crate::error::Result;
use crate::output::{Outcome, Table};
use crate::validate;

use super::support::{check_ids, phone_status, reply_or};
use super::Context;

pub async fn run(ctx: &Context, cmd: PhoneCommand) -> Result<Outcome> {
    match cmd {
        PhoneCommand::List(a) => list(ctx, a).await,
        PhoneCommand::Available => available(ctx).await,
        PhoneCommand::Assign(a) => assign(ctx, a).await,
    }
}

/// `phone list [--available]` → a table of numbers, each `available` or
/// `assigned` (only the available ones with `--available`).
pub async fn list(ctx: &Context, a: PhoneListArgs) -> Result<Outcome> {
    let mut ps = phones::list(&ctx.client()?).await?;
    if a.available {
        ps.retain(|p| p.is_available());
    }
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::Error;
    use crate::testing::{parse, text, Harness, Reply};

    fn cmd(args: &[&str]) -> PhoneCommand {
        match parse(&[&["phone"], args].concat()) {
            crate::cli::Command::Phone(c) => c,
            other => panic!("not a phone command: {other:?}"),
        }
    }

    #[tokio::test]
    async fn list_marks_each_number_available_or_assigned() {
        let h = Harness::start().await;
        h.service.on(
            "GET",
            "/v1/numbers/account-phones",
            vec![Reply::ok(json!({"data": [
                {"id": "p1", "phone_number": "+15550000001"},
                {"id": "p2", "phone_number": "+15550000002", "connection_id": "conn_1"},
            ]}))],
        );
        let o = run(&h.ctx(), cmd(&["list"])).await.unwrap();
        assert_eq!(h.service.single().line(), "GET /v1/numbers/account-phones");
        let t = text(&o);
        let line = |id: &str| t.lines().find(|l| l.starts_with(id)).unwrap_or_default().to_string();
        assert!(line("p1").ends_with("available") && line("p2").ends_with("assigned"), "{t}");
    }

    #[tokio::test]
    async fn available_names_the_free_number() {
        let h = Harness::start().await;
        h.service.on(
            "GET",
            "/v1/numbers/account-phones/available",
            vec![Reply::ok(json!({"phone": {"id": "p1", "phone_number": "+15550000001"}}))],
        );
        let o = run(&h.ctx(), cmd(&["available"])).await.unwrap();
        assert_eq!((text(&o).as_str(), o.exit_code), ("Found available: +15550000001\n", 0));
    }

    #[tokio::test]
    async fn no_free_number_exits_1_with_what_to_do() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/numbers/account-phones/available", vec![Reply::ok(json!({"phone": null}))]);
        let o = run(&h.ctx(), cmd(&["available"])).await.unwrap();
        assert_eq!(o.exit_code, 1);
        assert!(o.notes.iter().any(|n| n.contains("Buy a dedicated number")), "{:?}", o.notes);
    }

    #[tokio::test]
    async fn assign_patches_connection_and_type() {
        let h = Harness::start().await;
        let o = run(&h.ctx(), cmd(&["assign", "p1", "conn_1", "sms"])).await.unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "PATCH /v1/numbers/account-phones/p1");
        assert_eq!(r.json(), json!({"connection_id": "conn_1", "type": "sms"}));
        assert_eq!(text(&o), "Assigned phone number p1\n");
    }

    #[tokio::test]
    async fn an_unknown_type_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e = run(&h.ctx(), cmd(&["assign", "p1", "conn_1", "fax"])).await.unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        assert!(h.service.requests().is_empty());
    }
}
