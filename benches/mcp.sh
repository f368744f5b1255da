#!/usr/bin/env bash
# `clawdtalk mcp` (docs/mcp.md): start-up to `initialize` answered, a tool
# call's round trip over stdio next to the same CLI command (whole process),
# and the server's idle resident memory. Needs hyperfine and python3.
#
#   bash benches/mcp.sh            # builds target/dist/clawdtalk (what users install) if missing
#   BIN=path/to/clawdtalk RUNS=500 bash benches/mcp.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/dist/clawdtalk}
RUNS=${RUNS:-200}
[ -x "$BIN" ] || cargo build --profile dist
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install -y hyperfine)" >&2; exit 1; }
CLIENT=$(realpath benches/mcp_client.py)

coproc SERVER { exec python3 benches/reply_server.py; }
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
read -r PORT <&"${SERVER[0]}"

# An empty directory and a clean environment: the local server's URL, a
# test key, and a state file holding one mission with one memory value.
WORK=$(mktemp -d)
export HOME="$WORK" XDG_CONFIG_HOME="$WORK/.config" XDG_DATA_HOME="$WORK/.local/share"
export CLAWDTALK_API_URL="http://127.0.0.1:$PORT/v1" CLAWDTALK_API_KEY=cc_test_benchmark0000
export CLAWDTALK_STATE_FILE="$WORK/state.json"
BIN=$(realpath "$BIN")
cd "$WORK"
"$BIN" memory save --create bench note '{"best": "Bob", "quote": 400}' >/dev/null

python3 "$CLIENT" startup "$BIN" "$RUNS"
python3 "$CLIENT" calls "$BIN" "$RUNS" memory_get '{"mission": "bench", "key": "note"}'
python3 "$CLIENT" calls "$BIN" "$RUNS" call_status '{"call_id": "call_1"}'
hyperfine -N --warmup 20 --runs "$RUNS" --export-json "$WORK/cli.json" -n "clawdtalk memory get bench note" \
  "$BIN memory get bench note" -n "clawdtalk call status call_1" "$BIN call status call_1" >/dev/null
python3 - "$WORK/cli.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"CLI {r['command']} (whole process): median {r['median'] * 1000:.2f} ms ({len(r['times'])} runs)")
PY
