//! `clawdtalk optout add|remove|list`: the opt-out list (docs/optout.md).
//! The list itself lives in [`crate::state::optout`].

use serde_json::json;

use crate::cli::optout::{OptoutAddArgs, OptoutCommand, OptoutNumberArg};
use crate::error::{Error, Result};
use crate::journal::{Entry, Kind};
use crate::output::{Outcome, Table};
use crate::redact::sanitize_for_terminal;
use crate::state::optout::{OptOut, OptOutList, SOURCE_CLI};
use crate::task::blocking;
use crate::validate;

use super::Context;

pub async fn run(ctx: &Context, cmd: OptoutCommand) -> Result<Outcome> {
    match cmd {
        OptoutCommand::Add(a) => add(ctx, a).await,
        OptoutCommand::Remove(a) => remove(ctx, a).await,
        OptoutCommand::List => list(ctx).await,
    }
}

/// The list of this context's data directory (a configuration error
/// without a home directory).
fn list_of(ctx: &Context) -> Result<OptOutList> {
    ctx.data_dir
        .as_deref()
        .map(OptOutList::in_dir)
        .ok_or_else(|| Error::config("cannot find the user data directory for the opt-out list (set HOME)"))
}

/// `optout add NUMBER [--reason R]`.
pub async fn add(ctx: &Context, a: OptoutAddArgs) -> Result<Outcome> {
    let number = validate::phone("NUMBER", &a.number)?;
    let list = list_of(ctx)?;
    let entry = OptOut::new(&number, a.reason.as_deref().unwrap_or_default(), SOURCE_CLI, ctx.now());
    let (added, kept) = blocking(move || {
        let added = list.add(entry)?;
        Ok((added, list.find(&number)?))
    })
    .await?;
    let kept = kept.ok_or_else(|| Error::file("the opt-out list changed while it was written; run it again"))?;
    if added {
        ctx.record(Entry::new(Kind::Optout, "optout.added").to(&kept.number).status(SOURCE_CLI)).await;
    }
    let line = if added {
        format!("Opted out: {} (nothing calls or texts it again)", kept.number)
    } else {
        format!("Already opted out: {} (since {}, {})", kept.number, kept.at, kept.source)
    };
    Ok(Outcome::data(json!({"number": kept.number, "added": added, "entry": kept})).line(line))
}

/// `optout remove NUMBER`.
pub async fn remove(ctx: &Context, a: OptoutNumberArg) -> Result<Outcome> {
    let number = validate::phone("NUMBER", &a.number)?;
    let list = list_of(ctx)?;
    let n = number.clone();
    let removed = blocking(move || list.remove(&n)).await?;
    let data = json!({"number": number, "removed": removed.is_some()});
    match removed {
        Some(_) => {
            ctx.record(Entry::new(Kind::Optout, "optout.removed").to(&number)).await;
            Ok(Outcome::data(data).line(format!("Removed from the opt-out list: {number}")))
        }
        None => Ok(Outcome::data(data).line(format!("Not on the opt-out list: {number}"))),
    }
}

/// `optout list`: one row per number.
pub async fn list(ctx: &Context) -> Result<Outcome> {
    let Some(dir) = ctx.data_dir.clone() else {
        return Ok(Outcome::data(json!([])).note("no user data directory, so no opt-out list"));
    };
    let all = blocking(move || OptOutList::in_dir(&dir).read()).await?;
    let entries: Vec<&OptOut> = all.values().collect();
    if entries.is_empty() {
        return Ok(Outcome::data(&entries).line("No opted-out numbers."));
    }
    let mut t = Table::new(["NUMBER", "SOURCE", "SINCE", "REASON"]);
    for o in &entries {
        let cell = |s: &str| sanitize_for_terminal(s);
        t.row([cell(&o.number), cell(&o.source), cell(&o.at), cell(&o.reason)]);
    }
    Ok(Outcome::data(&entries).table(t))
}

#[cfg(test)]
mod tests {
    use crate::commands::Context;
    use crate::output::Outcome;
    use crate::testing::{parse, text, Harness};

    /// `clawdtalk ARGS` through the dispatcher.
    async fn run(ctx: &Context, args: crate::cli::Command) -> crate::Result<Outcome> {
        crate::commands::run(ctx, args).await
    }

    #[tokio::test]
    async fn add_list_remove_round_trip_with_the_journal() {
        let h = Harness::start().await;
        let ctx = h.ctx();
        let o = run(&ctx, parse(&["optout", "add", "+15005550006", "--reason", "asked\x1b[2J"])).await.unwrap();
        assert!(text(&o).contains("Opted out: +15005550006"), "{}", text(&o));
        let again = run(&ctx, parse(&["optout", "add", "+15005550006"])).await.unwrap();
        assert_eq!(again.data["added"], false);
        let l = run(&ctx, parse(&["optout", "list"])).await.unwrap();
        assert_eq!(l.data[0]["number"], "+15005550006");
        assert_eq!(l.data[0]["source"], "cli");
        assert!(text(&l).contains("asked\\x1b[2J"), "reasons are escaped for the terminal: {}", text(&l));
        let r = run(&ctx, parse(&["optout", "remove", "+15005550006"])).await.unwrap();
        assert_eq!(r.data["removed"], true);
        let l = run(&ctx, parse(&["optout", "list"])).await.unwrap();
        assert_eq!(l.data, serde_json::json!([]));
        let events: Vec<String> = h.journal().iter().map(|r| r.entry.event.clone()).collect();
        assert_eq!(events, ["optout.added", "optout.removed"]);
        assert!(h.service.requests().is_empty(), "nothing is sent");
    }

    #[tokio::test]
    async fn a_bad_number_is_refused_with_exit_2() {
        let h = Harness::start().await;
        let e = run(&h.ctx(), parse(&["optout", "add", "911"])).await.unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[tokio::test]
    async fn every_outbound_command_refuses_an_opted_out_number_and_sends_nothing() {
        const N: &str = "+15005550006";
        let h = Harness::start().await;
        let ctx = h.ctx();
        run(&ctx, parse(&["optout", "add", N])).await.unwrap();
        let paths: [&[&str]; 5] = [
            &["call", "--to", N],
            &["sms", "send", N, "hello"],
            &["schedule", "call", "--assistant", "ast_1", "--to", N, "--from", "+15005550001", "--at", "+5m"],
            &[
                "schedule",
                "sms",
                "--assistant",
                "ast_1",
                "--to",
                N,
                "--from",
                "+15005550001",
                "--at",
                "+5m",
                "--text",
                "hi",
            ],
            &["agentphone", "call", "--to", N, "--objective", "ask for a quote"],
        ];
        for args in paths {
            let e = run(&ctx, parse(args)).await.expect_err(&format!("{args:?} must be refused"));
            assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
            assert!(e.to_string().contains("has opted out"), "{args:?}: {e}");
        }
        assert!(h.service.requests().is_empty(), "nothing sent: {:?}", h.service.lines());
        // Another number still goes through the same paths.
        h.service.on("POST", "/v1/messages/send", vec![crate::testing::Reply::ok(serde_json::json!({"id": "msg_1"}))]);
        run(&ctx, parse(&["sms", "send", "+15005550007", "hello"])).await.unwrap();
        assert_eq!(h.service.requests().len(), 1);
    }
}
