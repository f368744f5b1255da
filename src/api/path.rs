//! The one way to put an id into a request path (docs/protocol.md#http-api).
//!
//! Ids come from users, bots and earlier replies; pasted into a path as they
//! are, `..` or `a/../../x` would name another resource with the user's key.
//! [`ApiPath`] only grows by literal parts (written in the code) and by ids,
//! each checked by [`segment`] and percent-encoded as exactly one segment.
//! The client only sends an [`ApiPath`], so no path escapes this check.

use crate::error::Error;
use crate::redact::sanitize_for_terminal;

/// The longest id accepted, in bytes. Service ids are far shorter; a longer
/// one is a pasted document, not an id.
pub const MAX_ID_BYTES: usize = 256;

/// How much of a refused id the message shows (a 120 KB id is not echoed).
const SHOWN_CHARS: usize = 40;

/// Why an id cannot be a path segment. Nothing was sent (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{arg} {shown} is not a usable id: {why}; pass the id exactly as the service returned it")]
pub struct BadId {
    /// The argument the id came from (`MISSION_ID`).
    pub arg: String,
    /// The id as shown: escaped, at most [`SHOWN_CHARS`] characters.
    pub shown: String,
    /// What is wrong and why it matters.
    pub why: BadIdReason,
}

/// The rule an id broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadIdReason {
    #[error("it is empty")]
    Empty,
    #[error("it is only whitespace (an unset shell variable?)")]
    Blank,
    #[error("`.` and `..` would change the path instead of naming one resource")]
    Dot,
    #[error("it contains a control character ({0})")]
    Control(String),
    #[error("it is {0} bytes long (at most {MAX_ID_BYTES})")]
    TooLong(usize),
}

impl From<BadId> for Error {
    fn from(e: BadId) -> Error {
        Error::Usage(e.to_string())
    }
}

/// Check `id` (from argument `arg`) and percent-encode it as one path
/// segment: ASCII letters, digits and `-._~` pass, every other byte
/// (including `/`, `?`, `#`, `%` and spaces) becomes `%XX`.
pub fn segment(arg: &str, id: &str) -> Result<String, BadId> {
    let bad = |why| BadId { arg: arg.to_string(), shown: shown(id), why };
    if id.is_empty() {
        return Err(bad(BadIdReason::Empty));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(bad(BadIdReason::TooLong(id.len())));
    }
    if let Some(c) = id.chars().find(|c| c.is_control()) {
        return Err(bad(BadIdReason::Control(format!("U+{:04X}", c as u32))));
    }
    if id.trim().is_empty() {
        return Err(bad(BadIdReason::Blank));
    }
    if id == "." || id == ".." {
        return Err(bad(BadIdReason::Dot));
    }
    Ok(super::quote(id, ""))
}

/// The id for a message: control characters escaped, cut to [`SHOWN_CHARS`].
fn shown(id: &str) -> String {
    let head: String = id.chars().take(SHOWN_CHARS).collect();
    let more = if id.chars().nth(SHOWN_CHARS).is_some() { "…" } else { "" };
    format!("\"{}{more}\"", sanitize_for_terminal(&head))
}

/// A request path relative to the API base (`/missions/m%2F1/runs`), with
/// an optional query string kept exactly as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPath(String);

impl ApiPath {
    /// A path of literal parts only (`"/missions"`, `"/numbers/account-phones"`).
    pub fn new(literal: &'static str) -> ApiPath {
        ApiPath(literal.to_string())
    }

    /// Append literal parts (`"runs"` or `"plan/steps"`), written in the code.
    pub fn lit(mut self, literal: &'static str) -> ApiPath {
        self.0.push('/');
        self.0.push_str(literal.trim_matches('/'));
        self
    }

    /// Append one id as one segment; refused ids name `arg`.
    pub fn id(mut self, arg: &str, id: &str) -> Result<ApiPath, BadId> {
        let seg = segment(arg, id)?;
        self.0.push('/');
        self.0.push_str(&seg);
        Ok(self)
    }

