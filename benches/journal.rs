//! Event journal benchmarks (a plain `main`, like benches/sandbox.rs):
//!
//! 1. the cost of one append (lock, size check, one write) to a journal
//!    already holding events, median and 99th percentile of `BENCH_APPENDS`
//!    (20,000);
//! 2. `tail --follow --json` latency: the real binary follows the journal
//!    while this process appends `BENCH_EVENTS` (40) events 150 ms apart;
//!    the latency is from the end of the append to the line read from
//!    tail's stdout.
//!
//! `cargo bench --bench journal`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clawdtalk::journal::{Entry, Journal, Kind};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn entry(i: u64) -> Entry {
    Entry::new(Kind::Sms, "sms.received")
        .from("+15551234567")
        .id(&format!("msg_{i}"))
        .text("Hello, are you free at five? The roof needs a quote before the weekend.")
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn appends() {
    let n = env_num("BENCH_APPENDS", 20_000);
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::at(dir.path().join("journal.ndjson"));
    for i in 0..1_000 {
        j.try_append(entry(i)).unwrap();
    }
    let mut times = Vec::with_capacity(n as usize);
    let all = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        j.try_append(entry(i)).unwrap();
        times.push(t.elapsed());
    }
    let total = all.elapsed();
    times.sort();
    println!(
        "append: {n} events, median {:.1} µs, p99 {:.1} µs, mean {:.1} µs ({} rotated files)",
        pct(&times, 0.5).as_secs_f64() * 1e6,
        pct(&times, 0.99).as_secs_f64() * 1e6,
        total.as_secs_f64() * 1e6 / n as f64,
        j.files().len() - 1
    );
}

fn follow_latency() {
    let n = env_num("BENCH_EVENTS", 40);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let j = Journal::at(data.join("clawdtalk/journal.ndjson"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_clawdtalk"))
        .args(["tail", "--follow", "--json"])
        .env_clear()
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", &data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("clawdtalk tail starts");
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for _ in out.lines().map_while(Result::ok) {
            if tx.send(Instant::now()).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut lat = Vec::new();
    for i in 0..n {
        j.try_append(entry(i)).unwrap();
        let appended = Instant::now();
        let seen = rx.recv_timeout(Duration::from_secs(5)).expect("tail printed the event");
        lat.push(seen.saturating_duration_since(appended));
        std::thread::sleep(Duration::from_millis(150));
    }
    let _ = child.kill();
    let _ = child.wait();
    lat.sort();
    println!(
        "tail --follow: {n} events, append → print median {:.0} ms, max {:.0} ms",
        pct(&lat, 0.5).as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3
    );
}

fn main() {
    appends();
    follow_latency();
}
