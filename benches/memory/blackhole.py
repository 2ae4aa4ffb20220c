#!/usr/bin/env python3
"""A v2 that accepts every connection and never answers.

    blackhole.py PORT

Accepts continuously (the listen backlog never fills), never reads and never writes. A socket is
closed only when its peer has closed or reset it (POLLRDHUP/POLLHUP/POLLERR, noticed without
reading), so the proxy's timed-out mirrors do not pile up here as CLOSE_WAIT sockets.
Loopback only.
"""
import resource
import select
import socket
import sys


def main() -> None:
    port = int(sys.argv[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(4096)
    srv.setblocking(False)
    poller = select.poll()
    poller.register(srv.fileno(), select.POLLIN)
    held: dict[int, socket.socket] = {}
    gone = select.POLLRDHUP | select.POLLHUP | select.POLLERR | select.POLLNVAL
    while True:
        for fd, ev in poller.poll(1000):
            if fd == srv.fileno():
                while True:
                    try:
                        conn, _ = srv.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:  # out of descriptors: leave it in the backlog for now
                        break
                    held[conn.fileno()] = conn
                    # Only hang-up events: never POLLIN, so the request is never read.
                    poller.register(conn.fileno(), gone)
            elif ev & gone:
                poller.unregister(fd)
                held.pop(fd).close()


if __name__ == "__main__":
    main()
