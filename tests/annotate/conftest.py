"""Databases for the annotation tests: SQLite files, and a throwaway PostgreSQL server when one can be started.

The server comes from :func:`mextk.annotate.testing.throwaway_postgres` (Debian's
``postgresql`` package, which ``.ci/run`` installs); each test gets a database
of its own.  Without the package, the PostgreSQL cases skip with that reason.
"""

from __future__ import annotations

import pytest

from mextk.annotate.testing import PostgresUnavailable, new_database, throwaway_postgres


@pytest.fixture(scope="session")
def postgres_server():
    """``(host, port)`` of a PostgreSQL server started for this test session, or a skip."""
    try:
        with throwaway_postgres() as address:
            yield address
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """``None`` (the project's SQLite file) or the URL of a new PostgreSQL database."""
    if request.param == "sqlite":
        return None
    host, port = request.getfixturevalue("postgres_server")
    return new_database(host, port)
