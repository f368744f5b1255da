//! A flood of inbound SMS against the `clawdtalk connect run` binary, with a
//! slow stand-in gateway: shared by the CI test (tests/hostile_connect.rs)
//! and the benchmark (benches/connect_flood.rs), which differ only in the
//! binary's build and what they assert.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::standins::{wait_for, GatewayStandIn, WsStandIn};

pub const KEY: &str = "cc_test_flood000000000000";
/// The bound configured for the flood (`max_concurrent_requests`).
pub const MAX_CONCURRENT: usize = 4;

/// What a flood did.
#[derive(Debug)]
pub struct FloodReport {
    pub sent: u64,
    /// The counts from the status file once every message was accounted for.
    pub counts: Value,
    /// The most gateway requests in flight at once, as the gateway saw them.
    pub gateway_peak: usize,
    /// Peak resident memory of the client (VmHWM), KiB.
    pub vm_hwm_kib: u64,
    pub took: Duration,
    /// The log's size right after the flood, and once the client stopped.
    pub log_bytes_after_flood: u64,
    pub log_tail: String,
    /// SMS replies sent (answers and "busy" notices).
    pub sms_sent: usize,
    pub numbers: usize,
}

fn proc_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn status_file(runtime: &Path) -> Option<PathBuf> {
    std::fs::read_dir(runtime).ok()?.flatten().map(|e| e.path().join("status.json")).find(|p| p.exists())
}

/// Start `exe connect run` against stand-ins, send `total` `sms.received`
/// frames from `numbers` numbers, wait until every one is counted as
/// processed or refused (within `within`), stop the client and report.
pub fn run(exe: &Path, total: u64, numbers: usize, gateway_delay: Duration, within: Duration) -> FloodReport {
    let ws = WsStandIn::start(KEY);
    let gw = GatewayStandIn::start_slow(gateway_delay);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("skill-config.json");
    std::fs::write(
        &cfg,
        json!({"api_key": KEY, "server": format!("http://{}", ws.addr), "gateway_url": gw.url(),
            "max_concurrent_requests": MAX_CONCURRENT, "max_queued_requests": 64})
        .to_string(),
    )
    .unwrap();
    let runtime = dir.path().join("run");
    let log = dir.path().join("connect.log");
    let mut child = std::process::Command::new(exe)
        .env_clear()
        .env("HOME", dir.path())
        .env("CLAWDTALK_RUNTIME_DIR", &runtime)
        .env("CLAWDTALK_CONFIG", &cfg)
        .args(["connect", "run", "--log-file"])
        .arg(&log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    ws.wait_auths(1);
    let t0 = Instant::now();
    ws.flood((0..total).map(|i| {
        json!({"type":"sms.received","from":format!("+1555{:07}", i as usize % numbers),
            "body":format!("hello number {i}, how are you"),"message_id":format!("m{i}")})
    }));
    let counts = wait_for("every message counted", within, || {
        let st: Value = serde_json::from_str(&std::fs::read_to_string(status_file(&runtime)?).ok()?).ok()?;
        let c = st.get("counts")?.clone();
        let n = |k: &str| c[k].as_u64().unwrap_or(0);
        (n("received") >= total && n("processed") + n("refused") == n("received")).then_some(c)
    });
    let took = t0.elapsed();
    let vm_hwm_kib = proc_kib(pid, "VmHWM:");
    let log_bytes_after_flood = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let log_tail = text.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    FloodReport {
        sent: total,
        counts,
        gateway_peak: gw.max_in_flight(),
        vm_hwm_kib,
        took,
        log_bytes_after_flood,
        log_tail,
        sms_sent: ws.api_requests("POST", "/v1/messages/send").len(),
        numbers,
    }
}
