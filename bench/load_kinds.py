"""The kinds of traffic the load test sends, and what each group of clients tallies."""

import asyncio
import contextlib
import ssl
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Kind:
    """One kind of traffic: where it goes, how, and what the proxy must answer."""

    key: str
    label: str
    host: str
    tls: bool
    status: int
    logged: bool  # aiwall writes exactly one decision event per request
    json: bool = False  # the answer is aiwall's JSON refusal

    @property
    def ai(self) -> bool:
        return self.host != "example.org"


KINDS = {
    k.key: k
    for k in (
        Kind("web-http", "non-AI HTTP", "example.org", False, 200, False),
        Kind("web-https", "non-AI HTTPS (passed through)", "example.org", True, 200, False),
        Kind("log-http", "AI logged, HTTP", "api.openai.com", False, 200, True),
        Kind("log-https", "AI logged, HTTPS", "api.openai.com", True, 200, True),
        Kind("block-http", "AI blocked, HTTP", "chat.deepseek.com", False, 403, True, True),
        Kind("block-https", "AI blocked, HTTPS", "chat.deepseek.com", True, 403, True, True),
        Kind("warn-https", "AI warned, HTTPS", "grok.com", True, 403, True, True),
        Kind("allow-https", "AI allowed, HTTPS", "api.anthropic.com", True, 200, False),
    )
}
FAST_KINDS = list(KINDS)
SLOW_HEAD_KINDS = ["block-http", "log-http", "web-http", "log-https", "block-https"]
SLOW_READ_KINDS = ["web-http", "web-https", "log-http", "log-https"]
LARGE_KINDS = ["block-http", "block-https"]


@dataclass
class Tally:
    """What one group of clients did."""

    sent: int = 0
    answered: int = 0  # complete responses with the expected status
    in_window: int = 0  # of them, those complete before the deadline (for requests/s)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def error(self, reason: str, detail: str = "") -> None:
        self.errors[reason] += 1
        if len(self.examples) < 3:
            self.examples.append(f"{reason}: {detail}"[:200])

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


@dataclass
class Upload:
    """One large upload: how much was sent before the answer came, and what it was."""

    size: int
    sent_at_answer: int
    status: int | None
    seconds: float
    asked_continue: bool  # sent Expect: 100-continue
    got_continue: bool


class Stream:
    """A client connection to the proxy, plain or through a CONNECT tunnel with TLS."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class Failure(Exception):
    """A request failed; `reason` is its class in the report."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


NETWORK_ERRORS = (OSError, EOFError, asyncio.IncompleteReadError, ssl.SSLError)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    length: int
    close: bool
