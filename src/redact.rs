//! Server text on its way to people and logs (docs/protocol.md#errors-and-exit-codes).
//!
//! A server's error body is not ours: it can echo the key we sent, carry
//! megabytes, or hold escape sequences that rewrite the user's terminal.
//! Everything here is the one place that makes such text safe: [`Redactor`]
//! removes secrets, [`cut`] bounds the size, [`sanitize_for_terminal`]
//! escapes control characters for human output (`--json` keeps text exact:
//! serde escapes it).

use serde_json::Value;

use crate::config::Config;

/// The most of a server's error text that is printed or put into `--json`.
pub const MAX_ERROR_TEXT: usize = 2048;

/// What a removed secret is replaced by.
pub const REDACTED: &str = "[redacted]";

/// Key prefixes whose whole token is removed wherever it appears, with the
/// fewest token characters after the prefix that make it a key (`ap_id` is
/// a word, `ap_` followed by a long random part is an AgentPhone key).
const KEY_SHAPES: &[(&str, usize)] = &[("cc_live_", 1), ("cc_test_", 1), ("ap_", 8)];

/// Secrets shorter than this are not searched for: replacing every `abc`
/// in a message would garble it without protecting anything.
const MIN_SECRET_LEN: usize = 4;

/// Removes the configured secrets and anything shaped like a key or a
/// bearer token from text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for `secrets` (blank and very short ones are ignored).
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Redactor {
        let mut secrets: Vec<String> =
            secrets.into_iter().map(|s| s.as_ref().to_string()).filter(|s| s.trim().len() >= MIN_SECRET_LEN).collect();
        // Longest first, so a secret containing another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// Every secret the configuration holds: API key, gateway token,
    /// AgentPhone key.
    pub fn from_config(cfg: &Config) -> Redactor {
        let all = [&cfg.api_key, &cfg.gateway_token, &cfg.agentphone_api_key];
        Redactor::new(all.into_iter().flatten().map(|s| s.expose().to_string()))
    }

    /// The secrets searched for.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// Add one more secret.
    pub fn with(mut self, secret: &str) -> Redactor {
        self.secrets.push(secret.to_string());
        Redactor::new(self.secrets)
    }

    /// `text` without the secrets and key shapes.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        redact_shapes(&out)
    }

    /// Redact every string (and object key) inside a JSON value.
    pub fn redact_json(&self, v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.redact(&s)),
            Value::Array(items) => Value::Array(items.into_iter().map(|i| self.redact_json(i)).collect()),
            Value::Object(m) => {
                Value::Object(m.into_iter().map(|(k, v)| (self.redact(&k), self.redact_json(v))).collect())
            }
            other => other,
        }
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '~' | '+' | '/' | '=')
}

