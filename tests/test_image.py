"""The container image, built the way deploy/GUIDE.md says and started for real.

The image is built with the GUIDE's commands for a site that reaches no container registry:
the base image made from Debian's packages (mmdebstrap), then `make image` on it. Its entry
point is then started twice: by `podman run` where the runtime can start containers here, and
in any case from the image's own files, mounted and run in a chroot as the image's user, with
its environment and working directory, the way a runtime would. Both run in a network
namespace of their own that has nothing but loopback; curl joins that namespace, so the
request for https://chat.deepseek.com/ goes to 127.0.0.1 and nothing can reach a vendor.

Needs root and the Debian packages podman, runc and mmdebstrap (scripts/system-deps installs
them); skipped without them, and failed under CI. The first build takes a few minutes (the
Debian base, then aiwall's dependencies from PyPI); later ones reuse podman's layers.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import ROOT
from .eventcheck import validate_event_lines

GUIDE = ROOT / "deploy" / "GUIDE.md"
KUBERNETES = ROOT / "deploy" / "kubernetes"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
IMAGE_NAME = f"localhost/aiwall:{VERSION}"  # what scripts/build-image tags
UID = 10001

# The cold build (base and dependencies downloaded) takes about 3 minutes on 2 cores; the
# limit leaves room for a slow mirror.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
BUILD_TIMEOUT = 840

# podman's default limits (1,048,576 open files) are above what some sandboxes let a process
# set; these are enough for one proxy serving a few requests.
RUN_LIMITS = ("--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096")
STOP_TIMEOUT = 5  # seconds `podman stop` waits after SIGTERM before it kills

# Private keys that third-party packages ship, public and trusted by nothing: mitmproxy's
# certs.py holds a placeholder key (all zeros) for a certificate chain it builds, tornado
# (mitmproxy's web interface) the key of its own test server.
THIRD_PARTY_KEYS = re.compile(
    r"/site-packages/(mitmproxy/(__pycache__/)?certs\.(py|cpython-\d+\.pyc)|tornado/test/test\.key)$"
)
PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]{64}")
# Names of the CA (mitmproxy-ca.pem, .p12), the token key (deploy/: token-key, ack.key) and keys.
SECRET_FILE_NAME = re.compile(r"mitmproxy-ca.*|token-key|.*\.(key|p12|pfx)")


def _require_root_and_tools() -> None:
    """Skip without what the build needs (fail under CI, where scripts/system-deps installs it)."""
    missing = [
        t for t in ("podman", "mmdebstrap", "unshare", "nsenter", "curl") if not shutil.which(t)
    ]
    reason = ""
    if os.geteuid() != 0:
        reason = "building and mounting the image needs root"
    elif missing:
        reason = f"needs {', '.join(missing)} (scripts/system-deps installs them)"
    if reason and os.environ.get("CI"):
        pytest.fail(reason)
    if reason:
        pytest.skip(reason)


def _podman(*arguments: str) -> str:
    done = subprocess.run(["podman", *arguments], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"podman {' '.join(arguments)}: {done.stderr}"
    return done.stdout.strip()


def guide_build_commands() -> list[str]:
    """The GUIDE's commands that build the image where no container registry is reachable."""
    blocks = re.findall(r"```sh\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)
    (block,) = [b for b in blocks if "make image-base" in b]
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


@dataclass(frozen=True)
class BuiltImage:
    id: str
    summary: str  # scripts/build-image's last line: name, ID, size, build time
    base: str
    seconds: float  # all of the GUIDE's commands

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = json.loads(
            _podman("image", "inspect", "--format", "{{json .Config}}", self.id)
        )
        return config


@pytest.fixture(scope="module")
def image() -> BuiltImage:
    _require_root_and_tools()
    start = time.monotonic()
    output = ""
    for command in guide_build_commands():
        done = subprocess.run(
            command, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT
        )
        assert done.returncode == 0, f"{command}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        output = done.stdout
    # The last line of scripts/build-image (a make inside `make test` adds its own after it).
    summaries = re.findall(
        r"^((\S+) ([0-9a-f]{12}): \d+ MB, built in \d+ s from (\S+))$", output, re.MULTILINE
    )
    assert summaries, f"scripts/build-image printed no summary line:\n{output[-2000:]}"
    summary, name, image_id, base = summaries[-1]
    assert name == IMAGE_NAME
    return BuiltImage(image_id, summary, base, time.monotonic() - start)


@pytest.fixture(scope="module")
def rootfs(image: BuiltImage) -> Iterator[Path]:
    """The image's files, mounted read-only."""
    yield Path(_podman("image", "mount", image.id))
    _podman("image", "unmount", image.id)


# --- the name ------------------------------------------------------------------------------


def test_the_manifests_and_the_guide_name_the_image_as_the_build_tags_it() -> None:
    deployment = yaml.safe_load((KUBERNETES / "deployment.yaml").read_text(encoding="utf-8"))
    (container,) = [
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "aiwall"
    ]
    assert container["image"] == IMAGE_NAME
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text(encoding="utf-8"))
    (entry,) = [i for i in kustomization["images"] if i["name"] == IMAGE_NAME.partition(":")[0]]
    assert f"{entry['newName']}:{entry['newTag']}" == IMAGE_NAME
    commands = guide_build_commands()
    assert commands[0] == "make image-base"
    assert commands[-1].startswith("make image PYTHON_IMAGE=")
    assert IMAGE_NAME in GUIDE.read_text(encoding="utf-8")


