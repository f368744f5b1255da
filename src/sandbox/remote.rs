//! A client for a running sandbox's control API (`/_sandbox/…`), used by
//! `clawdtalk sandbox call-in`. Control routes take no API key.

use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, Result};

/// POST `body` to `{root}/_sandbox/{path}` and return the JSON answer;
/// `timeout` bounds the whole request.
pub async fn post(root: &str, path: &str, body: &Value, timeout: Duration) -> Result<Value> {
    let url = format!("{}/_sandbox/{}", root.trim_end_matches('/'), path.trim_start_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(timeout)
        // The control API never redirects; one that does is not the sandbox.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::failed(format!("cannot build an HTTP client: {e}")))?;
    let resp = client.post(&url).json(body).send().await.map_err(|e| {
        Error::Network(format!("cannot reach the sandbox at {root}: {e} (is `clawdtalk sandbox` running there?)"))
    })?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| Error::Network(format!("reading the sandbox's answer failed: {e}")))?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_success() {
        Ok(v)
    } else {
        Err(crate::api::client::api_error(status, v))
    }
}
