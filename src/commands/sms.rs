//! `clawdtalk sms send|list|conversations`.

use serde_json::{json, Value};

use crate::api::messages;
use crate::api::models::{Message, MessageQuery};
use crate::cli::sms::{SmsCommand, SmsListArgs, SmsSendArgs};
use crate::error::{Error, Result};
use crate::journal::{Entry, Kind};
use crate::output::{counted, Outcome, Table};
use crate::redact::sanitize_for_terminal;
use crate::validate;

use super::Context;

pub async fn run(ctx: &Context, cmd: SmsCommand) -> Result<Outcome> {
    match cmd {
        SmsCommand::Send(a) => send(ctx, a).await,
        SmsCommand::List(a) => list(ctx, a).await,
        SmsCommand::Conversations => conversations(ctx).await,
    }
}

/// `sms send TO MESSAGE [--media URL]...`: prints what the original `sms.sh` printed.
pub async fn send(ctx: &Context, a: SmsSendArgs) -> Result<Outcome> {
    validate::phone("TO", &a.to)?;
    if a.message.trim().is_empty() {
        return Err(Error::usage("MESSAGE must not be empty"));
    }
    for m in &a.media {
        match url::Url::parse(m) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            _ => return Err(Error::usage(format!("--media {m:?} is not an http(s) URL"))),
        }
    }
    // The one outbound gate (docs/optout.md): never to an opted-out number.
    let to = ctx.outbound("TO", &a.to).await?;
    let client = ctx.client()?;
    let sent = messages::send(&client, &to, &a.message, &a.media).await?;
    let entry = Entry::new(Kind::Sms, "sms.sent").to(&to).text(&a.message);
    ctx.record(match &sent.id {
        Some(id) => entry.id(id),
        None => entry,
    })
    .await;
    let unknown = || "unknown".to_string();
    Ok(Outcome::data(&sent)
        .line("✓ Message sent")
        .line(format!("  ID: {}", sent.id.clone().unwrap_or_else(unknown)))
        .line(format!("  From: {}", sent.from.clone().unwrap_or_else(unknown)))
        .line(format!("  To: {to}")))
}

/// `Total: 1 message`, `Total: 57 messages`.
fn total_line(total: u64) -> String {
    format!("Total: {}", counted(usize::try_from(total).unwrap_or(usize::MAX), "message", "messages"))
}

/// `sms list`: a table (direction arrow, date, number, first 60 characters)
/// and the total the service reports.
pub async fn list(ctx: &Context, a: SmsListArgs) -> Result<Outcome> {
    let contact = match &a.contact {
        Some(c) => Some(validate::phone("--contact", c)?),
        None => None,
    };
    let q = MessageQuery { limit: a.limit, contact, direction: a.direction.map(|d| d.as_str().to_string()) };
    let client = ctx.client()?;
    let page = messages::list(&client, &q).await?;
    let total = page.total.unwrap_or(page.messages.len() as u64);
    let data = json!({"messages": page.messages, "total": total});
    if page.messages.is_empty() {
        return Ok(Outcome::data(data).line("No messages.").line(total_line(total)));
    }
    let mut t = Table::new(["", "DATE", "NUMBER", "MESSAGE"]);
    for m in &page.messages {
        t.row(message_row(m));
    }
    Ok(Outcome::data(data).table(t).line(String::new()).line(total_line(total)))
}

/// One table row: `←` inbound (shows the sender), `→` outbound (shows the recipient).
/// Inbound text is anyone's: every cell is escaped for the terminal.
pub fn message_row(m: &Message) -> [String; 4] {
    let inbound = m.direction.as_deref() == Some("inbound");
    let arrow = if inbound { "←" } else { "→" };
    let date = m.created_at.as_deref().map(|d| d.split('T').next().unwrap_or(d)).unwrap_or("").to_string();
    let number = if inbound { &m.from } else { &m.to };
    let number = number.clone().unwrap_or_default();
    [arrow.to_string(), date, number, excerpt(m.body.as_deref().unwrap_or(""), 60)].map(|c| sanitize_for_terminal(&c))
}

/// The first `n` characters on one line, with `...` when cut.
pub fn excerpt(text: &str, n: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= n {
        one_line
    } else {
        format!("{}...", one_line.chars().take(n).collect::<String>())
    }
}

