//! `clawdtalk forget NUMBER`: the number erased from every mission in the
//! state file ([`crate::state::forget`]) and from the journal
//! ([`crate::journal::forget`]), replaced by its masked form. The opt-out
//! list keeps its entry (docs/optout.md#forgetting-a-number).

use serde_json::json;

use crate::cli::forget::ForgetArgs;
use crate::config::mask_phone;
use crate::error::{Error, Result};
use crate::journal::forget::JournalErased;
use crate::journal::{Entry, Kind};
use crate::output::{counted, Outcome};
use crate::state::forget::{forget_number, StateErased};
use crate::state::optout::OptOutList;
use crate::task::blocking;
use crate::validate;

use super::Context;

pub async fn run(ctx: &Context, a: ForgetArgs) -> Result<Outcome> {
    let number = validate::phone("NUMBER", &a.number)?;
    let masked = mask_phone(&number);
    // The state first: it refuses while poll still follows the number.
    let store = ctx.state()?;
    let mut preview = store.read_async().await?;
    let state = match forget_number(&mut preview, &number, &masked)? {
        StateErased { values: 0, .. } => StateErased::default(),
        _ => {
            let (n, m) = (number.clone(), masked.clone());
            store.update_async(move |st| forget_number(st, &n, &m)).await?
        }
    };
    let journal = match ctx.journal.clone() {
        Some(j) => {
            let (n, m) = (number.clone(), masked.clone());
            blocking(move || {
                j.forget(&n, &m)
                    .map_err(|e| Error::file(format!("cannot rewrite the journal {}: {e}", j.path().display())))
            })
            .await?
        }
        None => JournalErased::default(),
    };
    let opted_out = match ctx.data_dir.clone() {
        Some(dir) => {
            let n = number.clone();
            blocking(move || OptOutList::in_dir(&dir).find(&n)).await?.is_some()
        }
        None => false,
    };
    let summary = format!(
        "{} in {}; {} removed, {} masked",
        counted(state.values, "value", "values"),
        counted(state.missions, "mission", "missions"),
        counted(journal.lines_removed, "journal line", "journal lines"),
        counted(journal.values_masked, "other value", "other values")
    );
    ctx.record(Entry::new(Kind::Optout, "optout.forgot").text(&format!("a number was forgotten: {summary}"))).await;
    let list_note = if opted_out {
        "The opt-out list keeps its entry: nothing calls or texts it again."
    } else {
        "It is not on the opt-out list: `clawdtalk optout add` keeps it from being called or texted again."
    };
    Ok(Outcome::data(json!({"number": masked, "state": state, "journal": journal, "opted_out": opted_out}))
        .line(format!("Forgot {masked}: {summary}."))
        .line(list_note))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::commands::Context;
    use crate::output::Outcome;
    use crate::testing::{parse, text, Harness};

    async fn run(ctx: &Context, args: &[&str]) -> crate::Result<Outcome> {
        crate::commands::run(ctx, parse(args)).await
    }

    #[tokio::test]
    async fn forget_erases_the_number_from_state_and_journal_reports_counts_and_keeps_others() {
        let h = Harness::start().await;
        h.seed(
            "roof",
            json!({"mission_id": "m1", "memory": {
                "scheduled_events": [{"event_id": "e1", "to": "+15005550006", "status": "completed", "settled": true},
                                     {"event_id": "e2", "to": "+15005550004", "status": "completed", "settled": true}],
                "notes": "Bob: +15005550006"}}),
        );
        let ctx = h.ctx();
        run(&ctx, &["optout", "add", "+15005550006"]).await.unwrap();
        h.ctx().journal.unwrap().append(
            crate::journal::Entry::new(crate::journal::Kind::Sms, "sms.received").from("+15005550004").text("hi"),
        );
        let o = run(&ctx, &["forget", "+15005550006"]).await.unwrap();
        assert_eq!(o.data["state"], json!({"missions": 1, "values": 2}));
        assert_eq!(o.data["journal"]["lines_removed"], 1, "the optout.added line: {:?}", o.data);
        assert_eq!(o.data["opted_out"], true);
        assert!(text(&o).contains("Forgot +1 ***0006: 2 values in 1 mission; 1 journal line removed"), "{}", text(&o));
        let state = std::fs::read_to_string(h.state_path()).unwrap();
        assert!(!state.contains("5005550006") && state.contains("+15005550004"), "{state}");
        let journal = std::fs::read_to_string(h.journal_path()).unwrap();
        assert!(!journal.contains("***0006\"") && journal.contains("+1 ***0004"), "{journal}");
        let list = run(&ctx, &["optout", "list"]).await.unwrap();
        assert_eq!(list.data[0]["number"], "+15005550006", "the list keeps what it needs to keep refusing");
        assert!(h.service.requests().is_empty());
    }

    #[tokio::test]
    async fn forget_refuses_a_number_poll_still_follows() {
        let h = Harness::start().await;
        h.seed(
            "roof",
            json!({"memory": {"scheduled_events": [{"event_id": "e1", "to": "+15005550006", "status": "pending"}]}}),
        );
        let e = run(&h.ctx(), &["forget", "+15005550006"]).await.unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(std::fs::read_to_string(h.state_path()).unwrap().contains("+15005550006"));
    }
}
