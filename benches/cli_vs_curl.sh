#!/usr/bin/env bash
# Whole-process wall time of one `clawdtalk log-event …` against a local
# server, next to `curl` sending the same request (same method, path, headers
# and body bytes), plus `clawdtalk --version`. Needs hyperfine and python3.
#
#   bash benches/cli_vs_curl.sh            # builds target/dist/clawdtalk (what users install) if missing
#   BIN=path/to/clawdtalk RUNS=500 bash benches/cli_vs_curl.sh
#
# Prints hyperfine's tables and the median ratio clawdtalk / curl.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/dist/clawdtalk}
RUNS=${RUNS:-300}
OUT=${OUT:-target/bench}
[ -x "$BIN" ] || cargo build --profile dist
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install -y hyperfine)" >&2; exit 1; }
mkdir -p "$OUT"

coproc SERVER { exec python3 benches/reply_server.py; }
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
read -r PORT <&"${SERVER[0]}"
API="http://127.0.0.1:$PORT/v1"
KEY=cc_test_benchmark0000

# Run from an empty directory with a clean environment: no skill-config.json,
# no user configuration, only the URL and key.
WORK=$(mktemp -d)
export HOME="$WORK" XDG_CONFIG_HOME="$WORK/.config" CLAWDTALK_API_URL="$API" CLAWDTALK_API_KEY="$KEY"
BIN=$(realpath "$BIN")
cd "$WORK"

# The exact bytes clawdtalk (and telnyx_api.py) send for this event.
BODY='{"type": "custom", "summary": "Bench event", "agent_id": "claude-code", "step_id": "call_1"}'

hyperfine -N --warmup 20 --runs "$RUNS" --export-json "$OLDPWD/$OUT/log_event.json" \
  -n clawdtalk "$BIN log-event mis_1 run_1 custom 'Bench event' call_1" \
  -n curl "curl -s -o /dev/null -X POST -H 'Authorization: Bearer $KEY' -H 'Content-Type: application/json' --data-binary '$BODY' $API/missions/mis_1/runs/run_1/events"

hyperfine -N --warmup 20 --runs "$RUNS" --export-json "$OLDPWD/$OUT/version.json" -n version "$BIN --version"

python3 - "$OLDPWD/$OUT/log_event.json" "$OLDPWD/$OUT/version.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
v = json.load(open(sys.argv[2]))["results"][0]
c, k = r["clawdtalk"]["median"], r["curl"]["median"]
print(f"median clawdtalk log-event {c*1000:.2f} ms, curl {k*1000:.2f} ms, ratio {c/k:.2f} (target <= 1.5)")
print(f"median clawdtalk --version {v['median']*1000:.2f} ms (target < 5 ms)")
PY
