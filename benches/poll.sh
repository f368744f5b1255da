#!/usr/bin/env bash
# Benchmark `clawdtalk poll` (issue 5): one poll over N tracked scheduled
# events that all ended since the last poll (each needs its event fetched,
# its insights fetched, a run event logged and its record written), and a
# poll with nothing pending. Prints wall time and peak memory (RSS).
#
#   benches/poll.sh            # N=1000 against a local sandbox
#   N=5000 benches/poll.sh
#
# Measures the binary users install: the `dist` profile (fat LTO), built
# here unless CLAWDTALK_BIN names another. Needs python3 and GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-1000}"
if [ -z "${CLAWDTALK_BIN:-}" ]; then cargo build --profile dist --quiet; fi
BIN="$(realpath "${CLAWDTALK_BIN:-target/dist/clawdtalk}")"
WORK="$(mktemp -d)"
trap 'kill "$SB_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

# A sandbox on a free port; its clock is advanced by hand below (clawdtalk
# follows it through the Date header; CLAWDTALK_CLOCK_URL is for older builds).
"$BIN" sandbox --port 0 >"$WORK/sandbox.out" 2>"$WORK/sandbox.err" &
SB_PID=$!
for _ in $(seq 1 100); do
  grep -q "export CLAWDTALK_API_URL=" "$WORK/sandbox.out" 2>/dev/null && break
  sleep 0.1
done
API="$(sed -n 's/^export CLAWDTALK_API_URL=//p' "$WORK/sandbox.out")"
KEY="$(sed -n 's/^export CLAWDTALK_API_KEY=//p' "$WORK/sandbox.out")"
ROOT="${API%/v1}"
export CLAWDTALK_API_URL="$API" CLAWDTALK_API_KEY="$KEY" CLAWDTALK_CLOCK_URL="$ROOT/_sandbox/clock"
STATE="$WORK/state.json"

# One mission, one run with a one-step plan, N scheduled calls tracked in
# the state file (as `schedule call --mission` records them).
python3 - "$API" "$KEY" "$STATE" "$N" <<'PY'
import json, sys, urllib.request, datetime
api, key, state, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def req(method, path, body=None):
    r = urllib.request.Request(api + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    with urllib.request.urlopen(r) as f:
        t = f.read()
        return json.loads(t) if t else {}
def pick(v, envs, keys):
    for o in [v.get(e) for e in envs if isinstance(v.get(e), dict)] + [v]:
        for k in keys:
            if o.get(k): return o[k]
m = pick(req("POST", "/missions", {"name": "bench", "instructions": "benchmark"}), ["mission", "data"], ["id", "mission_id"])
r = pick(req("POST", f"/missions/{m}/runs", {"input": {"original_request": "bench"}}), ["data", "run"], ["run_id", "id"])
req("POST", f"/missions/{m}/runs/{r}/plan", {"steps": [{"step_id": "calls", "description": "calls", "sequence": 1}]})
req("PATCH", f"/missions/{m}/runs/{r}", {"status": "running"})
a = pick(req("POST", "/assistants", {"name": "bench", "instructions": "ask about prices"}), ["assistant", "data"], ["id"])
at = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
recs = []
for i in range(n):
    to = "+1555%07d" % (2000000 + i)
    e = req("POST", f"/assistants/{a}/events", {"channel": "call", "to": to, "from": "+15550001111",
        "scheduled_at": at, "mission_id": m, "run_id": r, "step_id": "calls"})
    recs.append({"event_id": pick(e, ["event", "data"], ["id", "event_id"]), "assistant_id": a, "channel": "call",
        "to": to, "scheduled_at": at, "step_id": "calls", "status": "pending"})
json.dump({"bench": {"mission_name": "bench", "mission_id": m, "run_id": r, "assistant_id": a,
    "agent_phone": "+15550001111", "memory": {"scheduled_events": recs}}}, open(state, "w"), indent=2)
PY
# Every call has ended and its insights are ready.
curl -s -X POST "$ROOT/_sandbox/clock/advance" -H 'content-type: application/json' -d '{"seconds": 3600}' >/dev/null

echo "poll over $N tracked events (all ended since the last poll):"
/usr/bin/time -f "  wall %e s, peak RSS %M KB" "$BIN" poll --state "$STATE" >"$WORK/poll.out"
tail -n 3 "$WORK/poll.out" | sed 's/^/  /'

count() { curl -s "$ROOT/_sandbox/requests" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["requests"]) + d.get("dropped", 0))'; }
# The mission has ended and is archived: nothing pending.
BEFORE="$(count)"
echo "poll with nothing pending (20 runs):"
python3 - "$BIN" "$STATE" <<'PY'
import subprocess, sys, time, statistics
times = []
for _ in range(20):
    t = time.perf_counter()
    subprocess.run([sys.argv[1], "poll", "--state", sys.argv[2]], check=True, capture_output=True)
    times.append((time.perf_counter() - t) * 1000)
print("  median %.1f ms, min %.1f ms, max %.1f ms" % (statistics.median(times), min(times), max(times)))
PY
/usr/bin/time -f "  peak RSS %M KB" "$BIN" poll --state "$STATE" 2>&1 >/dev/null | tail -n 1
echo "  API requests during the nothing-pending runs: $(( $(count) - BEFORE ))"
