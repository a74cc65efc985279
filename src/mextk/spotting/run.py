"""``mextk spot``: run a spotter over a long-video manifest and write the intervals it finds.

Output folder::

    OUT/intervals.csv   a long-video manifest (:mod:`mextk.spotting.long_manifest`) of the spotted
                        intervals, with ``score``; every processed video appears, one empty row
                        for a video where nothing was spotted
    OUT/spotter.json    the spotter and its full settings (a rerun with other settings is refused)
    OUT/failed.csv      videos that could not be processed, one line each (only when some failed)

Region-motion signals go to a feature cache (``--features``, default
``OUT/features``), so a rerun resumes where it stopped and other thresholds
cost nothing.  Spotters: ``motion``, the training-free baseline
(:mod:`mextk.spotting.baseline`), and ``learned``, a per-frame expression
score trained leave-one-subject-out (:mod:`mextk.spotting.learned`: boosted trees on
region motion by default, SOFTNet on optical flow as an option).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from mextk.io.runfolder import RunFolder
from mextk.spotting.baseline import SpotterSettings, spot_intervals
from mextk.spotting.calibration import resolve
from mextk.spotting.long_manifest import coerce_long, interval_rows, load_long_manifest, save_long_manifest, videos_of
from mextk.spotting.signals import compute_features, load_features, video_key

SPOTTERS: dict[str, str] = {
    "motion": "training-free: transient region motion, robust peaks, non-maximum suppression",
    "learned": "per-frame expression score trained leave-one-subject-out: boosted trees on region motion "
    "(default) or SOFTNet on optical flow (model=softnet)",
}


def default_settings(spotter: str) -> Any:
    """The default settings dataclass of a spotter."""
    if spotter == "motion":
        return SpotterSettings()
    if spotter == "learned":
        from mextk.spotting.learned import LearnedSettings

        return LearnedSettings()
    raise ValueError(f"unknown spotter {spotter!r}; choose one of {', '.join(SPOTTERS)}")


@dataclass(frozen=True)
class SpotResult:
    """What :func:`spot_manifest` wrote.

    Attributes
    ----------
    out : Path
        The run folder (``intervals.csv``, ``spotter.json``, ``failed.csv`` when a video failed).
    intervals : DataFrame
        The spotted intervals, a long-video manifest with a ``score`` per interval (``intervals.csv``).
    failed : dict of str to str
        Videos that could not be read, by video key, with the reason.
    """

    out: Path
    intervals: pd.DataFrame
    failed: dict[str, str]


def spot_manifest(
    manifest: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    spotter: str = "motion",
    settings: Any = None,
    features: str | os.PathLike[str] | None = None,
    jobs: int = 1,
    seed: int = 0,
    progress: bool = True,
) -> SpotResult:
    """Spot intervals in every video of a long-video manifest (see the module docstring).

    Returns
    -------
    SpotResult
        The written intervals, and the videos that failed.
    """
    df = load_long_manifest(manifest)
    settings = settings if settings is not None else default_settings(spotter)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "spotter": spotter,
        "settings": asdict(settings),
        "manifest": str(Path(manifest).resolve()),
        "seed": seed,
    }
    # a calibration made with other settings is refused before any work
    calibration = resolve(settings) if spotter == "motion" else None
    RunFolder(out, "spotter.json", what="spotting run").claim(record)
    feature_root = Path(features) if features is not None else out / "features"
    videos = videos_of(df)
    videos.attrs = dict(df.attrs)
    failed = compute_features(videos, feature_root, settings, jobs=jobs, progress=progress)
    ok = videos[[video_key(r) not in failed for _, r in videos.iterrows()]]
    ok.attrs = dict(df.attrs)
    if spotter == "motion":
        found = {}
        for _, r in ok.iterrows():
            arrays = load_features(feature_root, video_key(r), settings, float(r["fps"]))
            found[video_key(r)] = spot_intervals(settings.signals(arrays), settings, calibration)
    else:
        from mextk.spotting.learned import spot_learned

        found = spot_learned(df, ok, feature_root, settings, out=out, seed=seed, progress=progress)
    rows = []
    for _, r in ok.iterrows():
        rows += interval_rows(r.to_dict(), found[video_key(r)])
    result = coerce_long(pd.DataFrame(rows), source=str(out / "intervals.csv")) if rows else df.iloc[:0]
    save_long_manifest(result, out / "intervals.csv")
    failed_path = out / "failed.csv"
    if failed:
        from mextk.io.atomic import atomic_path

        with atomic_path(failed_path) as tmp:
            pd.DataFrame({"video": list(failed), "reason": list(failed.values())}).to_csv(tmp, index=False)
    else:
        failed_path.unlink(missing_ok=True)
    return SpotResult(out=out, intervals=result, failed=failed)


def calibrate_manifest(
    manifest: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    settings: SpotterSettings | None = None,
    floor: float = 1.0,
    features: str | os.PathLike[str] | None = None,
    jobs: int = 1,
    progress: bool = True,
) -> Any:
    """Calibrate the training-free spotter on the calm videos of a long-video manifest (``mextk spot-calibrate``).

    Every video is taken as calm (any interval rows are ignored): the spotter, with ``settings`` but its
    threshold lowered to ``floor`` and no calibration, lists its candidates, written as a run folder beside
    ``out`` (``OUT.candidates/``); the calibration (:mod:`mextk.spotting.calibration`) is written to ``out``
    (JSON) and returned.
    """
    from mextk.spotting.calibration import calibrate

    settings = settings if settings is not None else SpotterSettings()
    low = replace(settings, threshold=floor, calibration="")
    out = Path(out)
    run_dir = out.with_name(out.name + ".candidates")
    record = RunFolder(run_dir, "spotter.json", what="spotting run").recorded()
    if record is not None and record.get("settings") != json.loads(json.dumps(asdict(low), default=list)):
        shutil.rmtree(run_dir)  # the candidates of other settings: this calibration's own intermediate
    res = spot_manifest(manifest, run_dir, spotter="motion", settings=low, features=features, jobs=jobs,
                        progress=progress)  # fmt: skip
    videos = videos_of(load_long_manifest(manifest))
    done = videos[[video_key(r) not in res.failed for _, r in videos.iterrows()]]
    if done.empty:
        raise ValueError(f"{manifest}: no video could be read, so nothing was calibrated")
    cal = calibrate(res.intervals, done, settings, floor=floor)
    cal.save(out)
    return cal
