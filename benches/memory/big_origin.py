#!/usr/bin/env python3
"""A v2 that answers every request with the same 10 MB JSON body (with Content-Length).

    big_origin.py PORT [MEGABYTES]
    big_origin.py --write FILE [MEGABYTES]     (write the body to FILE and exit; for nginx)

The body is built once at start. Clients that hang up early (the proxy stops reading at its
capture cap) are ignored quietly. Loopback only.
"""
import http.server
import socketserver
import sys

_mb_arg = 3 if sys.argv[1] == "--write" else 2
MB = int(sys.argv[_mb_arg]) if len(sys.argv) > _mb_arg else 10
_item = b'{"id":1234567890123,"name":"shadowdiff","tags":["a","b","c"],"ok":true},'
_n = (MB * 1000 * 1000 - 20) // len(_item)
BODY = b'{"items":[' + _item * _n
BODY = BODY[:-1] + b"]}"
BODY = BODY + b" " * (MB * 1000 * 1000 - len(BODY))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        try:
            self.wfile.write(BODY)
        except OSError:
            self.close_connection = True

    do_HEAD = do_GET

    def log_message(self, *args) -> None:
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request, client_address) -> None:
        pass  # broken pipes and resets from a client that stopped reading


if __name__ == "__main__":
    if sys.argv[1] == "--write":
        with open(sys.argv[2], "wb") as f:
            f.write(BODY)
        sys.exit(0)
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
