//! The owner's approval before a tool dials or texts someone else, and the
//! operations waiting for it (docs/mcp.md#approval-guard).
//!
//! One approval per tool call covers all its targets. The tool call waits
//! for the decision up to [`super::Options::approval_wait`]; undecided, it
//! answers `{"status":"pending","handle":ID}` and the operation waits in
//! the pending file beside the state file (`<state>.mcp-pending.json`,
//! 0600, changed under its own lock with the one atomic write). Whoever
//! sees the approval first (`approval_status`, or the same tool again with
//! the handle) sends it: under the lock the operation moves from `pending`
//! to `sending` before anything is sent, so it is sent exactly once, and an
//! operation interrupted while `sending` is reported, never sent again.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::server::Server;
use crate::api::approvals::{self, unreachable_outcome, DEFAULT_EXPIRES_IN};
use crate::api::models::ApprovalRequest;
use crate::error::{Error, Result};
use crate::journal::{Entry, Kind};
use crate::state::{write, FileLock, StateStore};
use crate::task::blocking;

/// Where an operation waiting for the owner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Waiting for the owner's decision.
    Pending,
    /// Approved and claimed: being sent (or interrupted while being sent).
    Sending,
    /// Sent; `result` says how it went.
    Done,
    /// Denied or expired: never sent.
    Refused,
}

/// One guarded operation: the tool and its arguments, kept until it is sent
/// or refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    pub tool: String,
    pub args: Value,
    pub stage: Stage,
    /// The mission it belongs to, if any (so `mission_status` shows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The owner's word when refused (`denied`, `expired`, `no_devices`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
}

/// The pending file of one state file.
#[derive(Debug, Clone)]
pub struct PendingFile {
    path: PathBuf,
}

/// What claiming an approved operation found.
#[derive(Debug)]
pub enum Claimed {
    /// Claimed now: send it.
    Send(Operation),
    /// Already sent (its result).
    Done(Value),
    /// Claimed earlier and never finished: not sent again.
    Interrupted,
    /// Refused earlier.
    Refused(String),
    /// No operation under this handle.
    Unknown,
}

impl PendingFile {
    pub fn of(store: &StateStore) -> PendingFile {
        PendingFile { path: write::sibling(store.path(), ".mcp-pending.json") }
    }

