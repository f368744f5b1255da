//! `connect` benchmark (not criterion: it measures a running process).
//!
//! Runs the release binary's `connect run` against a stand-in `/ws` server
//! and a stand-in gateway on 127.0.0.1, and reports:
//! - peak resident memory (VmHWM) and VmRSS while connected and idle;
//! - the same after 1,000 deep tool requests (100 in flight at a time);
//! - the time from a dropped socket to the next authenticated connection.
//!
//! `cargo bench --bench connect`

#[path = "../tests/common/standins.rs"]
mod standins;

use std::time::{Duration, Instant};

use serde_json::json;
use standins::{wait_for, GatewayStandIn, WsStandIn};

const KEY: &str = "cc_test_bench0000000000";

fn proc_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn main() {
    let ws = WsStandIn::start(KEY);
    let gw = GatewayStandIn::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("skill-config.json");
    std::fs::write(
        &cfg,
        json!({"api_key": KEY, "server": format!("http://{}", ws.addr), "gateway_url": gw.url()}).to_string(),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_clawdtalk"))
        .env_clear()
        .env("HOME", dir.path())
        .env("CLAWDTALK_RUNTIME_DIR", dir.path().join("run"))
        .env("CLAWDTALK_CONFIG", &cfg)
        .args(["connect", "run", "--log-file"])
        .arg(dir.path().join("connect.log"))
        .spawn()
        .unwrap();
    let pid = child.id();
    ws.wait_auths(1);
    std::thread::sleep(Duration::from_secs(3));
    println!(
        "connected, idle 3 s:        VmHWM {}  VmRSS {} (RssAnon {}, RssFile {})",
        mib(proc_kib(pid, "VmHWM:")),
        mib(proc_kib(pid, "VmRSS:")),
        mib(proc_kib(pid, "RssAnon:")),
        mib(proc_kib(pid, "RssFile:"))
    );

    let t0 = Instant::now();
    let total = 1000;
    for batch in 0..total / 100 {
        for i in 0..100 {
            let n = batch * 100 + i;
            ws.inject(json!({"type":"deep_tool_request","call_id":"bench","request_id":format!("r{n}"),"query":format!("what is {n} plus one")}));
        }
        wait_for("a batch of results", Duration::from_secs(60), || {
            (ws.sent_of("deep_tool_result").len() >= (batch + 1) * 100).then_some(())
        });
    }
    let took = t0.elapsed();
    assert_eq!(ws.sent_of("deep_tool_result").len(), total);
    std::thread::sleep(Duration::from_secs(1));
    println!(
        "after {total} deep tool requests ({:.2} s, {:.0}/s): VmHWM {}  VmRSS {}",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64(),
        mib(proc_kib(pid, "VmHWM:")),
        mib(proc_kib(pid, "VmRSS:"))
    );

    let mut times = Vec::new();
    for round in 0..5 {
        let before = ws.auths();
        let dropped = Instant::now();
        ws.drop_all(None);
        ws.wait_auths(before + 1);
        let authed = ws.shared.lock().unwrap().auth_times[before];
        times.push(authed - dropped);
        println!("drop {round}: re-authenticated after {} ms", (authed - dropped).as_millis());
        std::thread::sleep(Duration::from_millis(300));
    }
    times.sort();
    println!(
        "dropped socket -> authenticated again: median {} ms, max {} ms (5 drops)",
        times[2].as_millis(),
        times[4].as_millis()
    );
    let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
    let _ = child.wait();
}
