//! The code base's shape, checked on every `cargo test` so it cannot drift:
//! file and function sizes, one-way imports between commands, no import
//! cycles between source files, and documentation that cites only what is in
//! the repository. See docs/architecture.md for the map these rules protect.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 800;
const MAX_FN_LINES: usize = 100;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/`, as (path relative to the root, text).
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/");
            (rel, fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The text with comments, string and char literals blanked (same line
/// structure), so braces and words inside them do not count.
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied().unwrap_or('\0');
        if c == '/' && next == '/' {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == '*' {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == '"' || next == '#')
            && !b.get(i.wrapping_sub(1)).is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // raw string r"…" or r#"…"#
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.push(' ');
            for _ in 0..=hashes {
                out.push(' ');
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    j += 1 + hashes;
                    break;
                }
                out.push(blank(b[j]));
                j += 1;
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // a char literal ('x', '\n', '\u{..}') or a lifetime ('a)
            let end = if next == '\\' {
                (i + 2..b.len().min(i + 12)).find(|&k| b[k] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    for _ in i..=e {
                        out.push(' ');
                    }
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether an attribute line compiles its item only under test:
/// `#[cfg(test)]`, or `#[cfg(all(…))]` with `test` among its direct
/// conditions (`#[cfg(all(test, unix))]`). `not(test)` and `any(test, …)`
/// are not test-only.
fn is_test_cfg(line: &str) -> bool {
    let t = line.trim_start();
    if t.starts_with("#[cfg(test)]") {
        return true;
    }
    let Some(inner) = t.strip_prefix("#[cfg(all(").and_then(|r| r.strip_suffix("))]")) else { return false };
    // Only top-level conditions: a nested `not(test)` must not count.
    let mut depth = 0;
    let mut conditions = vec![String::new()];
    for ch in inner.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                conditions.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = conditions.last_mut() {
            last.push(ch);
        }
    }
    conditions.iter().any(|c| c.trim() == "test")
}

/// Line ranges (0-based, inclusive) of test-only items (see [`is_test_cfg`]).
fn test_ranges(code: &str) -> Vec<(usize, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if is_test_cfg(lines[i]) {
            if let Some(end) = block_end(&lines, i) {
                ranges.push((i, end));
                i = end + 1;
                continue;
            }
        }
        i += 1;
    }
    ranges
}

/// The line where the block opened at or after `start` closes (or, for an
/// item without a body, the line of its `;`).
fn block_end(lines: &[&str], start: usize) -> Option<usize> {
    let mut depth = 0i32;
    let mut opened = false;
    for (n, line) in lines.iter().enumerate().skip(start) {
        for ch in line.chars() {
            match ch {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth -= 1,
                ';' if !opened && depth == 0 => return Some(n),
                _ => {}
            }
        }
        if opened && depth == 0 {
            return Some(n);
        }
    }
    None
}

fn is_test_file(path: &str) -> bool {
    path.ends_with("/tests.rs")
        || path.contains("/tests/")
        || path.contains("/testing/")
        || path.ends_with("/testing.rs")
}

#[test]
fn no_source_file_is_longer_than_800_lines() {
    let long: Vec<String> = sources()
        .iter()
        .filter(|(_, text)| text.lines().count() > MAX_FILE_LINES)
        .map(|(p, text)| format!("{p}: {} lines", text.lines().count()))
        .collect();
    assert!(long.is_empty(), "split these files (limit {MAX_FILE_LINES} lines):\n{}", long.join("\n"));
}

#[test]
fn no_function_outside_tests_is_longer_than_100_lines() {
    let mut long = Vec::new();
    for (path, text) in sources() {
        if is_test_file(&path) {
            continue;
        }
        let code = code_only(&text);
        let tests = test_ranges(&code);
        let lines: Vec<&str> = code.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            if tests.iter().any(|&(a, b)| n >= a && n <= b) {
                continue;
            }
            let Some(name) = fn_name(line) else { continue };
            if let Some(end) = block_end(&lines, n) {
                let len = end - n + 1;
                if len > MAX_FN_LINES {
                    long.push(format!("{path}:{}: fn {name} is {len} lines", n + 1));
                }
            }
        }
    }
    assert!(long.is_empty(), "split these functions (limit {MAX_FN_LINES} lines):\n{}", long.join("\n"));
}

