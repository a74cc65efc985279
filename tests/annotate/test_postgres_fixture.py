"""The PostgreSQL fixture never turns a failed start into a skip where PostgreSQL is installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_postgres_server_that_fails_to_start_fails_the_test_where_postgres_is_required(tmp_path):
    # a conftest-like fixture run in its own pytest, with a server start that always fails
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            """
            import os
            import pytest
            import tests.annotate.scaffolding as testing
            from tests.annotate import conftest as real

            def broken():
                raise testing.PostgresUnavailable("PostgreSQL did not start: port in use")

            real.throwaway_postgres = broken
            real.postgres_installed = lambda: os.environ.get("FAKE_INSTALLED") == "1"
            postgres_server = real.postgres_server
            """
        )
    )
    (tmp_path / "test_pg.py").write_text("def test_uses_it(postgres_server):\n    pass\n")
    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_pg.py")]
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    for extra, expected in (
        ({"MEXTK_REQUIRE_POSTGRES": "1"}, "1 error"),  # .ci/run installed it
        ({"FAKE_INSTALLED": "1"}, "1 error"),  # installed on this machine
        ({}, "1 skipped"),  # not installed: a skip with the reason
    ):
        result = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, env={**env, **extra})
        assert expected in result.stdout, (extra, result.stdout[-800:])
        if expected == "1 error":
            assert "did not start" in result.stdout
