"""Stacked ensembles: member weights learned per fold by inner cross-validation on its training subjects.

``mextk ensemble --stack`` combines the same runs as the mean ensemble
(:mod:`mextk.evaluate.ensemble`: same samples, classes, protocol and test
folds), but with a weight per member folder, learned for each outer fold
without looking at that fold's test subjects:

1. **Inner predictions.**  For outer fold *k* and each member folder, the
   training subjects of *k* are split into ``inner_folds`` subject-stratified
   folds (:class:`~mextk.evaluate.splits.SubjectStratifiedKFold`, seeded by
   the fold's seed).  The member's model, with the member run's own settings,
   is trained on all inner folds but one and predicts the one left out, so
   every training sample of *k* gets a probability from a model that never
   saw its subject, and no model involved saw *k*'s test subjects.  Members of
   a multi-seed folder are represented by its first seed here (the weights
   are per model, not per seed): stacking costs about
   ``inner_folds - 1`` times one seed of each member's training.
2. **Weights.**  The member weights of fold *k* are the convex combination
   (non-negative, summing to one) that maximises the class-balanced
   log-likelihood of the true classes of the inner predictions
   (:func:`stack_weights`): a linear opinion pool, one parameter per member
   but one.  A richer meta-learner (a logistic regression on all members'
   probabilities, with classes x members parameters) would be fitted on a
   few hundred inner predictions of a micro-expression dataset, and the
   convex pool cannot do worse than its best member on those; classes are
   balanced because UF1 and UAR weigh every class alike.
3. **Outer predictions.**  Fold *k*'s test samples get the weighted mean of
   the members' own test-fold probabilities (each folder's seeds averaged
   first, as in the mean ensemble): the members' runs are used as they are.

Why not learn the weights from the members' pooled test-fold predictions,
which cost nothing?  Those of fold *j* come from a model trained with the
subjects of every other fold, *k*'s test subjects included, so weights
fitted on them for fold *k* have seen *k*'s labels.

The inner predictions are kept in ``OUT/inner/<member>/<fold>.csv``, each
written whole when its fold finishes, so an interrupted stacking resumes
where it stopped; ``OUT/inner/stacking.json`` records the members and
settings, and a folder that holds another stacking is refused.  ``stacking.json``
in ``OUT`` gives each fold's weights and their mean.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # NumPy and pandas are imported where used: the CLI reads INNER_FOLDS without them
    import numpy as np

    from mextk.evaluate.ensemble import Pooled

#: Inner folds per outer fold (the meta-learner has one parameter per member but one, so three folds'
#: predictions of the training subjects are plenty, and cost half as much as five).
INNER_FOLDS = 3


def stack_weights(
    probs: np.ndarray, y: np.ndarray, *, balanced: bool = True, tol: float = 1e-12, max_iter: int = 10_000
) -> np.ndarray:
    """Convex member weights that maximise the (class-balanced) log-likelihood of the true classes.

    Parameters
    ----------
    probs : numpy.ndarray
        ``(members, samples, classes)`` class probabilities.
    y : numpy.ndarray
        ``(samples,)`` true class indices.
    balanced : bool
        Weigh each class present in ``y`` alike (each sample by one over its class's count).
    tol : float
        Stop when an iteration raises the mean log-likelihood by less.
    max_iter : int
        At most this many iterations.

    Returns
    -------
    numpy.ndarray
        ``(members,)`` non-negative weights summing to one.

    Notes
    -----
    The objective :math:`\\sum_i s_i \\log \\sum_m w_m p_{m,i}` (:math:`p_{m,i}` member *m*'s probability of
    sample *i*'s true class, :math:`s_i` the sample weights) is concave in :math:`w` on the simplex.  It is
    maximised by the EM update for mixture weights, :math:`w_m \\leftarrow \\sum_i s_i w_m p_{m,i} /
    \\sum_l w_l p_{l,i}`, which never lowers it and keeps :math:`w` on the simplex, from equal weights.
    Probabilities are floored at 1e-12 so that a member sure of a wrong class costs a finite amount.
    """
    import numpy as np

    probs = np.asarray(probs, dtype=float)
    y = np.asarray(y, dtype=np.int64)
    if probs.ndim != 3 or probs.shape[1] != len(y):
        raise ValueError(f"probs must be (members, samples, classes) with {len(y)} samples, got {probs.shape}")
    if not len(y):
        raise ValueError("no samples to learn stacking weights from")
    p = np.maximum(probs[:, np.arange(len(y)), y], 1e-12)
    if balanced:
        _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
        s = 1.0 / counts[inverse]
    else:
        s = np.ones(len(y))
    s = s / s.sum()
    w = np.full(len(p), 1.0 / len(p))
    previous = -np.inf
    for _ in range(max_iter):
        mix = w @ p
        objective = float(s @ np.log(mix))
        if objective - previous < tol:
            break
        previous = objective
        w = w * (p @ (s / mix))
        w /= w.sum()
    return w


def inner_predictions(
    run_dir: str,
    fold: int,
    *,
    dest: str,
    inner_folds: int = INNER_FOLDS,
    threads: int | None = None,
    epoch_callback: Any = None,
) -> int:
    """Write ``dest/<fold>.csv``: out-of-inner-fold probabilities for every training sample of outer ``fold``.

    The member run ``run_dir``'s model and settings are trained ``inner_folds`` times on the training
    subjects of ``fold`` (see the module docstring); the fold's test subjects are not read.  Columns:
    ``sample_id``, ``inner_fold``, ``y_true``, ``p_<k>``.  Written atomically; returns ``fold``.
    """
    import numpy as np
    import pandas as pd

    from mextk.evaluate.fitting import fit_model, predict_with, run_inputs, thread_bound
    from mextk.evaluate.modelfolder import model_record
    from mextk.evaluate.runconfig import fold_seed, read_run
    from mextk.evaluate.splits import SubjectStratifiedKFold
    from mextk.io.atomic import atomic_path
    from mextk.labels import get_taxonomy

    out = Path(run_dir)
    config, samples, folds = read_run(out)
    if not 0 <= fold < len(folds):
        raise ValueError(f"{out}: no fold {fold} (the run has {len(folds)})")
    train_idx = np.flatnonzero(~samples["subject"].isin(folds[fold]).to_numpy())
    y = samples["y"].to_numpy().astype(np.int64)
    subjects = samples["subject"].astype(str).to_numpy()
    n_train_subjects = len(set(subjects[train_idx]))
    if n_train_subjects < inner_folds:
        raise ValueError(
            f"{out} fold {fold}: {n_train_subjects} training subject(s), fewer than {inner_folds} inner folds"
        )
    outer_seed = fold_seed(config.seed, fold)
    splitter = SubjectStratifiedKFold(inner_folds, random_state=outer_seed % 2**32)
    probs = np.zeros((len(train_idx), get_taxonomy(config.task).n_classes))
    inner = np.full(len(train_idx), -1)
    with thread_bound(threads):
        inputs = run_inputs(config, samples, matrix_dir=out)  # the member run's vector matrix, if it has one
        with warnings.catch_warnings():  # rare classes: said once by the outer protocol, not per inner split
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            splits = list(splitter.split(train_idx, y[train_idx], subjects[train_idx]))
        for j, (a, b) in enumerate(splits):
            fit_idx = train_idx[a]
            model, _ = fit_model(
                config, inputs, y, fit_idx, seed=fold_seed(outer_seed, j), subjects=subjects,
                epoch_callback=epoch_callback,
            )  # fmt: skip
            meta = model_record(config, trained_on=sorted(set(subjects[fit_idx])))
            probs[b] = predict_with(model, meta, [inputs[i] for i in train_idx[b]])
            inner[b] = j
    table = pd.DataFrame({"sample_id": samples["sample_id"].to_numpy()[train_idx], "inner_fold": inner,
                          "y_true": y[train_idx]})  # fmt: skip
    for k in range(probs.shape[1]):
        table[f"p_{k}"] = probs[:, k]
    target = Path(dest) / f"{fold:03d}.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        table.to_csv(tmp, index=False)
    return fold


def stack_runs(
    run_dirs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    inner_folds: int = INNER_FOLDS,
    executor: str = "local",
    jobs: int = 1,
    ray_address: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """A stacked ensemble of finished runs (see the module docstring), written to the run folder ``out``.

    Parameters
    ----------
    run_dirs : sequence of path-like
        Run folders of ``mextk evaluate`` (a ``--seeds`` folder counts as its seeds), alike as for
        :func:`~mextk.evaluate.ensemble.ensemble_runs`.
    out : path-like
        The ensemble's run folder (it also keeps the inner predictions, for resuming).
    inner_folds : int
        Inner folds of each outer fold's training subjects.
    executor, jobs, ray_address, progress
        Where the inner trainings run, as for ``mextk evaluate``.

    Returns
    -------
    dict
        The ensemble's metrics (as written to ``out/metrics.json``).

    Raises
    ------
    ValueError
        Runs that cannot be ensembled (:func:`~mextk.evaluate.ensemble.pool_runs`), a leaky member (its
        settings choose epochs on test folds, which inner training cannot reproduce honestly), or fewer
        than two inner folds.
    FileExistsError
        ``out`` holds the inner predictions of another stacking.
    """
    import numpy as np

    from mextk.evaluate.ensemble import pool_runs, write_ensemble
    from mextk.evaluate.executors import run_folds
    from mextk.io.atomic import read_json, write_json_atomic
    from mextk.io.runfolder import RunFolder

    if inner_folds < 2:
        raise ValueError(f"inner_folds must be at least 2, got {inner_folds}")
    pooled = pool_runs(run_dirs)
    for m in pooled.everyone:
        if m.metrics.get("leaky"):
            raise ValueError(f"{m.folder}: a leaky run (selected on its test folds) cannot be stacked honestly")
    out = Path(out)
    leads = [g[0].folder for g in pooled.groups]
    settings = {
        "inner_folds": inner_folds,
        "members": [
            {"run": str(f.resolve()), "config": read_json(f / "config.json", what="run settings")} for f in leads
        ],  # fmt: skip
    }
    inner_root = out / "inner"
    RunFolder(inner_root, "stacking.json", what="stacking run").claim(
        settings, restart_if=lambda: not any(inner_root.glob("*/*.csv"))
    )
    n_folds = len(pooled.everyone[0].folds["test_subjects"])
    todo, fns = [], {}
    for g, lead in enumerate(leads):
        dest = inner_root / f"{g}"
        fns[g] = partial(inner_predictions, dest=str(dest), inner_folds=inner_folds)
        todo += [(g, lead, k) for k in range(n_folds) if not (dest / f"{k:03d}.csv").exists()]
    for g in sorted({t[0] for t in todo}):
        pairs = [(lead, k) for gg, lead, k in todo if gg == g]
        run_folds(pairs, executor=executor, jobs=jobs, ray_address=ray_address, progress=progress, fn=fns[g],
                  label=f"stacking {pooled.names[g]}: inner folds")  # fmt: skip
    probs, weights = _combine(pooled, inner_root, n_folds)
    record = {
        "combine": f"convex weights per fold, learned by {inner_folds}-fold inner cross-validation on the fold's "
        "training subjects (class-balanced log-likelihood)",
        "inner_folds": inner_folds,
        "mean_weights": dict(zip(pooled.names, np.mean(weights, axis=0).round(6).tolist(), strict=True)),
    }
    write_json_atomic(out / "stacking.json", {**record, "fold_weights": np.round(weights, 6).tolist()})
    return write_ensemble(pooled, probs, out, kind="stacked ensemble", method="stacked ensemble", record=record)


def _combine(pooled: Pooled, inner_root: Path, n_folds: int) -> tuple[np.ndarray, np.ndarray]:
    """The stacked probabilities of every sample, and the ``(folds, members)`` weights."""
    import numpy as np
    import pandas as pd

    first = pooled.first
    fold_of = first["fold"].to_numpy().astype(int)
    out = np.zeros(pooled.probs.shape[1:])
    weights = np.zeros((n_folds, len(pooled.groups)))
    for k in range(n_folds):
        tables = [pd.read_csv(inner_root / f"{g}" / f"{k:03d}.csv", dtype={"sample_id": str})
                  for g in range(len(pooled.groups))]  # fmt: skip
        ids = tables[0]["sample_id"]
        for g, t in enumerate(tables[1:], start=1):
            if not t["sample_id"].equals(ids):
                raise ValueError(f"{inner_root / f'{g}' / f'{k:03d}.csv'}: other samples than member 0's")
        cols = [f"p_{c}" for c in range(len(pooled.columns))]  # the run's p_<class> columns, in class order
        inner = np.stack([t[cols].to_numpy(dtype=float) for t in tables])
        weights[k] = stack_weights(inner, tables[0]["y_true"].to_numpy())
        test = fold_of == k
        out[test] = np.tensordot(weights[k], pooled.probs[:, test], axes=1)
    return out, weights