def test_the_guide_commands_build_the_image_on_a_debian_base(
    image: BuiltImage, capsys: pytest.CaptureFixture[str]
) -> None:
    assert image.base == guide_build_commands()[-1].partition("PYTHON_IMAGE=")[2]
    assert _podman("image", "exists", image.base) == ""
    with capsys.disabled():
        print(f"\n{image.summary}; the GUIDE's commands took {image.seconds:.0f} s")


# --- what is in the image ------------------------------------------------------------------


def test_the_image_runs_as_uid_10001_with_the_confdir_as_a_volume(image: BuiltImage) -> None:
    config = image.config()
    assert config["User"] == f"{UID}:{UID}"
    assert list(config["Volumes"]) == ["/var/lib/aiwall"]
    assert config["Entrypoint"][:2] == ["aiwall", "run"]
    healthcheck = json.loads(
        _podman("image", "inspect", "--format", "{{json .HealthCheck}}", image.id)
    )
    assert "/healthz" in " ".join(healthcheck["Test"])


def test_the_image_holds_no_key_and_no_rules_but_the_example(rootfs: Path) -> None:
    example = (ROOT / "rules.example.yaml").read_bytes()
    rules_files = []
    for folder, _, files in os.walk(rootfs):
        for name in files:
            path = Path(folder, name)
            if path.is_symlink() or not path.is_file():
                continue
            shown = f"/{path.relative_to(rootfs)}"
            content = path.read_bytes()
            if SECRET_FILE_NAME.fullmatch(name) or PRIVATE_KEY.search(content):
                assert THIRD_PARTY_KEYS.search(shown), f"a key: {shown}"
            if name.endswith((".yaml", ".yml")) and re.search(rb"^rules:", content, re.MULTILINE):
                assert content == example, f"rules other than the example: {shown}"
                rules_files.append(shown)
    assert "/etc/aiwall/rules.yaml" in rules_files
    assert not any((rootfs / "var/lib/aiwall").iterdir()), "the confdir volume should be empty"
    shipped = {p.name: p.read_bytes() for p in (ROOT / "policies").glob("*.yaml")}
    in_image = {p.name: p.read_bytes() for p in (rootfs / "etc/aiwall/policies").glob("*.yaml")}
    assert in_image == shipped


# --- running it ----------------------------------------------------------------------------

