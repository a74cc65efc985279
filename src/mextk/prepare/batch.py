"""``mextk prepare``: many recordings, in parallel, resumable; one manifest and one review table.

Output folder layout::

    DIR/
      manifest.csv            one row per clip, all recordings (foundation format + prepare columns)
      review.csv              one row per clip for the manual check: flags, kept, and empty
                              reviewer_decision / reviewer_note columns (kept across re-runs)
      problems.txt            one line per recording that failed
      RECORDING/
        clips/tNN_cNNN.clip.json
                              a virtual clip (default): the recording, crop boxes and frame range,
                              decoded on demand by every later stage (mextk.io.clipref); with
                              --clip-format mp4, clips/tNN_cNNN.mp4 (H.264, constant frame rate)
        clips/tNN_cNNN.quality.csv
                              per-frame quality of the clip (:func:`mextk.prepare.checks.quality_table`):
                              face visible, faces, how found and score, yaw, pitch, occluded
        clips.csv             this recording's rows
        summary.json          this recording's summary; written last, it marks the recording done

A recording whose ``summary.json`` exists (with the same settings) is not
processed again; a failed or interrupted one is processed again from the
start (its clips are rewritten atomically, so nothing half-written is ever
taken for a finished clip).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mextk.io.atomic import atomic_path, write_json_atomic, write_text_atomic
from mextk.io.errors import VideoError
from mextk.io.manifest import COLUMNS, save_manifest
from mextk.io.tables import read_csv_text
from mextk.prepare.config import PrepareConfig
from mextk.workers import worker_pool

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".ts")
REVIEW_COLUMNS = (
    "sample_id",
    "path",
    "source_recording",
    "track_id",
    "subject",
    "start_time",
    "end_time",
    "n_frames",
    "kept",
    "flags",
    "face_px",
    "face_frac",
    "yaw",
    "pitch",
    "turned",
    "visible",
    "multi_face",
    "intrusion",
)
REVIEWER_COLUMNS = ("reviewer_decision", "reviewer_note")


def find_recordings(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and folders (searched recursively for videos) into a sorted list of recordings."""
    found: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found.extend(
                sorted(q for q in p.rglob("*") if q.suffix.lower() in VIDEO_SUFFIXES and not q.name.startswith("."))
            )
        else:
            found.append(p)
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


#: Containers that FFmpeg opens as "video" but that hold one still picture (a JPEG named .mp4 included).
_STILL_FORMATS = ("image2", "jpeg_pipe", "png_pipe", "bmp_pipe", "tiff_pipe", "webp_pipe", "gif", "apng")


