use std::sync::Arc;

use super::follow::{parse_line, rotated_lines, Filter, Follower};
use super::*;
use crate::clock::FixedClock;

fn at(dir: &Path) -> Journal {
    Journal::at(dir.join("journal.ndjson"))
}

fn lines(p: &Path) -> Vec<String> {
    fs::read_to_string(p).unwrap_or_default().lines().map(str::to_string).collect()
}

#[test]
fn an_append_writes_one_line_with_the_time_kind_event_and_masked_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FixedClock::new(crate::testing::time("2026-03-01T10:00:00.250Z")));
    let j = at(dir.path()).with_clock(clock);
    j.try_append(Entry::new(Kind::Sms, "sms.sent").to("+15551234567").id("msg_1").text("See you")).unwrap();
    let got = lines(j.path());
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0],
        r#"{"ts":"2026-03-01T10:00:00.250Z","kind":"sms","event":"sms.sent","id":"msg_1","to":"+1 ***4567","text":"See you"}"#
    );
    let r = parse_line(&got[0]).unwrap();
    assert_eq!(r.entry.kind, Kind::Sms);
    assert!(!got[0].contains("5551234567"), "never the full number");
}

#[test]
fn text_is_bounded_and_keys_in_it_are_redacted() {
    let e = Entry::new(Kind::Call, "call.ended").text(&format!("key cc_live_{} {}", "a".repeat(30), "x".repeat(900)));
    let t = e.text.unwrap();
    assert!(t.len() <= MAX_TEXT + '…'.len_utf8(), "{}", t.len());
    assert!(!t.contains("cc_live_aaaa"), "{t}");
    let long_id = Entry::new(Kind::Call, "x").call_id(&"c".repeat(1000)).call_id.unwrap();
    assert!(long_id.len() <= MAX_ID + 3);
}

#[cfg(unix)]
#[test]
fn the_journal_is_created_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::at(dir.path().join("sub/journal.ndjson"));
    j.try_append(Entry::new(Kind::Call, "call.placed")).unwrap();
    assert_eq!(fs::metadata(j.path()).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn the_journal_rotates_at_its_cap_and_keeps_the_newest_old_files() {
    let dir = tempfile::tempdir().unwrap();
    let j = at(dir.path()).with_limits(300, 2);
    for i in 0..40 {
        j.try_append(Entry::new(Kind::Poll, "poll.change").text(&format!("change {i}"))).unwrap();
    }
    assert!(fs::metadata(j.path()).unwrap().len() <= 300);
    assert!(j.rotated(1).is_file() && j.rotated(2).is_file());
    assert!(!j.rotated(3).exists(), "only two old files are kept");
    let all: Vec<String> = j.files().iter().flat_map(|p| lines(p)).collect();
    let texts: Vec<String> = all.iter().filter_map(|l| parse_line(l)?.entry.text).collect();
    assert_eq!(texts.last().map(String::as_str), Some("change 39"));
    let n: Vec<usize> = texts.iter().map(|t| t[7..].parse().unwrap()).collect();
    assert!(n.windows(2).all(|w| w[1] == w[0] + 1), "oldest first, none lost in what is kept: {n:?}");
}

#[test]
fn a_batch_is_appended_in_order_and_rotates_within_itself_at_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let j = at(dir.path()).with_limits(300, 2);
    j.append_all((0..12).map(|i| Entry::new(Kind::Poll, "poll.change").text(&format!("change {i}"))).collect());
    assert_eq!(j.failures(), 0);
    assert!(fs::metadata(j.path()).unwrap().len() <= 300);
    assert!(j.rotated(1).is_file(), "the batch crossed the cap");
    let all: Vec<String> = j.files().iter().flat_map(|p| lines(p)).collect();
    let texts: Vec<String> = all.iter().filter_map(|l| parse_line(l)?.entry.text).collect();
    assert_eq!(texts.last().map(String::as_str), Some("change 11"));
    let n: Vec<usize> = texts.iter().map(|t| t[7..].parse().unwrap()).collect();
    assert!(n.windows(2).all(|w| w[1] == w[0] + 1), "in order, none lost in what is kept: {n:?}");
}

