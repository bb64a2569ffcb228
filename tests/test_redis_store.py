"""RedisAckStore against a real redis-server that these tests start: sharing, expiry, outages.

`RedisServer` is also what tests/test_proxy_redis.py runs its proxies against.
"""

import asyncio
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from aiwall.ack.errors import AckError, InvalidToken, StoreUnavailable
from aiwall.ack.redis import RedisAckStore
from aiwall.ack.store import MemoryAckStore, open_ack_store
from aiwall.ack.tokens import TokenSigner, redeem

from .proxy import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class RedisServer:
    """A redis-server on 127.0.0.1 that keeps nothing on disk; stop and start it again on the
    same port to play an outage."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> "redis.Redis":
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> None:
        assert self.process is None, "already running"
        log = self.folder / "redis.log"
        command = [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.folder),
            "--logfile",
            str(log),
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise RuntimeError(f"redis-server exited: {_read(log)}")
            try:
                with self.client() as client:
                    if client.ping():
                        return
            except redis.RedisError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer within {START_TIMEOUT} s: {_read(log)}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
        self.process = None


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def redis_server_available() -> None:
    """Skip (fail under CI, whose scripts/system-deps installs it) without redis-server."""
    if os.access(REDIS_SERVER, os.X_OK):
        return
    reason = "redis-server is not installed (scripts/system-deps installs it)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@contextmanager
def running_redis(folder: Path) -> Iterator[RedisServer]:
    redis_server_available()
    server = RedisServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A server of the test's own, for tests that stop it."""
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def prefix() -> str:
    """Keys of this test only, on the shared server."""
    return f"aiwall-test-{secrets.token_hex(4)}:"


UNAVAILABLE = "acknowledgement store unavailable"


def run(scenario: Coroutine[object, object, None]) -> None:
    """One test's scenario on one event loop (an asyncio Redis client belongs to its loop)."""
    asyncio.run(asyncio.wait_for(scenario, 30))


