//! Text that will be spoken aloud (or sent by SMS) is cleaned first: a
//! text-to-speech engine reads `**` and URLs literally, and a JSON tool-call
//! object the agent leaked is meaningless to a caller. Text with nothing
//! left to say is `None`: what the caller hears then is decided by
//! [`super::reply`], never a made-up "Done." (docs/protocol.md#the-gateway).

use serde_json::Value;

/// Most characters in a `response` / `deep_tool_result` (docs/protocol.md#voice-websocket).
pub const MAX_SPOKEN: usize = 2000;
/// Most characters in an SMS reply.
pub const MAX_SMS: usize = 1500;
/// Clean text for speech: markdown removed, links to their text, newlines to
/// spaces, at most `max` chars; `None` when nothing speakable is left (empty,
/// `HEARTBEAT_OK`, a bare JSON object or array such as a leaked tool call).
pub fn for_speech(text: &str, max: usize) -> Option<String> {
    let cleaned = collapse_spaces(&strip_markdown(text));
    finish(cleaned, max)
}

/// Clean text for an SMS: markdown removed, line breaks kept, at most `max`
/// chars; `None` as for [`for_speech`].
pub fn for_sms(text: &str, max: usize) -> Option<String> {
    let stripped = strip_markdown(text);
    let lines: Vec<String> = stripped.lines().map(collapse_spaces).collect();
    let mut out = lines.join("\n");
    while out.contains("\n\n\n") {
        out = out.replace("\n\n\n", "\n\n");
    }
    finish(out.trim().to_string(), max)
}

fn finish(text: String, max: usize) -> Option<String> {
    if text.is_empty() || text == "HEARTBEAT_OK" || is_bare_json(&text) {
        return None;
    }
    Some(truncate(&text, max))
}

/// Is the whole text one JSON object or array (what a model emits for a
/// tool call, or a gateway status leaking through)?
pub fn is_bare_json(text: &str) -> bool {
    let t = text.trim();
    (t.starts_with('{') || t.starts_with('['))
        && matches!(serde_json::from_str::<Value>(t), Ok(Value::Object(_) | Value::Array(_)))
}

/// Cut to at most `max` characters, at a word boundary when one is near,
/// ending with an ellipsis when something was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep = max.saturating_sub(1);
    let cut: String = text.chars().take(keep).collect();
    let at_word = match cut.rfind(char::is_whitespace) {
        Some(i) if i > keep / 2 => cut[..i].trim_end().to_string(),
        _ => cut,
    };
    format!("{at_word}…")
}

fn collapse_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Remove markdown marks line by line; links and images become their text.
fn strip_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut l = line.trim_start();
        if l.starts_with("```") {
            // fence line: drop the marks (and the language tag)
            continue;
        }
        l = l.trim_start_matches('#').trim_start();
        l = l.trim_start_matches('>').trim_start();
        for bullet in ["- ", "* ", "+ "] {
            if let Some(rest) = l.strip_prefix(bullet) {
                l = rest;
            }
        }
        out.push_str(&inline(l));
        out.push('\n');
    }
    out
}

/// Inline marks: links, images, emphasis, code.
fn inline(s: &str) -> String {
    let s = links(s);
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' | '`' | '~' => {}
            '_' => {
                // keep snake_case words; drop `_emphasis_` marks at word edges
                let prev_alnum = i > 0 && chars[i - 1].is_alphanumeric();
                let next_alnum = i + 1 < chars.len() && chars[i + 1].is_alphanumeric();
                if prev_alnum && next_alnum {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// `[text](url)` → `text`, `![alt](url)` → `alt`.
fn links(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        let Some(close_rel) = rest[open..].find("](") else { break };
        let close = open + close_rel;
        let Some(end_rel) = rest[close + 2..].find(')') else { break };
        let end = close + 2 + end_rel;
        let before = &rest[..open];
        out.push_str(before.strip_suffix('!').unwrap_or(before));
        out.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_marks_and_links_are_removed_and_newlines_become_spaces() {
        let t = "# Result\n\n**Three** items:\n- one\n- _two_ see [the docs](https://x.y/z)\n`code` and snake_case";
        assert_eq!(for_speech(t, MAX_SPOKEN).unwrap(), "Result Three items: one two see the docs code and snake_case");
        assert_eq!(for_speech("![a cat](http://img) ok", 100).unwrap(), "a cat ok");
    }

    #[test]
    fn empty_heartbeat_and_bare_json_leave_nothing_to_say_never_done() {
        assert_eq!(for_speech("", 100), None);
        assert_eq!(for_speech("  \n ", 100), None);
        assert_eq!(for_speech("HEARTBEAT_OK", 100), None);
        assert_eq!(for_speech(r#"{"tool":"exec","args":{"cmd":"ls"}}"#, 100), None);
        assert_eq!(for_speech("**[1, 2]**", 100), None);
        assert_eq!(for_sms("{\"runId\":\"r\"}", 100), None);
        assert_eq!(for_speech("{not json}", 100).unwrap(), "{not json}");
    }

    #[test]
    fn long_text_is_cut_to_the_limit_at_a_word() {
        let long = "word ".repeat(1000);
        let s = for_speech(&long, MAX_SPOKEN).unwrap();
        assert!(s.chars().count() <= MAX_SPOKEN);
        assert!(s.ends_with("word…"), "{}", &s[s.len() - 20..]);
        let s = for_sms(&"é".repeat(3000), MAX_SMS).unwrap();
        assert_eq!(s.chars().count(), MAX_SMS);
    }

    #[test]
    fn sms_keeps_line_breaks() {
        assert_eq!(for_sms("**Hi**\n\n\n\nsee [x](http://u)", MAX_SMS).unwrap(), "Hi\n\nsee x");
    }
}
