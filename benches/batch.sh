#!/usr/bin/env bash
# Benchmark `clawdtalk schedule batch` (issue 18): N targets (default 1,000)
# against a local sandbox limited to RATE requests a minute (default 600).
# The sandbox's limiter is a bucket of RATE requests refilled at RATE a
# minute, so the ideal wall time for R requests is (R - RATE) / (RATE / 60)
# seconds; the script prints the wall time, that ideal, the throughput
# reached as a fraction of it, the 429s met, and peak memory (RSS).
#
#   benches/batch.sh
#   N=2000 RATE=1200 benches/batch.sh
#
# Measures the binary users install: the `dist` profile (fat LTO), built
# here unless CLAWDTALK_BIN names another. Needs python3 and GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-1000}"
RATE="${RATE:-600}"
if [ -z "${CLAWDTALK_BIN:-}" ]; then cargo build --profile dist --quiet; fi
BIN="$(realpath "${CLAWDTALK_BIN:-target/dist/clawdtalk}")"
WORK="$(mktemp -d)"
trap 'kill "$SB_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

# Monday 15:00 UTC: New York's window is open.
"$BIN" sandbox --port 0 --rate-limit "$RATE" --start 2026-01-05T15:00:00Z >"$WORK/sandbox.out" 2>"$WORK/sandbox.err" &
SB_PID=$!
for _ in $(seq 1 100); do
  grep -q "export CLAWDTALK_API_URL=" "$WORK/sandbox.out" 2>/dev/null && break
  sleep 0.1
done
API="$(sed -n 's/^export CLAWDTALK_API_URL=//p' "$WORK/sandbox.out")"
KEY="$(sed -n 's/^export CLAWDTALK_API_KEY=//p' "$WORK/sandbox.out")"
ROOT="${API%/v1}"
export CLAWDTALK_API_URL="$API" CLAWDTALK_API_KEY="$KEY"
export HOME="$WORK" XDG_DATA_HOME="$WORK/data" XDG_CONFIG_HOME="$WORK/config"
STATE="$WORK/state.json"

# One mission with a run and an assistant in the state file, and N targets
# in New York (the sandbox's test range).
python3 - "$API" "$KEY" "$STATE" "$N" "$WORK/targets.csv" <<'PY'
import json, sys, urllib.request
api, key, state, n, csv = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
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
a = pick(req("POST", "/assistants", {"name": "bench", "instructions": "ask about prices"}), ["assistant", "data"], ["id"])
json.dump({"bench": {"mission_name": "bench", "mission_id": m, "run_id": r, "assistant_id": a,
    "agent_phone": "+15550001111", "memory": {}}}, open(state, "w"), indent=2)
with open(csv, "w") as f:
    f.write("phone,name,timezone\n")
    for i in range(n):
        f.write("+1555010%04d,target %d,America/New_York\n" % (i % 10000, i))
PY
# Let the bucket fill up again after the set-up requests.
sleep 1

echo "schedule batch of $N targets, sandbox --rate-limit $RATE:"
/usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" --json schedule batch --state "$STATE" --mission bench \
  --file "$WORK/targets.csv" --window 00:00-24:00 --days all --concurrency 100 --stagger 1m \
  --start 2026-01-05T15:10:00Z >"$WORK/out.json" 2>"$WORK/err"
tail -n 1 "$WORK/err" | sed 's/^/  /'
read -r WALL RSS <"$WORK/time"
python3 - "$WORK/out.json" "$WALL" "$RSS" "$RATE" "$ROOT" <<'PY'
import json, sys, urllib.request
out, wall, rss, rate, root = json.load(open(sys.argv[1])), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
log = json.load(urllib.request.urlopen(root + "/_sandbox/requests"))
reqs = log["requests"]
ok = [q for q in reqs if q.get("status", 0) < 400]
limited = sum(1 for q in reqs if q.get("status") == 429)
t = out["totals"]
# The batch's accepted requests (the set-up made 3 before it).
r = len(ok) - 3
ideal = max(0.0, (r - rate) / (rate / 60.0))
print(f"  created {t.get('created')}, failed {t.get('failed')}, {r} requests accepted, {limited} answered 429")
print(f"  wall {wall:.2f} s, ideal by the rate limit {ideal:.2f} s, throughput {ideal / wall * 100 if wall else 0:.1f} % of the limit's")
print(f"  peak RSS {rss / 1024:.1f} MiB")
PY
