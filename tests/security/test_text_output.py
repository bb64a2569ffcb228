"""Weakness 10: bidi overrides and zero-width characters printed raw in `aiwall report`. Every
text output escapes format and control characters; acceptance counts visible characters (see
tests/ack/test_redeem.py and test_requests.py)."""

import subprocess
import sys
from pathlib import Path

import pytest
from aiwall.core.text import shown
from aiwall.telemetry.events import EventLog
from hypothesis import given
from hypothesis import strategies as st

pytestmark = [pytest.mark.security]

HOSTILE = "ok\u202eexe.txt\u200b\u2066hidden\u2069 \x1b[2J\x1b[31mred\u2028next"


def test_report_text_escapes_what_a_justification_hides(tmp_path: Path) -> None:
    log_path = tmp_path / "events.jsonl"
    log = EventLog(str(log_path))
    log.ack(
        identity="user:eve",
        user="eve",
        client_ip="10.0.0.9",
        vendor="xai",
        product="xai/grok-consumer",
        rule_id="warn-xai",
        host="grok.com",
        justification=HOSTILE,
        ttl_seconds=3600,
        accepted=True,
        reason="acknowledged",
    )
    log.close()
    result = subprocess.run(
        [sys.executable, "-m", "aiwall", "report", str(log_path), "--format", "text"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    for raw in ("\u202e", "\u200b", "\u2066", "\x1b", "\u2028"):
        assert raw not in result.stdout
    assert "\\u202e" in result.stdout and "\\e[2J" in result.stdout


@given(st.text())
def test_shown_text_has_nothing_a_terminal_acts_on(text: str) -> None:
    import unicodedata

    out = shown(text)
    assert all(
        unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn") for c in out
    )