async def eventually(condition: Callable[[], Awaitable[bool]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(0.05)
    return await condition()


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def test_an_acknowledgement_lives_for_its_ttl(redis_server: RedisServer, prefix: str) -> None:
    async def scenario() -> None:
        store = RedisAckStore(redis_server.url, prefix=prefix)
        await store.acknowledge("ann", "xai", "warn-xai", 1)
        await store.acknowledge("ann", "mistral", "warn-mistral", 3600)
        assert await store.is_acknowledged("ann", "xai", "warn-xai")
        assert not await store.is_acknowledged("bob", "xai", "warn-xai")
        assert not await store.is_acknowledged("ann", "openai", "warn-xai")
        assert not await store.is_acknowledged("ann", "xai", "warn-stricter")
        with redis_server.client() as raw:
            ttls = sorted(raw.ttl(key) for key in raw.scan_iter(f"{prefix}ack:*"))
        assert len(ttls) == 2
        assert 0 < ttls[0] <= 1 and 3590 < ttls[1] <= 3600

        async def gone() -> bool:
            return not await store.is_acknowledged("ann", "xai", "warn-xai")

        assert await eventually(gone, timeout=3)
        assert await store.is_acknowledged("ann", "mistral", "warn-mistral")
        await store.close()

    run(scenario())


def test_a_nonce_is_single_use_across_instances(redis_server: RedisServer, prefix: str) -> None:
    async def scenario() -> None:
        first = RedisAckStore(redis_server.url, prefix=prefix)
        second = RedisAckStore(redis_server.url, prefix=prefix)
        assert await first.use_nonce("n-1", 600)
        assert not await second.use_nonce("n-1", 600)
        assert not await first.use_nonce("n-1", 600)
        assert await second.use_nonce("n-2", 600)
        with redis_server.client() as raw:
            ttls = [raw.ttl(key) for key in raw.scan_iter(f"{prefix}nonce:*")]
        assert len(ttls) == 2 and all(590 < ttl <= 600 for ttl in ttls)

    run(scenario())


def test_an_acknowledgement_on_one_instance_counts_on_another(
    redis_server: RedisServer, prefix: str
) -> None:
    async def scenario() -> None:
        first = RedisAckStore(redis_server.url, prefix=prefix)
        second = RedisAckStore(redis_server.url, prefix=prefix)
        await first.acknowledge("carl", "xai", "warn-xai", 60)
        assert await second.is_acknowledged("carl", "xai", "warn-xai")

    run(scenario())


def test_racing_instances_spend_a_nonce_once(redis_server: RedisServer, prefix: str) -> None:
    """Four instances, eight clients at once per nonce: exactly one spends it."""

    async def scenario() -> None:
        stores = [RedisAckStore(redis_server.url, prefix=prefix) for _ in range(4)]
        for round_ in range(20):
            spent = await asyncio.gather(
                *(stores[i % 4].use_nonce(f"race-{round_}", 60) for i in range(8))
            )
            assert sorted(spent) == [False] * 7 + [True]

    run(scenario())


ODD = [
    ("line\nbreak", "xai"),
    ("nul\0inside", "xai"),
    ("a\0b", "c"),
    ("a", "b\0c"),
    ("lone \ud800 surrogate", "xai"),
    ("\udcff", "\ud83d"),
    ("ann", "x" * 10_000),
    ("", ""),
    ("*", "?"),
    ("aiwall:ack:", "\r\n*1\r\n$4\r\nPING\r\n"),
]


def test_odd_identities_get_safe_keys_of_their_own(redis_server: RedisServer, prefix: str) -> None:
    async def scenario() -> None:
        store = RedisAckStore(redis_server.url, prefix=prefix)
        for index, (identity, vendor) in enumerate(ODD):
            assert not await store.is_acknowledged(identity, vendor, "r")
            await store.acknowledge(identity, vendor, "r", 60)
            for other, (other_identity, other_vendor) in enumerate(ODD):
                acknowledged = await store.is_acknowledged(other_identity, other_vendor, "r")
                assert acknowledged == (other <= index), (identity, vendor, other_identity)
            assert await store.use_nonce(identity + vendor, 60)
            assert not await store.use_nonce(identity + vendor, 60)
        with redis_server.client() as raw:
            keys = [key.decode("ascii") for key in raw.scan_iter(f"{prefix}*")]
        pattern = re.compile(re.escape(prefix) + r"(ack|nonce):[0-9a-f]{64}")
        assert all(pattern.fullmatch(key) for key in keys), keys
        assert sum(key.startswith(f"{prefix}ack:") for key in keys) == len(ODD)

    run(scenario())


def test_redeem_spends_a_token_once_across_instances(
    redis_server: RedisServer, prefix: str
) -> None:
    signer = TokenSigner(b"k" * 32)
    token = signer.issue(
        identity="dora",
        vendor="xai",
        rule="warn-xai",
        return_url="https://grok.com/",
        require_justification=False,
        ttl_seconds=120,
    )

    async def scenario() -> None:
        first = RedisAckStore(redis_server.url, prefix=prefix)
        second = RedisAckStore(redis_server.url, prefix=prefix)
        binding = {"identity": "dora", "vendor": "xai", "rule": "warn-xai", "justification": ""}
        await redeem(signer, first, token, **binding)
        assert await second.is_acknowledged("dora", "xai", "warn-xai")
        with pytest.raises(InvalidToken, match="replayed"):
            await redeem(signer, second, token, **binding)

    run(scenario())


def test_open_ack_store_reads_the_spec(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        assert isinstance(open_ack_store("memory"), MemoryAckStore)
        store = open_ack_store(redis_server.url)
        assert isinstance(store, RedisAckStore) and await store.ping()
        await store.close()

    run(scenario())
    assert isinstance(open_ack_store("unix:///run/redis/redis.sock"), RedisAckStore)
    assert isinstance(open_ack_store("rediss://:pw@redis.example.test:6380/1"), RedisAckStore)
    for spec in ("memcached://127.0.0.1", "Memory", "", "redis"):
        with pytest.raises(ValueError, match=re.escape(repr(spec))):
            open_ack_store(spec)
    with pytest.raises(ValueError, match="Port") as refused:
        open_ack_store("redis://:hunter2@127.0.0.1:port/0")
    assert "hunter2" not in str(refused.value)
    assert "redis://127.0.0.1:port/0" in str(refused.value)


def outage_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "aiwall" and "acknowledgement store" in record.getMessage()
    ]


def test_an_outage_fails_closed_and_is_logged_once(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiwall")

    async def scenario() -> None:
        store = RedisAckStore(own_redis.url, retry_seconds=0.1)
        await store.acknowledge("erin", "xai", "w", 3600)
        assert await store.is_acknowledged("erin", "xai", "w") and await store.ping()
        assert store.up and outage_records(caplog) == []

        own_redis.stop()
        started = time.monotonic()
        assert not await store.is_acknowledged("erin", "xai", "w")
        assert time.monotonic() - started < 1
        assert not store.up
        with pytest.raises(StoreUnavailable) as refused:
            await store.use_nonce("n", 60)
        # "the store is down" is its own kind of refusal, never "the token is bad"
        assert isinstance(refused.value, AckError) and not isinstance(refused.value, InvalidToken)
        assert refused.value.reason == UNAVAILABLE
        with pytest.raises(StoreUnavailable):
            await store.acknowledge("erin", "xai", "w", 60)
        assert not await store.ping()
        for _ in range(5):  # past retry_seconds, so Redis is tried again, and fails again
            await asyncio.sleep(0.12)
            assert not await store.is_acknowledged("erin", "xai", "w")
        messages = outage_records(caplog)
        assert len(messages) == 1
        assert "unavailable" in messages[0] and own_redis.url in messages[0]

        own_redis.start()  # the same port, nothing kept: the acknowledgement is gone
        assert await eventually(store.ping, timeout=3)
        assert store.up
        assert not await store.is_acknowledged("erin", "xai", "w")
        await store.acknowledge("erin", "xai", "w", 3600)
        assert await store.is_acknowledged("erin", "xai", "w")
        assert await store.use_nonce("n", 60) and not await store.use_nonce("n", 60)
        messages = outage_records(caplog)
        assert len(messages) == 2 and "answers again" in messages[1]

        own_redis.stop()  # a second outage is reported again, once
        for _ in range(3):
            assert not await store.is_acknowledged("erin", "xai", "w")
        assert len(outage_records(caplog)) == 3

    run(scenario())


def test_redeem_refuses_when_the_store_is_unavailable(own_redis: RedisServer) -> None:
    signer = TokenSigner(b"k" * 32)
    token = signer.issue(
        identity="finn",
        vendor="xai",
        rule="warn-xai",
        return_url="https://grok.com/",
        require_justification=False,
        ttl_seconds=120,
    )
    binding = {"identity": "finn", "vendor": "xai", "rule": "warn-xai", "justification": ""}

    async def scenario() -> None:
        store = RedisAckStore(own_redis.url, retry_seconds=0.1)
        own_redis.stop()
        with pytest.raises(StoreUnavailable, match=UNAVAILABLE):
            await redeem(signer, store, token, **binding)
        own_redis.start()
        # the nonce was not spent, so the same token is good once Redis is back
        assert await eventually(store.ping, timeout=3)
        await redeem(signer, store, token, **binding)
        assert await store.is_acknowledged("finn", "xai", "warn-xai")

    run(scenario())


def test_a_redis_that_hangs_costs_one_timeout_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that accepts connections and never answers: reads time out, and the event loop
    is never blocked meanwhile (the client is asyncio's)."""
    caplog.set_level(logging.INFO, logger="aiwall")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # the kernel completes handshakes; nobody ever reads
        port = silent.getsockname()[1]

        async def scenario() -> None:
            store = RedisAckStore(f"redis://127.0.0.1:{port}/0", timeout_seconds=0.2)
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            beat = asyncio.create_task(ticker())
            started = time.monotonic()
            assert not await store.is_acknowledged("gus", "xai", "w")
            waited = time.monotonic() - started
            assert waited < 1
            assert ticks >= waited / 0.01 / 4  # the loop went on while Redis did not answer
            started = time.monotonic()
            for _ in range(50):  # within retry_seconds: refused at once, Redis is not tried
                assert not await store.is_acknowledged("gus", "xai", "w")
                with pytest.raises(StoreUnavailable):
                    await store.use_nonce("n", 60)
            assert time.monotonic() - started < 0.2
            assert len(outage_records(caplog)) == 1
            beat.cancel()

        run(scenario())