/// `sms conversations`: one row per thread.
pub async fn conversations(ctx: &Context) -> Result<Outcome> {
    let client = ctx.client()?;
    let convs = messages::conversations(&client).await?;
    if convs.is_empty() {
        return Ok(Outcome::data(&convs).line("No conversations."));
    }
    let mut t = Table::new(["CONTACT", "LAST MESSAGE"]);
    for c in &convs {
        // `last_message` is text; tolerate an object carrying `body`.
        let last = match &c.last_message {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.get("body").and_then(Value::as_str).unwrap_or_default().to_string(),
            None => String::new(),
        };
        t.row([c.contact.clone().unwrap_or_default(), excerpt(&last, 50)].map(|c| sanitize_for_terminal(&c)));
    }
    Ok(Outcome::data(&convs).table(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_arrow_date_counterpart_and_excerpt() {
        let m = Message {
            direction: Some("inbound".into()),
            created_at: Some("2026-03-01T10:00:00Z".into()),
            from: Some("+15551112222".into()),
            to: Some("+15553334444".into()),
            body: Some("x".repeat(70)),
            ..Default::default()
        };
        let r = message_row(&m);
        assert_eq!(r[0], "←");
        assert_eq!(r[1], "2026-03-01");
        assert_eq!(r[2], "+15551112222");
        assert_eq!(r[3], format!("{}...", "x".repeat(60)));
        let out = Message { direction: Some("outbound".into()), ..m };
        assert_eq!(message_row(&out)[2], "+15553334444");
    }

    #[test]
    fn excerpt_keeps_one_line() {
        assert_eq!(excerpt("a\nb", 60), "a b");
    }
}

#[cfg(test)]
mod service_tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{parse, text, Harness, Reply};

    fn cmd(args: &[&str]) -> SmsCommand {
        match parse(&[&["sms"], args].concat()) {
            crate::cli::Command::Sms(c) => c,
            other => panic!("not an sms command: {other:?}"),
        }
    }

    #[tokio::test]
    async fn send_posts_number_text_and_media() {
        let h = Harness::start().await;
        h.service.on(
            "POST",
            "/v1/messages/send",
            vec![Reply::ok(json!({"message": {"id": "msg_1", "from": "+15550000000"}}))],
        );
        let o =
            run(&h.ctx(), cmd(&["send", "+15551234567", "See you", "--media", "https://x.test/a.png"])).await.unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "POST /v1/messages/send");
        assert_eq!(
            r.json(),
            json!({"to": "+15551234567", "message": "See you", "media_urls": ["https://x.test/a.png"]})
        );
        assert_eq!(text(&o), "✓ Message sent\n  ID: msg_1\n  From: +15550000000\n  To: +15551234567\n");
        let j = h.journal();
        assert_eq!(j.len(), 1, "one journal event per message sent");
        assert_eq!(
            (j[0].entry.event.as_str(), j[0].entry.to.as_deref(), j[0].entry.id.as_deref(), j[0].entry.text.as_deref()),
            ("sms.sent", Some("+1 ***4567"), Some("msg_1"), Some("See you"))
        );
    }

    #[tokio::test]
    async fn list_sends_the_filters_as_query_and_shows_the_total() {
        let h = Harness::start().await;
        h.service.on(
            "GET",
            "/v1/messages",
            vec![Reply::ok(json!({
                "messages": [{"direction": "inbound", "from": "+15551112222", "body": "hello", "created_at": "2026-01-01T10:00:00Z"}],
                "pagination": {"total": 7},
            }))],
        );
        let o = run(&h.ctx(), cmd(&["list", "--limit", "5", "--contact", "+15551112222", "--direction", "inbound"]))
            .await
            .unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "GET /v1/messages");
        assert_eq!(
            r.query_pairs(),
            vec![
                ("limit".into(), "5".into()),
                ("contact".into(), "+15551112222".into()),
                ("direction".into(), "inbound".into())
            ]
        );
        let t = text(&o);
        assert!(t.contains("2026-01-01") && t.contains("hello") && t.ends_with("Total: 7 messages\n"), "{t}");
        assert_eq!(o.data["total"], 7);
    }

    #[tokio::test]
    async fn no_conversations_says_so() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/messages/conversations", vec![Reply::ok(json!({"conversations": []}))]);
        let o = run(&h.ctx(), cmd(&["conversations"])).await.unwrap();
        assert_eq!(h.service.single().line(), "GET /v1/messages/conversations");
        assert_eq!(text(&o), "No conversations.\n");
    }

    #[tokio::test]
    async fn a_media_link_that_is_not_http_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e = run(&h.ctx(), cmd(&["send", "+15551234567", "hi", "--media", "file:///etc/passwd"])).await.unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        assert!(h.service.requests().is_empty());
    }

    #[tokio::test]
    async fn an_error_document_in_a_2xx_reply_is_a_failure() {
        let h = Harness::start().await;
        h.service.on("POST", "/v1/messages/send", vec![Reply::ok(json!({"error": {"message": "no sms number"}}))]);
        let e = run(&h.ctx(), cmd(&["send", "+15551234567", "hi"])).await.unwrap_err();
        assert!(matches!(&e, Error::Failed(m) if m.contains("no sms number")), "{e:?}");
    }
}
