"""A throwaway PostgreSQL server and simulated labellers, for the test suite and ``benchmarks/annotate.py``.

It uses Debian's ``postgresql`` package (``initdb``, ``pg_ctl``; ``.ci/run``
installs it): a fresh cluster in a temporary folder, listening on a free port
of 127.0.0.1 with its socket in that folder, trust authentication, ``fsync``
off (throwaway data), stopped and deleted afterwards.  PostgreSQL refuses to
run as root, so as root it runs as the ``postgres`` user (``runuser``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server programs are not installed, or cannot run here."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return hits[-1] if hits else None


def postgres_installed() -> bool:
    """Whether PostgreSQL's server programs (``initdb``, ``pg_ctl``) are on this machine."""
    return bool(_pg_bin("initdb") and _pg_bin("pg_ctl"))


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[tuple[str, int]]:
    """Start a PostgreSQL server for the ``with`` block; yields ``(host, port)``.

    Raises
    ------
    PostgresUnavailable
        With the reason, when the server cannot be started.
    """
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise PostgresUnavailable("PostgreSQL is not installed (Debian's postgresql package; .ci/run installs it)")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        raise PostgresUnavailable("running as root without runuser: PostgreSQL cannot be started")
    base = Path(tempfile.mkdtemp(prefix="mextk-pg-"))
    os.chmod(base, 0o777)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    data = base / "data"
    port = free_port()
    try:
        subprocess.run(_as_postgres([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
                       check=True, capture_output=True)  # fmt: skip
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c max_connections=200"
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"]),
                       check=True, capture_output=True)  # fmt: skip
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise PostgresUnavailable(f"PostgreSQL did not start: {exc.stderr.decode(errors='replace').strip()}") from exc
    try:
        yield "127.0.0.1", port
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def new_database(host: str, port: int, prefix: str = "t") -> str:
    """Create an empty database on the server; returns its SQLAlchemy URL (psycopg 3)."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@{host}:{port}/{name}"


# ---------------------------------------------------------------------------------------------- simulated labellers


def simulate_labellers(
    base: str,
    users: dict[str, str],
    *,
    seconds: float,
    seed: int = 0,
    frames_per_task: int = 3,
    on_halfway: Any = None,
    halfway_answers: int | None = None,
) -> dict[str, Any]:
    """Labellers that sign in to the server at ``base`` and work as fast as they can for ``seconds``.

    Each one, in its own thread with its own HTTP client: asks for the next
    task, reads its view and ``frames_per_task`` of its frames, and answers it
    at random as its kind asks (key frames, action units, a class, segments).
    ``on_halfway`` (if given) is called once from the main thread at half time
    (the benchmark takes a backup there), or, with ``halfway_answers``, as soon as
    that many answers are acknowledged (so a slow machine still gets there;
    the labellers then stop 2 seconds later, or at ``seconds``).

    Returns
    -------
    dict
        ``acknowledged`` (task id -> what was sent, for every answer the server
        confirmed with 200), ``latency`` (seconds per request, by ``frame`` and
        ``submit``), ``errors`` (unexpected statuses and exceptions, one line each)
        and ``requests``.
    """
    import random
    import threading
    import time

    import httpx

    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    acknowledged: dict[int, Any] = {}
    latency: dict[str, list[float]] = {"frame": [], "submit": []}
    errors: list[str] = []
    count = [0]

    def worker(k: int, name: str, password: str) -> None:
        rng = random.Random(seed * 1000 + k)
        with httpx.Client(base_url=base, timeout=60) as c:
            r = c.post("/login", data={"name": name, "password": password})
            if r.status_code not in (200, 303):
                with lock:
                    errors.append(f"{name}: sign-in answered {r.status_code}")
                return
            c.headers["X-CSRF-Token"] = c.get("/api/me").json()["csrf"]
            while time.monotonic() < deadline:
                try:
                    task = c.post("/api/next").json()["task"]
                    if task is None:
                        time.sleep(0.2)
                        continue
                    view = c.get(f"/api/tasks/{task}").json()
                    for _ in range(frames_per_task):
                        t0 = time.perf_counter()
                        r = c.get(f"/api/tasks/{task}/frame/{rng.randint(view['first'], view['last'])}")
                        with lock:
                            latency["frame"].append(time.perf_counter() - t0)
                            count[0] += 1
                        if r.status_code != 200:
                            raise RuntimeError(f"frame answered {r.status_code}")
                    url, body = _random_answer(rng, task, view)
                    t0 = time.perf_counter()
                    r = c.post(url, json=body)
                    with lock:
                        latency["submit"].append(time.perf_counter() - t0)
                        count[0] += 1
                        if r.status_code == 200:
                            acknowledged[task] = body
                        else:
                            errors.append(f"{name}: task {task}: {url} answered {r.status_code} {r.text[:120]}")
                except Exception as exc:  # noqa: BLE001  (a load test reports every failure and goes on)
                    with lock:
                        errors.append(f"{name}: {type(exc).__name__}: {exc}")
                    time.sleep(0.2)

    threads = [threading.Thread(target=worker, args=(k, n, pw), daemon=True) for k, (n, pw) in enumerate(users.items())]
    for t in threads:
        t.start()
    if on_halfway is not None:
        if halfway_answers is None:
            time.sleep(seconds / 2)
        else:
            while len(acknowledged) < halfway_answers and time.monotonic() < deadline:
                time.sleep(0.05)
        on_halfway()
        if halfway_answers is not None:
            deadline = min(deadline, time.monotonic() + 2.0)
    for t in threads:
        t.join(timeout=seconds + 120)
    return {"acknowledged": acknowledged, "latency": latency, "errors": errors, "requests": count[0]}


def _random_answer(rng: Any, task: int, view: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    first, last, kind = view["first"], view["last"], view["kind"]
    if kind == "keyframes":
        onset = rng.randint(first, max(first, last - 2))
        apex = rng.randint(onset, last)
        return f"/api/tasks/{task}/keyframes", {"onset": onset, "apex": apex, "offset": rng.randint(apex, last)}
    if kind in ("aus", "reconcile"):
        return f"/api/tasks/{task}/aus", {"aus": "+".join(rng.sample(["4", "7", "12", "R12", "6", "1", "2"], 2))}
    if kind == "segment":
        onset = rng.randint(first, max(first, last - 2))
        offset = rng.randint(onset, last)
        label = rng.choice([c for c in view["classes"] if c not in view["no_apex_classes"]])
        return f"/api/tasks/{task}/segments", {"segments": [{"onset": onset, "apex": onset, "offset": offset,
                                                            "label": label}]}  # fmt: skip
    options = view.get("choices") or view["classes"]
    return f"/api/tasks/{task}/label", {"label": rng.choice(options)}


def check_project(project: Any, acknowledged: dict[int, Any]) -> list[str]:
    """What is wrong with a project after a load or a crash (an empty list: nothing).

    * every acknowledged answer is stored, once; no task is answered without being done, or done without answers;
    * every answer has its audit record, and no audit record lacks its answer;
    * no rater answered a segment twice at one step, and every finished step has exactly its raters.
    """
    from sqlalchemy import func, select

    from mextk.annotate.store import Answer, Audit, Segment, Task

    problems = []
    with project.Session() as s:
        stored = dict(s.execute(select(Answer.task_id, func.count()).group_by(Answer.task_id)).all())
        missing = [t for t in acknowledged if t not in stored]
        if missing:
            problems.append(f"{len(missing)} acknowledged answers are missing, e.g. task {missing[0]}")
        done = {t for (t,) in s.execute(select(Task.id).where(Task.status == "done"))}
        steps = {t: (step, seg) for t, step, seg in s.execute(select(Task.id, Task.step, Task.segment_id))}
        kinds = {st.id: st.kind for st in project.protocol.steps}
        for t, n in stored.items():
            if t not in done:
                problems.append(f"task {t} has an answer but is not done")
            elif n != 1 and kinds[steps[t][0]] != "segment":
                problems.append(f"task {t} has {n} answers")
        n_answers = s.scalar(select(func.count()).select_from(Answer))
        n_audit = s.scalar(select(func.count()).select_from(Audit).where(Audit.action == "answer"))
        if n_answers != n_audit:
            problems.append(f"{n_answers} answers but {n_audit} audit records of answers")
        twice = s.execute(
            select(Answer.segment_id, Answer.step, Answer.user_id, func.count())
            .group_by(Answer.segment_id, Answer.step, Answer.user_id).having(func.count() > 1)
        ).all()  # fmt: skip
        if twice:
            problems.append(f"{len(twice)} times a rater answered a segment twice at one step")
        for step in project.protocol.steps:
            if step.kind == "segment":
                continue
            per_segment = s.execute(
                select(Task.segment_id, func.count(), func.count(func.distinct(Task.assignee_id)))
                .where(Task.step == step.id, Task.status == "done").group_by(Task.segment_id)
            ).all()  # fmt: skip
            combined = {
                seg_id for seg_id, results in s.execute(select(Segment.id, Segment.results))
                if isinstance(results, dict) and step.id in results
            }  # fmt: skip
            for seg, n, distinct in per_segment:
                if n > step.raters or distinct != n or (seg in combined and n != step.raters):
                    problems.append(f"segment {seg}, step {step.id}: {n} answers by {distinct} raters")
    return problems