/// The name of the function a line declares, if it declares one.
fn fn_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    loop {
        let before = rest;
        for prefix in ["pub(crate) ", "pub(super) ", "pub ", "async ", "const ", "unsafe ", "extern \"C\" "] {
            if let Some(r) = rest.strip_prefix(prefix) {
                rest = r;
            }
        }
        if rest == before {
            break;
        }
    }
    let rest = rest.strip_prefix("fn ")?;
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The command noun a file under `src/commands/` belongs to.
fn command_noun(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("src/commands/")?;
    let first = rest.split('/').next()?;
    let noun = first.strip_suffix(".rs").unwrap_or(first);
    (noun != "mod").then_some(noun)
}

#[test]
fn no_command_module_imports_another() {
    let files = sources();
    let nouns: BTreeSet<String> = files.iter().filter_map(|(p, _)| command_noun(p).map(String::from)).collect();
    let mut bad = Vec::new();
    for (path, text) in &files {
        let Some(own) = command_noun(path) else { continue };
        if is_test_file(path) {
            continue; // tests of the dispatcher drive every command
        }
        let nested = path.matches('/').count() > 2; // src/commands/<noun>/<verb>.rs
        let code = code_only(text);
        for (n, line) in code.lines().enumerate() {
            for other in &nouns {
                if other == own || other == "support" {
                    continue;
                }
                let via_crate = format!("crate::commands::{other}");
                let via_super = if nested { format!("super::super::{other}") } else { format!("super::{other}") };
                let braced = line.contains("super::{") || line.contains("commands::{");
                let in_braces = braced
                    && line
                        .split(['{', ',', '}'])
                        .any(|w| w.trim() == other || w.trim().starts_with(&format!("{other}::")));
                let hit = line.contains(&format!("{via_crate}::"))
                    || line.contains(&format!("{via_crate};"))
                    || line.contains(&format!("{via_super}::"))
                    || line.contains(&format!("{via_super};"))
                    || in_braces;
                if hit {
                    bad.push(format!("{path}:{}: {} uses command `{other}`", n + 1, own));
                }
            }
        }
    }
    assert!(bad.is_empty(), "commands must share code through the library, not each other:\n{}", bad.join("\n"));
}

/// The module path (`a::b`) a source file defines.
fn module_of(path: &str) -> String {
    let rel = path.strip_prefix("src/").unwrap_or(path).trim_end_matches(".rs");
    let rel = rel.strip_suffix("/mod").unwrap_or(rel);
    match rel {
        "lib" | "main" => String::new(),
        _ => rel.replace('/', "::"),
    }
}

