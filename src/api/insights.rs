//! Conversation insights: `GET /missions/conversations/{conv}/insights`.

use serde_json::Value;

use super::models::Insight;
use super::{envelope, ApiPath, Client};
use crate::error::Result;

/// Every insight record of a conversation (completed or not).
pub async fn get(c: &Client, conversation_id: &str) -> Result<Vec<Insight>> {
    let reply = c
        .get(&ApiPath::new("/missions/conversations").id("CONVERSATION_ID", conversation_id)?.lit("insights"), &[])
        .await?;
    envelope::objects(&reply, &["data", "insights"], &[], "insight")
}

/// The results of completed records only: the others are still being computed.
pub fn completed_results(insights: &[Insight]) -> Vec<Value> {
    insights
        .iter()
        .filter(|i| i.is_completed())
        .flat_map(|i| i.conversation_insights.iter().map(|r| r.result.clone()))
        .collect()
}
