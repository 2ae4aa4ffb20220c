#!/usr/bin/env python3
"""A tiny slow origin for the load harness: answers every GET with a JSON file after a delay.

usage: slow_origin.py PORT FILE [DELAY_SECONDS]

One thread per connection (ThreadingHTTPServer), HTTP/1.1 keep-alive, a deep listen backlog so a
proxy opening hundreds of connections at once is not refused. Binds 127.0.0.1 only.
"""
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096
    allow_reuse_address = True


def main() -> None:
    port = int(sys.argv[1])
    with open(sys.argv[2], "rb") as f:
        body = f.read()
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, *args) -> None:  # quiet
            pass

    Server(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