# Run by the host's Python inside new mount and network namespaces: what a runtime does for
# this image, by hand. Mounts the volume, a /tmp, /proc and a minimal /dev over the read-only
# image, brings loopback up, then becomes the image's user and runs its entry point.
IN_CHROOT = """
import ctypes, json, os, signal, subprocess, sys
spec = json.loads(sys.argv[1])
root = spec["root"]
def mount(*arguments):
    subprocess.run(["mount", *arguments], check=True)
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
mount("--bind", spec["volume"], root + spec["volume_path"])
mount("-t", "tmpfs", "-o", "mode=1777", "tmpfs", root + "/tmp")
mount("-t", "proc", "proc", root + "/proc")
mount("-t", "tmpfs", "-o", "mode=755", "tmpfs", root + "/dev")
for device in ("null", "zero", "random", "urandom"):
    open(root + "/dev/" + device, "w").close()
    mount("--bind", "/dev/" + device, root + "/dev/" + device)
os.chroot(root)
os.chdir(spec["workdir"] or "/")
uid, _, gid = spec["user"].partition(":")
os.setgroups([])
os.setgid(int(gid))
os.setuid(int(uid))
# A change of user clears the parent-death signal that unshare --kill-child set: set it again,
# so that the proxy cannot outlive unshare.
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
env = dict(item.split("=", 1) for item in spec["env"])
os.execvpe(spec["argv"][0], spec["argv"], env)
"""


def _chroot_command(image: BuiltImage, rootfs: Path, volume: Path, argv: list[str]) -> list[str]:
    config = image.config()
    (volume_path,) = config["Volumes"]
    spec = {
        "root": str(rootfs),
        "volume": str(volume),
        "volume_path": volume_path,
        "workdir": config.get("WorkingDir", ""),
        "user": config["User"],
        "env": config["Env"],
        "argv": argv,
    }
    return [
        "unshare",
        "--mount",
        "--net",
        "--fork",
        "--kill-child",
        sys.executable,
        "-c",
        IN_CHROOT,
        json.dumps(spec),
    ]


def _entry_point(image: BuiltImage) -> list[str]:
    config = image.config()
    return [*config["Entrypoint"], *(config.get("Cmd") or [])]


def _volume(tmp_path: Path) -> Path:
    """A fresh volume for the confdir, owned by the image's user as the image's own folder is."""
    volume = tmp_path / "aiwall-ca"
    volume.mkdir(mode=0o700)
    os.chown(volume, UID, UID)
    return volume


@dataclass(frozen=True)
class Running:
    process: subprocess.Popen[bytes]  # unshare or podman
    pid: int  # the proxy, in its own network namespace
    stdout: Path
    stderr: Path


def _wait_for(
    condition: Callable[[], bool], what: str, process: subprocess.Popen[bytes], stderr: Path
) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if process.poll() is not None:
            pytest.fail(
                f"the entry point ended ({process.returncode}) {what}:\n{stderr.read_text()}"
            )
        assert time.monotonic() < deadline, f"timed out {what}:\n{stderr.read_text()}"
        time.sleep(0.2)


@contextmanager
def _run_in_chroot(image: BuiltImage, rootfs: Path, volume: Path, logs: Path) -> Iterator[Running]:
    stdout, stderr = logs / "stdout", logs / "stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        command = _chroot_command(image, rootfs, volume, _entry_point(image))
        process = subprocess.Popen(command, stdout=out, stderr=err)
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    pid = 0
    try:
        _wait_for(lambda: children.read_text().strip() != "", "before it started", process, stderr)
        pid = int(children.read_text().split()[0])
        yield Running(process, pid, stdout, stderr)
        os.kill(pid, signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            if pid:
                os.kill(pid, signal.SIGKILL)
            process.kill()
            process.wait()


@contextmanager
def _run_with_podman(
    image: BuiltImage, options: list[str], volume: Path, logs: Path
) -> Iterator[Running]:
    stdout, stderr = logs / "stdout", logs / "stderr"
    name = f"aiwall-image-test-{os.getpid()}"
    (volume_path,) = image.config()["Volumes"]
    command = [
        "podman", *options, "run", "--rm", "--name", name, "--network", "none", "--read-only",
        *RUN_LIMITS, "--volume", f"{volume}:{volume_path}", image.id,
    ]  # fmt: skip
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err)

    def pid() -> int:
        done = subprocess.run(
            ["podman", "inspect", "--format", "{{.State.Pid}}", name],
            capture_output=True,
            text=True,
        )
        return int(done.stdout.strip() or 0)

    try:
        _wait_for(lambda: pid() > 0, "before it started", process, stderr)
        yield Running(process, pid(), stdout, stderr)
        subprocess.run(
            ["podman", "stop", "--time", str(STOP_TIMEOUT), name], capture_output=True, timeout=60
        )
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            subprocess.run(["podman", "rm", "--force", name], capture_output=True, timeout=60)
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def podman_run_options(image: BuiltImage) -> list[str]:
    """podman's global options with which `podman run` starts this image here, or skip."""
    attempts = [[]] + ([["--runtime", "runc"]] if shutil.which("runc") else [])
    errors = []
    for options in attempts:
        command = ["podman", *options, "run", "--rm", "--network", "none", *RUN_LIMITS, image.id]
        done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=120)
        if done.returncode == 0 and "usage: aiwall run" in done.stdout:
            return options
        errors.append(f"podman {' '.join(options)} run: {done.stderr.strip().splitlines()[-1:]}")
    pytest.skip(f"podman run cannot start containers here ({'; '.join(errors)})")


