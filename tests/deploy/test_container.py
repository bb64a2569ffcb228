"""deploy/container/: the image runs `aiwall run` as a fixed non-root user the deployment names,
with its configuration directory a volume, no secrets baked in, and a build context that holds
only what it copies.
"""

import os
import re
from pathlib import Path

import yaml

from .conftest import CONTAINER, objects, pod_spec, run_arguments


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (CONTAINER / "Containerfile").read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def _json_list(instruction: str) -> list[str]:
    (value,) = [v for name, v in _final_stage() if name == instruction]
    parsed = yaml.safe_load(value)
    assert isinstance(parsed, list), f"{instruction} should be in JSON (exec) form"
    return [str(item) for item in parsed]


def test_the_image_runs_as_a_fixed_non_root_user_the_deployment_names() -> None:
    (user,) = [v for name, v in _final_stage() if name == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    (create,) = [v for name, v in _final_stage() if name == "RUN" and "useradd" in v]
    assert f"--uid {uid} " in create and f"--gid {gid} " in create
    pod = pod_spec(objects("Deployment")["aiwall"])["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(uid), int(gid))


def test_the_confdir_is_a_volume_and_the_entrypoint_is_aiwall_run() -> None:
    (volume,) = [v for name, v in _final_stage() if name == "VOLUME"]
    entrypoint = _json_list("ENTRYPOINT")
    assert entrypoint[:10] == [
        "aiwall", "run", "--listen", "0.0.0.0:8080", "--confdir", "/var/lib/aiwall",
        "--rules", "/etc/aiwall/rules.yaml", "--policies", "/etc/aiwall/policies",
    ]  # fmt: skip
    arguments = run_arguments(entrypoint[2:] + _json_list("CMD"))
    assert yaml.safe_load(volume) == [arguments.confdir]
    assert Path(arguments.state_dir).parent == Path(arguments.confdir)  # kept on the volume
    (exposed,) = [v for name, v in _final_stage() if name == "EXPOSE"]
    metrics_port = arguments.metrics.rpartition(":")[2]
    assert set(exposed.split()) == {f"{arguments.listen[1]}/tcp", f"{metrics_port}/tcp"}
    (healthcheck,) = [v for name, v in _final_stage() if name == "HEALTHCHECK"]
    assert f"127.0.0.1:{metrics_port}/healthz" in healthcheck


SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSW|CREDENTIAL", re.IGNORECASE)
SECRET_FILE = re.compile(r"\.(pem|key|p12|pfx|crt|cer)\b|token-key|mitmproxy-ca", re.IGNORECASE)


def test_no_secrets_are_baked_into_the_image() -> None:
    for name, value in _instructions():
        if name in ("ENV", "ARG"):
            for variable in re.findall(r"(\w+)=", value) or [value.split()[0]]:
                assert not SECRET_NAME.search(variable), f"{name} {value}"
        if name in ("COPY", "ADD"):
            sources = [w for w in value.split()[:-1] if not w.startswith("--")]
            assert not any(SECRET_FILE.search(s) for s in sources), f"{name} {value}"


def test_the_build_context_holds_only_what_the_image_copies() -> None:
    ignore = [
        line.strip()
        for line in (CONTAINER / ".containerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*", "the ignore file should exclude everything, then re-include"
    included = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for name, value in _instructions():
        if name == "COPY" and "--from=" not in value:
            for source in value.split()[:-1]:
                assert source.rstrip("/") in included, f"COPY {source} is not in the context"
    assert {"**/*.pem", "**/*.key"} <= set(ignore)
    docker_ignore = CONTAINER / "Containerfile.dockerignore"
    assert docker_ignore.is_symlink() and os.readlink(docker_ignore) == ".containerignore"
