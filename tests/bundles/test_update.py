"""Getting bundles to the proxy: `aiwall registry update` over HTTP on 127.0.0.1, a running
proxy picking up an installed bundle and its rollback, and deploy/'s timer and CronJob running
commands aiwall accepts."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from aiwall.cli.main import _parser
from aiwall.core.registry import INSTALLED_FILE, REVIEW_FILE, load_registry

from ..conftest import FIXTURES, ROOT
from ..eventcheck import validate_event_lines
from ..feedserver import FeedServer, feed_server
from ..proxy import running_proxy
from ..test_reload_metrics import JSON, wait_for
from ..upstream import Upstream
from .conftest import bundle_bytes, install, pack, run, set_training, tampered, tree, unsigned


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


def update(
    capsys: pytest.CaptureFixture[str], server: FeedServer, key: Path, into: Path
) -> tuple[int, str, str]:
    return run(
        capsys,
        "registry",
        "update",
        "--from",
        server.url("/aiwall.bundle"),
        "--key",
        f"{key}.pub",
        "--into",
        str(into),
    )


def test_update_installs_a_good_bundle_then_asks_conditionally(
    tmp_path: Path, records: Path, key: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    into = tmp_path / "registry"
    bundle = bundle_bytes(capsys, records, key, tmp_path, 100)
    server.serve("/aiwall.bundle", bundle, content_type="application/octet-stream", etag='"100"')
    code, out, _ = update(capsys, server, key, into)
    assert code == 0 and "now serves version 100" in out
    server.requests.clear()
    code, out, _ = update(capsys, server, key, into)
    assert code == 0 and "up to date" in out
    assert server.requests[0][1]["if-none-match"] == '"100"'
    # A server without validators serving the installed bundle again: still up to date.
    server.serve("/aiwall.bundle", bundle, content_type="application/octet-stream")
    code, out, _ = update(capsys, server, key, into)
    assert code == 0 and "up to date" in out


@pytest.mark.parametrize("served", ["tampered", "older", "truncated", "unsigned"])
def test_update_refuses_a_bad_bundle_and_keeps_what_is_installed(
    served: str,
    tmp_path: Path,
    records: Path,
    key: Path,
    server: FeedServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    into = tmp_path / "registry"
    server.serve("/aiwall.bundle", bundle_bytes(capsys, records, key, tmp_path, 100))
    assert update(capsys, server, key, into)[0] == 0
    before = tree(into)
    set_training(records, "cnchat", "default", "never")
    newer = bundle_bytes(capsys, records, key, tmp_path, 200)
    data = {
        "tampered": lambda: tampered(newer),
        "older": lambda: bundle_bytes(capsys, records, key, tmp_path, 50),
        "truncated": lambda: newer[:-100],
        "unsigned": lambda: unsigned(records),
    }[served]()
    server.serve("/aiwall.bundle", data)
    code, _, err = update(capsys, server, key, into)
    assert code == 1
    assert f"refused {server.url('/aiwall.bundle')}" in err and f"{into} is unchanged" in err
    assert tree(into) == before


def test_update_from_an_unreachable_url_exits_2(
    tmp_path: Path, key: Path, server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = update(capsys, server, key, tmp_path / "registry")
    assert code == 2 and "HTTP 404" in err
    assert not (tmp_path / "registry" / INSTALLED_FILE).exists()


def test_a_missing_or_wrong_key_exits_2(
    installed: Path, records: Path, key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = pack(capsys, records, key, tmp_path / "v200", 200)
    code, _, err = run(
        capsys,
        "registry",
        "install",
        str(bundle),
        "--key",
        str(tmp_path / "none"),
        "--into",
        str(installed),
    )
    assert code == 2 and "cannot read the key" in err
    code, _, err = run(
        capsys, "registry", "install", str(bundle), "--key", str(key), "--into", str(installed)
    )
    assert code == 2 and "not a usable public key" in err  # the private key given instead
    assert os.path.exists(installed / INSTALLED_FILE)


# The proxy.


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_a_running_proxy_picks_up_an_installed_bundle_and_its_rollback(
    tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str], upstream: Upstream
) -> None:
    shipped = tmp_path / "shipped"
    shutil.copytree(ROOT / "policies", shipped, ignore=shutil.ignore_patterns("*.tsv"))
    into = tmp_path / "registry"
    assert install(capsys, pack(capsys, shipped, key, tmp_path / "v100", 100), key, into)[0] == 0
    rules = FIXTURES / "proxy" / "rules.yaml"
    options = ("aiwall_reload_interval=1",)
    with running_proxy(tmp_path / "proxy", upstream, rules, into, options) as proxy:
        assert proxy.curl("https://chat.mistral.ai/", *JSON)[0] == 403  # warned
        before = proxy.event_count()
        mistral = shipped / "mistral.yaml"
        mistral.write_text(mistral.read_text().replace("confidence: medium", "confidence: low", 1))
        bundle = pack(capsys, shipped, key, tmp_path / "v200", 200)
        assert install(capsys, bundle, key, into)[0] == 0
        changed = wait_for(proxy, before, "policy.changed")
        assert changed["aiwall"]["policy"]["changes"] == [confidence_change("medium", "low")]
        before = proxy.event_count()
        assert run(capsys, "registry", "rollback", "--into", str(into))[0] == 0
        changed = wait_for(proxy, before, "policy.changed")
        assert changed["aiwall"]["policy"]["changes"] == [confidence_change("low", "medium")]
        # `aiwall sources check` marks a page as changed: the warn page says so.
        url = load_registry(into).vendors["mistral"].sources[0].url
        before = proxy.event_count()
        (into / REVIEW_FILE).write_text(
            f"mistral:\n  - url: {url}\n    source: Data use FAQ\n    changed: 2099-01-01\n"
        )
        wait_for(proxy, before, "config.loaded")
        status, page = proxy.curl("https://chat.mistral.ai/", "-H", "Accept: text/html")
        assert status == 403
        assert "s Data use FAQ changed on 2099-01-01; these facts are under review" in page
    validate_event_lines(proxy.events_path.read_text().splitlines())


# deploy/: the timer's and the CronJob's commands are ones aiwall accepts.


REGISTRY_FEED = ROOT / "deploy" / "kubernetes" / "registry-feed"


def test_the_cronjob_and_its_claim_are_valid_kubernetes_objects() -> None:
    kustomization = yaml.safe_load((REGISTRY_FEED / "kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        document = yaml.safe_load((REGISTRY_FEED / name).read_text())
        assert kubernetes_validate.validate(document, "1.35", strict=True) == "1.35"


def test_the_cronjob_runs_registry_update_into_its_claim() -> None:
    cronjob = yaml.safe_load((REGISTRY_FEED / "cronjob.yaml").read_text())
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    args = _parser().parse_args(container["command"][1:] + container["args"])
    assert args.command.__name__ == "_update"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[str(args.into)] == "registry"
    assert mounts[str(args.key.parent)] == "feed-key"
    claims = {v["name"]: v.get("persistentVolumeClaim") for v in pod["volumes"]}
    assert claims["registry"] == {"claimName": "aiwall-registry"}


@pytest.mark.parametrize(
    ("unit", "handler"),
    [
        ("aiwall-registry-update.service", "_update"),
        ("aiwall-sources-check.service", "_sources_check"),
    ],
)
def test_the_systemd_units_run_commands_aiwall_accepts(unit: str, handler: str) -> None:
    text = (ROOT / "deploy" / "systemd" / unit).read_text().replace("\\\n", " ")
    [exec_start] = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    argv = exec_start.removeprefix("ExecStart=").split()
    assert argv[0] == "/opt/aiwall/.venv/bin/aiwall"
    env = dict(
        line.split("=", 1)
        for line in (ROOT / "deploy" / "systemd" / "aiwall.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    words = [env.get(w[2:-1], w) if w.startswith("${") else w for w in argv[1:]]
    assert _parser().parse_args(words).command.__name__ == handler


def confidence_change(old: str, new: str) -> dict[str, Any]:
    """A `policy.changed` entry: Mistral's confidence from `old` to `new`."""
    return {
        "vendor": "mistral",
        "product": None,
        "change": "changed",
        "field": "confidence",
        "old": old,
        "new": new,
    }
