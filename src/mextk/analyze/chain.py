"""``mextk analyze RECORDING... --model MODEL_DIR --out DIR``: the whole chain on new recordings.

For each recording:

1. **prepare** (:func:`mextk.prepare.batch.prepare_recordings`, the default
   settings or ``prepare``): one clip per continuous appearance of a
   participant, each with its per-frame quality sidecar; review decisions
   (``kept``) are honoured unless ``include_excluded``;
2. **region motion** of every clip, streamed and cached
   (:mod:`mextk.spotting.signals`): with ``jobs`` workers the recording is cut
   into ``jobs`` stretches of time, each decoded once for all the clips it
   shows;
3. **interval spotting** with the training-free spotter
   (:mod:`mextk.spotting.baseline`; the learned spotter needs labelled long
   videos of the same kind to train on, which a new recording does not have);
4. **recognition** of each interval by the model folder: the intervals'
   frames are cut from their clips in one decoding pass per stretch
   (:mod:`mextk.analyze.events`, temporary frame folders, removed at the end),
   then :func:`mextk.evaluate.predict.predict_clips` computes the model's own
   features on them;
5. **a timeline per person**: every event with its start and end (frames of
   the recording and seconds), apex, type, class, probability and the face's
   quality over it.

Writes ``DIR/RECORDING/``: ``timeline.csv`` and ``timeline.json``,
``report.html`` (self-contained: plots and thumbnails inline,
:mod:`mextk.analyze.html_report`), ``proposals.csv`` (``mextk annotate init
--clips DIR/prepared/manifest.csv --proposals DIR/RECORDING/proposals.csv``
puts the events before labellers) and ``done.json`` (last; a finished
recording is skipped when run again with the same settings).  The prepared
clips are in ``DIR/prepared`` and the feature caches in ``DIR/features``.
A recording that fails is reported and the others go on.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from mextk.analyze.event_view import event_view
from mextk.analyze.events import cut_all, event_name
from mextk.analyze.html_report import person_name, pyplot, write_report
from mextk.io.atomic import atomic_path, read_json, write_json_atomic, write_text_atomic
from mextk.io.runfolder import RunFolder, fingerprint_files
from mextk.spotting.baseline import SpotterSettings, spot_intervals
from mextk.spotting.calibration import calibration_note, resolve
from mextk.spotting.coverage import add_coverage, spot_coverage
from mextk.workers import worker_pool

TIMELINE_COLUMNS = (
    "person",
    "track_id",
    "clip",
    "start_frame",
    "end_frame",
    "apex_frame",
    "start_time",
    "end_time",
    "apex_time",
    "type",
    "class",
    "probability",
    "spot_score",
    "calm_per_min",
    "face_visible",
    "detector_score",
)


def _quality(clips_root: Path, row: pd.Series, onset: int, offset: int) -> tuple[float, float]:
    """Share of the interval's frames with the face visible, and the mean detector score where measured."""
    path = clips_root / str(row.get("quality", ""))
    if not str(row.get("quality", "")) or not path.is_file():
        return float("nan"), float("nan")
    q = pd.read_csv(path).iloc[onset : offset + 1]
    visible = float(q["face_visible"].astype(str).str.lower().isin(["true", "1"]).mean()) if len(q) else float("nan")
    score = pd.to_numeric(q.get("score", pd.Series(dtype=float)), errors="coerce")
    return visible, float(score.mean()) if score.notna().any() else float("nan")


@dataclass(frozen=True)
class Analysis:
    """One recording's analysis, as written to ``DIR/RECORDING/``.

    Attributes
    ----------
    folder : Path
        The recording's folder (``timeline.csv``, ``timeline.json``, ``report.html``, ``proposals.csv``).
    timeline : DataFrame
        The events (:data:`TIMELINE_COLUMNS`), by person and time.
    cached : bool
        The recording had been analysed with the same settings; nothing was recomputed.
    times : dict of str to float
        Seconds per stage (:data:`STAGES`) of the run that wrote the folder.
    failed_clips : dict of str to str
        Clips whose motion could not be computed, with the reason.
    """

    folder: Path
    timeline: pd.DataFrame
    cached: bool
    times: dict[str, float]
    failed_clips: dict[str, str]


