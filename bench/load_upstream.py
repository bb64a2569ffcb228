"""The load test's upstream: the stand-in for every vendor and site, in a process of its own."""

import asyncio
import json
import re
import ssl
from collections import Counter
from typing import Any

UPSTREAM_BLOCK = b"u" * (1 << 20)


def serve_upstream(http_port: int, https_port: int, cert: str, key: str) -> None:
    """The stand-in for every vendor and site; runs in a process of its own.

    Answers every request with 200 and `ok` (or `?size=N` bytes), keep-alive, reading and
    discarding any request body. It counts requests and body bytes per Host and TLS
    handshakes per SNI; `GET /__stats` sent to it directly returns the counts as JSON.
    """
    requests: Counter[str] = Counter()
    body_bytes: Counter[str] = Counter()
    snis: Counter[str] = Counter()

    def remember_sni(_: Any, name: str | None, __: ssl.SSLContext) -> None:
        snis[name or "(none)"] += 1

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                target = lines[0].split(b" ")[1]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                host = headers.get(b"host", b"").decode("latin-1").rsplit(":", 1)[0]
                if target == b"/__stats":
                    data = json.dumps(
                        {"requests": requests, "body_bytes": body_bytes, "sni": snis}
                    ).encode()
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data)
                    )
                    await writer.drain()
                    continue
                requests[host] += 1
                length = int(headers.get(b"content-length", b"0") or 0)
                while length > 0:
                    chunk = await reader.read(min(length, 1 << 18))
                    if not chunk:
                        return
                    length -= len(chunk)
                    body_bytes[host] += len(chunk)
                if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                    return  # the load test never sends chunked bodies
                size = re.search(rb"[?&]size=(\d+)", target)
                total = int(size.group(1)) if size else 3
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                    % total
                )
                if not size:
                    writer.write(b"ok\n")
                while size and total > 0:
                    writer.write(UPSTREAM_BLOCK[: min(total, len(UPSTREAM_BLOCK))])
                    total -= len(UPSTREAM_BLOCK)
                    await writer.drain()
                await writer.drain()
                if headers.get(b"connection", b"").lower() == b"close":
                    return
        except (OSError, EOFError, ValueError, IndexError, asyncio.IncompleteReadError):
            pass
        except asyncio.LimitOverrunError:
            pass
        finally:
            writer.close()

    async def serve() -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["http/1.1"])
        context.sni_callback = remember_sni
        await asyncio.start_server(handle, "127.0.0.1", http_port, backlog=4096)
        await asyncio.start_server(handle, "127.0.0.1", https_port, ssl=context, backlog=4096)
        await asyncio.Event().wait()

    asyncio.run(serve())
