//! `clawdtalk assistant …`

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum AssistantCommand {
    /// Create a voice/SMS assistant.
    #[command(
        after_help = "Defaults: model openai/gpt-4o, voice Rime.ArcanaV3.astra, features telephony,messaging,\ntools hangup + send_dtmf, greeting \"\" (the callee speaks first on outbound calls).\nTool types: hangup, webhook, transfer, handoff, retrieval, refer, send_dtmf, send_message.\n\nExamples:\n  clawdtalk assistant create 'Acme caller' 'You call contractors and ask for a quote.'\n  clawdtalk assistant create Receptionist 'Answer politely.' 'Hello, Acme here!' --features telephony"
    )]
    Create(AssistantCreateArgs),
    /// List assistants (paged, optionally filtered by name).
    List(AssistantListArgs),
    /// Show one assistant.
    Get(AssistantRef),
    /// Change an assistant's fields.
    #[command(after_help = "Example:\n  clawdtalk assistant update ast_xyz '{\"greeting\": \"Hi there!\"}'")]
    Update(AssistantUpdateArgs),
    /// Show the assistant's connection id (telephony: TeXML app; messaging: messaging profile).
    ConnectionId(ConnectionIdArgs),
}

/// Who an assistant is, `NAME INSTRUCTIONS [GREETING]`: how every way of
/// creating one starts (`assistant create`, `create-assistant`, `setup-agent`).
#[derive(Debug, Clone, Args)]
pub struct AssistantIdentity {
    /// Assistant name.
    #[arg(allow_hyphen_values = true)]
    pub name: String,
    /// What the assistant should do (its system prompt).
    #[arg(allow_hyphen_values = true)]
    pub instructions: String,
    /// First words on a call ("" lets the callee speak first).
    #[arg(allow_hyphen_values = true)]
    pub greeting: Option<String>,
}

/// An assistant in telnyx_api.py's positional form, `NAME INSTRUCTIONS
/// [GREETING] [OPTIONS_JSON]`, as `create-assistant` and `setup-agent` take it.
#[derive(Debug, Clone, Args)]
pub struct AssistantSpec {
    #[command(flatten)]
    pub identity: AssistantIdentity,
    /// {"features"|"enabled_features","model","tools","description","voice"}.
    pub options_json: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct AssistantCreateArgs {
    #[command(flatten)]
    pub identity: AssistantIdentity,
    /// LLM model.
    #[arg(long)]
    pub model: Option<String>,
    /// Voice.
    #[arg(long)]
    pub voice: Option<String>,
    /// Enabled features, comma-separated (telephony, messaging).
    #[arg(long, value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// Tools as a JSON list, e.g. '[{"type": "hangup", "hangup": {}}]'.
    #[arg(long, value_name = "JSON")]
    pub tools: Option<String>,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
    /// telnyx_api.py's OPTIONS_JSON: {"features"|"enabled_features", "model", "tools", "description", "voice"}.
    #[arg(long, value_name = "JSON")]
    pub options: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct AssistantListArgs {
    /// Only assistants whose name contains this text.
    #[arg(long)]
    pub name: Option<String>,
    /// Page number (from 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub page: u32,
    /// Results per page.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub size: u32,
}

#[derive(Debug, Clone, Args)]
pub struct AssistantRef {
    /// Assistant id.
    pub assistant_id: String,
}

#[derive(Debug, Clone, Args)]
pub struct AssistantUpdateArgs {
    /// Assistant id.
    pub assistant_id: String,
    /// Fields to change, as a JSON object (sent as is).
    pub updates_json: String,
}

#[derive(Debug, Clone, Args)]
pub struct ConnectionIdArgs {
    /// Assistant id.
    pub assistant_id: String,
    /// telephony or messaging.
    #[arg(default_value = "telephony")]
    pub feature: String,
}
