"""``mextk predict``: class probabilities of a model folder for new clips (a manifest, or clip files and folders).

The model folder is ``mextk train``'s output or any fold of an ``evaluate`` run
(:mod:`mextk.evaluate.modelfolder`).  Inputs are computed with the feature kind
and the exact parameters recorded in its ``model.json`` (into a feature cache,
so a rerun is quick); a clip without onset, apex and offset is taken as a
whole, as ``mextk features`` does.  Review decisions in a manifest are
honoured unless ``include_excluded``.  A clip whose features fail is reported
and left out; the others are predicted.

Output CSV: ``sample_id``, ``dataset``, ``subject``, ``path`` (relative to the CSV's folder where it
can be), ``predicted`` (the class of highest probability) and ``p_<class>`` for every class.  The CLI
writes under ``--out`` only (:func:`prediction_outputs`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mextk.evaluate.fitting import LazyInputs
from mextk.evaluate.modelfolder import load_model, predict_with
from mextk.io.atomic import atomic_path

_MANIFEST_SUFFIXES = (".csv", ".parquet", ".pq")


def clips_manifest(clips: Sequence[str | os.PathLike[str]]) -> tuple[pd.DataFrame, dict[str, str]]:
    """A manifest of clip files or frame folders (dataset ``new``, subject ``unknown``, no key frames).

    Returns the manifest and ``{clip: reason}`` for the clips that are missing or cannot be read.
    """
    from mextk.io.errors import VideoError
    from mextk.io.manifest import COLUMNS, coerce_manifest
    from mextk.io.video import probe_video

    rows, seen, failed = [], {}, {}
    for clip in clips:
        path = Path(clip).resolve()
        try:
            if not path.exists():
                raise FileNotFoundError(f"{clip}: clip not found")
            info = probe_video(path)
        except (OSError, VideoError, ValueError) as exc:
            failed[str(clip)] = " ".join(str(exc).split())
            continue
        name = path.stem if path.is_file() else path.name
        seen[name] = seen.get(name, 0) + 1
        sample_id = name if seen[name] == 1 else f"{name}_{seen[name]}"
        rows.append(
            {"dataset": "new", "subject": "unknown", "sample_id": sample_id, "path": str(path), "fps": info.fps,
             "n_frames": info.n_frames, "onset": None, "apex": None, "offset": None, "emotion": "", "aus": ""}
        )  # fmt: skip
    df = coerce_manifest(pd.DataFrame(rows, columns=list(COLUMNS)))
    df.attrs["root"] = "/"
    df.attrs["source"] = "clips"
    return df, failed


def prediction_outputs(out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Where ``mextk predict --out OUT`` writes: ``(predictions CSV, feature cache)``, both under ``OUT``.

    ``OUT`` is a folder (``OUT/predictions.csv``, ``OUT/features``) unless it ends in ``.csv``: then it is
    the predictions file, and the cache is ``NAME.features`` beside it.  Nothing goes to the working folder
    that ``--out`` did not name.

    Examples
    --------
    >>> [p.as_posix() for p in prediction_outputs("run/new")]
    ['run/new/predictions.csv', 'run/new/features']
    >>> [p.as_posix() for p in prediction_outputs("p.csv")]
    ['p.csv', 'p.features']
    """
    out = Path(out)
    if out.suffix.lower() == ".csv":
        return out, out.with_suffix(".features")
    return out / "predictions.csv", out / "features"


def _relative(path: str, base: Path) -> str:
    """``path`` relative to ``base`` where it can be (the same drive), as written in an output table."""
    try:
        return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return str(path)


@dataclass(frozen=True)
class Predictions:
    """What :func:`predict_clips` wrote.

    Attributes
    ----------
    path : Path
        The predictions file.
    table : DataFrame
        Its rows: ``sample_id``, ``dataset``, ``subject``, ``path``, ``predicted`` and one ``p_<class>`` column
        per class.
    failed : dict of str to str
        Clips that could not be read or featurised, with the reason.
    excluded : dict of str to str
        Clips that a review decision left out, with the decision.
    """

    path: Path
    table: pd.DataFrame
    failed: dict[str, str]
    excluded: dict[str, str]


def predict_clips(
    model_dir: str | os.PathLike[str],
    items: Sequence[str | os.PathLike[str]],
    out_csv: str | os.PathLike[str],
    *,
    features_dir: str | os.PathLike[str] | None = None,
    include_excluded: bool = False,
    jobs: int = 1,
    progress: bool = True,
) -> Predictions:
    """Predict every clip of ``items`` (one manifest, or clips) with a model folder; write ``out_csv``.

    Returns
    -------
    Predictions
        The written table, the clips that failed and those a review decision left out.
    """
    from mextk.io.manifest import load_manifest
    from mextk.io.review import apply_review

    model, meta = load_model(model_dir)
    items = list(items)
    if len(items) == 1 and str(items[0]).lower().endswith(_MANIFEST_SUFFIXES):
        df = load_manifest(items[0], check_files=True)
        df, excluded = apply_review(df, include_excluded=include_excluded)
        failed: dict[str, str] = {}
    else:
        (df, failed), excluded = clips_manifest(items), {}
    if df.empty:
        raise ValueError(f"no clip to predict ({len(failed)} could not be read: {'; '.join(failed.values())})")
    out_csv = Path(out_csv)
    feature = meta["feature"]
    if feature["kind"] == "precomputed":
        from mextk.io.manifest import sample_path

        sources = [str(sample_path(df, p)) for p in df["path"]]
        keep = np.ones(len(df), bool)
    else:
        from mextk.features.batch import extract_features
        from mextk.features.cache import FeatureCache

        root = Path(features_dir) if features_dir is not None else out_csv.resolve().parent / "features"
        res = extract_features(
            df, feature["kind"], root, params=feature["params"], jobs=jobs, include_excluded=True, progress=progress
        )
        failed.update(res["failed"])
        cache = FeatureCache(root, feature["kind"], feature["params"])
        sources = [str(cache.path(str(s))) for s in df["sample_id"]]
        keep = np.array([str(s) not in failed for s in df["sample_id"]])
    kept = df.loc[keep].reset_index(drop=True)
    inputs = LazyInputs(
        [s for s, k in zip(sources, keep, strict=True) if k],
        meta["input_type"],
        precomputed=feature["kind"] == "precomputed",
        preload=False,
    )
    probs = predict_with(model, meta, [inputs[i] for i in range(len(inputs))])
    classes = meta["classes"]
    table = kept[["sample_id", "dataset", "subject", "path"]].copy()
    # paths relative to the predictions file (as a manifest's are), so the folder can move as a whole
    from mextk.io.manifest import sample_path

    table["path"] = [_relative(str(sample_path(kept, p)), out_csv.parent) for p in kept["path"]]
    table["predicted"] = [classes[k] for k in probs.argmax(axis=1)] if len(probs) else []
    for k, c in enumerate(classes):
        table[f"p_{c}"] = probs[:, k] if len(probs) else []
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    return Predictions(path=out_csv, table=table, failed=failed, excluded=excluded)
