#!/usr/bin/env python3
"""A bare MCP client over stdio for benches/mcp.sh: JSON-RPC lines written
to `clawdtalk mcp` and read back, timed with perf_counter (no SDK, so the
figures are the server's and the pipe's).

  mcp_client.py startup BIN RUNS             spawn → `initialize` answered, per run
  mcp_client.py calls BIN RUNS TOOL ARGS     one server, RUNS × tools/call round trips, and its RSS
"""

import json
import statistics
import subprocess
import sys
import time

INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "bench", "version": "1"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def spawn(bin_, extra):
    return subprocess.Popen([bin_, "mcp", *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, bufsize=0)


def ask(p, msg):
    p.stdin.write((json.dumps(msg) + "\n").encode())
    line = p.stdout.readline()
    if not line:
        sys.exit("the server closed its stdout")
    return json.loads(line)


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def ms(xs):
    xs = sorted(xs)
    return (f"median {statistics.median(xs) * 1000:.2f} ms, p90 {xs[int(len(xs) * 0.9)] * 1000:.2f} ms, "
            f"min {xs[0] * 1000:.2f} ms ({len(xs)} runs)")


def startup(bin_, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = spawn(bin_, [])
        r = ask(p, INIT)
        times.append(time.perf_counter() - t0)
        assert r.get("result", {}).get("serverInfo", {}).get("name") == "clawdtalk", r
        p.stdin.close()
        p.wait()
    print(f"startup to initialize answered: {ms(times)}")


def calls(bin_, runs, tool, args):
    p = spawn(bin_, ["--all-tools"])
    ask(p, INIT)
    p.stdin.write((json.dumps(INITIALIZED) + "\n").encode())
    ask(p, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    time.sleep(0.5)
    idle_rss, idle_hwm = status_kib(p.pid, "VmRSS"), status_kib(p.pid, "VmHWM")
    times = []
    for i in range(runs):
        msg = {"jsonrpc": "2.0", "id": 10 + i, "method": "tools/call",
               "params": {"name": tool, "arguments": json.loads(args)}}
        t0 = time.perf_counter()
        r = ask(p, msg)
        times.append(time.perf_counter() - t0)
        if r.get("result", {}).get("isError"):
            sys.exit(f"{tool} failed: {r}")
    hwm = status_kib(p.pid, "VmHWM")
    p.stdin.close()
    p.wait()
    print(f"idle after initialize + tools/list: VmRSS {idle_rss / 1024:.1f} MiB, VmHWM {idle_hwm / 1024:.1f} MiB")
    print(f"tools/call {tool} round trip: {ms(times)}; VmHWM after the calls {hwm / 1024:.1f} MiB")


if __name__ == "__main__":
    mode, bin_, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "startup":
        startup(bin_, runs)
    else:
        calls(bin_, runs, sys.argv[4], sys.argv[5])
