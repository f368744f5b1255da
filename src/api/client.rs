//! The one place that talks HTTP to the ClawdTalk service: auth, timeouts,
//! retries and error envelopes. Resource modules build paths and bodies and
//! call [`Client::send`] (or the `get`/`post`/… shorthands).
//!
//! Wire compatibility with telnyx_api.py: request bodies are serialized the
//! way Python's `json.dumps` wrote them ([`body_bytes`]: `", "` and `": "`
//! separators, non-ASCII escaped as `\uXXXX`, keys in insertion order), every
//! request carries `Content-Type: application/json` (Python set it even on
//! GETs), and a path may carry a pre-built query string that is sent exactly
//! as written (`/missions?page[size]=20`, raw brackets, as urllib sent it).

use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::path::ApiPath;
use crate::config::{Config, Secret};
use crate::error::{Error, Result};
use crate::redact::{cut, redact_shapes, sanitize_for_terminal, Redactor, MAX_ERROR_TEXT};

/// How much of an error body is read to find the service's message; the
/// rest is never downloaded (a hostile server may send megabytes).
const MAX_ERROR_BODY_READ: usize = 64 * 1024;

/// Retry policy. GET and DELETE are retried on connect errors, timeouts,
/// 5xx and 429; POST and PATCH only on 429 or when the connection failed
/// before the request was sent (so a write is never applied twice).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Total attempts, including the first.
    pub max_attempts: u32,
    /// First backoff; doubles each attempt, plus up to 50 % jitter.
    pub base_delay: Duration,
    /// No single wait is longer than this (also caps `Retry-After`).
    pub max_delay: Duration,
    /// A fixed rate-limit window (AgentPhone: 60 s). When set, a 429 is
    /// retried at most once, this long after it (`Retry-After` ignored);
    /// other retries keep the backoff above. `None`: a 429 is like a 5xx.
    pub rate_limit_wait: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            rate_limit_wait: None,
        }
    }
}

impl RetryPolicy {
    /// The delay before retrying a 429 after `rate_limits_retried` earlier
    /// 429s were retried, or `None` when it must not be retried.
    pub(crate) fn rate_limit_delay(
        &self,
        attempt: u32,
        rate_limits_retried: u32,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        match self.rate_limit_wait {
            None => Some(self.backoff(attempt, retry_after)),
            Some(_) if rate_limits_retried >= 1 => None,
            Some(wait) => Some(wait),
        }
    }

    /// The delay before attempt `attempt + 1` (attempt counts from 1).
    pub(crate) fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max_delay);
        }
        let exp = self.base_delay.saturating_mul(1u32 << (attempt - 1).min(16));
        let jitter = rand::rng().random_range(0.0..0.5);
        exp.mul_f64(1.0 + jitter).min(self.max_delay)
    }
}

/// Options for building a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub base_url: String,
    pub api_key: Secret,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// Extra header carrying the key instead of `Authorization: Bearer`
    /// (AgentPhone uses `x-api-key`).
    pub key_header: Option<&'static str>,
}

impl ClientOptions {
    /// Options for the ClawdTalk API from a resolved configuration.
    pub fn from_config(cfg: &Config) -> Result<Self> {
        Ok(ClientOptions {
            base_url: cfg.api_url.clone(),
            api_key: cfg.require_key()?.clone(),
            connect_timeout: cfg.connect_timeout,
            request_timeout: cfg.request_timeout,
            retry: RetryPolicy::default(),
            key_header: None,
        })
    }
}

/// A JSON-over-HTTP client for one service base URL.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    retry: RetryPolicy,
    /// Removes secrets from the service's error text before it leaves the client.
    redactor: std::sync::Arc<Redactor>,
    /// Fed every reply's `Date` and `X-Clock-Speed` (docs/protocol.md#service-clock).
    clock: Option<std::sync::Arc<crate::clock::ServiceClock>>,
}

