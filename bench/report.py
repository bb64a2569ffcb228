"""`aiwall report` throughput on a generated month of aiwall's event log.

    .venv/bin/python bench/report.py [--lines N] [--gzip] [--keep DIR]

The log is written the way the proxy writes it: each kind of line is first produced by the real
`EventLog` for a real decision of the shipped rules and vendor records (a persona, a host, a
method, an acknowledgement), with stand-ins for the user, address, path and justification;
then N lines are made from those templates with the timestamp, user, address and path filled
in. The mix: about 3,000 users (a sixth identified by address only), the busy AI hosts and a
long tail of the registry's others, blocks, warns (half of them acknowledged earlier),
logs, allows that a shadow rule matched, acknowledgements with justifications (one in ten
refused), a config event every 100,000 lines and a torn line every 250,000.

Then it runs the real command, `aiwall report LOG --format json` with its output thrown away,
and prints lines per second and the total time (interpreter start included).
Goal: 1,000,000 lines in at most 10 s.
"""

import argparse
import contextlib
import gzip
import io
import ipaddress
import itertools
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiwall.core.config import load_config
from aiwall.core.decision import HostName, RequestInfo
from aiwall.core.rules import Action
from aiwall.telemetry.events import EventLog, RequestContext

ROOT = Path(__file__).parent.parent
GOAL_SECONDS = 10.0
USER, IP, PATH, WHY, ID = "ZZUSERZZ", "10.255.255.254", "ZZPATHZZ", "ZZWHYZZ", "ZZIDZZ"
SLOTS = re.compile(f"({USER}|{re.escape(IP)}|{PATH}|{WHY}|{ID})")
EVENT_ID = re.compile(r'"id":"[a-z2-7]+-\d+","sequence":\d+')
BUSY = [
    "chatgpt.com",
    "chat.openai.com",
    "api.openai.com",
    "claude.ai",
    "api.anthropic.com",
    "gemini.google.com",
    "chat.deepseek.com",
    "api.deepseek.com",
    "grok.com",
    "copilot.microsoft.com",
    "chat.mistral.ai",
    "www.perplexity.ai",
    "huggingface.co",
    "poe.com",
    "character.ai",
]
# (class, proxy-auth name or None, address for deciding, how the name and address vary)
PERSONAS = [
    ("staff", "jdoe", "10.40.1.10", 60),
    ("ip-only", None, "10.50.1.10", 17),
    ("engineering", "kli", "10.20.3.4", 15),
    ("legal", "apatel", "10.30.1.4", 4),
    ("research", "mkowalski", "10.99.8.5", 4),
]
JUSTIFICATIONS = [
    "Comparing answers for the vendor review, no customer data.",
    "Customer escalation, ticket 4711: need to translate a public FAQ.",
    'Testing the "summarise" feature <b>for</b> the product team',
    "Conference talk research, public sources only.",
    "Manager approved; see email from 2026-11-02.",
    "",
]
REFUSALS = ["the token has expired", "the token was already used", "another site's form"]


INSTANCE = "benchlog"
SEQUENCE = itertools.count(1)


class Template:
    """One log line with stand-ins, split so that filling it in is a join."""

    def __init__(self, line: str) -> None:
        assert line.startswith('{"@timestamp":"') and line[42] == '"', line[:60]
        line, found = EVENT_ID.subn(ID, line, count=1)  # each line gets an id of its own
        assert found == 1, line[:80]
        pieces = SLOTS.split(line[42:])
        self.literals = pieces[0::2]
        self.slots = pieces[1::2]

    def fill(self, ts: str, values: dict[str, str]) -> str:
        """The line at `ts`, with the values of `values` and the next event id."""
        number = next(SEQUENCE)
        values[ID] = f'"id":"{INSTANCE}-{number}","sequence":{number}'
        out = ['{"@timestamp":"', ts, self.literals[0]]
        for slot, literal in zip(self.slots, self.literals[1:], strict=True):
            out.append(values[slot])
            out.append(literal)
        return "".join(out)


def capture(write: Callable[[EventLog], None]) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        log = EventLog("-")
        write(log)
    return buffer.getvalue().rstrip("\n")


