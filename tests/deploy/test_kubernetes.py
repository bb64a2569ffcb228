"""deploy/kubernetes/: the manifests, validated offline against the JSON schemas of one
Kubernetes release in strict mode (an unknown or misspelt field fails), using the schemas that
the PyPI package kubernetes-validate ships; and their consistency: every object a pod mounts
exists or has a command in the guide that creates it, the probes hit the metrics port, the
commands are ones `aiwall run` accepts, and the hardening settings are present. Last, the
guide's links.
"""

import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from aiwall.core.config import load_config
from aiwall.core.reach.analyser import analyse

from ..conftest import ROOT
from .conftest import (
    DOCUMENTS,
    GUIDE,
    KUBERNETES,
    Document,
    manifest_files,
    objects,
    pod_spec,
    run_arguments,
)

# A recent release, and the oldest of the three minor releases (1.35 to 1.37) that
# kubernetes-validate 1.37 ships schemas for and upstream supports as this is written. The
# manifests use only stable APIs (apps/v1, autoscaling/v2, policy/v1, networking.k8s.io/v1),
# so what validates here holds for the later releases too. kubernetes-validate>=1.35 (the
# test extra) is the first package that has this release's schemas.
KUBERNETES_VERSION = "1.35"

CONFIGMAP_LIMIT = 1024 * 1024  # bytes of data in one ConfigMap
# Client-side `kubectl apply` copies the whole object into an annotation limited to this.
LAST_APPLIED_LIMIT = 256 * 1024


def _aiwall_container() -> Document:
    container: Document = pod_spec(objects("Deployment")["aiwall"])["containers"][0]
    return container


def _mount_path(container: Document, volume: str) -> Path:
    (mount,) = (m for m in container["volumeMounts"] if m["name"] == volume)
    return Path(mount["mountPath"])


def _deployment_arguments(container: Document) -> Any:
    argv = container["command"] + container["args"]
    assert argv[:2] == ["aiwall", "run"]
    return run_arguments(argv[2:])


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
    assert sorted(kustomization["resources"]) == [p.name for p in manifest_files()]
    assert kustomization["namespace"] == objects("Namespace")["aiwall"]["metadata"]["name"]


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
    for deployment in objects("Deployment").values():
        spec = pod_spec(deployment)
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
            held = set(objects(kind)[name].get("data", {}))
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
    (ca,) = (v for v in pod_spec(objects("Deployment")["aiwall"])["volumes"] if v["name"] == "ca")
    assert {i["key"] for i in ca["secret"]["items"]} == {
        "mitmproxy-ca.pem",
        "mitmproxy-ca-cert.pem",
        "mitmproxy-dhparam.pem",
    }
    assert _mount_path(_aiwall_container(), "ca") == Path("/var/lib/aiwall")


def test_the_rules_configmap_is_a_valid_rules_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(objects("ConfigMap")["aiwall-rules"]["data"]["rules.yaml"])
    config = load_config(rules, ROOT / "policies")
    assert config.rules.rules
    assert [str(p) for p in analyse(config).problems] == []  # no rule that never decides


def test_the_vendor_records_fit_in_their_configmaps(no_network: None) -> None:
    """The pod mounts ConfigMaps aiwall-policies-<from>-<to> as one projected volume; the guide
    builds each from the files of policies/ whose names start with those letters. Together they
    hold every file once, and each stays under a ConfigMap's 1 MiB."""
    volumes = pod_spec(objects("Deployment")["aiwall"])["volumes"]
    [volume] = [v for v in volumes if v["name"] == "policies"]
    names = [source["configMap"]["name"] for source in volume["projected"]["sources"]]
    files = sorted(p for p in (ROOT / "policies").iterdir() if p.is_file())
    commands = [c for c in _guide_command_lines() if "create configmap aiwall-policies" in c]
    held: list[str] = []
    for name in names:
        letters = re.fullmatch(r"aiwall-policies-([a-z])-([a-z])", name)
        assert letters, f"{name}: aiwall-policies-<first letter>-<last letter>"
        first, last = letters.groups()
        data = {p.name: p.read_text(encoding="utf-8") for p in files if first <= p.name[0] <= last}
        configmap = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "aiwall"},
            "data": data,
        }
        kubernetes_validate.validate(configmap, KUBERNETES_VERSION, strict=True)
        assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", key) for key in data)
        size = sum(len(k) + len(v.encode()) for k, v in data.items())
        assert size < CONFIGMAP_LIMIT, (
            f"{name} holds {size:,} bytes, over a ConfigMap's 1 MiB: split policies/ over one"
            " more ConfigMap of the projected volume (deploy/GUIDE.md)"
        )
        [command] = [c for c in commands if f"create configmap {name} " in c]
        assert f"policies/[{first}-{last}]*" in command
        if size > LAST_APPLIED_LIMIT:
            assert "--server-side" in command, "client-side apply cannot store this ConfigMap"
        held += data
    assert sorted(held) == [p.name for p in files]  # every file, each once


