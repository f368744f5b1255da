//! Missions: `POST /missions`, `GET /missions/{id}`, `GET /missions`.

use serde_json::json;

use super::envelope::{self, decode};
use super::models::Mission;
use super::Client;
use crate::error::Result;

const ENVELOPE: &[&str] = &["mission", "data"];
const ID_ALIASES: &[&str] = &["mission_id"];

fn to_mission(reply: serde_json::Value) -> Result<Mission> {
    let mut obj = envelope::one(reply, ENVELOPE);
    envelope::normalize_id(&mut obj, ID_ALIASES);
    decode(obj, "mission")
}

/// Create a mission.
pub async fn create(c: &Client, name: &str, instructions: &str) -> Result<Mission> {
    to_mission(c.post("/missions", &json!({"name": name, "instructions": instructions})).await?)
}

/// Fetch one mission.
pub async fn get(c: &Client, id: &str) -> Result<Mission> {
    to_mission(c.get(&format!("/missions/{}", super::seg(id)), &[]).await?)
}

/// List missions (first page of 20, as the original client asks).
pub async fn list(c: &Client) -> Result<Vec<Mission>> {
    let reply = c.get("/missions", &[("page[size]", "20".to_string())]).await?;
    envelope::list(&reply, &["missions", "data"])
        .into_iter()
        .map(|mut m| {
            envelope::normalize_id(&mut m, ID_ALIASES);
            decode(m, "mission")
        })
        .collect()
}