def _in_namespace(running: Running, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nsenter", "--target", str(running.pid), "--net", *command],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _ready(running: Running) -> bool:
    url = "http://127.0.0.1:9090/readyz"
    done = _in_namespace(running, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url)
    return done.stdout == "200"


@pytest.mark.parametrize("launcher", ["podman run", "chroot"])
def test_the_entry_point_blocks_deepseek_with_the_ca_it_created(
    launcher: str, image: BuiltImage, rootfs: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    volume = _volume(tmp_path)
    started: AbstractContextManager[Running]
    if launcher == "podman run":
        options = request.getfixturevalue("podman_run_options")
        started = _run_with_podman(image, options, volume, tmp_path)
    else:
        started = _run_in_chroot(image, rootfs, volume, tmp_path)
    with started as running:
        # /readyz answers once the rules are loaded, which can be before mitmproxy made its CA.
        ca = volume / "mitmproxy-ca-cert.pem"
        _wait_for(
            lambda: _ready(running) and ca.exists(),
            "before /readyz answered and the CA was made",
            running.process,
            running.stderr,
        )
        status = Path(f"/proc/{running.pid}/status").read_text()
        assert re.search(rf"^Uid:\s+{UID}\s+{UID}\s+{UID}\s+{UID}$", status, re.MULTILINE), status
        assert ca.stat().st_uid == UID
        assert (volume / "mitmproxy-ca.pem").stat().st_mode & 0o077 == 0
        headers, body = tmp_path / "headers", tmp_path / "body"
        done = _in_namespace(
            running, "curl", "-sS", "--max-time", "20", "--noproxy", "", "--proxy", "http://127.0.0.1:8080",
            "--cacert", str(ca), "-H", "Accept: text/html", "-D", str(headers), "-o", str(body),
            "-w", "%{http_code}", "https://chat.deepseek.com/",
        )  # fmt: skip
        assert done.stdout == "403", done.stderr + running.stderr.read_text()
        assert re.search(r"^cache-control: no-store", headers.read_text(), re.I | re.M)
        assert "<title>DeepSeek consumer app / web is blocked by company policy</title>" in (
            body.read_text()
        )
    events = validate_event_lines(running.stdout.read_text().splitlines())
    decisions = [e for e in events if e["event"]["action"] == "decision"]
    assert len(decisions) == 1, decisions
    (decision,) = decisions
    assert decision["url"]["domain"] == "chat.deepseek.com"
    assert decision["aiwall"]["action"] == "block"
    assert decision["http"]["response"]["status_code"] == 403


def test_aiwall_check_passes_in_the_image_on_the_shipped_files(
    image: BuiltImage, rootfs: Path, tmp_path: Path
) -> None:
    check = [
        "aiwall",
        "check",
        "--rules",
        "/etc/aiwall/rules.yaml",
        "--policies",
        "/etc/aiwall/policies",
    ]
    done = subprocess.run(
        _chroot_command(image, rootfs, _volume(tmp_path), check),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_entry_point_stops_on_sigterm(
    image: BuiltImage, podman_run_options: list[str], tmp_path: Path
) -> None:
    with _run_with_podman(image, podman_run_options, _volume(tmp_path), tmp_path) as running:
        _wait_for(
            lambda: _ready(running), "before /readyz answered", running.process, running.stderr
        )
    assert running.process.returncode == 0, f"podman run ended with {running.process.returncode}"
