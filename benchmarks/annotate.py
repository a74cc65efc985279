"""Load test of the labelling server: 20 labellers answering DFME tasks at once (prints figures; not a test).

    python benchmarks/annotate.py [--seconds 120] [--labellers 20] [--db sqlite|postgresql|both]

For each database: a DFME project (key frames by 5, AUs by 2 and reconciled,
emotion by 7) on 400 items (12 rendered synthetic clips, 96 px, each listed
many times under its own sample id), served by ``mextk annotate serve`` in its
own process on 127.0.0.1.  ``--labellers`` simulated labellers
(:func:`tests.annotate.scaffolding.simulate_labellers`, one thread and HTTP client
each) work for ``--seconds``: next task, its view, 3 frames, a random answer.
Half way, ``backup`` copies the database.  Printed: requests per second, p50 and
p99 latency of frame requests and of submissions; then the checks of
:func:`tests.annotate.scaffolding.check_project` (no acknowledged answer lost or
doubled, every finished step with exactly its raters, answers and audit in
step), whether the server still answers, and whether the backup restores to a
working project (SQLite: the copy opened as a project; PostgreSQL:
``pg_restore`` into a new database).  The exit status is 1 if a check failed.
PostgreSQL is a throwaway server from Debian's package
(:func:`tests.annotate.scaffolding.throwaway_postgres`).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mextk.annotate.backup import backup_database
from mextk.annotate.engine import AnnotationProject
from mextk.annotate.store import database_url
from mextk.synth.clips import SynthConfig, synthesize_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test suite's scaffolding (tests/annotate)
from tests.annotate.scaffolding import (  # noqa: E402
    check_project,
    free_port,
    new_database,
    simulate_labellers,
    throwaway_postgres,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_json import save  # noqa: E402

#: One row per database, for benchmarks/results/annotate.json.
ROWS: list[list] = []


def _manifest(tmp: Path, items: int) -> Path:
    df = synthesize_dataset(tmp / "clips", SynthConfig(n_subjects=4, clips_per_subject=3, size=96, seed=5),
                            progress=False)  # fmt: skip
    rows = []
    for k in range(items):
        row = df.iloc[k % len(df)].to_dict()
        row["path"] = str((tmp / "clips" / row["path"]).resolve())
        row["sample_id"] = f"item{k:04d}"
        row["subject"] = f"s{k % 20:02d}"
        rows.append(row)
    pd.DataFrame(rows).to_csv(tmp / "items.csv", index=False)
    return tmp / "items.csv"


@contextlib.contextmanager
def _served(folder: Path, db: str | None):
    port = free_port()
    cmd = [sys.executable, "-m", "mextk.cli", "annotate", "serve", str(folder), "--port", str(port)]
    proc = subprocess.Popen([*cmd, *(["--db", db] if db else [])], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import httpx

    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(base + "/login", timeout=1).status_code == 200:
                break
        time.sleep(0.1)
    try:
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _restores(kind: str, backup: Path, folder: Path, db: str | None, address) -> str:  # type: ignore[no-untyped-def]
    """Open the backup as a project and check it; returns a one-line verdict."""
    copy = folder.parent / f"{folder.name}-restored"
    copy.mkdir()
    for name in ("project.json", "protocol.json"):
        shutil.copy(folder / name, copy / name)
    url = None
    if kind == "sqlite":
        shutil.copy(backup, copy / "annotate.db")
    else:
        url = new_database(*address, prefix="restored")
        name = url.rsplit("/", 1)[1]
        subprocess.run(["pg_restore", f"--host={address[0]}", f"--port={address[1]}", "--username=postgres",
                        f"--dbname={name}", str(backup)], check=True, capture_output=True)  # fmt: skip
    restored = AnnotationProject(copy, db=url)
    problems = check_project(restored, {})
    answered = sum(v.get("done", 0) for v in restored.progress()["steps"].values())
    return f"restores: {answered} tasks done in the copy, " + ("consistent" if not problems else "; ".join(problems))


def run(kind: str, tmp: Path, manifest: Path, seconds: float, labellers: int, address) -> bool:  # type: ignore[no-untyped-def]
    db = None if kind == "sqlite" else new_database(*address, prefix="load")
    folder = tmp / f"project-{kind}"
    project = AnnotationProject.create(folder, manifest, protocol="dfme", db=db)
    users = {f"l{k:02d}": f"password-{k:02d}" for k in range(labellers)}
    for name, password in users.items():
        project.add_user(name, "labeller", password)
    backup = tmp / f"backup-{kind}.bak"
    with _served(folder, db) as (base, proc):
        t0 = time.perf_counter()
        result = simulate_labellers(base, users, seconds=seconds, seed=1,
                                    on_halfway=lambda: backup_database(database_url(folder, db), backup))  # fmt: skip
        wall = time.perf_counter() - t0
        import httpx

        alive = httpx.get(base + "/login", timeout=10).status_code == 200 and proc.poll() is None
    lat = {k: 1000 * np.array(v) for k, v in result["latency"].items()}
    print(f"\n{kind}: {labellers} labellers for {seconds:g} s: {result['requests']} requests "
          f"({result['requests'] / wall:.1f}/s), {len(result['acknowledged'])} answers acknowledged")  # fmt: skip
    for k, v in lat.items():
        if len(v):
            print(f"  {k:7s} p50 {np.percentile(v, 50):7.1f} ms   p99 {np.percentile(v, 99):7.1f} ms   (n={len(v)})")
    problems = check_project(AnnotationProject(folder, db=db), result["acknowledged"])
    print(
        f"  errors during the run: {len(result['errors'])}"
        + (f" (first: {result['errors'][0]})" if result["errors"] else "")
    )
    print(f"  server still answering: {alive}")
    print("  checks: " + ("no label lost or doubled; every finished step has its raters; audit in step"
                         if not problems else "; ".join(problems)))  # fmt: skip
    verdict = _restores(kind, backup, folder, db, address)
    print(f"  backup taken half way {verdict}")
    pct = {
        k: (f"{np.percentile(v, 50):.1f}", f"{np.percentile(v, 99):.1f}") if len(v) else ("", "")
        for k, v in lat.items()
    }
    ROWS.append([
        kind, labellers, f"{result['requests'] / wall:.1f}", len(result["acknowledged"]),
        *pct.get("frame", ("", "")), *pct.get("submit", ("", "")), len(result["errors"]),
        "yes" if not problems else "; ".join(problems), verdict,
    ])  # fmt: skip
    return alive and not problems and not result["errors"] and verdict.endswith("consistent")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--labellers", type=int, default=20)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mextk-load-"))
    manifest = _manifest(tmp, args.items)
    ok = True
    if args.db in ("sqlite", "both"):
        ok &= run("sqlite", tmp, manifest, args.seconds, args.labellers, None)
    if args.db in ("postgresql", "both"):
        with throwaway_postgres() as address:
            ok &= run("postgresql", tmp, manifest, args.seconds, args.labellers, address)
    shutil.rmtree(tmp, ignore_errors=True)
    columns = ["database", "labellers", "requests/s", "answers acknowledged", "frame p50 ms", "frame p99 ms",
               "submit p50 ms", "submit p99 ms", "errors", "no label lost or doubled", "backup half way"]  # fmt: skip
    notes = f"{args.items} DFME items, {args.seconds:g} s of simulated labelling, server on 127.0.0.1."
    table = {"title": "Labelling server under load", "columns": columns, "rows": ROWS}
    print(f"wrote {save('annotate', [table], notes=notes)}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
