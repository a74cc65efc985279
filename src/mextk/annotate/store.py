"""The annotation database: users, clips, segments, tasks, answers and the audit log (SQLAlchemy 2).

SQLite (WAL journal, foreign keys on) is the embedded default, one file in the
project folder; a PostgreSQL URL serves labs with many labellers.  The schema
is created and upgraded by Alembic (:func:`upgrade`), so a newer mextk never
loses a project.  Subjects are stored under their pseudonymous ids only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the annotation schema."""


class User(Base):
    """A person who labels (``labeller``) or runs the project (``admin``)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Clip(Base):
    """A prepared clip to label (a row of the manifest the project was made from)."""

    __tablename__ = "clips"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample_id: Mapped[str] = mapped_column(String(255), unique=True)
    dataset: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128))  # pseudonymous, as in the manifest
    path: Mapped[str] = mapped_column(String(1024))  # relative to the project's clips root
    fps: Mapped[float]
    n_frames: Mapped[int]
    quality: Mapped[str | None] = mapped_column(String(1024), default=None)
    proposals: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)  # candidate segments


class Segment(Base):
    """A stretch of a clip marked at the protocol's first step, with its class and its fate."""

    __tablename__ = "segments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id"))
    onset: Mapped[int]
    apex: Mapped[int | None]
    offset: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, accepted, rejected, flagged
    decided_at_step: Mapped[str | None] = mapped_column(String(32), default=None)
    label: Mapped[str | None] = mapped_column(String(32), default=None)  # the accepted class
    expression: Mapped[str | None] = mapped_column(String(8), default=None)  # micro or macro (DFME's rule)
    aus: Mapped[list[str] | None] = mapped_column(JSON, default=None)  # the final action units
    results: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # each step's combined result


class Task(Base):
    """One unit of work: a step of the protocol on a clip (``segment`` steps) or on a segment."""

    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("step", "clip_id", "segment_id", "seat", name="one_task_per_seat"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    step: Mapped[str] = mapped_column(String(32))
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id"))
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id"), default=None)
    seat: Mapped[int] = mapped_column(Integer, default=0)  # which of the step's raters (0 .. raters - 1)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, done
    choices: Mapped[list[str] | None] = mapped_column(JSON, default=None)  # a choose step's shuffled candidates
    created_at: Mapped[datetime] = mapped_column(default=_now)
    done_at: Mapped[datetime | None] = mapped_column(default=None)


class Answer(Base):
    """A labeller's answer to a task: a class for a segment (``segment`` steps answer with segments)."""

    __tablename__ = "answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    step: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(32))  # the class ("" for key frames and action units)
    value: Mapped[Any] = mapped_column(JSON, nullable=True, default=None)  # key frames or action units
    created_at: Mapped[datetime] = mapped_column(default=_now)
    __table_args__ = (UniqueConstraint("step", "segment_id", "user_id", name="one_answer_per_rater"),)


class Audit(Base):
    """Every change to a label or a task: who, when, what, the old and the new value."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=_now)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(default=None)
    old: Mapped[Any] = mapped_column(JSON, nullable=True, default=None)
    new: Mapped[Any] = mapped_column(JSON, nullable=True, default=None)


class LoginSession(Base):
    """A signed-in browser: the SHA-256 of its cookie token (the token itself is never stored) and its CSRF token."""

    __tablename__ = "login_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=_now)
    expires_at: Mapped[datetime]
    revoked: Mapped[bool] = mapped_column(default=False)


def database_url(project: Path, url: str | None = None) -> str:
    """The project's database: ``url`` when given, else its SQLite file ``annotate.db``."""
    return url or f"sqlite:///{(Path(project) / 'annotate.db').resolve()}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets the WAL journal and foreign keys."""
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

    return engine


def upgrade(engine: Engine) -> None:
    """Create or upgrade the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:  # SQLite rebuilds a table to alter it, which foreign keys would refuse; checked after
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        conn.commit()
        if sqlite:
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            if broken:
                raise RuntimeError(f"the schema upgrade left {len(broken)} broken references, e.g. {broken[0]}")


def sessions(engine: Engine) -> sessionmaker:  # type: ignore[type-arg]
    """A session factory bound to ``engine``."""
    return sessionmaker(engine, expire_on_commit=False)


def own_task(s: Any, task_id: int, user_id: int) -> Task:
    """The task ``task_id`` if ``user_id`` holds it; another's task is "not found", as one that does not exist."""
    from mextk.annotate.rules import NotFound

    task = s.get(Task, task_id)
    if task is None or task.assignee_id != user_id:
        raise NotFound(f"task {task_id} not found")
    return task


def add_tasks(
    s: Any, step: Any, clip_id: int, segment_id: int | None, *, assignee: int | None = None,
    choices: list[str] | None = None,
) -> list[Task]:  # fmt: skip
    """Open ``step``'s tasks on one item, one per rater (``seat``), unassigned unless ``assignee`` is given."""
    tasks = [
        Task(step=step.id, clip_id=clip_id, segment_id=segment_id, seat=k, assignee_id=assignee, choices=choices)
        for k in range(step.raters)
    ]
    s.add_all(tasks)
    s.flush()
    return tasks
