"""Schema upgrades keep a project: a database made at an older revision, with work in it, upgraded to the newest."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("alembic")
pytest.importorskip("sqlalchemy")

from sqlalchemy import inspect, text  # noqa: E402

from mextk.annotate.store import make_engine, upgrade  # noqa: E402


def _alembic_to(engine, revision):
    from alembic import command
    from alembic.config import Config

    import mextk.annotate.store as store

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store.__file__).with_name("migrations")))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def test_upgrading_a_revision_0002_project_keeps_its_work_and_allows_several_raters(tmp_path, db_url):
    url = db_url or f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    _alembic_to(engine, "0002")
    with engine.begin() as conn:
        conn.execute(
            text(
                "insert into users (id, name, role, password_hash, active, created_at) values "
                "(1, 'anna', 'labeller', 'h', true, '2026-01-01'), (2, 'ben', 'labeller', 'h', true, '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "insert into clips (id, sample_id, dataset, subject, path, fps, n_frames) values "
                "(1, 'c1', 'lab', 's01', '/x.mp4', 200, 40)"
            )
        )
        conn.execute(
            text("insert into segments (id, clip_id, onset, apex, \"offset\", status) values (1, 1, 2, 5, 9, 'open')")
        )
        conn.execute(
            text(
                "insert into tasks (id, step, clip_id, segment_id, assignee_id, status, created_at) values "
                "(1, 'verify', 1, 1, 2, 'done', '2026-01-01')"
            )
        )
        conn.execute(text("insert into answers (id, task_id, segment_id, user_id, step, label, created_at) values "
                          "(1, 1, 1, 2, 'verify', 'fear', '2026-01-01')"))  # fmt: skip
    engine.dispose()
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        assert conn.execute(text("select label from answers")).scalar_one() == "fear"
        assert conn.execute(text("select seat from tasks")).scalar_one() == 0
        assert conn.execute(text('select onset, apex, "offset" from segments')).one() == (2, 5, 9)
        # a second rater's task and answer on the same step and segment are now allowed ...
        conn.execute(
            text(
                "insert into tasks (id, step, clip_id, segment_id, seat, status, created_at) values "
                "(2, 'verify', 1, 1, 1, 'open', '2026-01-01')"
            )
        )
        conn.execute(text("insert into answers (id, task_id, segment_id, user_id, step, label, created_at) values "
                          "(2, 2, 1, 1, 'verify', 'anger', '2026-01-01')"))  # fmt: skip
    with pytest.raises(Exception, match="(?i)unique"), engine.begin() as conn:  # ... but not one rater twice
        conn.execute(text("insert into answers (id, task_id, segment_id, user_id, step, label, created_at) values "
                          "(3, 2, 1, 1, 'verify', 'fear', '2026-01-01')"))  # fmt: skip
    columns = {c["name"] for c in inspect(engine).get_columns("segments")}
    assert {"expression", "aus", "results"} <= columns
    engine.dispose()