    /// Append a pre-built query string (`page[size]=20`), sent as written.
    pub fn query(mut self, query: &str) -> ApiPath {
        self.0.push('?');
        self.0.push_str(query);
        self
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ApiPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reason(id: &str) -> BadIdReason {
        segment("MISSION_ID", id).unwrap_err().why
    }

    #[test]
    fn plain_ids_pass_unchanged_and_others_are_escaped() {
        assert_eq!(segment("ID", "run_1-a.b~").unwrap(), "run_1-a.b~");
        assert_eq!(segment("ID", "a/b?c#d%e f").unwrap(), "a%2Fb%3Fc%23d%25e%20f");
        assert_eq!(segment("ID", "é").unwrap(), "%C3%A9");
        assert_eq!(segment("ID", "...").unwrap(), "...");
    }

    #[test]
    fn empty_is_refused() {
        assert_eq!(reason(""), BadIdReason::Empty);
    }

    #[test]
    fn whitespace_only_is_refused() {
        assert_eq!(reason("   "), BadIdReason::Blank);
        assert_eq!(reason("\u{3000}"), BadIdReason::Blank);
    }

    #[test]
    fn dot_and_dot_dot_are_refused() {
        assert_eq!(reason("."), BadIdReason::Dot);
        assert_eq!(reason(".."), BadIdReason::Dot);
    }

    #[test]
    fn control_characters_are_refused_and_named() {
        assert_eq!(reason("m\n1"), BadIdReason::Control("U+000A".into()));
        assert_eq!(reason("\u{1b}[2J"), BadIdReason::Control("U+001B".into()));
        assert_eq!(reason("a\u{85}"), BadIdReason::Control("U+0085".into()));
        // Tab-only is a control character before it is blank.
        assert_eq!(reason("\t"), BadIdReason::Control("U+0009".into()));
    }

    #[test]
    fn ids_over_256_bytes_are_refused_and_not_echoed() {
        assert!(segment("ID", &"a".repeat(MAX_ID_BYTES)).is_ok());
        let huge = "x".repeat(120 * 1024);
        let e = segment("RUN_ID", &huge).unwrap_err();
        assert_eq!(e.why, BadIdReason::TooLong(huge.len()));
        let msg = Error::from(e).to_string();
        assert!(msg.starts_with("RUN_ID \"xxxx") && msg.contains("at most 256"), "{msg}");
        assert!(msg.len() < 250, "{} bytes: {msg}", msg.len());
    }

    #[test]
    fn the_error_names_the_argument_exits_2_and_shows_controls_escaped() {
        let e = Error::from(segment("EVENT_ID", "a\u{1b}]0;x\u{7}").unwrap_err());
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(msg.starts_with("EVENT_ID ") && msg.contains("control character"), "{msg}");
        assert!(!msg.chars().any(|c| c.is_control()), "{msg:?}");
    }

    #[test]
    fn a_path_joins_literals_and_encoded_ids() {
        let p = ApiPath::new("/missions").id("MISSION_ID", "m/1").unwrap().lit("runs").id("RUN_ID", "r 1").unwrap();
        assert_eq!(p.as_str(), "/missions/m%2F1/runs/r%201");
        assert_eq!(ApiPath::new("/missions").query("page[size]=20").as_str(), "/missions?page[size]=20");
        assert!(ApiPath::new("/missions").id("MISSION_ID", "..").is_err());
    }

    fn decode(seg: &str) -> Vec<u8> {
        let b = seg.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&seg[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    proptest! {
        #[test]
        fn no_input_panics_and_accepted_ids_stay_one_segment(id in any::<String>()) {
            if let Ok(seg) = segment("ID", &id) {
                prop_assert!(!seg.contains('/'));
                prop_assert!(seg != "." && seg != "..");
                prop_assert_eq!(decode(&seg), id.as_bytes().to_vec());
            }
        }

        #[test]
        fn path_like_ids_round_trip(id in "[a-z./%? \\-]{1,20}") {
            match segment("ID", &id) {
                Ok(seg) => {
                    prop_assert!(!seg.contains('/') && seg != "." && seg != "..");
                    prop_assert_eq!(String::from_utf8(decode(&seg)).unwrap(), id);
                }
                Err(e) => prop_assert!(matches!(e.why, BadIdReason::Dot | BadIdReason::Blank)),
            }
        }
    }
}
