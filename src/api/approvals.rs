//! Owner approvals (docs/protocol.md#direct-calls-sms-and-approvals): `POST /approvals` pushes a request to the
//! owner's phone; `GET /approvals/{id}` reads its decision.

use serde_json::Value;

use super::client::error_message;
use super::envelope::{self, decode};
use super::models::{Approval, ApprovalCreated, ApprovalRequest};
use super::{ApiPath, Client};
use crate::error::{Error, Result};

const ENVELOPE: &[&str] = &["approval", "data"];

/// Seconds the owner has to decide when the caller does not say.
pub const DEFAULT_EXPIRES_IN: u64 = 300;

/// Approval statuses the service reports.
pub const STATUSES: &[&str] = &["pending", "approved", "denied", "expired"];

/// Decode the reply to `POST /approvals`. Without a `request_id` there is
/// nothing to wait for: that is a failure, with the service's message.
pub fn created(reply: Value) -> Result<ApprovalCreated> {
    let mut obj = envelope::one(reply, ENVELOPE);
    match envelope::id(&obj, &["request_id", "id"]) {
        Some(id) => {
            if let Value::Object(map) = &mut obj {
                map.insert("request_id".into(), Value::String(id));
            }
            decode(obj, "approval request")
        }
        None => {
            let why = error_message(&obj).unwrap_or_else(|| "the service did not return a request_id".into());
            Err(Error::failed(format!("the approval request was not created: {why}")))
        }
    }
}

/// Decode an approval's current state.
pub fn to_approval(reply: Value) -> Result<Approval> {
    let mut obj = envelope::one(reply, ENVELOPE);
    if let Some(id) = envelope::id(&obj, &["request_id", "id"]) {
        if let Value::Object(map) = &mut obj {
            map.insert("request_id".into(), Value::String(id));
        }
    }
    decode(obj, "approval")
}

/// Ask the owner to approve an action.
pub async fn create(c: &Client, req: &ApprovalRequest) -> Result<ApprovalCreated> {
    let body = serde_json::to_value(req).map_err(|e| Error::failed(format!("cannot encode the approval: {e}")))?;
    created(c.post(&ApiPath::new("/approvals"), &body).await?)
}

/// Read an approval's status.
pub async fn get(c: &Client, request_id: &str) -> Result<Approval> {
    to_approval(c.get(&ApiPath::new("/approvals").id("REQUEST_ID", request_id)?, &[]).await?)
}

/// The outcome when nobody can be asked: `no_devices` when the owner has no
/// device registered (0 notified, 0 failed), `no_devices_reached` when every
/// push failed (0 notified, some failed). `None`: someone was notified.
pub fn unreachable_outcome(c: &ApprovalCreated) -> Option<&'static str> {
    match (c.devices_notified, c.devices_failed) {
        (0, 0) => Some("no_devices"),
        (0, _) => Some("no_devices_reached"),
        _ => None,
    }
}

/// The owner's decision on approval `id`: `approved`, `denied` or
/// `expired`; `None` while it is pending; a failure for a status the
/// protocol does not have.
pub fn decision(a: &Approval, id: &str) -> Result<Option<&'static str>> {
    match a.status.as_deref() {
        Some("approved") => Ok(Some("approved")),
        Some("denied") => Ok(Some("denied")),
        Some("expired") => Ok(Some("expired")),
        Some("pending") | None => Ok(None),
        Some(other) => Err(Error::failed(format!("approval {id}: unexpected status {other:?} from the service"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_has_details_only_when_given() {
        let mut r = ApprovalRequest { action: "Pay".into(), require_biometric: true, expires_in: 60, details: None };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"action": "Pay", "require_biometric": true, "expires_in": 60})
        );
        r.details = Some("$5".into());
        assert_eq!(serde_json::to_value(&r).unwrap()["details"], "$5");
    }

    #[test]
    fn created_reads_id_and_device_counts() {
        let c = created(json!({"request_id": "apr_1", "devices_notified": 2, "devices_failed": 1})).unwrap();
        assert_eq!((c.request_id.as_str(), c.devices_notified, c.devices_failed), ("apr_1", 2, 1));
        let c = created(json!({"request_id": 7})).unwrap();
        assert_eq!((c.request_id.as_str(), c.devices_notified), ("7", 0));
    }

    #[test]
    fn created_without_id_is_a_failure_with_the_message() {
        let e = created(json!({"message": "No devices registered"})).unwrap_err();
        assert!(e.to_string().contains("No devices registered"), "{e}");
    }

    #[test]
    fn approval_status_decodes() {
        let a = to_approval(json!({"request_id": "apr_1", "status": "approved"})).unwrap();
        assert_eq!(a.status.as_deref(), Some("approved"));
    }
}
