//! SMS (docs/protocol.md#direct-calls-sms-and-approvals): `POST /messages/send`, `GET /messages`,
//! `GET /messages/conversations`.

use serde_json::{json, Value};

use super::client::error_message;
use super::envelope::{self, decode};
use super::models::{Conversation, Message, MessagePage, MessageQuery, SentMessage};
use super::{ApiPath, Client};
use crate::error::{Error, Result};

/// The JSON body for `POST /messages/send`; `media_urls` only when there are any.
pub fn send_body(to: &str, message: &str, media_urls: &[String]) -> Value {
    let mut body = json!({ "to": to, "message": message });
    if !media_urls.is_empty() {
        body["media_urls"] = json!(media_urls);
    }
    body
}

/// The reply to a send: the service may answer 2xx with an `.error` document.
pub fn sent(reply: Value) -> Result<SentMessage> {
    if reply.get("error").is_some_and(|e| !e.is_null()) {
        let why = error_message(&reply).unwrap_or_else(|| "unknown error".into());
        return Err(Error::failed(format!("the message was not sent: {why}")));
    }
    let mut obj = envelope::one(reply, &["message", "data"]);
    envelope::normalize_id(&mut obj, &["message_id"]);
    decode(obj, "sent message")
}

/// Query pairs for `GET /messages`: `limit` always, the filters when given.
pub fn list_query(q: &MessageQuery) -> Vec<(&'static str, String)> {
    let mut pairs = vec![("limit", q.limit.to_string())];
    if let Some(c) = &q.contact {
        pairs.push(("contact", c.clone()));
    }
    if let Some(d) = &q.direction {
        pairs.push(("direction", d.clone()));
    }
    pairs
}

/// Decode a `GET /messages` reply: `.messages[]` and `.pagination.total`.
pub fn to_page(reply: &Value) -> Result<MessagePage> {
    let messages = envelope::list(reply, &["messages", "data"])
        .into_iter()
        .map(|m| decode::<Message>(m, "message"))
        .collect::<Result<Vec<_>>>()?;
    let total = reply
        .get("pagination")
        .and_then(|p| p.get("total"))
        .or_else(|| reply.get("total"))
        .and_then(|t| t.as_u64().or_else(|| t.as_str().and_then(|s| s.parse().ok())));
    Ok(MessagePage { messages, total })
}

/// Send an SMS (or MMS with media URLs).
pub async fn send(c: &Client, to: &str, message: &str, media_urls: &[String]) -> Result<SentMessage> {
    sent(c.post(&ApiPath::new("/messages/send"), &send_body(to, message, media_urls)).await?)
}

/// List messages, newest first as the service orders them.
pub async fn list(c: &Client, q: &MessageQuery) -> Result<MessagePage> {
    to_page(&c.get(&ApiPath::new("/messages"), &list_query(q)).await?)
}

/// List SMS threads.
pub async fn conversations(c: &Client) -> Result<Vec<Conversation>> {
    let reply = c.get(&ApiPath::new("/messages/conversations"), &[]).await?;
    envelope::list(&reply, &["conversations", "data"]).into_iter().map(|v| decode(v, "conversation")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_urls_only_when_given() {
        assert_eq!(send_body("+1", "hi", &[]), json!({"to": "+1", "message": "hi"}));
        assert_eq!(
            send_body("+1", "hi", &["https://x/a.jpg".into()]),
            json!({"to": "+1", "message": "hi", "media_urls": ["https://x/a.jpg"]})
        );
    }

    #[test]
    fn sent_reports_the_services_error() {
        let e = sent(json!({"error": {"message": "No SMS number"}})).unwrap_err();
        assert!(e.to_string().contains("No SMS number"));
        let m = sent(json!({"id": "msg_1", "from": "+15550000000"})).unwrap();
        assert_eq!((m.id.as_deref(), m.from.as_deref()), (Some("msg_1"), Some("+15550000000")));
    }

    #[test]
    fn query_has_limit_and_only_given_filters() {
        let q = MessageQuery { limit: 5, contact: Some("+1555".into()), direction: None };
        assert_eq!(list_query(&q), vec![("limit", "5".to_string()), ("contact", "+1555".to_string())]);
        assert_eq!(list_query(&MessageQuery::default()), vec![("limit", "20".to_string())]);
    }

    #[test]
    fn page_reads_messages_and_pagination_total() {
        let p = to_page(&json!({"messages": [{"direction": "inbound", "body": "yo"}], "pagination": {"total": 41}}))
            .unwrap();
        assert_eq!(p.messages.len(), 1);
        assert_eq!(p.messages[0].body.as_deref(), Some("yo"));
        assert_eq!(p.total, Some(41));
    }
}
