"""A local stand-in for every vendor: an HTTPS and a plain HTTP server on 127.0.0.1.

It answers every request with a small page naming the host it was asked for, and records
each TCP connection (with its TLS SNI) and each request, so tests can prove that a blocked
request never reached it. WebSocket upgrades are accepted and echoed.
"""

import base64
import datetime
import hashlib
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
STREAM_PAUSE = 1.5  # seconds between the two parts of /stream


@dataclass(frozen=True)
class Seen:
    host: str
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Upstream:
    """Both servers and what they saw."""

    tls_port: int = 0
    plain_port: int = 0
    requests: list[Seen] = field(default_factory=list)
    bodies: list[int] = field(default_factory=list)  # bytes of request body received
    connections: list[str] = field(default_factory=list)  # SNI, or "plain"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hosts(self) -> set[str]:
        with self.lock:
            return {r.host.rsplit(":", 1)[0] for r in self.requests} | set(self.connections)

    def saw(self, host: str) -> bool:
        """Whether any connection or request for this host (or its subdomains) arrived."""
        return any(h == host or h.endswith("." + host) for h in self.hosts())

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.connections.clear()


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aiwall test upstream")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "upstream.pem", folder / "upstream.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def start_upstream(folder: Path) -> tuple[Upstream, list[ThreadingHTTPServer]]:
    upstream = Upstream()
    cert, key = self_signed_certificate(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])

    def remember_sni(sock: ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext) -> None:
        with upstream.lock:
            upstream.connections.append(server_name or "(no sni)")

    context.sni_callback = remember_sni  # type: ignore[assignment]
    handler = _handler(upstream)

    class TLSServer(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> tuple[socket.socket, object]:
            sock, address = super().get_request()
            return context.wrap_socket(sock, server_side=True), address

    class PlainServer(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> tuple[socket.socket, object]:
            sock, address = super().get_request()
            with upstream.lock:
                upstream.connections.append("plain")
            return sock, address

    servers: list[ThreadingHTTPServer] = [
        TLSServer(("127.0.0.1", 0), handler),
        PlainServer(("127.0.0.1", 0), handler),
    ]
    upstream.tls_port = servers[0].server_address[1]
    upstream.plain_port = servers[1].server_address[1]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return upstream, servers


def _handler(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _serve(self) -> None:
            host = self.headers.get("host", "")
            with upstream.lock:
                upstream.requests.append(
                    Seen(
                        host,
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                    )
                )
            length = int(self.headers.get("content-length") or 0)
            received = len(self.rfile.read(length)) if length else 0
            with upstream.lock:
                upstream.bodies.append(received)
            if self.headers.get("upgrade", "").lower() == "websocket":
                self._websocket()
                return
            if self.path.startswith("/stream"):
                self._slow_stream()
                return
            body = f"<!doctype html><title>upstream {host}</title><h1>Upstream page for {host}</h1>"
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _slow_stream(self) -> None:
            """Server-sent events the way AI answers come: a first part, a pause, the rest."""
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part, pause in ((b"data: first\n\n", STREAM_PAUSE), (b"data: last\n\n", 0.0)):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
                time.sleep(pause)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _websocket(self) -> None:
            """Accept the upgrade and echo one text frame back."""
            key = self.headers["sec-websocket-key"]
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            self.wfile.flush()
            header = self.rfile.read(2)
            if len(header) < 2:
                return
            length = header[1] & 0x7F
            if length == 126:
                length = int.from_bytes(self.rfile.read(2), "big")
            mask = self.rfile.read(4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
            self.wfile.write(bytes([0x81, len(payload)]) + payload)
            self.wfile.flush()
            self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _serve

    return Handler
