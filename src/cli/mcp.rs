//! `clawdtalk mcp`: the MCP server over stdio (docs/mcp.md).

use std::time::Duration;

use clap::Args;

use super::bounds;

/// Serve clawdtalk's tools to an agent over the Model Context Protocol (stdio).
///
/// stdout is the protocol; logs go to stderr. By default a curated set of
/// tools is served; `--tools` picks some, `--all-tools` serves every one.
/// Anything that dials or texts someone other than the owner asks the
/// owner's approval first, unless `--no-approval`.
///
/// Examples:
///   clawdtalk mcp
///   clawdtalk mcp --tools mission_start,mission_schedule,mission_status
#[derive(Debug, Clone, Args)]
#[command(verbatim_doc_comment)]
pub struct McpArgs {
    /// Serve only these tools (comma-separated names; see docs/mcp.md).
    #[arg(long, value_delimiter = ',', value_name = "NAMES",
          value_parser = clap::builder::PossibleValuesParser::new(crate::mcp::ALL_TOOLS))]
    pub tools: Vec<String>,
    /// Serve every tool, not only the curated default set.
    #[arg(long, conflicts_with = "tools")]
    pub all_tools: bool,
    /// Call and text other people without asking the owner first.
    #[arg(long)]
    pub no_approval: bool,
    /// Seconds one tool call waits for the owner's decision before it answers `pending`.
    #[arg(long, hide = true, value_name = "SECS", default_value = "20", value_parser = bounds::duration(bounds::MIN_PAUSE_SECS, 20.0))]
    pub approval_wait: Duration,
}