@dataclass(frozen=True)
class AnalysisBatch:
    """The analyses of several recordings: the finished ones by path, and those that failed, with the reason."""

    results: dict[str, Analysis]
    failed: dict[str, str]


def analyze_recording(
    recording: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    spotter: SpotterSettings | None = None,
    spotter_model: str | os.PathLike[str] | None = None,
    prepare: Any = None,
    include_excluded: bool = False,
    jobs: int = 1,
    progress: bool = True,
    on_stage: Callable[[str], None] | None = None,
) -> Analysis:
    """Analyse one recording (see the module docstring); returns the timeline and the stage times.

    ``spotter_model``: a learned spotter saved by ``mextk spot --spotter learned`` (its ``OUT/model``) spots
    instead of the training-free one (``spotter`` is then not used); it has no calm-face calibration.

    ``on_stage(name)`` is called as each stage (:data:`STAGES`) begins (the progress bar of
    :func:`analyze_recordings`); ``progress`` shows each stage's own bars instead.
    """
    stage = on_stage or (lambda name: None)
    if jobs > 1:  # the workers' fork server loads its models on the other core while this one imports and prepares
        from mextk.workers import start_server

        start_server()
    from mextk.evaluate.modelfolder import load_model, weights_path
    from mextk.evaluate.predict import predict_clips
    from mextk.io.review import apply_review
    from mextk.prepare.batch import prepare_recordings
    from mextk.prepare.config import PrepareConfig
    from mextk.spotting.signals import compute_features, load_features

    recording = Path(recording)
    out = Path(out_dir)
    spotter = spotter or SpotterSettings()
    prepare = prepare or PrepareConfig()
    # refuse an unusable model (incompatible, or weights that cannot be read) before any work; loading it here
    # (about 2 s of scikit-learn's or PyTorch's imports) overlaps the fork server loading its models on the
    # other core.  In a thread beside prepare or region motion it saved nothing: loading holds the
    # interpreter, and every later stage keeps both cores busy (three fresh runs each, 2026-11-29)
    _, meta = load_model(model_dir)
    learned = None
    if spotter_model is not None:
        from mextk.spotting.learned import SPOTTER_MODEL, load_spotter_model

        learned = load_spotter_model(spotter_model)
        calibration = None
    else:
        calibration = resolve(spotter)  # one made with other spotter settings is refused before any work
    features_of = learned[1] if learned is not None else spotter
    # the weights' fingerprints: a model retrained into the same folder is a new analysis, not a cached one
    settings = {
        "model_dir": str(Path(model_dir).resolve()),
        "model_weights": fingerprint_files([weights_path(model_dir, meta)]),
        "model": meta["model"],
        "task": meta["task"],
        "spotter": json.loads(json.dumps(asdict(spotter))) if learned is None else None,
        "spotter_model": None
        if learned is None
        else {
            "folder": str(Path(spotter_model).resolve()),
            "weights": fingerprint_files([Path(spotter_model) / SPOTTER_MODEL[0]]),
            "trained_on": learned[2].get("trained_on", []),
            "datasets": learned[2].get("datasets", {}),
            "settings": learned[2].get("settings", {}),
        },
        "prepare": json.loads(json.dumps(asdict(prepare), default=str)),
        "include_excluded": include_excluded,
    }
    folder = out / recording.stem
    done = folder / "done.json"
    # a recording analysed with these settings is done; with other ones it is analysed again (its outputs replaced)
    if RunFolder(folder, "done.json", what="analysis", key="settings").differences(settings) == []:
        timeline = pd.read_csv(folder / "timeline.csv", dtype={"person": str, "clip": str})
        failed_clips = read_json(folder / "timeline.json", what="analysis timeline").get("failed_clips", {})
        times = read_json(done, what="analysis record").get("times", {})
        return Analysis(folder=folder, timeline=timeline, cached=True, times=times, failed_clips=failed_clips)
    times: dict[str, float] = {}
    stage("prepare")
    t0 = time.perf_counter()
    prepared = out / "prepared"
    res = prepare_recordings([recording], prepared, prepare, jobs=1, progress=progress)
    if recording.stem in res.failed:
        raise ValueError(f"{recording}: prepare failed: {res.failed[recording.stem]}")
    manifest = res.manifest
    clips = manifest[manifest["source_recording"] == recording.stem].copy()
    clips.attrs = dict(manifest.attrs)
    clips, _ = apply_review(clips, include_excluded=include_excluded)
    times["prepare"] = time.perf_counter() - t0

    stage("motion")
    t0 = time.perf_counter()
    videos = pd.DataFrame(
        {
            "dataset": "analyze",
            "video_id": clips["sample_id"].astype(str),
            "path": [str(prepared / p) for p in clips["path"]],
            "fps": clips["fps"].astype(float),
        }
    )
    feature_root = out / "features"
    failed = compute_features(videos, feature_root, features_of, jobs=jobs, progress=progress)
    times["motion"] = time.perf_counter() - t0

    stage("spotting")
    t0 = time.perf_counter()
    events = []
    coverage: dict[str, dict[str, float]] = {}
    for _, row in clips.iterrows():
        key = f"analyze/{row['sample_id']}"
        if key in failed:
            continue
        arrays = load_features(feature_root, key, features_of, float(row["fps"]))
        sig = SpotterSettings.signals(arrays)
        if learned is None:
            found = spot_intervals(sig, spotter, calibration)
            weak_by = spotter
        else:
            from mextk.spotting.learned import spot_with_model

            found = spot_with_model(learned[0], learned[1], arrays, float(row["fps"]))
            weak_by = replace(learned[1].regions(), speech_discount=0.0)
        covered = spot_coverage(sig, weak_by, yaw=arrays.get("yaw"), crowded=arrays.get("crowded"))
        events += [{"row": row, **iv} for iv in found]
        add_coverage(coverage.setdefault(person_name(row), {}), covered)
    times["spotting"] = time.perf_counter() - t0

    stage("recognition")
    t0 = time.perf_counter()
    # the report's plotting library imports (about a second) while the workers cut the events' frames
    loader = ThreadPoolExecutor(1, thread_name_prefix="mextk-report")
    plotting = loader.submit(pyplot)
    loader.shutdown(wait=False)
    folder.mkdir(parents=True, exist_ok=True)
    classes = meta["classes"]
    preds = pd.DataFrame(columns=["sample_id", "predicted", *[f"p_{c}" for c in classes]])
    event_root = folder / "_events"  # each event's frames, cut in one pass per clip; removed when done
    spans: dict[str, list[tuple[int, int]]] = {}
    for e in events:
        spans.setdefault(str(e["row"]["sample_id"]), []).append((e["onset"], e["offset"]))
    paths = {str(r["sample_id"]): str(prepared / r["path"]) for _, r in clips.iterrows()}
    cut_failed = cut_all([(paths[c], s, str(event_root / c)) for c, s in spans.items()], jobs=jobs)
    failed.update({f"analyze/{c}": err for c, err in cut_failed.items()})
    for e in events:
        e["frames"] = event_root / str(e["row"]["sample_id"]) / event_name(e["onset"], e["offset"])
    cut = [e for e in events if e["frames"].is_dir()]
    if cut:
        rows = [
            {
                "dataset": "analyze",
                "subject": person_name(e["row"]),
                "sample_id": f"{e['row']['sample_id']}_f{e['onset']}-{e['offset']}",
                "path": e["frames"].relative_to(event_root).as_posix(),  # a manifest's paths are relative to it
                "fps": float(e["row"]["fps"]),
                "n_frames": e["offset"] - e["onset"] + 1,
                "onset": 0,
                "apex": e["apex"] - e["onset"],
                "offset": e["offset"] - e["onset"],
                "emotion": "",
                "aus": "",
            }
            for e in cut
        ]
        pd.DataFrame(rows).to_csv(event_root / "manifest.csv", index=False)
        recognised = predict_clips(
            model_dir,
            [event_root / "manifest.csv"],
            event_root / "predictions.csv",
            features_dir=out / "features",
            jobs=jobs,
            progress=progress,
        )
        preds = recognised.table
    times["recognition"] = time.perf_counter() - t0

    by_id = preds.set_index("sample_id") if len(preds) else preds
    timeline = []
    for e in events:
        row = e["row"]
        sid = f"{row['sample_id']}_f{e['onset']}-{e['offset']}"
        fps, start = float(row["fps"]), int(row["start_frame"])
        if sid in getattr(by_id, "index", []):
            cls = str(by_id.loc[sid, "predicted"])
            prob = float(by_id.loc[sid, f"p_{cls}"])
        else:
            cls, prob = "", float("nan")
        visible, det = _quality(prepared, row, e["onset"], e["offset"])
        timeline.append(
            {
                "person": person_name(row),
                "track_id": int(row["track_id"]),
                "clip": str(row["sample_id"]),
                "start_frame": start + e["onset"],
                "end_frame": start + e["offset"],
                "apex_frame": start + e["apex"],
                "start_time": round((start + e["onset"]) / fps, 3),
                "end_time": round((start + e["offset"] + 1) / fps, 3),
                "apex_time": round((start + e["apex"]) / fps, 3),
                "type": e["type"],
                "class": cls,
                "probability": round(prob, 4),
                "spot_score": round(float(e["score"]), 3),
                "calm_per_min": round(float(e.get("calm_per_min", float("nan"))), 4),
                "face_visible": round(visible, 3),
                "detector_score": round(det, 3),
                "_onset": e["onset"],
                "_apex": e["apex"],
                "_offset": e["offset"],
                "_frames": str(e["frames"]),
                "_fps": fps,
            }
        )
    table = pd.DataFrame(timeline, columns=[*TIMELINE_COLUMNS, "_onset", "_apex", "_offset", "_frames", "_fps"])
    table = table.sort_values(["person", "start_frame"], kind="stable").reset_index(drop=True)
    public = table[list(TIMELINE_COLUMNS)]
    with atomic_path(folder / "timeline.csv") as tmp:
        public.to_csv(tmp, index=False)
    write_json_atomic(
        folder / "timeline.json",
        {
            "recording": recording.name,
            "fps": float(clips["fps"].iloc[0]) if len(clips) else None,
            "people": sorted(set(public["person"])) if len(public) else [],
            "events": json.loads(public.to_json(orient="records")),
            "failed_clips": failed,
            "coverage": coverage,
            "settings": settings,
        },
    )
    proposals = pd.DataFrame(
        {
            "sample_id": table["clip"],
            "onset": table["_onset"],
            "offset": table["_offset"],
            "apex": table["_apex"],
            "label": table["class"],
            "score": table["probability"],
        }
    )
    with atomic_path(folder / "proposals.csv") as tmp:
        proposals.to_csv(tmp, index=False)
    stage("report")
    t0 = time.perf_counter()
    table["_view"] = event_views(table, jobs=jobs)
    plotting.result()

    write_text_atomic(
        folder / "report.html",
        write_report(
            recording.name,
            table,
            clips,
            classes=classes,
            settings=settings,
            model=meta,
            calibration=calibration_note(spotter, calibration),
            coverage=coverage,
        ),
    )
    times["report"] = time.perf_counter() - t0
    write_json_atomic(done, {"settings": settings, "times": times, "events": len(public)})
    shutil.rmtree(event_root, ignore_errors=True)
    return Analysis(folder=folder, timeline=public, cached=False, times=times, failed_clips=failed)