def recording_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be a recording (one line naming it), or ``None`` when it may be one.

    A still image (by its name, or by what FFmpeg finds inside: a JPEG renamed ``.mp4``) is refused
    here: FFmpeg opens it as a one-frame video, which would give "1 recording done, 0 clips".
    Missing files are left to the caller; unreadable videos fail when they are read, with the reason.
    """
    p = Path(path)
    if not p.is_file():
        return None
    if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"):
        return f"{p}: a still image, not a recording (give a video: {', '.join(VIDEO_SUFFIXES)})"
    try:
        import av

        with av.open(str(p)) as container:
            names = set(container.format.name.split(","))
    except Exception:  # noqa: BLE001 - not readable as media: the splitter says why, with the file's name
        return None
    if names & set(_STILL_FORMATS):
        return f"{p}: a still image ({container.format.name}), not a recording"
    return None


def recording_names(paths: Sequence[Path]) -> list[str]:
    """A folder-safe, unique name per recording (its file stem; ``_2``, ``_3`` for repeats)."""
    names: list[str] = []
    counts: dict[str, int] = {}
    for p in paths:
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in p.stem)
        counts[stem] = counts.get(stem, 0) + 1
        names.append(stem if counts[stem] == 1 else f"{stem}_{counts[stem]}")
    return names


def _process_one(path: str, out_dir: str, name: str, config: PrepareConfig, progress: Any = None) -> dict[str, Any]:
    """Worker: split one recording into ``out_dir/name``; return its summary (or raise VideoError)."""
    from mextk.prepare.split import RecordingSplitter

    folder = Path(out_dir) / name
    if folder.exists():  # an interrupted earlier attempt: start clean
        shutil.rmtree(folder)
    folder.mkdir(parents=True)

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress[name] = (done, total)

    splitter = RecordingSplitter(path, folder, config, name)
    summary = splitter.run(report)
    summary["config"] = config.to_dict()
    rows = pd.DataFrame(splitter.rows)
    with atomic_path(folder / "clips.csv") as tmp:
        rows.to_csv(tmp, index=False)
    write_json_atomic(folder / "summary.json", summary)  # last: marks the recording done
    return summary


def _done(folder: Path, config: PrepareConfig) -> bool:
    summary = folder / "summary.json"
    if not summary.exists():
        return False
    saved = json.loads(summary.read_text()).get("config") or {}
    try:  # through PrepareConfig, so that a setting added since then counts at its default
        saved = PrepareConfig(**saved).to_dict()
    except (TypeError, ValueError):
        pass  # settings this version does not know: they differ
    if json.loads(json.dumps(saved)) != json.loads(json.dumps(config.to_dict())):
        raise FileExistsError(
            f"{folder}: was prepared with other settings; use another --out folder or remove that recording's folder"
        )
    return True


def read_subject_map(path: str | os.PathLike[str]) -> dict[tuple[str, int], str]:
    """Read ``source_recording, track_id, subject`` rows (a person's review of the tracks).

    Raises
    ------
    ValueError
        Naming the file and line of a malformed row.
    """
    path = Path(path)
    df = read_csv_text(path, what="subject map")
    missing = [c for c in ("source_recording", "track_id", "subject") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    mapping: dict[tuple[str, int], str] = {}
    for i, row in enumerate(df.to_dict("records")):
        try:
            track = int(str(row["track_id"]).strip().lstrip("t"))
        except ValueError:
            raise ValueError(f"{path}:{i + 2}: column 'track_id': {row['track_id']!r} is not a track number") from None
        if not str(row["subject"]).strip():
            raise ValueError(f"{path}:{i + 2}: column 'subject' is empty")
        mapping[(str(row["source_recording"]).strip(), track)] = str(row["subject"]).strip()
    return mapping


def assemble(
    out_dir: str | os.PathLike[str],
    *,
    dataset: str = "prepared",
    subjects: dict[tuple[str, int], str] | None = None,
) -> pd.DataFrame:
    """Build ``manifest.csv`` and ``review.csv`` from every finished recording in ``out_dir``.

    Subject ids come from ``subjects`` (``(recording, track) -> subject``);
    unmapped tracks get ``RECORDING_tNN``.  Reviewer columns already filled in
    ``review.csv`` are carried over by ``sample_id``.
    """
    out = Path(out_dir)
    parts = []
    for summary in sorted(out.glob("*/summary.json")):
        clips = summary.parent / "clips.csv"
        if clips.exists() and clips.stat().st_size > 1:
            try:
                df = pd.read_csv(clips, dtype={"source_recording": str, "flags": str}, keep_default_na=False)
            except pd.errors.EmptyDataError:
                continue
            if df.empty:
                continue
            for col in ("path", "quality"):  # relative to the recording's folder: make them relative to DIR
                if col in df.columns:
                    df[col] = [f"{summary.parent.name}/{p}" if p else "" for p in df[col]]
            parts.append(df)
    if parts:
        manifest = pd.concat(parts, ignore_index=True)
    else:
        manifest = pd.DataFrame(columns=list(COLUMNS))
    subjects = subjects or {}
    manifest["dataset"] = dataset
    manifest["subject"] = [
        subjects.get((str(r), int(t)), f"{r}_t{int(t):02d}")
        for r, t in zip(manifest.get("source_recording", []), manifest.get("track_id", []), strict=True)
    ]
    for col in ("onset", "apex", "offset"):
        manifest[col] = pd.array([None] * len(manifest), dtype="Int64")
    manifest["kept"] = manifest.get("kept", pd.Series(dtype=bool)).astype(str).str.lower().isin(["true", "1"])
    if "source_truncated" in manifest.columns:
        manifest["source_truncated"] = manifest["source_truncated"].astype(str).str.lower().isin(["true", "1"])
    save_manifest(manifest, out / "manifest.csv")
    review = manifest[[c for c in REVIEW_COLUMNS if c in manifest.columns]].copy()
    old_path = out / "review.csv"
    if old_path.exists():
        old = pd.read_csv(old_path, dtype=str, keep_default_na=False)
        keep = [c for c in REVIEWER_COLUMNS if c in old.columns]
        review = review.merge(old[["sample_id", *keep]], on="sample_id", how="left")
    for col in REVIEWER_COLUMNS:
        if col not in review.columns:
            review[col] = ""
    review[list(REVIEWER_COLUMNS)] = review[list(REVIEWER_COLUMNS)].fillna("")
    with atomic_path(old_path) as tmp:
        review.to_csv(tmp, index=False)
    return manifest


@dataclass(frozen=True)
class PrepareResult:
    """What :func:`prepare_recordings` did.

    Attributes
    ----------
    done : list of str
        Recordings (by name) split in this run.
    skipped : list of str
        Recordings found done with the same settings (not split again).
    failed : dict of str to str
        Recordings that could not be split, with the reason (``problems.txt``).
    truncated : dict of str to str
        Recordings whose video ended early, with the message; their clips are kept.
    manifest : DataFrame
        The manifest of every recording's clips in the output folder (``manifest.csv``).
    """

    done: list[str]
    skipped: list[str]
    failed: dict[str, str]
    truncated: dict[str, str]
    manifest: pd.DataFrame


def prepare_recordings(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    config: PrepareConfig,
    *,
    jobs: int = 1,
    dataset: str = "prepared",
    subjects: str | os.PathLike[str] | None = None,
    progress: bool = True,
    console: Any = None,
    executor: str | None = None,
    ray_address: str | None = None,
) -> PrepareResult:
    """Split every recording into clips; build the manifest and review table.

    Parameters
    ----------
    inputs : sequence of path-like
        Recordings, or folders searched for them.
    out_dir : path-like
        Output folder (layout in the module docstring).
    config : PrepareConfig
        Settings.
    jobs : int
        Recordings processed in parallel (one process each; Ray: CPUs of a local Ray instance).
    dataset : str
        ``dataset`` column of the manifest.
    subjects : path-like, optional
        CSV mapping ``source_recording, track_id`` to ``subject``.
    progress : bool
        Show progress bars.
    console : rich.console.Console, optional
        Where to print.
    executor : {"local", "process", "ray"}, optional
        Where recordings run: one after another, in ``jobs`` worker processes, or as Ray
        tasks (a local instance, or the cluster at ``ray_address``; ``out_dir`` and the
        recordings must then be on a file system every node sees).  By default
        ``process`` when ``jobs > 1``, else ``local``.  Every executor writes the same
        outputs: each recording is split by the same code, alone.
    ray_address : str, optional
        Address of a Ray cluster (``auto``, ``ray://host:10001``).

    Returns
    -------
    PrepareResult
        The recordings split now, found done and failed, and the manifest of every clip.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    executor = executor or ("process" if jobs > 1 else "local")
    if executor not in ("local", "process", "ray"):
        raise ValueError(f"executor must be local, process or ray, got {executor!r}")
    console = console or Console(stderr=True)
    out = Path(out_dir)
    subject_map = read_subject_map(subjects) if subjects else None
    paths = find_recordings(inputs)
    not_recordings = {p: problem for p in paths if (problem := recording_problem(p))}
    if inputs and not any(p.is_file() and p not in not_recordings for p in paths):
        # nothing to do at all is bad input (exit 2), not a batch with failed items; nothing is written
        missing = [str(p) for p in inputs if not Path(p).exists()]
        if missing:
            raise FileNotFoundError(f"{', '.join(missing)}: recording(s) not found")
        if not_recordings:
            raise ValueError("; ".join(not_recordings.values()))
        raise FileNotFoundError(
            f"{', '.join(str(p) for p in inputs)}: no recording found (looked for {', '.join(VIDEO_SUFFIXES)})"
        )
    out.mkdir(parents=True, exist_ok=True)
    names = recording_names(paths)
    paths_by_name = dict(zip(names, paths, strict=True))
    todo, skipped = [], []
    failed: dict[str, str] = {}
    for p, n in zip(paths, names, strict=True):
        if p in not_recordings:  # a still image beside real recordings: a failed item, the others go on
            failed[n] = not_recordings[p]
        elif _done(out / n, config):
            skipped.append(n)
        else:
            todo.append((p, n))
    done: list[str] = []
    summaries: dict[str, dict[str, Any]] = {}
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    if skipped and progress:
        console.print(
            f"{len(skipped)} recording(s) already prepared (cached): {', '.join(skipped)}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    with Progress(*columns, console=console, disable=not progress or not todo) as bar:
        tasks = {n: bar.add_task(n, total=None) for _, n in todo}
        live = _BarUpdater(bar, tasks)
        if executor == "ray" and todo:
            outcome = _run_on_ray(todo, out, config, jobs=jobs, address=ray_address)
            for p, n in todo:
                result = outcome[n]
                if isinstance(result, BaseException):
                    failed[n] = _one_line(p, result)
                else:
                    summaries[n] = result
                    done.append(n)
                    live[n] = (result["n_frames"], result["n_frames"])
                live.finish(n, failed=n in failed)
        elif executor == "local" or len(todo) <= 1:
            for p, n in todo:
                try:
                    summaries[n] = _process_one(str(p), str(out), n, config, live)
                    done.append(n)
                except Exception as exc:  # one bad recording must not stop the others
                    failed[n] = _one_line(p, exc)
                live.finish(n, failed=n in failed)
        else:
            from mextk.workers import context

            with context().Manager() as manager:
                shared = manager.dict()
                with worker_pool(jobs) as pool:
                    futures = {pool.submit(_process_one, str(p), str(out), n, config, shared): (p, n) for p, n in todo}
                    pending = set(futures)
                    while pending:
                        finished, pending = wait(pending, timeout=0.3, return_when=FIRST_COMPLETED)
                        for key, value in list(shared.items()):
                            live[key] = value
                        for fut in finished:
                            p, n = futures[fut]
                            try:
                                summaries[n] = fut.result()
                                done.append(n)
                            except Exception as exc:  # one bad recording must not stop the others
                                failed[n] = _one_line(p, exc)
                            live.finish(n, failed=n in failed)
    for msg in failed.values():
        console.print(f"[red]failed[/] {escape(msg)}", highlight=False, soft_wrap=True)
    truncated = {
        n: f"{paths_by_name[n]}: truncated ({s['error']}); the {s['clips']} clip(s) before the damage are kept, "
        "flagged source_truncated"
        for n, s in summaries.items()
        if s.get("status") == "truncated"
    }
    for msg in truncated.values():
        console.print(f"[red]damaged[/] {escape(msg)}", highlight=False, soft_wrap=True)
    for n, summary in summaries.items():
        for line in _drop_lines(summary, config):
            console.print(f"{n}: {line}", highlight=False, markup=False, soft_wrap=True)
    problems = [*failed.values(), *truncated.values()]
    if problems:
        write_text_atomic(out / "problems.txt", "\n".join(problems) + "\n")
    elif (out / "problems.txt").exists():
        (out / "problems.txt").unlink()
    manifest = assemble(out, dataset=dataset, subjects=subject_map)
    if subject_map:
        known = set(zip(manifest["source_recording"], manifest["track_id"].astype(int), strict=True))
        for key in sorted(set(subject_map) - known):
            console.print(f"[yellow]subject map[/]: no clip of recording {key[0]} track {key[1]}", highlight=False)
    return PrepareResult(done=done, skipped=skipped, failed=failed, truncated=truncated, manifest=manifest)


def _run_on_ray(
    todo: list[tuple[Path, str]], out: Path, config: PrepareConfig, *, jobs: int, address: str | None
) -> dict[str, Any]:
    """Split the recordings as Ray tasks; ``{name: summary or the exception it raised}``."""
    from mextk.raysession import ray_session

    with ray_session(address, num_cpus=jobs) as ray:
        remote = ray.remote(num_cpus=1)(_process_one)
        refs = {n: remote.remote(str(Path(p).resolve()), str(out.resolve()), n, config) for p, n in todo}
        outcome: dict[str, Any] = {}
        for n, ref in refs.items():
            try:
                outcome[n] = ray.get(ref)
            except Exception as exc:  # one bad recording must not stop the others
                outcome[n] = getattr(exc, "cause", None) or exc
        return outcome


def _drop_lines(summary: dict[str, Any], config: PrepareConfig) -> list[str]:
    """What a recording's run left out, and why, one line each (the details are in summary.json)."""
    lines = []
    short = int(summary.get("clips_too_short_deleted", 0))
    if short:
        lines.append(
            f"{short} clip(s) shorter than {config.min_duration:g} s deleted (--min-duration); "
            f"{summary.get('clips', 0)} kept as clips"
        )
    for seg in summary.get("dropped_segments", []):
        lines.append(f"frames {seg['start_frame']}-{seg['end_frame']} left out: {seg['reason']}")
    return lines


class _BarUpdater:
    """Receives ``progress[name] = (frames done, frames in all)`` and moves that recording's bar.

    A finished recording's bar shows its frame count (``1500/1500``); a failed
    one says so and stops where the failure happened.
    """

    def __init__(self, bar: Any, tasks: dict[str, Any]) -> None:
        self.bar, self.tasks = bar, tasks
        self.last: dict[str, tuple[int, int]] = {}

    def __setitem__(self, key: str, value: tuple[int, int]) -> None:
        self.last[key] = (int(value[0]), int(value[1] or 0))
        self.bar.update(self.tasks[key], completed=value[0], total=value[1] or None)

    def finish(self, key: str, *, failed: bool) -> None:
        done, total = self.last.get(key, (0, 0))
        if failed:
            self.bar.update(self.tasks[key], description=f"{key} (failed)", total=max(done, 1), completed=done)
        else:
            frames = max(done, total)
            self.bar.update(self.tasks[key], total=frames, completed=frames)


def _one_line(path: Path, exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    if not isinstance(exc, (VideoError, OSError, ValueError)):
        text = f"{exc.__class__.__name__}: {text}"
    return text if str(path) in text else f"{path}: {text}"
