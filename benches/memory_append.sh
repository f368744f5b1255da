#!/usr/bin/env bash
# Whole-process wall time of `clawdtalk memory append` on a state file that
# already holds 10,000 memory items (issue 3's benchmark; target: median
# <= 20 ms). Needs hyperfine (`apt-get install -y hyperfine`).
#
#   benches/memory_append.sh            # builds the dist binary (what users install) first
#   CLAWDTALK_BIN=path/to/clawdtalk benches/memory_append.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CLAWDTALK_BIN:-target/dist/clawdtalk}"
if [ -z "${CLAWDTALK_BIN:-}" ]; then cargo build --profile dist --quiet; fi
DIR="$(mktemp -d)"
trap 'rm -rf "$DIR"' EXIT
STATE="$DIR/state.json"
# 10,000 realistic lead records (name, phone, notes, a nested quote) in one
# key of one mission, written the way telnyx_api.py writes (indent=2).
python3 - "$STATE" <<'PY'
import json, sys
leads = [{"name": f"Lead {i} Window Cleaning", "phone": f"+1555{i:07d}",
          "notes": "Called, asked for a quote; follow up next week",
          "quote": {"amount": 300 + i % 200, "currency": "USD"}} for i in range(10000)]
state = {"bench": {"mission_name": "Bench", "mission_id": "mis_bench", "run_id": "run_bench",
                   "created_at": "2026-01-01T00:00:00Z", "memory": {"leads": leads}}}
open(sys.argv[1], "w").write(json.dumps(state, indent=2))
PY
echo "state file: $(du -h "$STATE" | cut -f1), 10,000 items"
hyperfine --warmup 5 --runs 100 -N --export-json "$DIR/result.json" \
  "$BIN --state $STATE memory append bench leads '{\"name\":\"new\",\"phone\":\"+15550000000\"}'"
python3 - "$DIR/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"median {r['median']*1000:.1f} ms  (mean {r['mean']*1000:.1f} ms, min {r['min']*1000:.1f} ms)")
PY
