"""deploy/: what the systemd unit, the container image and the Kubernetes manifests promise.

The manifests are validated offline against the JSON schemas of one Kubernetes release, in
strict mode (an unknown or misspelt field fails), using the schemas that the PyPI package
kubernetes-validate ships. The rest are consistency checks: every object a pod mounts exists
or has a documented command that creates it, the probes hit the metrics port, the commands
are ones `aiwall run` accepts, and the hardening settings are present.
"""

import argparse
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from aiwall.cli.main import _parser
from aiwall.core.config import load_config
from aiwall.core.reach.analyser import analyse

from .conftest import ROOT

DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
SYSTEMD = DEPLOY / "systemd"
CONTAINER = DEPLOY / "container"
GUIDE = DEPLOY / "GUIDE.md"

# A recent release, and the oldest of the three minor releases (1.35 to 1.37) that
# kubernetes-validate 1.37 ships schemas for and upstream supports as this is written. The
# manifests use only stable APIs (apps/v1, autoscaling/v2, policy/v1, networking.k8s.io/v1),
# so what validates here holds for the later releases too. kubernetes-validate>=1.35 (the
# test extra) is the first package that has this release's schemas.
KUBERNETES_VERSION = "1.35"

CONFIGMAP_LIMIT = 1024 * 1024  # bytes of data in one ConfigMap
# Client-side `kubectl apply` copies the whole object into an annotation limited to this.
LAST_APPLIED_LIMIT = 256 * 1024

Document = dict[str, Any]


def _manifest_files() -> list[Path]:
    return sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")


def _documents() -> list[tuple[Path, Document]]:
    return [
        (path, document)
        for path in _manifest_files()
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if document
    ]


DOCUMENTS = _documents()


def _objects(kind: str) -> dict[str, Document]:
    return {d["metadata"]["name"]: d for _, d in DOCUMENTS if d["kind"] == kind}


def _pod_spec(deployment: Document) -> Document:
    spec: Document = deployment["spec"]["template"]["spec"]
    return spec


def _aiwall_container() -> Document:
    container: Document = _pod_spec(_objects("Deployment")["aiwall"])["containers"][0]
    return container


def _mount_path(container: Document, volume: str) -> Path:
    (mount,) = (m for m in container["volumeMounts"] if m["name"] == volume)
    return Path(mount["mountPath"])


def _run_arguments(argv: list[str]) -> Any:
    """`aiwall run` arguments as aiwall's own parser reads them (SystemExit if it refuses).

    Options must be spelt out: argparse would also accept an unambiguous prefix, which a later
    option could make ambiguous."""
    parser = _parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    spelled = {s for action in commands.choices["run"]._actions for s in action.option_strings}
    for word in argv:
        if word.startswith("--"):
            assert word.split("=", 1)[0] in spelled, f"`aiwall run` has no option {word}"
    return parser.parse_args(["run", *argv])


def _deployment_arguments(container: Document) -> Any:
    argv = container["command"] + container["args"]
    assert argv[:2] == ["aiwall", "run"]
    return _run_arguments(argv[2:])


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Schema validation must not fetch anything: any connection attempt fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access during schema validation: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# --- Kubernetes: schemas ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [d for _, d in DOCUMENTS],
    ids=[f"{p.name}:{d['kind']}/{d['metadata']['name']}" for p, d in DOCUMENTS],
)
def test_manifest_is_valid_against_the_kubernetes_schema(
    document: Document, no_network: None
) -> None:
    validated = kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    # The package falls back to an older release's schemas when it lacks the one asked for.
    assert validated == KUBERNETES_VERSION


def test_the_schema_check_rejects_a_misspelt_field(no_network: None) -> None:
    deployment = yaml.safe_load((KUBERNETES / "deployment.yaml").read_text(encoding="utf-8"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFS"] = True
    with pytest.raises(kubernetes_validate.ValidationError, match="readOnlyRootFS"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_there_are_manifests_of_every_kind_the_deployment_needs() -> None:
    kinds = {d["kind"] for _, d in DOCUMENTS}
    assert {
        "Namespace",
        "Deployment",
        "Service",
        "ConfigMap",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    } <= kinds
    assert "Secret" not in kinds, "keys belong in Secrets created at deploy time, not in git"


# --- Kubernetes: consistency -----------------------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [p.name for p in _manifest_files()]
    assert kustomization["namespace"] == _objects("Namespace")["aiwall"]["metadata"]["name"]


def test_kubectl_kustomize_builds_valid_objects(no_network: None) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the kustomization was checked by file names only")
    built = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES)], capture_output=True, text=True, check=True
    ).stdout
    documents = [d for d in yaml.safe_load_all(built) if d]
    assert len(documents) == len(DOCUMENTS)
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == "aiwall"


