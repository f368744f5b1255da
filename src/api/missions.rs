//! Missions: `POST /missions`, `GET /missions/{id}`, `GET /missions`.

use serde_json::json;

use super::envelope;
use super::models::Mission;
use super::{ApiPath, Client};
use crate::error::Result;

const ENVELOPE: &[&str] = &["mission", "data"];
const ID_ALIASES: &[&str] = &["mission_id"];

/// Create a mission.
pub async fn create(c: &Client, name: &str, instructions: &str) -> Result<Mission> {
    let reply = c.post(&ApiPath::new("/missions"), &json!({"name": name, "instructions": instructions})).await?;
    envelope::object(reply, ENVELOPE, ID_ALIASES, "mission")
}

/// Fetch one mission.
pub async fn get(c: &Client, id: &str) -> Result<Mission> {
    let reply = c.get(&ApiPath::new("/missions").id("MISSION_ID", id)?, &[]).await?;
    envelope::object(reply, ENVELOPE, ID_ALIASES, "mission")
}

/// List missions: the first page of 20, asked exactly as telnyx_api.py did
/// (`?page[size]=20`, brackets not escaped).
pub async fn list(c: &Client) -> Result<Vec<Mission>> {
    let reply = c.get(&ApiPath::new("/missions").query("page[size]=20"), &[]).await?;
    envelope::objects(&reply, &["missions", "data"], ID_ALIASES, "mission")
}