def test_probes_use_the_metrics_port_and_the_documented_paths() -> None:
    container = _aiwall_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    arguments = _deployment_arguments(container)
    assert int(arguments.metrics.rpartition(":")[2]) == ports["metrics"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    services = objects("Service")
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
    redis = objects("Service")["aiwall-redis"]
    assert arguments.ack_store == f"redis://aiwall-redis:{redis['spec']['ports'][0]['port']}/0"


def test_the_last_good_configuration_is_kept_in_a_writable_volume_of_the_pod() -> None:
    container = _aiwall_container()
    state = Path(_deployment_arguments(container).state_dir)
    assert state == _mount_path(container, "state")
    (mount,) = (m for m in container["volumeMounts"] if m["name"] == "state")
    assert not mount.get("readOnly")
    volumes = {v["name"]: v for v in pod_spec(objects("Deployment")["aiwall"])["volumes"]}
    assert "emptyDir" in volumes["state"]  # lives as long as the pod: container restarts


@pytest.mark.parametrize("name", sorted(objects("Deployment")))
def test_pods_run_as_non_root_with_a_read_only_root_filesystem(name: str) -> None:
    spec = pod_spec(objects("Deployment")[name])
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
        for name, d in objects("Deployment").items()
    }

    def selects(selector: dict[str, str]) -> list[str]:
        return [n for n, labels in pod_labels.items() if selector.items() <= labels.items()]

    for name, deployment in objects("Deployment").items():
        assert selects(deployment["spec"]["selector"]["matchLabels"]) == [name]
    services = objects("Service")
    assert selects(services["aiwall"]["spec"]["selector"]) == ["aiwall"]
    assert selects(services["aiwall-metrics"]["spec"]["selector"]) == ["aiwall"]
    assert selects(services["aiwall-redis"]["spec"]["selector"]) == ["aiwall-redis"]
    pdb = objects("PodDisruptionBudget")["aiwall"]
    assert selects(pdb["spec"]["selector"]["matchLabels"]) == ["aiwall"]
    policy = objects("NetworkPolicy")["aiwall-redis"]["spec"]
    assert selects(policy["podSelector"]["matchLabels"]) == ["aiwall-redis"]
    assert selects(policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"]) == ["aiwall"]
    hpa = objects("HorizontalPodAutoscaler")["aiwall"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "aiwall",
    }
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"


def test_the_proxy_service_keeps_client_addresses() -> None:
    """aiwall tells clients apart by IP; SNAT by the default traffic policy would merge them."""
    assert objects("Service")["aiwall"]["spec"]["externalTrafficPolicy"] == "Local"


def test_redis_keeps_nothing_on_disk() -> None:
    args = pod_spec(objects("Deployment")["aiwall-redis"])["containers"][0]["args"]
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert pairs["--save"] == ""
    assert pairs["--appendonly"] == "no"
    assert pairs["--maxmemory-policy"] == "noeviction"


# --- the guide -------------------------------------------------------------------------------


def test_the_guide_links_to_files_that_exist() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link and not link.startswith("mailto:")]
    assert local
    for link in local:
        assert (GUIDE.parent / link).exists(), link
