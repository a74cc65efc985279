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


def test_every_benchmark_writes_its_figures_as_json_for_the_documentation():
    """Benchmark tables in the docs are rendered from benchmarks/results/*.json, never typed by hand."""
    scripts = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if p.name != "results_json.py")
    if not scripts:
        pytest.skip("needs the source checkout's benchmarks/")
    silent = [p.name for p in scripts if "from results_json import save" not in p.read_text()]
    assert not silent, f"these benchmarks print figures that the documentation cannot render: {silent}"


def test_the_benchmark_page_renders_each_results_file_with_its_date_machine_and_command(tmp_path):
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    if spec is None or not (ROOT / "docs" / "hooks.py").exists():
        pytest.skip("needs the source checkout's docs/hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    payload = {
        "benchmark": "demo",
        "command": "python benchmarks/demo.py",
        "date": "2026-12-07 16:00 UTC",
        "machine": "a CPU, 2 cores",
        "notes": "",
        "tables": [{"title": "speed", "columns": ["what", "fps"], "rows": [["decode", "1590.4"], ["a|b", "1"]]}],
    }
    text = hooks.render(json.loads(json.dumps(payload)))
    assert "`python benchmarks/demo.py`, 2026-12-07 16:00 UTC, on a CPU, 2 cores." in text
    assert "| what | fps |\n|---|---|\n| decode | 1590.4 |\n| a\\|b | 1 |" in text
    page = hooks.on_page_markdown("# Benchmarks\n\n<!-- benchmarks -->\n")
    for results in (ROOT / "benchmarks" / "results").glob("*.json"):
        assert f"## {json.loads(results.read_text())['benchmark']}" in page
