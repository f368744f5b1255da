//! Small helpers shared by the command modules.

use serde_json::Value;

use crate::api::envelope::truthy;
use crate::error::{Error, Result};
use crate::ledger::Claim;
use crate::validate;

/// The user's home directory (a configuration error when there is none).
pub fn home_dir() -> Result<std::path::PathBuf> {
    directories::BaseDirs::new()
        .map(|b| b.home_dir().to_path_buf())
        .ok_or_else(|| Error::config("cannot find the home directory (set HOME)"))
}

/// Check every `(ARGUMENT, value)` id: not empty, not JSON (a forgotten
/// argument shifts JSON into an id's place).
pub fn check_ids(ids: &[(&str, &str)]) -> Result<()> {
    for (arg, value) in ids {
        validate::plain_id(arg, value)?;
    }
    Ok(())
}

/// The service's (unwrapped) reply when it said something, else `fallback`:
/// an update or delete often answers with an empty body, and `--json` must
/// still print one meaningful document.
pub fn reply_or(reply: Value, fallback: Value) -> Value {
    if truthy(&reply) && (reply.is_object() || reply.is_array()) {
        reply
    } else {
        fallback
    }
}

/// A value as one line of text: strings as they are, anything else as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A fresh claim on owed run events for this process, lasting as long as
/// the configured requests may take.
pub fn claim(ctx: &super::Context) -> Claim {
    Claim::new(ctx.config.request_timeout)
}

/// A step id that looks like JSON: the payload slid into the step's place
/// because the step argument was forgotten (telnyx_api.py's classic mistake).
pub fn step_looks_like_json(step: &str) -> Error {
    Error::usage(format!(
        "STEP_ID {step:?} looks like JSON: you probably forgot the step id argument. \
         Expected: log-event <mission_id> <run_id> <type> <summary> <step_id> [payload_json]; \
         use \"-\" as step_id when the event belongs to no step"
    ))
}

/// The word telnyx_api.py printed for a number.
pub fn phone_status(available: bool) -> &'static str {
    if available {
        "available"
    } else {
        "assigned"
    }
}