    fn read(path: &std::path::Path) -> Result<Map<String, Value>> {
        match std::fs::read(path) {
            Ok(b) if b.is_empty() => Ok(Map::new()),
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::state(format!("the MCP pending file {} is corrupt: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
            Err(e) => Err(Error::state(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Change the file under its lock (off the async runtime).
    async fn update<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Map<String, Value>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let path = self.path.clone();
        blocking(move || {
            let _lock = FileLock::exclusive(&write::sibling(&path, ".lock"))?;
            let mut all = PendingFile::read(&path)?;
            let out = f(&mut all)?;
            let bytes = serde_json::to_vec_pretty(&all).map_err(|e| Error::state(e.to_string()))?;
            write::atomic_write(&path, &bytes, Some(0o600))
                .map_err(|e| Error::state(format!("cannot write {}: {e}", path.display())))?;
            Ok(out)
        })
        .await
    }

    /// Every operation, by handle.
    pub async fn all(&self) -> Result<Map<String, Value>> {
        let path = self.path.clone();
        blocking(move || PendingFile::read(&path)).await
    }

    /// Keep `op` under `handle`.
    pub async fn add(&self, handle: &str, op: Operation) -> Result<()> {
        let (handle, v) = (handle.to_string(), serde_json::to_value(op).map_err(|e| Error::state(e.to_string()))?);
        self.update(move |all| {
            all.insert(handle, v);
            Ok(())
        })
        .await
    }

    /// Move an approved operation from `pending` to `sending`, once.
    pub async fn claim(&self, handle: &str) -> Result<Claimed> {
        let handle = handle.to_string();
        self.update(move |all| {
            let Some(v) = all.get_mut(&handle) else { return Ok(Claimed::Unknown) };
            let mut op: Operation = serde_json::from_value(v.clone())
                .map_err(|e| Error::state(format!("MCP pending operation {handle} is unreadable: {e}")))?;
            Ok(match op.stage {
                Stage::Pending => {
                    op.stage = Stage::Sending;
                    *v = serde_json::to_value(&op).map_err(|e| Error::state(e.to_string()))?;
                    Claimed::Send(op)
                }
                Stage::Sending => Claimed::Interrupted,
                Stage::Done => Claimed::Done(op.result.unwrap_or(Value::Null)),
                Stage::Refused => Claimed::Refused(op.decision.unwrap_or_else(|| "refused".into())),
            })
        })
        .await
    }

    /// Record how the operation ended: `Done` with its result, or `Refused`
    /// with the owner's word (only a pending one can be refused).
    pub async fn settle(&self, handle: &str, stage: Stage, detail: Value) -> Result<()> {
        let handle = handle.to_string();
        self.update(move |all| {
            if let Some(v) = all.get_mut(&handle) {
                let mut op: Operation = serde_json::from_value(v.clone()).map_err(|e| Error::state(e.to_string()))?;
                match stage {
                    Stage::Refused if op.stage == Stage::Pending => {
                        op.decision = detail.as_str().map(str::to_string);
                        op.stage = Stage::Refused;
                    }
                    Stage::Done => {
                        op.result = Some(detail);
                        op.stage = Stage::Done;
                    }
                    _ => {}
                }
                *v = serde_json::to_value(&op).map_err(|e| Error::state(e.to_string()))?;
            }
            Ok(())
        })
        .await
    }
}

/// What the owner is asked: one line, and the details (every target).
#[derive(Debug, Clone)]
pub struct Ask {
    pub action: String,
    pub details: String,
    pub mission: Option<String>,
}

impl Server {
    /// Run a guarded `tool` with `args` (already checked): at once with
    /// `--no-approval`, else after the owner approves ([`Server::settle`]).
    pub(crate) async fn guarded(&self, tool: &str, args: Value, ask: Ask) -> Result<Value> {
        if !self.opts.approval {
            return self.execute(tool, args).await;
        }
        let client = self.env.client()?;
        let req = ApprovalRequest {
            action: ask.action.clone(),
            require_biometric: false,
            expires_in: DEFAULT_EXPIRES_IN,
            details: Some(ask.details),
        };
        let created = approvals::create(&client, &req).await?;
        let id = created.request_id.clone();
        if let Some(word) = unreachable_outcome(&created) {
            return Err(Error::failed(format!(
                "the owner could not be asked to approve this ({word}: no device got the request {id}); nothing was sent"
            )));
        }
        let op = Operation {
            tool: tool.to_string(),
            args,
            stage: Stage::Pending,
            mission: ask.mission,
            result: None,
            decision: None,
        };
        self.pending()?.add(&id, op).await?;
        self.env.record(vec![Entry::new(Kind::Approval, "approval.requested").id(&id).text(&ask.action)]).await;
        let word = self.wait_for_decision(&id).await?;
        self.settle(&id, word).await
    }

    /// The pending file of the state file.
    pub(crate) fn pending(&self) -> Result<PendingFile> {
        Ok(PendingFile::of(&self.env.state()?))
    }

    /// Poll approval `id` until decided or [`super::Options::approval_wait`] passes.
    async fn wait_for_decision(&self, id: &str) -> Result<Option<&'static str>> {
        let client = self.env.client()?;
        let deadline = tokio::time::Instant::now() + self.opts.approval_wait;
        loop {
            let approval = approvals::get(&client, id).await?;
            if let Some(word) = approvals::decision(&approval, id)? {
                return Ok(Some(word));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(500).min(deadline - now)).await;
        }
    }

    /// Act on the owner's decision on the operation under `handle`: still
    /// pending → a `pending` answer; approved → send it (once); denied or
    /// expired → nothing sent, an error saying so.
    pub(crate) async fn settle(&self, handle: &str, word: Option<&str>) -> Result<Value> {
        let pending = self.pending()?;
        match word {
            None => Ok(json!({
                "status": "pending",
                "handle": handle,
                "next": "The owner has not decided yet. Call approval_status with this handle later: once approved, \
                         the operation is sent then (exactly once)."
            })),
            Some("approved") => match pending.claim(handle).await? {
                Claimed::Send(op) => {
                    let result = self.execute(&op.tool, op.args).await;
                    let detail = match &result {
                        Ok(v) => v.clone(),
                        Err(e) => json!({"error": self.env.redact(&e.to_string())}),
                    };
                    pending.settle(handle, Stage::Done, detail).await?;
                    result.map(|v| json!({"status": "done", "handle": handle, "result": v}))
                }
                Claimed::Done(v) => Ok(json!({"status": "done", "handle": handle, "result": v,
                    "note": "sent earlier; not sent again"})),
                Claimed::Interrupted => Err(Error::failed(format!(
                    "operation {handle} was being sent when a server stopped; it is not sent again: check \
                     mission_status or sms_list for what went out"
                ))),
                Claimed::Refused(w) => Err(refused(handle, &w)),
                Claimed::Unknown => Ok(json!({"status": "approved", "handle": handle})),
            },
            Some(w) => {
                pending.settle(handle, Stage::Refused, json!(w)).await?;
                Err(refused(handle, w))
            }
        }
    }

    /// Run a guarded tool's operation now (approved, or `--no-approval`).
    async fn execute(&self, tool: &str, args: Value) -> Result<Value> {
        match tool {
            "mission_schedule" => self.schedule_now(parse(args)?).await,
            "sms_send" => self.sms_now(parse(args)?).await,
            "agentphone_call" => self.agentphone_call_now(parse(args)?).await,
            "mission_resume" => self.resume_now(parse(args)?).await,
            "mission_retry_failed" => self.retry_now(parse(args)?).await,
            other => Err(Error::failed(format!("no guarded tool {other:?}"))),
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::state(format!("a pending MCP operation is unreadable: {e}")))
}

fn refused(handle: &str, word: &str) -> Error {
    Error::failed(format!("the owner's approval {handle} is {word}: nothing was sent"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> Operation {
        Operation {
            tool: "sms_send".into(),
            args: json!({"to": "+15005550006", "message": "hi"}),
            stage: Stage::Pending,
            mission: None,
            result: None,
            decision: None,
        }
    }

    fn file() -> (tempfile::TempDir, PendingFile) {
        let dir = tempfile::tempdir().unwrap();
        let f = PendingFile::of(&StateStore::open(dir.path().join("state.json")));
        (dir, f)
    }

    #[tokio::test]
    async fn an_approved_operation_is_claimed_once_and_never_again() {
        let (_dir, f) = file();
        f.add("apr_1", op()).await.unwrap();
        assert!(matches!(f.claim("apr_1").await.unwrap(), Claimed::Send(o) if o.tool == "sms_send"));
        // A second claimer (another call, another server) does not send it.
        assert!(matches!(f.claim("apr_1").await.unwrap(), Claimed::Interrupted));
        f.settle("apr_1", Stage::Done, json!({"id": "msg_1"})).await.unwrap();
        assert!(matches!(f.claim("apr_1").await.unwrap(), Claimed::Done(v) if v["id"] == "msg_1"));
        assert!(matches!(f.claim("apr_2").await.unwrap(), Claimed::Unknown));
    }

    #[tokio::test]
    async fn a_refused_operation_stays_refused_and_a_claimed_one_cannot_be_refused() {
        let (_dir, f) = file();
        f.add("apr_1", op()).await.unwrap();
        f.settle("apr_1", Stage::Refused, json!("denied")).await.unwrap();
        assert!(matches!(f.claim("apr_1").await.unwrap(), Claimed::Refused(w) if w == "denied"));

        f.add("apr_2", op()).await.unwrap();
        assert!(matches!(f.claim("apr_2").await.unwrap(), Claimed::Send(_)));
        f.settle("apr_2", Stage::Refused, json!("expired")).await.unwrap();
        assert!(matches!(f.claim("apr_2").await.unwrap(), Claimed::Interrupted), "still the claimed one");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_pending_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, f) = file();
        f.add("apr_1", op()).await.unwrap();
        let mode = std::fs::metadata(dir.path().join("state.json.mcp-pending.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
