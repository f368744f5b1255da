//! Small helpers shared by the command modules.

use serde_json::Value;

use crate::api::envelope::truthy;
use crate::error::Result;
use crate::validate;

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
