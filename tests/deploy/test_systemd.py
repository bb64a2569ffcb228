"""deploy/systemd/: the unit runs a command `aiwall run` accepts, with its hardening settings,
and systemd-analyze verifies it."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import SYSTEMD, run_arguments


def _unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as systemd reads it: sections, repeatable keys, `\\` continuations."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(" ".join(value.split()))
    return sections


UNIT = _unit(SYSTEMD / "aiwall.service")
SERVICE = UNIT["Service"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("User", "aiwall"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("SystemCallFilter", "@system-service"),
        ("CapabilityBoundingSet", ""),
        ("StateDirectory", "aiwall"),
        ("LogsDirectory", "aiwall"),
        ("Restart", "on-failure"),
    ],
)
def test_systemd_unit_sets(key: str, value: str) -> None:
    assert SERVICE.get(key) == [value]


def _exec_start_argv() -> list[str]:
    """ExecStart with aiwall.env's values and %d substituted, split as systemd splits it."""
    env = {}
    for line in (SYSTEMD / "aiwall.env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    (command,) = SERVICE["ExecStart"]
    argv: list[str] = []
    for word in shlex.split(command.replace("%d", "/run/credentials/aiwall.service")):
        braced = re.fullmatch(r"\$\{(\w+)\}", word)
        bare = re.fullmatch(r"\$(\w+)", word)
        if braced:
            argv.append(env[braced[1]])  # one argument, even when empty
        elif bare:
            argv.extend(env[bare[1]].split())  # split on spaces; nothing when empty
        else:
            argv.append(word)
    return argv


def test_systemd_unit_runs_aiwall_run_with_the_state_and_log_directories() -> None:
    argv = _exec_start_argv()
    assert argv[:2] == ["/opt/aiwall/.venv/bin/aiwall", "run"]
    arguments = run_arguments(argv[2:])
    assert arguments.confdir == "/var/lib/" + SERVICE["StateDirectory"][0]
    # The last good configuration survives a restart: kept in the state directory.
    assert Path(arguments.state_dir).parent == Path(arguments.confdir)
    assert Path(arguments.log).parent == Path("/var/log") / SERVICE["LogsDirectory"][0]
    assert arguments.secret == "/run/credentials/aiwall.service/token-key"
    assert SERVICE["LoadCredential"] == ["token-key:/etc/aiwall/token-key"]
    writable = " ".join(SERVICE.get("ReadWritePaths", [])).split()
    assert set(writable) <= {"/var/lib/aiwall", "/var/log/aiwall"}


def test_systemd_reload_validates_then_sends_sighup() -> None:
    *checks, signal = SERVICE["ExecReload"]
    assert signal == "/bin/kill -HUP $MAINPID"
    assert all(" check " in check for check in checks)


def test_memory_deny_write_execute_stays_off() -> None:
    assert SERVICE.get("MemoryDenyWriteExecute", ["no"]) == ["no"]


def test_tls_interception_needs_write_execute_memory() -> None:
    """Why the unit leaves MemoryDenyWriteExecute off: under W^X (the kernel's PR_SET_MDWE, the
    same restriction), pyOpenSSL cannot register the ALPN callback mitmproxy uses for every
    intercepted connection. If this stops failing, the unit can turn the setting on."""
    code = textwrap.dedent(
        """
        import ctypes, sys
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
            sys.exit(77)
        from OpenSSL import SSL
        context = SSL.Context(SSL.TLS_METHOD)
        try:
            context.set_alpn_select_callback(lambda connection, offered: offered[0])
        except MemoryError:
            sys.exit(0)
        sys.exit(1)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    if result.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3 or newer)")
    assert result.returncode == 0, (
        "pyOpenSSL now works without W+X memory: MemoryDenyWriteExecute=yes may be possible"
    )


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    units = next(
        (
            p
            for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
            if (p / "multi-user.target").exists()
        ),
        None,
    )
    if analyze is None or units is None:
        pytest.skip("systemd-analyze is not installed; the unit was checked as text only")
    # An alternative root with the unit, the targets it refers to and the programs it runs.
    shutil.copytree(units, tmp_path / "usr/lib/systemd/system", symlinks=True)
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(SYSTEMD / "aiwall.service", tmp_path / "etc/systemd/system")
    aiwall = tmp_path / "opt/aiwall/.venv/bin/aiwall"
    aiwall.parent.mkdir(parents=True)
    aiwall.write_text("#!/bin/sh\n")
    aiwall.chmod(0o755)
    (tmp_path / "bin").mkdir()
    shutil.copy(shutil.which("kill") or "/bin/kill", tmp_path / "bin/kill")
    result = subprocess.run(
        [
            analyze,
            "verify",
            f"--root={tmp_path}",
            "--man=no",
            "--recursive-errors=no",
            "aiwall.service",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0"},
        timeout=120,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_service_user_is_declared() -> None:
    (entry,) = [
        line
        for line in (SYSTEMD / "aiwall.sysusers").read_text().splitlines()
        if line.startswith("u ")
    ]
    assert shlex.split(entry)[:2] == ["u", SERVICE["User"][0]]