#[test]
fn concurrent_appenders_never_tear_a_line_nor_lose_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.ndjson");
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                // Each thread its own handle, as separate processes would have.
                let j = Journal::at(path).with_limits(64 * 1024, 2);
                for i in 0..200 {
                    j.try_append(Entry::new(Kind::Sms, "sms.received").id(&format!("{t}-{i}")).text(&"y".repeat(i)))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let j = Journal::at(&path).with_limits(64 * 1024, 2);
    let all: Vec<String> = j.files().iter().flat_map(|p| lines(p)).collect();
    assert!(all.iter().all(|l| parse_line(l).is_some()), "every line parses");
    // 1,600 lines of up to ~330 bytes overflow 3 × 64 KiB: the newest are all there.
    let current = lines(j.path());
    assert!(!current.is_empty());
    assert!(j.rotated(1).is_file());
}

#[test]
fn an_append_that_cannot_be_written_is_counted_not_raised() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the journal should be: opening it for append fails.
    fs::create_dir(dir.path().join("journal.ndjson")).unwrap();
    let j = at(dir.path());
    j.append(Entry::new(Kind::Call, "call.placed"));
    assert_eq!(j.failures(), 1);
}

#[test]
fn a_follower_sees_appends_and_follows_rotation_without_losing_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let j = at(dir.path()).with_limits(250, 2);
    let mut f = Follower::new(j.path());
    assert!(f.poll().unwrap().is_empty(), "no journal yet");
    let mut seen = Vec::new();
    for i in 0..30 {
        j.try_append(Entry::new(Kind::Sms, "sms.sent").id(&format!("m{i}"))).unwrap();
        // A poll at least once per rotation (5 MiB at the real cap).
        if i % 2 == 0 {
            seen.extend(f.poll().unwrap());
        }
    }
    seen.extend(f.poll().unwrap());
    let ids: Vec<String> = seen.iter().filter_map(|l| parse_line(l)?.entry.id).collect();
    assert_eq!(ids, (0..30).map(|i| format!("m{i}")).collect::<Vec<_>>());
}

#[test]
fn a_follower_holds_back_an_unfinished_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("journal.ndjson");
    fs::write(&p, "{\"a\":1}\n{\"b\"").unwrap();
    let mut f = Follower::new(&p);
    assert_eq!(f.poll().unwrap(), vec!["{\"a\":1}"]);
    let mut file = OpenOptions::new().append(true).open(&p).unwrap();
    file.write_all(b":2}\n").unwrap();
    assert_eq!(f.poll().unwrap(), vec!["{\"b\":2}"]);
}

#[test]
fn rotated_files_are_read_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let j = at(dir.path());
    fs::write(j.rotated(2), "two\n").unwrap();
    fs::write(j.rotated(1), "one\n").unwrap();
    fs::write(j.path(), "now\n").unwrap();
    assert_eq!(rotated_lines(&j).unwrap(), vec!["two", "one"]);
}

#[test]
fn the_filter_keeps_events_by_time_mission_and_kind() {
    let r = |ts: &str, kind: Kind, mission: Option<&str>| Record {
        ts: crate::testing::time(ts),
        entry: match mission {
            Some(m) => Entry::new(kind, "e").mission(m),
            None => Entry::new(kind, "e"),
        },
    };
    let f = Filter {
        since: Some(crate::testing::time("2026-01-01T10:00:00Z")),
        mission: Some("roof".into()),
        kinds: vec![Kind::Call, Kind::Poll],
    };
    assert!(f.matches(&r("2026-01-01T10:00:00Z", Kind::Call, Some("roof"))));
    assert!(!f.matches(&r("2026-01-01T09:59:59Z", Kind::Call, Some("roof"))), "too old");
    assert!(!f.matches(&r("2026-01-01T11:00:00Z", Kind::Sms, Some("roof"))), "other kind");
    assert!(!f.matches(&r("2026-01-01T11:00:00Z", Kind::Poll, Some("other"))), "other mission");
    assert!(!f.matches(&r("2026-01-01T11:00:00Z", Kind::Poll, None)), "no mission");
    assert!(Filter::default().matches(&r("2000-01-01T00:00:00Z", Kind::Other, None)));
}

#[test]
fn a_kind_from_a_newer_version_still_parses() {
    let r = parse_line(r#"{"ts":"2026-01-01T00:00:00Z","kind":"fax","event":"fax.sent"}"#).unwrap();
    assert_eq!(r.entry.kind, Kind::Other);
    assert!(parse_line("not json").is_none());
}
