//! `clawdtalk assistant create|list|get|update|connection-id`.

use serde_json::json;

use crate::api::assistants::{self, FEATURES};
use crate::cli::assistant::{
    AssistantCommand, AssistantCreateArgs, AssistantIdentity, AssistantListArgs, AssistantRef, AssistantSpec,
    AssistantUpdateArgs, ConnectionIdArgs,
};
use crate::error::{Error, Result};
use crate::ledger::AssistantRequest;
use crate::output::{Outcome, Table};
use crate::validate;

use super::support::{check_ids, reply_or};
use super::Context;

pub async fn run(ctx: &Context, cmd: AssistantCommand) -> Result<Outcome> {
    match cmd {
        AssistantCommand::Create(a) => create(ctx, a).await,
        AssistantCommand::List(a) => list(ctx, a).await,
        AssistantCommand::Get(a) => get(ctx, a).await,
        AssistantCommand::Update(a) => update(ctx, a).await,
        AssistantCommand::ConnectionId(a) => connection_id(ctx, a).await,
    }
}

impl From<AssistantCreateArgs> for AssistantRequest {
    fn from(a: AssistantCreateArgs) -> Self {
        let AssistantIdentity { name, instructions, greeting } = a.identity;
        AssistantRequest {
            name,
            instructions,
            greeting,
            model: a.model,
            voice: a.voice,
            features: a.features,
            tools: a.tools,
            description: a.description,
            options: a.options,
        }
    }
}

impl From<AssistantSpec> for AssistantRequest {
    fn from(a: AssistantSpec) -> Self {
        let AssistantIdentity { name, instructions, greeting } = a.identity;
        AssistantRequest { name, instructions, greeting, options: a.options_json, ..AssistantRequest::default() }
    }
}

/// `assistant create NAME INSTRUCTIONS [GREETING] [flags]` → `Created assistant: <id>`.
pub async fn create(ctx: &Context, a: AssistantCreateArgs) -> Result<Outcome> {
    let n = AssistantRequest::from(a).prepare()?;
    let created = assistants::create(&ctx.client()?, &n).await?;
    let line = format!("Created assistant: {}", created.id);
    Ok(Outcome::data(&created).line(line))
}

/// `assistant list [--name] [--page] [--size]` → a table, paging on stderr.
pub async fn list(ctx: &Context, a: AssistantListArgs) -> Result<Outcome> {
    if a.page == 0 || a.size == 0 {
        return Err(Error::usage("--page and --size start at 1"));
    }
    let page = assistants::list(&ctx.client()?, a.size, a.page, a.name.as_deref()).await?;
    let mut t = Table::new(["ID", "NAME", "MODEL", "FEATURES"]);
    for x in &page.assistants {
        t.row([
            x.id.clone(),
            x.name.clone().unwrap_or_else(|| "unnamed".into()),
            x.model.clone().unwrap_or_default(),
            x.enabled_features.join(","),
        ]);
    }
    let note = format!("Page {}/{} ({} total)", page.page, page.total_pages, page.total);
    Ok(Outcome::data(&page.assistants).table(t).note(note))
}

/// `assistant get AID` → the assistant as pretty JSON.
pub async fn get(ctx: &Context, a: AssistantRef) -> Result<Outcome> {
    check_ids(&[("ASSISTANT_ID", &a.assistant_id)])?;
    Ok(Outcome::json(assistants::get(&ctx.client()?, &a.assistant_id).await?))
}

/// `assistant update AID UPDATES_JSON` → `Updated assistant <aid>`.
pub async fn update(ctx: &Context, a: AssistantUpdateArgs) -> Result<Outcome> {
    check_ids(&[("ASSISTANT_ID", &a.assistant_id)])?;
    let updates = validate::json_object_arg("UPDATES_JSON", &a.updates_json)?;
    let reply = assistants::update(&ctx.client()?, &a.assistant_id, &updates).await?;
    let data = reply_or(reply, json!({"id": a.assistant_id}));
    Ok(Outcome::data(data).line(format!("Updated assistant {}", a.assistant_id)))
}