#[test]
fn no_import_cycle_between_source_files() {
    let files = sources();
    let modules: BTreeMap<String, String> =
        files.iter().filter(|(p, _)| p != "src/main.rs").map(|(p, _)| (module_of(p), p.clone())).collect();
    // Edges: a file's `use`/path references to another file's module. Re-exports
    // (`pub use`) and `mod` declarations are a parent publishing its children,
    // not a dependency, and are left out; so are test modules.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in &files {
        if path == "src/main.rs" || is_test_file(path) {
            continue;
        }
        let own = module_of(path);
        let code = code_only(text);
        let tests = test_ranges(&code);
        for (n, line) in code.lines().enumerate() {
            let t = line.trim_start();
            if tests.iter().any(|&(a, b)| n >= a && n <= b)
                || t.starts_with("pub use")
                || t.starts_with("pub(crate) use")
                || t.starts_with("mod ")
                || t.starts_with("pub mod ")
            {
                continue;
            }
            for target in referenced_modules(line, &own, path.ends_with("mod.rs") || path == "src/lib.rs") {
                let resolved = longest_module(&target, &modules);
                if let Some(m) = resolved {
                    if m != own {
                        edges.entry(own.clone()).or_default().insert(m);
                    }
                }
            }
        }
    }
    // Depth-first search for a back edge.
    let mut cycles = Vec::new();
    let mut state: BTreeMap<String, u8> = BTreeMap::new();
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        cycles: &mut Vec<String>,
    ) {
        state.insert(m.to_string(), 1);
        stack.push(m.to_string());
        for next in edges.get(m).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|s| s == next).unwrap_or(0);
                    let mut ring: Vec<String> = stack[from..].to_vec();
                    ring.push(next.clone());
                    cycles.push(ring.join(" → "));
                }
                Some(_) => {}
                None => visit(next, edges, state, stack, cycles),
            }
        }
        stack.pop();
        state.insert(m.to_string(), 2);
    }
    let keys: Vec<String> = edges.keys().cloned().collect();
    for m in keys {
        if !state.contains_key(&m) {
            visit(&m, &edges, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    assert!(cycles.is_empty(), "import cycles between source files:\n{}", cycles.join("\n"));
}

/// Module paths a line refers to through `crate::…` or `super::…`.
fn referenced_modules(line: &str, own: &str, own_is_dir: bool) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = line.as_bytes();
    for start in 0..line.len() {
        let rest = &line[start..];
        if start > 0
            && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_' || bytes[start - 1] == b':')
        {
            continue;
        }
        let (base, mut tail): (Vec<&str>, &str) = if let Some(t) = rest.strip_prefix("crate::") {
            (Vec::new(), t)
        } else if rest.starts_with("super::") {
            // `super` of a mod.rs is its parent module; of a leaf file, the module holding it.
            let mut parts: Vec<&str> = if own.is_empty() { Vec::new() } else { own.split("::").collect() };
            let mut t = rest;
            while let Some(r) = t.strip_prefix("super::") {
                parts.pop();
                t = r;
            }
            let _ = own_is_dir;
            (parts, t)
        } else {
            continue;
        };
        let mut path: Vec<&str> = base;
        loop {
            let end = tail.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(tail.len());
            if end == 0 {
                break;
            }
            path.push(&tail[..end]);
            match tail[end..].strip_prefix("::") {
                Some(t) if !t.starts_with('{') => tail = t,
                _ => break,
            }
        }
        found.push(path.join("::"));
    }
    found
}

/// The longest prefix of `target` that is a module with its own file.
fn longest_module(target: &str, modules: &BTreeMap<String, String>) -> Option<String> {
    let parts: Vec<&str> = target.split("::").collect();
    (1..=parts.len()).rev().map(|n| parts[..n].join("::")).find(|m| modules.contains_key(m))
}

#[test]
fn code_and_readme_cite_only_documents_in_the_repository() {
    let mut hits = Vec::new();
    let mut texts = sources();
    texts.push(("README.md".into(), fs::read_to_string(root().join("README.md")).unwrap()));
    for (path, text) in texts {
        for (n, line) in text.lines().enumerate() {
            let l = line.to_lowercase();
            if l.contains("contract.md")
                || l.contains("contract §")
                || l.contains("contract's §")
                || l.contains("shared/")
            {
                hits.push(format!("{path}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(hits.is_empty(), "cite docs/… instead of a file outside the repository:\n{}", hits.join("\n"));
}

/// GitHub's anchor for a Markdown heading: lower case, punctuation dropped,
/// spaces to hyphens.
fn anchor_of(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every `docs/NAME.md` and `docs/NAME.md#anchor` that the code, README or
/// docs cite exists: a citation that leads nowhere is as bad as one that
/// leads outside the repository.
#[test]
fn cited_docs_and_their_anchors_exist() {
    let mut texts = sources();
    texts.push(("README.md".into(), fs::read_to_string(root().join("README.md")).unwrap()));
    if let Ok(dir) = fs::read_dir(root().join("docs")) {
        for e in dir.flatten() {
            if e.path().extension().is_some_and(|x| x == "md") {
                let rel = format!("docs/{}", e.file_name().to_string_lossy());
                texts.push((rel, fs::read_to_string(e.path()).unwrap()));
            }
        }
    }
    let mut missing = Vec::new();
    for (path, text) in &texts {
        for (n, line) in text.lines().enumerate() {
            for (i, _) in line.match_indices("docs/") {
                let rest = &line[i..];
                let end = rest.find(|c: char| !(c.is_alphanumeric() || "/._-#".contains(c))).unwrap_or(rest.len());
                let cite = rest[..end].trim_end_matches(['.', ')']);
                let (file, anchor) = cite.split_once('#').unwrap_or((cite, ""));
                if !file.ends_with(".md") {
                    continue;
                }
                let Ok(doc) = fs::read_to_string(root().join(file)) else {
                    missing.push(format!("{path}:{}: {file} does not exist", n + 1));
                    continue;
                };
                if !anchor.is_empty()
                    && !doc.lines().any(|l| l.starts_with('#') && anchor_of(l.trim_start_matches('#')) == anchor)
                {
                    missing.push(format!("{path}:{}: {file} has no heading for #{anchor}", n + 1));
                }
            }
        }
    }
    assert!(missing.is_empty(), "citations that lead nowhere:\n{}", missing.join("\n"));
}

#[test]
fn anchors_follow_githubs_rules() {
    assert_eq!(anchor_of(" Direct calls, SMS and approvals"), "direct-calls-sms-and-approvals");
    assert_eq!(anchor_of(" Errors and exit codes"), "errors-and-exit-codes");
}

#[test]
fn code_only_blanks_strings_and_comments_but_keeps_lines() {
    let src = "let a = \"{ // }\"; // {\nlet b = '{'; /* { */ let c = r#\"}\"#;\nfn x<'a>(s: &'a str) {}\n";
    let out = code_only(src);
    assert_eq!(out.lines().count(), src.lines().count());
    assert!(!out.lines().next().unwrap().contains('{'));
    assert!(!out.lines().nth(1).unwrap().contains('{') && !out.lines().nth(1).unwrap().contains('}'));
    assert!(out.lines().nth(2).unwrap().contains("{}"));
}

#[test]
fn the_checks_find_what_they_look_for() {
    let lines: Vec<&str> = vec!["pub async fn long() {", "    a();", "}"];
    assert_eq!(fn_name(lines[0]), Some("long"));
    assert_eq!(block_end(&lines, 0), Some(2));
    assert_eq!(command_noun("src/commands/mission/init.rs"), Some("mission"));
    assert_eq!(module_of("src/commands/mission/mod.rs"), "commands::mission");
    assert_eq!(
        referenced_modules("use super::workflow::Claim;", "commands::agentphone", false),
        vec!["commands::workflow::Claim"]
    );
    assert_eq!(referenced_modules("use crate::state::{A, B};", "x", false), vec!["state"]);
    assert!(is_test_cfg("#[cfg(test)]"));
    assert!(is_test_cfg("    #[cfg(all(test, unix))]"));
    assert!(is_test_cfg("#[cfg(all(unix, test))]"));
    assert!(!is_test_cfg("#[cfg(not(test))]"));
    assert!(!is_test_cfg("#[cfg(all(unix, not(test)))]"));
    assert!(!is_test_cfg("#[cfg(any(test, feature = \"x\"))]"));
    assert!(!is_test_cfg("#[cfg(unix)]"));
    let code = "fn a() {}\n#[cfg(all(test, unix))]\nmod tests {\n    use super::*;\n}\n";
    assert_eq!(test_ranges(code), vec![(1, 4)]);
}
