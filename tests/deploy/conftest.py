"""What the tests of deploy/ share: its files, the Kubernetes manifests' objects, and `aiwall run`
arguments as aiwall's own parser reads them."""

import argparse
from pathlib import Path
from typing import Any

import yaml
from aiwall.cli.main import _parser

from ..conftest import ROOT

DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
SYSTEMD = DEPLOY / "systemd"
CONTAINER = DEPLOY / "container"
GUIDE = DEPLOY / "GUIDE.md"


Document = dict[str, Any]


def manifest_files() -> list[Path]:
    return sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")


def _documents() -> list[tuple[Path, Document]]:
    return [
        (path, document)
        for path in manifest_files()
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if document
    ]


DOCUMENTS = _documents()


def objects(kind: str) -> dict[str, Document]:
    return {d["metadata"]["name"]: d for _, d in DOCUMENTS if d["kind"] == kind}


def pod_spec(deployment: Document) -> Document:
    spec: Document = deployment["spec"]["template"]["spec"]
    return spec


def run_arguments(argv: list[str]) -> Any:
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
