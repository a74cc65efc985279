"""The house rules of the package layout: layers that the imports obey, no cycles, modules a reader can hold."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import mextk

#: The checkout (this file is ROOT/tests/test_layers.py): its pyproject.toml, README.md, mkdocs.yml and docs/.
ROOT = Path(__file__).resolve().parents[1]
#: The package's sources: the checkout's, or the installed package's when the checkout has none.
SRC = ROOT / "src" / "mextk" if (ROOT / "src" / "mextk").is_dir() else Path(mextk.__file__).resolve().parent


def test_import_linter_contracts_hold_core_below_application_and_no_cycles():
    if shutil.which("lint-imports") is None:
        pytest.skip("import-linter is not installed (pip install '.[test]')")
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("needs the source checkout's pyproject.toml (the contracts live there)")
    out = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


def test_no_module_is_over_600_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 600}
    assert not long, long


def test_the_readme_stays_under_15000_characters():
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("needs the source checkout's README.md")
    assert len(readme.read_text(encoding="utf-8")) <= 15_000


def test_every_module_has_a_place_in_the_api_reference():
    import pkgutil

    reference = ROOT / "docs" / "reference"
    if not reference.is_dir():
        pytest.skip("needs the source checkout's docs/")
    listed = {line[4:].strip() for page in reference.glob("*.md") for line in page.read_text().splitlines()
              if line.startswith("::: ")}  # fmt: skip
    modules = {m.name for m in pkgutil.walk_packages(mextk.__path__, "mextk.")}
    missing = sorted(m for m in modules if not m.endswith("__main__") and ".migrations" not in m and m not in listed)
    assert not missing, f"add these to a page of docs/reference/: {missing}"


def test_the_documentation_site_builds_strictly():
    if shutil.which("mkdocs") is None:
        pytest.skip("the documentation tools are not installed (pip install '.[docs]')")
    if not (ROOT / "mkdocs.yml").exists():
        pytest.skip("needs the source checkout's mkdocs.yml")
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as site:
        env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
        out = subprocess.run(["mkdocs", "build", "--strict", "--site-dir", site], cwd=ROOT, capture_output=True,
                             text=True, timeout=600, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