/// Replace `cc_live_…`, `cc_test_…`, `ap_…` tokens and the token after
/// `Bearer ` (any case) with [`REDACTED`].
pub fn redact_shapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    'scan: while let Some(c) = rest.chars().next() {
        let at_word_start = !prev.is_some_and(|p| p.is_ascii_alphanumeric() || p == '_');
        if at_word_start {
            for (prefix, min) in KEY_SHAPES {
                if let Some(after) = rest.strip_prefix(prefix) {
                    let len: usize = after.chars().take_while(|&c| is_token_char(c)).map(char::len_utf8).sum();
                    if after[..len].chars().count() >= *min {
                        out.push_str(REDACTED);
                        rest = &after[len..];
                        prev = Some('x');
                        continue 'scan;
                    }
                }
            }
            if rest.len() > 7 && rest.is_char_boundary(7) && rest[..7].eq_ignore_ascii_case("bearer ") {
                let after = rest[7..].trim_start_matches(' ');
                let len: usize = after.chars().take_while(|&c| is_token_char(c)).map(char::len_utf8).sum();
                if len > 0 {
                    out.push_str(&rest[..6]);
                    out.push(' ');
                    out.push_str(REDACTED);
                    rest = &after[len..];
                    prev = Some('x');
                    continue 'scan;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
        prev = Some(c);
    }
    out
}

/// `text` with every occurrence of the E.164 `number` replaced by `masked`
/// (`clawdtalk forget`, docs/optout.md#forgetting-a-number), written with
/// or without its `+`; the digits alone count only where no other digit
/// touches them (never inside a longer number or id). Returns the new text
/// and how many occurrences were replaced.
pub fn erase_number(text: &str, number: &str, masked: &str) -> (String, usize) {
    let digits = number.trim().trim_start_matches('+');
    if digits.len() < 7 || !text.contains(digits) {
        return (text.to_string(), 0);
    }
    let (mut out, mut count, mut rest) = (String::with_capacity(text.len()), 0, text);
    while let Some(i) = rest.find(digits) {
        let (before, after) = (&rest[..i], &rest[i + digits.len()..]);
        let touches = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
        let prev = before.chars().next_back();
        if touches(after.chars().next()) || (prev != Some('+') && touches(prev)) {
            out.push_str(&rest[..i + digits.len()]);
        } else {
            out.push_str(before.strip_suffix('+').unwrap_or(before));
            out.push_str(masked);
            count += 1;
        }
        rest = after;
    }
    out.push_str(rest);
    (out, count)
}

/// At most `max` bytes of `text`, cut on a character boundary, with `…`
/// when something was cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Characters that must not reach a terminal raw: C0 and C1 controls
/// (ESC starts CSI/OSC sequences, CR overwrites the line, BEL rings), DEL,
/// and the bidirectional overrides and isolates that reorder what is shown.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` made safe to print on a terminal: every unsafe character is
/// written as an escape (`\n`, `\r`, `\t`, `\x1b`, `\u{202e}`); everything
/// else passes unchanged. For human output only.
pub fn sanitize_for_terminal(text: &str) -> String {
    if !text.chars().any(is_unsafe) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) && (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A key shown as its first 8 and last 4 characters (`cc_live_...wxyz`);
/// keys of 12 characters or fewer are hidden entirely.
pub fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 12 {
        return "*".repeat(chars.len().max(4));
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}...{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn configured_secrets_are_removed() {
        let r = Redactor::new(["s3cret-gateway-token", "ab"]);
        assert_eq!(r.redact("token s3cret-gateway-token refused"), "token [redacted] refused");
        // Too short to search for: left alone.
        assert_eq!(r.redact("ab cd"), "ab cd");
    }

    #[test]
    fn key_shapes_and_bearer_tokens_are_removed() {
        let r = Redactor::default();
        assert_eq!(r.redact("bad key cc_live_abcDEF123 here"), "bad key [redacted] here");
        assert_eq!(r.redact("\"cc_test_0123456789abcdef\""), "\"[redacted]\"");
        assert_eq!(r.redact("x-api-key ap_0123456789abcdef!"), "x-api-key [redacted]!");
        assert_eq!(r.redact("Authorization: Bearer abc.def-ghi, next"), "Authorization: Bearer [redacted], next");
        assert_eq!(r.redact("authorization: bearer xyz"), "authorization: bearer [redacted]");
    }

    #[test]
    fn words_that_merely_contain_a_prefix_are_kept() {
        let r = Redactor::default();
        for keep in ["map_key", "ap_id", "swap_0123456789abc", "cc_live_", "Bearer ", "bearer"] {
            assert_eq!(r.redact(keep), keep);
        }
    }

    #[test]
    fn json_strings_and_keys_are_redacted() {
        let r = Redactor::new(["cc_live_secretsecret"]);
        let v = r.redact_json(json!({"error": {"message": "key cc_live_secretsecret invalid", "n": 1}}));
        assert_eq!(v, json!({"error": {"message": "key [redacted] invalid", "n": 1}}));
    }

    #[test]
    fn cut_keeps_characters_whole() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "abc…");
        assert_eq!(cut("ééé", 3), "é…");
    }

    #[test]
    fn escape_sequences_and_fake_lines_are_escaped() {
        assert_eq!(sanitize_for_terminal("a\u{1b}[2Jb"), "a\\x1b[2Jb");
        assert_eq!(sanitize_for_terminal("\u{1b}]0;title\u{7}"), "\\x1b]0;title\\x07");
        assert_eq!(sanitize_for_terminal("ok\rFAKE\nline"), "ok\\rFAKE\\nline");
        assert_eq!(sanitize_for_terminal("\u{9b}2J\u{202e}abc"), "\\u{009b}2J\\u{202e}abc");
        assert_eq!(sanitize_for_terminal("Café ☎ 😀 \\x"), "Café ☎ 😀 \\x");
    }

    #[test]
    fn mask_key_shows_head_and_tail() {
        assert_eq!(mask_key("cc_live_abcdefghijklmnop"), "cc_live_...mnop");
        assert_eq!(mask_key("short"), "*****");
    }

    proptest! {
        #[test]
        fn sanitized_text_never_holds_a_raw_control_character(s in any::<String>()) {
            let out = sanitize_for_terminal(&s);
            prop_assert!(!out.chars().any(is_unsafe), "{:?}", out);
        }

        #[test]
        fn printable_text_passes_unchanged(s in "[^\\p{Cc}\u{200e}\u{200f}\u{061c}\u{202a}-\u{202e}\u{2066}-\u{2069}]*") {
            prop_assert_eq!(sanitize_for_terminal(&s), s);
        }

        #[test]
        fn redaction_never_panics_and_removes_the_secret(pre in ".{0,20}", post in ".{0,20}") {
            let secret = "cc_live_0123456789abcdef";
            let r = Redactor::new([secret]);
            let out = r.redact(&format!("{pre}{secret}{post}"));
            prop_assert!(!out.contains(secret));
        }
    }

    #[test]
    fn a_number_is_erased_with_or_without_its_plus_but_never_inside_a_longer_one() {
        let m = "+1 ***0006";
        assert_eq!(
            erase_number("call +15005550006 or 15005550006, not 215005550006 or 150055500067", "+15005550006", m),
            ("call +1 ***0006 or +1 ***0006, not 215005550006 or 150055500067".to_string(), 2)
        );
        assert_eq!(erase_number("+15005550006", "+15005550006", m), (m.to_string(), 1));
        assert_eq!(erase_number("nothing here", "+15005550006", m), ("nothing here".to_string(), 0));
    }
}
