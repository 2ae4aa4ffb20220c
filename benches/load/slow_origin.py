#!/usr/bin/env python3
"""A tiny slow origin for the load harness: answers every request with a JSON file after a delay.

usage: slow_origin.py PORT FILE [DELAY_SECONDS]

asyncio, one thread, HTTP/1.1 keep-alive, a deep listen backlog. A first version used
http.server's ThreadingHTTPServer (one OS thread per connection): with a proxy holding ~1000
mirrors in flight, its 1000 threads waking together every DELAY seconds stole whole
scheduler slices from the proxy and the load generator and put the origin's own stalls
(hundreds of ms) into the proxy's v1 p99. This version costs a few µs per request and keeps the
measurement about the proxy. Binds 127.0.0.1 only.
"""
import asyncio
import sys


def main() -> None:
    port = int(sys.argv[1])
    with open(sys.argv[2], "rb") as f:
        body = f.read()
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
    # The same headers the nginx origins send (Date and Server are comparison noise), so a
    # compared pair differs in nothing but timing.
    head = (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: application/json\r\n"
        b"Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
        b"Accept-Ranges: bytes\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                req = await reader.readuntil(b"\r\n\r\n")
                lower = req.lower()
                length = 0
                for line in lower.split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                close = b"connection: close" in lower
                await asyncio.sleep(delay)
                is_head = req.startswith(b"HEAD ")
                writer.write(head + (b"Connection: close\r\n\r\n" if close else b"\r\n")
                             + (b"" if is_head else body))
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096,
                                            reuse_address=True)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
