"""Vendor records and example rules are found from a checkout, an editable install, a wheel."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from aiwall.cli.main import rules_in_use
from aiwall.core.registry import default_policies_dir, load_registry

from .conftest import ROOT


def test_the_policies_folder_is_the_checkouts() -> None:
    assert default_policies_dir().resolve() == (ROOT / "policies").resolve()
    assert "deepseek" in load_registry().vendors


def test_without_a_local_rules_yaml_the_example_rules_are_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path, why = rules_in_use(None)
    assert path.resolve() == (ROOT / "rules.example.yaml").resolve()
    assert why.startswith("THE SHIPPED EXAMPLE")
    (tmp_path / "rules.yaml").write_text("rules: []\n")
    assert rules_in_use(None) == (Path("rules.yaml"), "./rules.yaml in the current folder")
    assert rules_in_use(Path("x.yaml")) == (Path("x.yaml"), "--rules")


def test_a_built_wheel_carries_every_vendor_record_and_page_template(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("aiwall-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for record in (ROOT / "policies").glob("*.yaml"):
        assert f"aiwall/policies/{record.name}" in names
    assert "aiwall/rules.example.yaml" in names
    assert "aiwall/telemetry/events.schema.json" in names
    analysis = ROOT / "addon" / "aiwall" / "analysis"
    shipped = [*analysis.glob("templates/*.html"), *analysis.glob("static/*.css")]
    assert len(shipped) >= 6  # the report and discover pages, their pieces, the style sheet
    for path in shipped:
        assert f"aiwall/analysis/{path.parent.name}/{path.name}" in names
    pages = ROOT / "addon" / "aiwall" / "pages"
    shipped_files = [
        *pages.glob("templates/*.html"),
        *pages.glob("static/*.css"),
        *pages.glob("locale/*/LC_MESSAGES/*.mo"),
        pages / "regions.json",
    ]
    assert "aiwall/pages/templates/base.html" in names
    for shipped in shipped_files:
        assert f"aiwall/pages/{shipped.relative_to(pages)}" in names
    assert "mitmproxy_addon.py" not in names
