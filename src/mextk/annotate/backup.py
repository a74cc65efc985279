"""``mextk annotate backup``: a consistent copy of a project's database while the server runs.

SQLite: the online backup API copies the database page by page under its own
read transaction, so a copy taken during a write holds the state either before
or after it, never half of it.  PostgreSQL: ``pg_dump`` (a single snapshot
transaction).  The copy is written to a temporary name and renamed.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from mextk.io.atomic import atomic_path


def backup_database(url: str, out: str | os.PathLike[str]) -> Path:
    """Copy the database at ``url`` to ``out`` (SQLite: a database file; PostgreSQL: a ``pg_dump`` archive)."""
    parsed = make_url(url)
    out = Path(out)
    if parsed.get_backend_name() == "sqlite":
        source = parsed.database
        if not source or not Path(source).is_file():
            raise FileNotFoundError(f"{source}: database not found")
        with atomic_path(out) as tmp:
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
            finally:
                dst.close()
                src.close()
        return out
    if parsed.get_backend_name() == "postgresql":
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise ValueError("backing up a PostgreSQL project needs pg_dump (Debian's postgresql-client)")
        env = {**os.environ, **({"PGPASSWORD": parsed.password} if parsed.password else {})}
        args = [pg_dump, "--format=custom", f"--dbname={parsed.database}"]
        args += [f"--host={parsed.host}"] if parsed.host else []
        args += [f"--port={parsed.port}"] if parsed.port else []
        args += [f"--username={parsed.username}"] if parsed.username else []
        with atomic_path(out) as tmp:
            done = subprocess.run([*args, f"--file={tmp}"], env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise ValueError(f"pg_dump failed: {' '.join(done.stderr.split())}")
        return out
    raise ValueError(f"cannot back up a {parsed.get_backend_name()} database")
