//! Account phone numbers: `/numbers/account-phones[/available|/{pid}]`.

use serde_json::{json, Value};

use super::models::Phone;
use super::{envelope, ApiPath, Client};
use crate::error::Result;

/// Connection types a number can be assigned to.
pub const ASSIGN_TYPES: &[&str] = &["voice", "sms"];

/// Every number on the account (`connection_id` absent = available).
pub async fn list(c: &Client) -> Result<Vec<Phone>> {
    let reply = c.get(&ApiPath::new("/numbers/account-phones"), &[]).await?;
    envelope::objects(&reply, &["data", "phones"], &[], "phone number")
}

/// The first available number, or `None` when the account has none (the
/// user must buy a dedicated number).
pub async fn available(c: &Client) -> Result<Option<Phone>> {
    let reply = c.get(&ApiPath::new("/numbers/account-phones/available"), &[]).await?;
    match reply.get("phone") {
        Some(p) if envelope::truthy(p) => Ok(Some(envelope::decode(p.clone(), "phone number")?)),
        _ => Ok(None),
    }
}

/// Assign a number to a connection: `{"connection_id", "type"}`.
pub async fn assign(c: &Client, phone_id: &str, connection_id: &str, kind: &str) -> Result<Value> {
    let body = json!({"connection_id": connection_id, "type": kind});
    let reply = c.patch(&ApiPath::new("/numbers/account-phones").id("PHONE_ID", phone_id)?, &body).await?;
    Ok(envelope::data(reply))
}