def _view(item: tuple[str, int, float]) -> str:
    return event_view(*item)


def event_views(table: pd.DataFrame, *, jobs: int = 1) -> list[str]:
    """Each event's looping view (:func:`mextk.analyze.event_view.event_view`; ``""`` where there is none), made
    by ``jobs`` worker processes."""
    items = [(str(r["_frames"]), int(r["_apex"]) - int(r["_onset"]), float(r["_fps"])) for _, r in table.iterrows()]
    if jobs <= 1 or len(items) < 2:
        return [_view(i) for i in items]
    with worker_pool(jobs) as pool:
        return list(pool.map(_view, items, chunksize=max(1, len(items) // (4 * jobs))))


#: The stages of one recording, with their shares of its time (measured by ``benchmarks/analyze.py``), which the
#: progress bar advances by so that its time left is an estimate for the whole run.
STAGES: dict[str, float] = {"prepare": 0.18, "motion": 0.6, "spotting": 0.01, "recognition": 0.16, "report": 0.05}


def analyze_recordings(
    recordings_in: Sequence[str | os.PathLike[str]],
    model_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    jobs: int = 1,
    progress: bool = True,
    **kwargs: Any,
) -> AnalysisBatch:
    """Analyse each recording (one after another; ``jobs`` parallelises inside each); failures are collected.

    ``recordings_in`` are files or folders; a folder stands for every recording found in it
    (:func:`mextk.prepare.batch.find_recordings`).  A missing input, an unusable model, or inputs that
    hold no recording raise before anything is written; a still image beside real recordings is a
    failed item.

    With ``progress``, one bar covers the whole run: the recording and stage under way, and the
    time left (stages weighted by :data:`STAGES`).
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from mextk.evaluate.modelfolder import model_meta
    from mextk.prepare.batch import VIDEO_SUFFIXES, find_recordings, recording_problem

    # bad input is refused before anything is written: a missing recording or model, a folder with no
    # recording, nothing but still images; a folder stands for every recording in it (each analysed alone)
    missing = [str(r) for r in recordings_in if not Path(r).exists()]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)}: recording(s) not found")
    model_meta(model_dir)  # a typo in --model is named as such, not as a failure of every recording
    if kwargs.get("spotter_model") is not None:  # so is a folder that holds no learned spotter
        from mextk.spotting.learned import load_spotter_model

        load_spotter_model(kwargs["spotter_model"])
    results: dict[str, Analysis] = {}
    failed: dict[str, str] = {}
    given = [Path(r) for r in recordings_in]
    recordings = []
    for path in find_recordings(given):
        problem = recording_problem(path)
        if problem:
            failed[str(path)] = problem
        else:
            recordings.append(path)
    if not recordings:
        if failed:
            raise ValueError("; ".join(failed.values()))
        shown = ", ".join(map(str, given))
        raise FileNotFoundError(f"{shown}: no recording found (looked for {', '.join(VIDEO_SUFFIXES)})")
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"))
    with Progress(*columns, TimeElapsedColumn(), TimeRemainingColumn(), disable=not progress) as bar:
        task = bar.add_task("analyze", total=float(len(recordings)))
        for n, rec in enumerate(recordings):

            def on_stage(name: str, rec: Any = rec, n: int = n) -> None:
                order = list(STAGES)
                reached = sum(STAGES[s] for s in order[: order.index(name)])
                bar.update(
                    task, completed=n + reached, description=f"{Path(rec).name} ({n + 1}/{len(recordings)}): {name}"
                )

            try:
                results[str(rec)] = analyze_recording(
                    rec, model_dir, out_dir, jobs=jobs, progress=False, on_stage=on_stage, **kwargs
                )
            except (OSError, ValueError) as exc:
                failed[str(rec)] = " ".join(str(exc).split())
            bar.update(task, completed=n + 1)
    return AnalysisBatch(results=results, failed=failed)
