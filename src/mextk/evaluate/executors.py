"""Where folds run: one after another (``local``), in worker processes (``process``, torch threads split
between them so cores are not oversubscribed), or as Ray tasks (``ray``, on a local instance or a cluster;
the run folder must then be on a file system every node sees).

A unit of work is a (run folder, fold) pair, so the folds of several run
folders (the seeds of ``--seeds``) share one pool: five seeds cost five
times one run's compute, with the pool kept busy until the last pair.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mextk.evaluate.fitting import run_fold

EXECUTORS = ("local", "process", "ray")


def run_folds(
    todo: list[tuple[Path, int]],
    *,
    executor: str,
    jobs: int,
    ray_address: str | None,
    progress: bool,
    n_cached: int = 0,
    fn: Callable[..., Any] = run_fold,
    label: str = "folds",
) -> None:
    """Call ``fn(str(run_folder), fold, threads=..., epoch_callback=...)`` for each pair of ``todo``.

    ``fn`` is :func:`~mextk.evaluate.fitting.run_fold` by default; another unit of work with its signature
    (a module-level function or a :func:`functools.partial` of one, so that workers can unpickle it) runs
    the same way, under a progress bar named ``label``.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not todo:
        if progress and n_cached:
            from rich.console import Console

            Console(stderr=True).print(f"{label}: {n_cached} cached (finished in an earlier run)", highlight=False)
        return
    several = len({Path(out) for out, _ in todo}) > 1

    def name(out: Path, fold: int) -> str:
        return f"{Path(out).name} fold {fold}" if several else f"fold {fold}"

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not progress) as bar:
        folds_task = bar.add_task(label + (f" ({n_cached} cached)" if n_cached else ""), total=len(todo))
        if executor == "local":
            epochs_task = bar.add_task("epochs", total=None, visible=False)
            for out, fold in todo:
                bar.update(epochs_task, completed=0, description=f"{name(out, fold)} epochs")

                def tick(epoch: int, epochs: int, loss: float, label: str = name(out, fold)) -> None:
                    bar.update(
                        epochs_task,
                        total=epochs,
                        completed=epoch,
                        visible=True,
                        description=f"{label} loss {loss:.3f}",
                    )

                fn(str(out), fold, epoch_callback=tick)
                bar.advance(folds_task)
            return
        cores = os.cpu_count() or 1
        threads = max(1, cores // max(1, jobs))
        if executor == "process":
            from concurrent.futures import as_completed

            from mextk.workers import worker_pool

            with worker_pool(jobs, single_threaded=False) as pool:  # each fold sets its torch threads
                futures = [pool.submit(fn, str(out), fold, threads=threads) for out, fold in todo]
                for fut in as_completed(futures):
                    fut.result()
                    bar.advance(folds_task)
            return
        from mextk.raysession import ray_session

        with ray_session(ray_address, num_cpus=jobs * threads) as ray:
            remote = ray.remote(num_cpus=threads)(fn)
            pending = [remote.remote(str(Path(out).resolve()), fold, threads=threads) for out, fold in todo]
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                ray.get(done)
                bar.advance(folds_task)
