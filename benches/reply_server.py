#!/usr/bin/env python3
"""A minimal local HTTP server for whole-command benchmarks.

Binds 127.0.0.1 on a free port, prints the port on stdout (one line), then
answers every request with 200 and a small JSON body, as the ClawdTalk
service answers `POST /v1/missions/{mid}/runs/{rid}/events`. It reads the
request body completely so clients are never cut off. Stop it with SIGTERM.
"""

import http.server
import sys

REPLY = b'{"data": {"id": "ev_bench", "type": "custom"}}'


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, the body of a
    # second request on a kept-alive connection waits for the client's
    # delayed ACK (40 ms). A fresh connection (one request per process) is
    # not affected; benches/mcp.sh reuses one.
    disable_nagle_algorithm = True

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(REPLY)))
        self.end_headers()
        self.wfile.write(REPLY)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
sys.stdout.close()
server.serve_forever()