impl Client {
    pub fn new(opts: ClientOptions) -> Result<Client> {
        let mut headers = HeaderMap::new();
        let mut auth = match opts.key_header {
            None => HeaderValue::from_str(&format!("Bearer {}", opts.api_key.expose())),
            Some(_) => HeaderValue::from_str(opts.api_key.expose()),
        }
        .map_err(|_| Error::config("the API key contains characters that cannot go in an HTTP header"))?;
        auth.set_sensitive(true);
        match opts.key_header {
            None => headers.insert(AUTHORIZATION, auth),
            Some(name) => headers.insert(name, auth),
        };
        // telnyx_api.py sent this header on every request, bodies or not.
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.request_timeout)
            .user_agent(concat!("clawdtalk/", env!("CARGO_PKG_VERSION")))
            // A redirect would replay the key to wherever it points, and a
            // POST turned into a GET would look like success: never follow
            // (docs/protocol.md#configuration); a 3xx is an error.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")))?;
        let redactor = std::sync::Arc::new(Redactor::default().with(opts.api_key.expose()));
        Ok(Client {
            http,
            base: opts.base_url.trim_end_matches('/').to_string(),
            retry: opts.retry,
            redactor,
            clock: None,
        })
    }

    /// Build the ClawdTalk client from configuration (fails without a key).
    /// Every secret of the configuration is redacted from error text.
    pub fn from_config(cfg: &Config) -> Result<Client> {
        Ok(Client::new(ClientOptions::from_config(cfg)?)?.with_secrets_of(cfg))
    }

    /// Also redact every secret `cfg` holds (API key, gateway token,
    /// AgentPhone key) from the service's error text, besides this
    /// client's own key.
    pub fn with_secrets_of(mut self, cfg: &Config) -> Self {
        let mut all = Redactor::from_config(cfg).secrets().to_vec();
        all.extend(self.redactor.secrets().iter().cloned());
        self.redactor = std::sync::Arc::new(Redactor::new(all));
        self
    }

    /// The API base URL this client talks to.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Feed every reply's clock headers to `clock` (the service clock the
    /// commands' "now" comes from).
    pub fn with_clock(mut self, clock: std::sync::Arc<crate::clock::ServiceClock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Take a sample of the service's clock with the cheapest read there
    /// is (one mission, `GET /missions?page[size]=1`): for a decision that
    /// needs the service's time when the last sample is missing or old.
    /// The reply itself is not needed; a refused one still carries a `Date`.
    pub async fn sample_clock(&self) -> Result<()> {
        match self.get(&ApiPath::new("/missions").query("page[size]=1"), &[]).await {
            Ok(_) | Err(Error::Api { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Record one reply's `Date` and `X-Clock-Speed` in the service clock
    /// (and its file, at most once a minute).
    async fn observe_clock(&self, headers: &HeaderMap) {
        let Some(clock) = &self.clock else { return };
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let date = text("date").and_then(crate::clock::parse_http_date);
        let speed = crate::clock::parse_speed(text(crate::clock::SPEED_HEADER));
        if let Some(save) = clock.observe(date, speed) {
            if let Err(e) = save.write().await {
                tracing::debug!("the clock sample was not saved: {e}");
            }
        }
    }

    /// Replace the retry policy (tests use short delays).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub async fn get(&self, path: &ApiPath, query: &[(&str, String)]) -> Result<Value> {
        self.send(Method::GET, path, query, None).await
    }
    pub async fn post(&self, path: &ApiPath, body: &Value) -> Result<Value> {
        self.send(Method::POST, path, &[], Some(body)).await
    }
    pub async fn patch(&self, path: &ApiPath, body: &Value) -> Result<Value> {
        self.send(Method::PATCH, path, &[], Some(body)).await
    }
    pub async fn delete(&self, path: &ApiPath) -> Result<Value> {
        self.send(Method::DELETE, path, &[], None).await
    }

    /// Send one request with the retry policy; returns the reply body as JSON
    /// (`Value::Null` for an empty body, a JSON string for a non-JSON body).
    ///
    /// `path` comes from the one path builder ([`ApiPath`]: ids are checked,
    /// encoded segments) and may end in a pre-built query string, sent
    /// verbatim; `query` pairs, when given, are form-encoded after it.
    /// `body` is serialized with [`body_bytes`]; `None` sends no body.
    pub async fn send(
        &self,
        method: Method,
        path: &ApiPath,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value> {
        let path = path.as_str();
        let url = format!("{}{}", self.base, path);
        let body = body.map(body_bytes);
        let idempotent = matches!(method, Method::GET | Method::DELETE | Method::HEAD);
        let mut attempt = 1;
        let mut rate_limits_retried = 0;
        loop {
            let mut req = self.http.request(method.clone(), &url);
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            let outcome = req.send().await;
            let last = attempt >= self.retry.max_attempts;
            match outcome {
                Err(e) => {
                    // A connect error means nothing reached the server: safe for every method.
                    let retryable = e.is_connect() || (idempotent && (e.is_timeout() || e.is_request()));
                    if retryable && !last {
                        tracing::debug!(%method, path, attempt, "retrying after transport error: {e}");
                        tokio::time::sleep(self.retry.backoff(attempt, None)).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(network_error(&method, &url, &e));
                }
                Ok(resp) => {
                    self.observe_clock(resp.headers()).await;
                    let status = resp.status();
                    let rate_limited = status == StatusCode::TOO_MANY_REQUESTS;
                    let retryable = rate_limited || (idempotent && status.is_server_error());
                    if retryable && !last {
                        let ra = retry_after(resp.headers());
                        let delay = if rate_limited {
                            self.retry.rate_limit_delay(attempt, rate_limits_retried, ra)
                        } else {
                            Some(self.retry.backoff(attempt, ra))
                        };
                        if let Some(delay) = delay {
                            tracing::debug!(%method, path, attempt, %status, "retrying");
                            drop(resp);
                            tokio::time::sleep(delay).await;
                            rate_limits_retried += u32::from(rate_limited);
                            attempt += 1;
                            continue;
                        }
                    }
                    if status.is_redirection() {
                        return Err(self.redirect_error(status, resp.headers()));
                    }
                    if status.is_success() {
                        let bytes = resp.bytes().await.map_err(|e| network_error(&method, &url, &e))?;
                        return Ok(parse_body(&bytes));
                    }
                    let bytes = read_at_most(resp, MAX_ERROR_BODY_READ).await;
                    return Err(self.api_error(status, &bytes));
                }
            }
        }
    }
}

impl Client {
    /// A 3xx reply: an error naming where it pointed (escaped, cut), since
    /// redirects are never followed.
    fn redirect_error(&self, status: StatusCode, headers: &HeaderMap) -> Error {
        let location = headers
            .get(reqwest::header::LOCATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .map(|l| cut(&sanitize_for_terminal(&self.redactor.redact(&l)), 200))
            .unwrap_or_else(|| "nowhere (no Location header)".to_string());
        Error::Api {
            status: status.as_u16(),
            message: format!(
                "the service redirected to {location}; redirects are never followed for API calls \
                 (check the API URL: CLAWDTALK_API_URL, --api-url or `server` in skill-config.json)"
            ),
            body: None,
        }
    }

    /// An error reply as [`Error::Api`]: the service's message and body,
    /// secrets removed and cut to [`MAX_ERROR_TEXT`] before anything can
    /// print them.
    fn api_error(&self, status: StatusCode, bytes: &[u8]) -> Error {
        let value = parse_body(bytes);
        let message = cut(&self.redactor.redact(&service_message(status, &value)), MAX_ERROR_TEXT);
        let body = (!value.is_null()).then_some(value).map(|b| {
            let b = self.redactor.redact_json(b);
            let text = b.to_string();
            if text.len() <= MAX_ERROR_TEXT {
                b
            } else {
                Value::String(cut(&text, MAX_ERROR_TEXT))
            }
        });
        Error::Api { status: status.as_u16(), message, body }
    }
}

/// The first `limit` bytes of a reply's body; the rest is left unread. A
/// body that breaks off early is what arrived.
async fn read_at_most(mut resp: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < limit {
        match resp.chunk().await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk[..chunk.len().min(limit - out.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// Serialize a request body exactly as Python's `json.dumps(data)` did:
/// `{"a": 1, "b": [1, 2]}` (separators `", "` and `": "`), every character
/// outside printable ASCII escaped as `\uXXXX` (UTF-16, as `ensure_ascii`),
/// floats written like Python's `repr` (`1e+16`, `1.5e-05`, `2.0`), and keys
/// in the order they were inserted (serde_json's `preserve_order`).
pub fn body_bytes(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyJsonFormatter);
    // Writing a `Value` into a Vec cannot fail (no I/O, string keys only).
    let _ = serde::Serialize::serialize(v, &mut ser);
    out
}

/// A serde_json formatter reproducing Python's `json.dumps` defaults.
struct PyJsonFormatter;

impl serde_json::ser::Formatter for PyJsonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn write_string_fragment<W: ?Sized + std::io::Write>(&mut self, w: &mut W, fragment: &str) -> std::io::Result<()> {
        // serde_json already escaped quotes, backslashes and control
        // characters the way Python does; what is left is DEL and non-ASCII.
        if fragment.bytes().all(|b| b < 0x7f) {
            return w.write_all(fragment.as_bytes());
        }
        for c in fragment.chars() {
            if (c as u32) < 0x7f {
                w.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
            }
        }
        Ok(())
    }
    fn write_f64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, value: f64) -> std::io::Result<()> {
        w.write_all(py_float_repr(value).as_bytes())
    }
    fn write_f32<W: ?Sized + std::io::Write>(&mut self, w: &mut W, value: f32) -> std::io::Result<()> {
        w.write_all(py_float_repr(f64::from(value)).as_bytes())
    }
}

/// Python's `repr(float)`: the shortest round-trip digits, positional when
/// the exponent is in -4..16 (always with a fractional part), else
/// `d.ddde±XX` with at least two exponent digits.
fn py_float_repr(x: f64) -> String {
    if !x.is_finite() {
        // JSON has no spelling for these; serde_json never holds them in a Value.
        return "null".to_string();
    }
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        let body = if exp >= 0 {
            let int_len = exp as usize + 1;
            let mut d = digits.clone();
            while d.len() < int_len {
                d.push('0');
            }
            let (int, frac) = d.split_at(int_len);
            format!("{int}.{}", if frac.is_empty() { "0" } else { frac })
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{esign}{:02}", exp.abs())
    }
}

fn network_error(method: &Method, url: &str, e: &reqwest::Error) -> Error {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    // reqwest's own message can repeat the URL; keep ours short and stable.
    let detail = std::error::Error::source(e).map(|s| format!(": {s}")).unwrap_or_default();
    Error::Network(format!("{method} {url} {what}{detail} (check your network and the API URL)"))
}

/// The wait a reply asks for. An HTTP-date is measured against the same
/// reply's `Date` (the service's clock, docs/protocol.md#service-clock), so
/// a skewed local clock neither skips nor stretches the wait; without a
/// `Date`, against the local clock.
fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let now = h
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::clock::parse_http_date)
        .unwrap_or_else(chrono::Utc::now);
    parse_retry_after(h.get(RETRY_AFTER)?.to_str().ok()?, now)
}

/// A `Retry-After` value (RFC 9110 §10.2.3) as a wait from `now`: either
/// delta-seconds (`120`; fractions tolerated) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, and the obsolete RFC 850 and asctime
/// forms); a date in the past means no wait. Anything else is ignored
/// (the usual backoff applies). The caller caps the wait
/// ([`RetryPolicy::max_delay`]).
fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    use chrono::{NaiveDateTime, TimeZone, Utc};
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).map(|t| t.with_timezone(&Utc)).ok().or_else(|| {
        // RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
        let fixed = v.split_whitespace().collect::<Vec<_>>().join(" ");
        ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(&fixed, f).ok())
            .map(|n| Utc.from_utc_datetime(&n))
    })?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

fn parse_body(bytes: &[u8]) -> Value {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Turn an error reply into [`Error::Api`] with the service's own message,
/// read from `.error.message`, `.error` (string), `.message`, `.detail`,
/// or `.errors[0].detail|title|message`.
pub fn api_error(status: StatusCode, body: Value) -> Error {
    let message = service_message(status, &body);
    let body = if body.is_null() { None } else { Some(body) };
    Error::Api { status: status.as_u16(), message, body }
}

/// The service's message in an error reply, or the status's reason.
fn service_message(status: StatusCode, body: &Value) -> String {
    error_message(body).unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string())
}

/// The service's own error message in `body`, if it carries one (also used
/// for 2xx replies that hold an error document instead of a result).
///
/// Anything shaped like a key is removed and the text is cut to
/// [`MAX_ERROR_TEXT`]: callers print it.
pub fn error_message(body: &Value) -> Option<String> {
    found_message(body).map(|m| cut(&redact_shapes(&m), MAX_ERROR_TEXT))
}

fn found_message(body: &Value) -> Option<String> {
    let s = |v: &Value| v.as_str().map(str::to_string).filter(|s| !s.is_empty());
    if let Some(e) = body.get("error") {
        if let Some(m) = e.get("message").and_then(s) {
            return Some(m);
        }
        if let Some(m) = s(e) {
            return Some(m);
        }
    }
    if let Some(m) = body.get("message").and_then(s) {
        return Some(m);
    }
    if let Some(m) = body.get("detail").and_then(s) {
        return Some(m);
    }
    if let Some(first) = body.get("errors").and_then(|e| e.get(0)) {
        for k in ["detail", "title", "message"] {
            if let Some(m) = first.get(k).and_then(s) {
                return Some(m);
            }
        }
    }
    match body {
        Value::String(t) if !t.trim().is_empty() => Some(t.chars().take(300).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_http_date_retry_after_is_measured_on_the_replys_own_clock() {
        // The service's clock is a day behind the local one: the wait is
        // the 30 s the reply means, not zero.
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::DATE, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        h.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:30 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(30)));
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
    }

    #[test]
    fn error_message_from_each_envelope() {
        assert_eq!(error_message(&json!({"error":{"message":"bad step"}})).as_deref(), Some("bad step"));
        assert_eq!(error_message(&json!({"error":"nope"})).as_deref(), Some("nope"));
        assert_eq!(error_message(&json!({"message":"m"})).as_deref(), Some("m"));
        assert_eq!(error_message(&json!({"errors":[{"detail":"d"}]})).as_deref(), Some("d"));
        assert_eq!(error_message(&json!({})), None);
    }

    #[test]
    fn bodies_are_serialized_like_python_json_dumps() {
        let v = json!({"type": "custom", "summary": "café ☎ 😀\u{7f}", "n": [1, 2.5, true, null], "o": {}});
        assert_eq!(
            String::from_utf8(body_bytes(&v)).unwrap(),
            r#"{"type": "custom", "summary": "caf\u00e9 \u260e \ud83d\ude00\u007f", "n": [1, 2.5, true, null], "o": {}}"#
        );
        assert_eq!(
            String::from_utf8(body_bytes(&json!({"q": "a\"b\\c\nd\u{1}"}))).unwrap(),
            r#"{"q": "a\"b\\c\nd\u0001"}"#
        );
    }

    #[test]
    fn floats_are_written_like_python_repr() {
        for (x, want) in [
            (2.0, "2.0"),
            (0.1, "0.1"),
            (-1.5, "-1.5"),
            (100000.0, "100000.0"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456789012345.6, "123456789012345.6"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (0.0, "0.0"),
        ] {
            assert_eq!(py_float_repr(x), want, "{x}");
        }
    }

    #[test]
    fn retry_after_is_delta_seconds_or_an_http_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1.5", now), Some(Duration::from_millis(1500)));
        // IMF-fixdate, the form servers send.
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:07 GMT", now), Some(Duration::from_secs(7)));
        // The obsolete forms a recipient must accept.
        assert_eq!(parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("Wed Oct 21 07:28:30 2015", now), Some(Duration::from_secs(30)));
        // A date already past: retry now.
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
        for junk in ["soon", "-5", "", "NaN", "1e400"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
        // However far away the date, the wait is capped by the policy.
        let far = parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT", now);
        assert_eq!(RetryPolicy::default().backoff(1, far), RetryPolicy::default().max_delay);
    }

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        let p = RetryPolicy::default();
        let d1 = p.backoff(1, None);
        let d2 = p.backoff(2, None);
        assert!(d1 >= Duration::from_millis(250) && d1 <= Duration::from_millis(375));
        assert!(d2 >= Duration::from_millis(500) && d2 <= Duration::from_millis(750));
        assert_eq!(p.backoff(1, Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(p.backoff(1, Some(Duration::from_secs(999))), p.max_delay);
    }

    #[test]
    fn a_fixed_rate_limit_window_is_waited_once_whatever_retry_after_says() {
        let p = RetryPolicy { rate_limit_wait: Some(Duration::from_secs(60)), ..RetryPolicy::default() };
        for ra in [None, Some(Duration::from_secs(1)), Some(Duration::from_secs(600))] {
            assert_eq!(p.rate_limit_delay(1, 0, ra), Some(Duration::from_secs(60)), "{ra:?}");
            assert_eq!(p.rate_limit_delay(2, 1, ra), None, "a second 429 is not retried");
        }
        // Without a window a 429 backs off like a 5xx, Retry-After honoured.
        let d = RetryPolicy::default();
        assert_eq!(d.rate_limit_delay(1, 1, Some(Duration::from_secs(2))), Some(Duration::from_secs(2)));
    }
}
