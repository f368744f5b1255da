//! Sandbox benchmarks (whole-server figures, so a plain `main`, not criterion):
//!
//! 1. throughput of `GET /v1/assistants/{id}/events/{id}` from many
//!    concurrent keep-alive clients on loopback;
//! 2. wall time for 10,000 scheduled calls to play out at `--speed 1000`.
//!
//! `cargo bench --bench sandbox` starts the sandbox in-process (speed 1000);
//! `SANDBOX_URL=http://127.0.0.1:P cargo bench --bench sandbox` measures a
//! running `clawdtalk sandbox --speed 1000` instead. `BENCH_CLIENTS` (64),
//! `BENCH_SECONDS` (5) and `BENCH_EVENTS` (10000) change the load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const KEY: &str = "cc_test_bench";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn in_secs(s: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(s)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn post(c: &reqwest::Client, url: &str, body: Value) -> Value {
    let r = c.post(url).bearer_auth(KEY).json(&body).send().await.expect("sandbox reachable");
    assert!(r.status().is_success(), "POST {url}: {}", r.status());
    r.json().await.expect("JSON answer")
}

async fn assistant(c: &reqwest::Client, root: &str) -> String {
    let a = post(c, &format!("{root}/v1/assistants"), json!({"name": "bench", "instructions": "benchmark"})).await;
    a["id"].as_str().expect("assistant id").to_string()
}

async fn schedule(c: &reqwest::Client, root: &str, aid: &str, to: &str) -> String {
    let body = json!({"channel": "call", "to": to, "from": "+15550100002", "scheduled_at": in_secs(61)});
    let e = post(c, &format!("{root}/v1/assistants/{aid}/events"), body).await;
    e["id"].as_str().expect("event id").to_string()
}

async fn get_throughput(root: &str, clients: usize, seconds: u64) {
    let c = reqwest::Client::new();
    let aid = assistant(&c, root).await;
    let eid = schedule(&c, root, &aid, "+15005550006").await;
    let url = Arc::new(format!("{root}/v1/assistants/{aid}/events/{eid}"));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (url, stop) = (url.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match c.get(url.as_str()).bearer_auth(KEY).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("client task");
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all.get(((all.len() as f64 - 1.0) * p) as usize).copied().unwrap_or_default();
    println!(
        "GET event: {clients} clients, {elapsed:.1} s: {} requests, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {errors} errors",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0
    );
}

async fn playout(root: &str, events: usize, clients: usize) {
    let c = reqwest::Client::new();
    let aid = Arc::new(assistant(&c, root).await);
    let numbers = ["+15005550006", "+15005550001", "+15005550002", "+15005550004", "+15005550005", "+15551234567"];
    let started = Instant::now();
    let per = events.div_ceil(clients);
    let mut tasks = Vec::new();
    for w in 0..clients {
        let (aid, root) = (aid.clone(), root.to_string());
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            for i in (w * per)..((w + 1) * per).min(events) {
                schedule(&c, &root, &aid, numbers[i % numbers.len()]).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("scheduling task");
    }
    let scheduled = started.elapsed();
    loop {
        let s: Value =
            c.get(format!("{root}/_sandbox/events/summary")).send().await.expect("summary").json().await.expect("json");
        let done = s["by_status"]["completed"].as_u64().unwrap_or(0) + s["by_status"]["failed"].as_u64().unwrap_or(0);
        if done as usize >= events {
            let total = started.elapsed();
            println!(
                "{events} scheduled calls at speed 1000: scheduled in {:.2} s ({:.0} events/s), all terminal {:.2} s after the first request (play-out {:.2} s after the last was scheduled); {}",
                scheduled.as_secs_f64(),
                events as f64 / scheduled.as_secs_f64(),
                total.as_secs_f64(),
                (total - scheduled).as_secs_f64(),
                s["by_call_status"]
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let clients = env_num("BENCH_CLIENTS", 64) as usize;
        let seconds = env_num("BENCH_SECONDS", 5);
        let events = env_num("BENCH_EVENTS", 10_000) as usize;
        let (root, _handle) = match std::env::var("SANDBOX_URL") {
            Ok(u) => (u.trim_end_matches('/').trim_end_matches("/v1").to_string(), None),
            Err(_) => {
                let opts = clawdtalk::sandbox::SandboxOptions { speed: 1000.0, ..Default::default() };
                let h = clawdtalk::sandbox::start(opts).await.expect("sandbox starts");
                (h.root_url(), Some(h))
            }
        };
        println!("sandbox at {root}");
        get_throughput(&root, clients, seconds).await;
        playout(&root, events, clients).await;
    });
}