def generate(path: Path, lines: int, compress: bool, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    config = load_config(ROOT / "rules.example.yaml", ROOT / "policies")
    known = set(config.registry.index.hosts())
    busy = [h for h in BUSY if h in known]
    tail = rng.sample(sorted(known - set(busy)), 200)
    hosts = busy + tail
    host_weights = list(itertools.accumulate([40.0] * len(busy) + [1.0] * len(tail)))
    persona_weights = list(itertools.accumulate(p[3] for p in PERSONAS))
    users = {
        "staff": [(f"user{n:04d}", f"10.40.{n // 250}.{n % 250 + 1}") for n in range(2400)],
        "ip-only": [(None, f"10.50.{n // 250}.{n % 250 + 1}") for n in range(500)],
        "engineering": [(f"eng{n:03d}", f"10.20.{n // 250}.{n % 250 + 1}") for n in range(300)],
        "legal": [(name, "10.30.1.4") for name in ("apatel", "hschmidt", "lrossi")],
        "research": [("mkowalski", "10.99.8.5"), ("jnakamura", "10.99.8.6")],
    }
    templates: dict[tuple[object, ...], tuple[Template, str, bool] | None] = {}
    ack_templates: dict[tuple[object, ...], Template] = {}

    def decision(
        persona: tuple[str, str | None, str, int],
        host: str,
        method: str,
        upload: bool,
        acknowledged: bool,
    ) -> tuple[Template, str, bool] | None:
        key = (persona[0], host, method, upload, acknowledged)
        if key in templates:
            return templates[key]
        _, name, address, _ = persona
        names = (HostName("connect", f"{host}:443"), HostName("sni", host), HostName("host", host))
        request = RequestInfo(
            names,
            method=method,
            path="/c/x",
            user=name,
            client_ip=ipaddress.ip_address(address),
            multipart=upload,
        )
        decided = config.engine.decide(request)
        stopped = decided.blocks or (decided.action is Action.WARN and not acknowledged)
        if decided.action is Action.ALLOW and not decided.shadow:
            templates[key] = None  # allowed without a shadow rule: counted, not logged
            return None
        if acknowledged and decided.action is not Action.WARN:
            templates[key] = None
            return None
        context = RequestContext(
            client_ip=IP,
            user=USER if name else None,
            method=method,
            scheme="https",
            path=f"/c/{PATH}",
            sni=host,
            status_code=403 if stopped else None,
            acknowledged=acknowledged,
        )
        line = capture(lambda log: log.decision(decided, context))
        rule = decided.rule.id if decided.rule else ""
        product = (
            f"{decided.vendor.id}/{decided.product.id}"
            if decided.vendor and decided.product
            else None
        )
        vendor = decided.vendor.id if decided.vendor else ""
        ackable = decided.action is Action.WARN and not acknowledged
        templates[key] = (Template(line), f"{vendor}|{product or ''}|{rule}|{host}", ackable)
        return templates[key]

    def ack(detail: str, named: bool, accepted: bool, reason: str) -> Template:
        key = (detail, named, accepted, reason)
        if key not in ack_templates:
            vendor, product, rule, host = detail.split("|")
            line = capture(
                lambda log: log.ack(
                    identity=f"user:{USER}" if named else f"ip:{IP}",
                    user=USER if named else None,
                    client_ip=IP,
                    vendor=vendor,
                    product=product or None,
                    rule_id=rule,
                    host=host,
                    justification=WHY,
                    ttl_seconds=28800 if accepted else 0,
                    accepted=accepted,
                    reason=reason,
                )
            )
            ack_templates[key] = Template(line)
        return ack_templates[key]

    config_line = Template(
        capture(
            lambda log: log.config_loaded(
                config, rules="/etc/aiwall/rules.yaml", policies="/etc/aiwall/policies"
            )
        )
    )
    start = datetime(2026, 10, 30, tzinfo=UTC)
    span = timedelta(days=30).total_seconds()
    counts = {"decision": 0, "ack": 0, "config": 0, "torn": 0}
    second, prefix = -1, ""
    opener = gzip.open if compress else open
    with opener(path, "wt", encoding="ascii") as out:  # type: ignore[operator]
        written = 0
        while written < lines:
            offset = span * written / lines
            if int(offset) != second:
                second = int(offset)
                prefix = (start + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%S")
            ts = f"{prefix}.{int((offset - second) * 1e6):06d}Z"
            if written % 100_000 == 0:
                out.write(config_line.fill(ts, {}) + "\n")
                counts["config"] += 1
                written += 1
                continue
            if written % 250_000 == 1:
                out.write(config_line.fill(ts, {})[:97] + "\n")  # a torn line
                counts["torn"] += 1
                written += 1
                continue
            persona = rng.choices(PERSONAS, cum_weights=persona_weights)[0]
            name, address = rng.choice(users[persona[0]])
            host = rng.choices(hosts, cum_weights=host_weights)[0]
            method = "POST" if rng.random() < 0.25 else "GET"
            upload = method == "POST" and rng.random() < 0.1
            acknowledged = rng.random() < 0.5
            made = decision(persona, host, method, upload, acknowledged) or decision(
                persona, host, method, upload, False
            )
            if made is None:
                continue
            template, detail, ackable = made
            values = {USER: name or "", IP: address, PATH: f"{rng.getrandbits(40):010x}"}
            out.write(template.fill(ts, values) + "\n")
            counts["decision"] += 1
            written += 1
            if ackable and rng.random() < 0.2 and written < lines:
                accepted = rng.random() < 0.9
                reason = "acknowledged" if accepted else rng.choice(REFUSALS)
                values[WHY] = json.dumps(rng.choice(JUSTIFICATIONS))[1:-1]  # inside a string
                out.write(ack(detail, name is not None, accepted, reason).fill(ts, values) + "\n")
                counts["ack"] += 1
                written += 1
    return counts


def children_cpu() -> float:
    """User and system time of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--gzip", action="store_true", help="write and read the log gzipped")
    parser.add_argument("--keep", type=Path, help="write the log into DIR and keep it")
    args = parser.parse_args()
    aiwall = Path(sys.executable).parent / "aiwall"
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / ("events.log.gz" if args.gzip else "events.log")
        began = time.perf_counter()
        counts = generate(log, args.lines, args.gzip)
        size = log.stat().st_size
        print(
            f"generated {args.lines:,} lines ({size / 1e6:,.0f} MB) in"
            f" {time.perf_counter() - began:.1f} s: {counts}"
        )
        began, cpu_before = time.perf_counter(), children_cpu()
        subprocess.run(
            [str(aiwall), "report", str(log), "--format", "json"],
            stdout=subprocess.DEVNULL,
            check=True,
        )
        elapsed, cpu = time.perf_counter() - began, children_cpu() - cpu_before
    verdict = "ok" if elapsed <= GOAL_SECONDS else "SLOWER THAN THE GOAL"
    print(
        f"aiwall report --format json: {args.lines:,} lines in {elapsed:.2f} s:"
        f" {args.lines / elapsed:,.0f} lines/s (goal <= {GOAL_SECONDS:.0f} s: {verdict});"
        f" CPU {cpu:.2f} s (user + system: what a busy machine does not inflate),"
        f" load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
