"""``backup`` while labellers write: every copy is consistent (answers and audit agree), in SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import uuid

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("argon2")

from mextk.annotate.backup import backup_database  # noqa: E402
from mextk.annotate.engine import AnnotationProject
from mextk.annotate.rules import SegmentInput
from mextk.annotate.store import database_url  # noqa: E402
from tests.annotate.helpers import clips_manifest  # noqa: E402


def _counts_sqlite(path):
    with sqlite3.connect(path) as conn:
        answers = conn.execute("select count(*) from answers").fetchone()[0]
        audited = conn.execute("select count(*) from audit where action = 'answer'").fetchone()[0]
        closed = conn.execute("select count(*) from tasks where status = 'done'").fetchone()[0]
        return answers, audited, closed


def _counts_postgres(dump, url):
    """Restore the dump into a new database on the same server and count there."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    name = f"r_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(["pg_restore", f"--host={u.host}", f"--port={u.port}", f"--username={u.username}",
                    f"--dbname={name}", str(dump)], check=True, capture_output=True)  # fmt: skip
    with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=name) as conn:
        return tuple(
            conn.execute(q).fetchone()[0]
            for q in ("select count(*) from answers", "select count(*) from audit where action = 'answer'",
                      "select count(*) from tasks where status = 'done'")
        )  # fmt: skip


def test_backups_taken_during_writes_are_consistent(synth_dataset, tmp_path, db_url):
    clips_manifest(synth_dataset, tmp_path, 28)
    p = AnnotationProject.create(tmp_path / "proj", tmp_path / "clips.csv", db=db_url)
    anna = p.add_user("anna", "labeller", "password-a")
    done = threading.Event()

    def label():
        try:
            while (t := p.next_task(anna)) is not None:
                p.submit_segments(t, anna, [SegmentInput(1, 5, "anger", apex=3), SegmentInput(6, 9, "no_me")])
        finally:
            done.set()

    writer = threading.Thread(target=label)
    writer.start()
    url = database_url(tmp_path / "proj", db_url)
    copies = []
    while not done.is_set() or not copies:
        out = tmp_path / f"copy{len(copies)}.bak"
        backup_database(url, out)
        copies.append(out)
    writer.join()
    copies.append(backup_database(url, tmp_path / "final.bak"))
    closed_in = []
    for out in copies:
        answers, audited, closed = _counts_sqlite(out) if db_url is None else _counts_postgres(out, url)
        assert answers == audited == 2 * closed, out  # each copy holds whole submissions only
        closed_in.append(closed)
    assert closed_in[-1] == 28 and closed_in == sorted(closed_in)  # copies follow the work, the last one has it all
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".") or ".tmp" in f.name]  # no temporary left