def _referenced_objects() -> Iterator[tuple[str, str, list[str]]]:
    """(kind, name, keys it must hold) for every ConfigMap and Secret a pod uses."""
    for deployment in _objects("Deployment").values():
        spec = _pod_spec(deployment)
        for volume in spec.get("volumes", []):
            sources = [volume, *(volume.get("projected", {}).get("sources", []))]
            for source in sources:
                if "configMap" in source:
                    ref = source["configMap"]
                    yield "ConfigMap", ref["name"], [i["key"] for i in ref.get("items", [])]
                if "secret" in source:
                    ref = source["secret"]
                    name = ref.get("secretName") or ref["name"]
                    yield "Secret", name, [i["key"] for i in ref.get("items", [])]
        for container in spec["containers"] + spec.get("initContainers", []):
            for env in container.get("env", []):
                value_from = env.get("valueFrom", {})
                for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                    if field in value_from:
                        yield kind, value_from[field]["name"], [value_from[field]["key"]]
            for env_from in container.get("envFrom", []):
                for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                    if field in env_from:
                        yield kind, env_from[field]["name"], []


def _guide_command_lines() -> list[str]:
    """The guide's lines with shell continuations (a trailing backslash) joined."""
    return GUIDE.read_text(encoding="utf-8").replace("\\\n", " ").splitlines()


def _documented_creations() -> dict[tuple[str, str], set[str]]:
    """`kubectl create configmap|secret generic NAME --from-file=...` commands in the guide,
    with the keys each creates (a directory stands for every file in it)."""
    created: dict[tuple[str, str], set[str]] = {}
    for line in _guide_command_lines():
        match = re.search(r"kubectl create (configmap|secret generic) ([a-z0-9-]+)(.*)", line)
        if not match:
            continue
        kind = "ConfigMap" if match[1] == "configmap" else "Secret"
        keys = created.setdefault((kind, match[2]), set())
        for source in re.findall(r"--from-(?:file|literal)=(\S+)", match[3]):
            if "=" in source:
                keys.add(source.split("=", 1)[0])
            elif source.endswith("/"):
                keys.add("<directory>")
            else:
                keys.add(source.rsplit("/", 1)[-1])
    return created


def test_every_configmap_and_secret_a_pod_uses_exists_or_is_created_by_the_guide() -> None:
    defined = {(d["kind"], d["metadata"]["name"]) for _, d in DOCUMENTS}
    documented = _documented_creations()
    references = list(_referenced_objects())
    assert references
    for kind, name, keys in references:
        if (kind, name) in defined:
            held = set(_objects(kind)[name].get("data", {}))
            assert set(keys) <= held, f"{kind} {name} lacks {set(keys) - held}"
            continue
        assert (kind, name) in documented, (
            f"{kind} {name} is mounted but neither in deploy/kubernetes nor created by a"
            " `kubectl create` command in deploy/GUIDE.md"
        )
        created = documented[kind, name]
        if "<directory>" not in created:
            assert set(keys) <= created, f"the guide's {kind} {name} lacks {set(keys) - created}"


def test_the_ca_secret_holds_the_dhparam_file_a_read_only_confdir_needs() -> None:
    (ca,) = (v for v in _pod_spec(_objects("Deployment")["aiwall"])["volumes"] if v["name"] == "ca")
    assert {i["key"] for i in ca["secret"]["items"]} == {
        "mitmproxy-ca.pem",
        "mitmproxy-ca-cert.pem",
        "mitmproxy-dhparam.pem",
    }
    assert _mount_path(_aiwall_container(), "ca") == Path("/var/lib/aiwall")


def test_the_rules_configmap_is_a_valid_rules_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(_objects("ConfigMap")["aiwall-rules"]["data"]["rules.yaml"])
    config = load_config(rules, ROOT / "policies")
    assert config.rules.rules
    assert [str(p) for p in analyse(config).problems] == []  # no rule that never decides


def test_the_vendor_records_fit_in_one_configmap(no_network: None) -> None:
    """The guide builds ConfigMap aiwall-policies from policies/: every file becomes a key."""
    files = sorted(p for p in (ROOT / "policies").iterdir() if p.is_file())
    data = {p.name: p.read_text(encoding="utf-8") for p in files}
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "aiwall-policies", "namespace": "aiwall"},
        "data": data,
    }
    kubernetes_validate.validate(configmap, KUBERNETES_VERSION, strict=True)
    assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", key) for key in data)
    size = sum(len(k) + len(v.encode()) for k, v in data.items())
    assert size < CONFIGMAP_LIMIT, (
        f"policies/ holds {size:,} bytes, over a ConfigMap's 1 MiB: split it over several"
        " ConfigMaps in a projected volume (deploy/GUIDE.md)"
    )
    if size > LAST_APPLIED_LIMIT:
        command = next(
            line for line in _guide_command_lines() if "create configmap aiwall-policies" in line
        )
        assert "--server-side" in command, "client-side apply cannot store this ConfigMap"


