"""Databases for the annotation tests: SQLite files, and a throwaway PostgreSQL server when one can be started.

The server comes from :func:`tests.annotate.scaffolding.throwaway_postgres` (Debian's
``postgresql`` package, which ``.ci/run`` installs); each test gets a database
of its own.  Without the package, the PostgreSQL cases skip with that reason.
"""

from __future__ import annotations

import os

import pytest

from tests.annotate.scaffolding import PostgresUnavailable, new_database, postgres_installed, throwaway_postgres


@pytest.fixture(scope="session")
def postgres_server():
    """``(host, port)`` of a PostgreSQL server started for this test session.

    Without PostgreSQL installed the PostgreSQL cases skip with the reason.  Where it is installed
    (``.ci/run`` installs it, and sets ``MEXTK_REQUIRE_POSTGRES=1``), a server that fails to start is
    a failure: it must never turn every PostgreSQL test into a quiet skip.
    """
    try:
        with throwaway_postgres() as address:
            yield address
    except PostgresUnavailable as exc:
        if postgres_installed() or os.environ.get("MEXTK_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is installed but did not start: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """``None`` (the project's SQLite file) or the URL of a new PostgreSQL database."""
    if request.param == "sqlite":
        return None
    host, port = request.getfixturevalue("postgres_server")
    return new_database(host, port)


@pytest.fixture
def served(synth_dataset, tmp_path):
    """An app over three clips, labellers anna and ben, admin root: ``(app, project, ids, rows)``."""
    pytest.importorskip("fastapi")
    from mextk.annotate.engine import AnnotationProject
    from mextk.annotate.security import LoginLimiter
    from mextk.annotate.server import create_app
    from tests.annotate.helpers import clips_manifest

    rows = clips_manifest(synth_dataset, tmp_path, 3)
    p = AnnotationProject.create(tmp_path / "proj", tmp_path / "clips.csv")
    ids = {
        "anna": p.add_user("anna", "labeller", "password-anna"),
        "ben": p.add_user("ben", "labeller", "password-ben"),
        "root": p.add_user("root", "admin", "password-root"),
    }
    app = create_app(tmp_path / "proj", limiter=LoginLimiter(max_failures=3, window_s=60))
    return app, p, ids, rows


#: Chromium's switches for the browser tests (no sandbox as root, nothing fetched from outside).
#: ``--disable-dev-shm-usage``: a container's /dev/shm (64 MB under Docker) is too small for several renderers.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip


@pytest.fixture
def browser():
    """Debian's Chromium driven by Playwright (the browser tests skip without them)."""
    import shutil

    playwright_api = pytest.importorskip("playwright.sync_api")
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield b
        b.close()