/// `assistant connection-id AID [telephony|messaging]` → `Connection ID: <id>`;
/// exit 1 with `No connection ID found for <feature>` when there is none.
pub async fn connection_id(ctx: &Context, a: ConnectionIdArgs) -> Result<Outcome> {
    check_ids(&[("ASSISTANT_ID", &a.assistant_id)])?;
    let feature = validate::word("FEATURE", &a.feature, FEATURES)?;
    let found = assistants::connection_id(&ctx.client()?, &a.assistant_id, feature).await?;
    let data = json!({"assistant_id": a.assistant_id, "feature": feature, "connection_id": found});
    Ok(match found {
        Some(id) => Outcome::data(data).line(format!("Connection ID: {id}")),
        None => Outcome::data(data).note(format!("No connection ID found for {feature}")).with_exit_code(1),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{parse, text, Harness, Reply};

    fn cmd(args: &[&str]) -> AssistantCommand {
        match parse(&[&["assistant"], args].concat()) {
            crate::cli::Command::Assistant(c) => c,
            other => panic!("not an assistant command: {other:?}"),
        }
    }

    #[tokio::test]
    async fn create_posts_the_flags_over_the_options() {
        let h = Harness::start().await;
        h.service.on("POST", "/v1/assistants", vec![Reply::ok(json!({"data": {"id": "as_1"}}))]);
        let args = ["create", "Bot", "Be brief", "Hello", "--options", r#"{"model": "a"}"#, "--model", "b"];
        let o = run(&h.ctx(), cmd(&args)).await.unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "POST /v1/assistants");
        let body = r.json();
        assert_eq!(
            (&body["name"], &body["instructions"], &body["model"]),
            (&json!("Bot"), &json!("Be brief"), &json!("b"))
        );
        assert_eq!(text(&o), "Created assistant: as_1\n");
    }

    #[tokio::test]
    async fn an_unknown_option_is_refused_before_anything_is_sent() {
        let h = Harness::start().await;
        let e =
            run(&h.ctx(), cmd(&["create", "Bot", "Be brief", "--options", r#"{"colour": "red"}"#])).await.unwrap_err();
        assert!(matches!(&e, Error::Usage(m) if m.contains("colour")), "{e:?}");
        assert!(h.service.requests().is_empty());
    }

    #[tokio::test]
    async fn list_pages_with_python_query_and_notes_the_page() {
        let h = Harness::start().await;
        h.service.on(
            "GET",
            "/v1/assistants",
            vec![Reply::ok(
                json!({"data": [{"id": "as_1", "name": "Bot"}], "meta": {"total_pages": 3, "total_results": 51}}),
            )],
        );
        let o = run(&h.ctx(), cmd(&["list", "--name", "my bot", "--page", "2"])).await.unwrap();
        let r = h.service.single();
        assert_eq!((r.line(), r.query.as_str()), ("GET /v1/assistants".into(), "pageSize=25&page=2&name=my%20bot"));
        assert!(text(&o).contains("as_1"));
        assert_eq!(o.notes, vec!["Page 2/3 (51 total)"]);
    }

    #[tokio::test]
    async fn update_patches_the_updates_as_given() {
        let h = Harness::start().await;
        let o = run(&h.ctx(), cmd(&["update", "as_1", r#"{"greeting": "Yo"}"#])).await.unwrap();
        let r = h.service.single();
        assert_eq!(r.line(), "PATCH /v1/assistants/as_1");
        assert_eq!(r.json(), json!({"greeting": "Yo"}));
        assert_eq!(text(&o), "Updated assistant as_1\n");
    }

    #[tokio::test]
    async fn a_missing_connection_id_exits_1() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/assistants/as_1/connection-id", vec![Reply::ok(json!({"data": {}}))]);
        let o = run(&h.ctx(), cmd(&["connection-id", "as_1", "messaging"])).await.unwrap();
        let r = h.service.single();
        assert_eq!(r.query, "feature=messaging");
        assert_eq!(o.exit_code, 1);
        assert_eq!(o.notes, vec!["No connection ID found for messaging"]);
    }

    #[tokio::test]
    async fn a_found_connection_id_is_printed() {
        let h = Harness::start().await;
        h.service.on("GET", "/v1/assistants/as_1/connection-id", vec![Reply::ok(json!({"connection_id": "c9"}))]);
        let o = run(&h.ctx(), cmd(&["connection-id", "as_1"])).await.unwrap();
        assert_eq!(h.service.single().query, "feature=telephony");
        assert_eq!((text(&o).as_str(), o.exit_code), ("Connection ID: c9\n", 0));
    }
}