def test_probes_use_the_metrics_port_and_the_documented_paths() -> None:
    container = _aiwall_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    arguments = _deployment_arguments(container)
    assert int(arguments.metrics.rpartition(":")[2]) == ports["metrics"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    services = _objects("Service")
    assert [p["targetPort"] for p in services["aiwall"]["spec"]["ports"]] == ["proxy"]
    assert [p["targetPort"] for p in services["aiwall-metrics"]["spec"]["ports"]] == ["metrics"]


def test_the_deployment_runs_a_command_aiwall_run_accepts_with_the_mounted_paths() -> None:
    container = _aiwall_container()
    arguments = _deployment_arguments(container)
    assert arguments.listen == (
        "0.0.0.0",
        {p["name"]: p for p in container["ports"]}["proxy"]["containerPort"],
    )
    assert Path(arguments.confdir) == _mount_path(container, "ca")
    assert arguments.rules.parent == _mount_path(container, "rules")
    assert arguments.policies == _mount_path(container, "policies")
    assert Path(arguments.secret).parent == _mount_path(container, "token-key")
    redis = _objects("Service")["aiwall-redis"]
    assert arguments.ack_store == f"redis://aiwall-redis:{redis['spec']['ports'][0]['port']}/0"


def test_the_last_good_configuration_is_kept_in_a_writable_volume_of_the_pod() -> None:
    container = _aiwall_container()
    state = Path(_deployment_arguments(container).state_dir)
    assert state == _mount_path(container, "state")
    (mount,) = (m for m in container["volumeMounts"] if m["name"] == "state")
    assert not mount.get("readOnly")
    volumes = {v["name"]: v for v in _pod_spec(_objects("Deployment")["aiwall"])["volumes"]}
    assert "emptyDir" in volumes["state"]  # lives as long as the pod: container restarts


@pytest.mark.parametrize("name", sorted(_objects("Deployment")))
def test_pods_run_as_non_root_with_a_read_only_root_filesystem(name: str) -> None:
    spec = _pod_spec(_objects("Deployment")[name])
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]


def test_every_selector_selects_the_pods_it_is_meant_for() -> None:
    pod_labels = {
        name: d["spec"]["template"]["metadata"]["labels"]
        for name, d in _objects("Deployment").items()
    }

    def selects(selector: dict[str, str]) -> list[str]:
        return [n for n, labels in pod_labels.items() if selector.items() <= labels.items()]

    for name, deployment in _objects("Deployment").items():
        assert selects(deployment["spec"]["selector"]["matchLabels"]) == [name]
    services = _objects("Service")
    assert selects(services["aiwall"]["spec"]["selector"]) == ["aiwall"]
    assert selects(services["aiwall-metrics"]["spec"]["selector"]) == ["aiwall"]
    assert selects(services["aiwall-redis"]["spec"]["selector"]) == ["aiwall-redis"]
    pdb = _objects("PodDisruptionBudget")["aiwall"]
    assert selects(pdb["spec"]["selector"]["matchLabels"]) == ["aiwall"]
    policy = _objects("NetworkPolicy")["aiwall-redis"]["spec"]
    assert selects(policy["podSelector"]["matchLabels"]) == ["aiwall-redis"]
    assert selects(policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"]) == ["aiwall"]
    hpa = _objects("HorizontalPodAutoscaler")["aiwall"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "aiwall",
    }
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"


def test_the_proxy_service_keeps_client_addresses() -> None:
    """aiwall tells clients apart by IP; SNAT by the default traffic policy would merge them."""
    assert _objects("Service")["aiwall"]["spec"]["externalTrafficPolicy"] == "Local"


def test_redis_keeps_nothing_on_disk() -> None:
    args = _pod_spec(_objects("Deployment")["aiwall-redis"])["containers"][0]["args"]
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert pairs["--save"] == ""
    assert pairs["--appendonly"] == "no"
    assert pairs["--maxmemory-policy"] == "noeviction"


# --- systemd ---------------------------------------------------------------------------------


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
    arguments = _run_arguments(argv[2:])
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


# --- container image -------------------------------------------------------------------------


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
    pod = _pod_spec(_objects("Deployment")["aiwall"])["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(uid), int(gid))


def test_the_confdir_is_a_volume_and_the_entrypoint_is_aiwall_run() -> None:
    (volume,) = [v for name, v in _final_stage() if name == "VOLUME"]
    entrypoint = _json_list("ENTRYPOINT")
    assert entrypoint[:10] == [
        "aiwall", "run", "--listen", "0.0.0.0:8080", "--confdir", "/var/lib/aiwall",
        "--rules", "/etc/aiwall/rules.yaml", "--policies", "/etc/aiwall/policies",
    ]  # fmt: skip
    arguments = _run_arguments(entrypoint[2:] + _json_list("CMD"))
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


# --- the guide -------------------------------------------------------------------------------


def test_the_guide_links_to_files_that_exist() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link and not link.startswith("mailto:")]
    assert local
    for link in local:
        assert (GUIDE.parent / link).exists(), link
