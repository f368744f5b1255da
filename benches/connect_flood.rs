//! `connect` under a flood (not criterion: it measures a running process).
//!
//! Runs the binary's `connect run` (bounds: 4 gateway requests in flight,
//! 64 queued) against a stand-in `/ws` that sends 20,000 `sms.received`
//! frames back to back from 50 numbers, and a stand-in gateway that takes
//! 200 ms per answer. Reports peak resident memory (VmHWM; target ≤ 32 MiB),
//! the most gateway requests in flight at once (≤ 4), and whether processed
//! plus refused equals received.
//!
//! `cargo bench --bench connect_flood`

#[path = "../tests/common/flood.rs"]
mod flood;
#[path = "../tests/common/standins.rs"]
mod standins;

use std::time::Duration;

fn main() {
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_clawdtalk"));
    let r = flood::run(&exe, 20_000, 50, Duration::from_millis(200), Duration::from_secs(120));
    let n = |k: &str| r.counts[k].as_u64().unwrap_or(0);
    let balanced = n("processed") + n("refused") == n("received") && n("received") == r.sent;
    println!("flood of {} sms.received frames from {} numbers, gateway 200 ms per answer:", r.sent, r.numbers);
    println!("  peak RSS (VmHWM):             {:.1} MiB (target <= 32 MiB)", r.vm_hwm_kib as f64 / 1024.0);
    println!(
        "  peak gateway requests:        {} at the gateway, {} by the client's count (bound {})",
        r.gateway_peak,
        n("peak_gateway"),
        flood::MAX_CONCURRENT
    );
    println!(
        "  received {} = processed {} + refused {} ({} busy, {} throttled): {}",
        n("received"),
        n("processed"),
        n("refused"),
        n("refused_busy"),
        n("refused_throttled"),
        if balanced { "yes" } else { "NO" }
    );
    println!("  SMS replies sent:             {}", r.sms_sent);
    println!("  all counted after:            {:.2} s", r.took.as_secs_f64());
    println!("  log after the flood:          {} bytes", r.log_bytes_after_flood);
    assert!(balanced && r.gateway_peak <= flood::MAX_CONCURRENT);
}
