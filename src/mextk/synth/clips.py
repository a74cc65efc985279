"""Synthetic micro-expression clips and datasets (the embedded default data).

Each clip is a face-centred crop of one synthetic subject
(:mod:`mextk.synth.face`).  An emotion clip holds one micro-expression: the
emotion's action units (:data:`~mextk.synth.face.EMOTION_AUS`) rise from the
onset frame to the apex and fall back by the offset frame along raised-cosine
ramps; onset to offset lasts under 500 ms and the largest landmark
displacement at the apex is a few pixels (``amplitude_px``, in output pixels).
A No-ME clip holds no expression.  Every clip has what a real recording has:
head jitter (smooth sub-pixel-to-pixel drift and roll), blinks (likelier in
No-ME clips, so a blink alone never signals an emotion), lighting flicker,
sensor noise and H.264 compression.

Ground truth goes to the manifest (onset, apex, offset, emotion, AUs) and to
a ``*.landmarks.npy`` file per clip with the ``(T, 68, 2)`` landmark positions
in output pixels.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.io.atomic import atomic_path, write_json_atomic
from mextk.io.manifest import COLUMNS, coerce_manifest, save_manifest
from mextk.io.writer import write_video
from mextk.synth.face import AU_CODES, EMOTION_AUS, FaceRenderer, Subject, au_field, blink_field, make_subject

#: CMED's class counts (Table II): the ``"cmed"`` class proportions.
CMED_CLASS_COUNTS: dict[str, int] = {
    "anger": 114,
    "disgust": 105,
    "fear": 19,
    "sadness": 42,
    "happiness": 4855,
    "surprise": 351,
    "no_me": 5438,
}
DEFAULT_CLASSES = ("anger", "disgust", "fear", "sadness", "happiness", "surprise", "no_me")


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to render one clip (deterministic given these fields).

    Attributes
    ----------
    subject_seed : int
        Identity seed of the subject.
    seed : int
        Seed of the clip's own randomness (timing, jitter, noise).
    emotion : str
        An emotion of :data:`~mextk.synth.face.EMOTION_AUS` or ``"no_me"``.
    size : int
        Output width and height in pixels (even).
    fps : float
        Frame rate.
    amplitude_px : float
        Largest landmark displacement at the apex, in output pixels.
    noise_std : float
        Standard deviation of the sensor noise, in 8-bit levels.
    crf : int
        H.264 quality (higher = more compression).
    """

    subject_seed: int
    seed: int
    emotion: str
    size: int = 160
    fps: float = 25.0
    amplitude_px: float = 2.5
    noise_std: float = 1.5
    crf: int = 23


@dataclass
class RenderedClip:
    """A rendered clip and its ground truth."""

    frames: np.ndarray  # (T, H, W, 3) uint8
    landmarks: np.ndarray  # (T, 68, 2) float32, output pixels
    onset: int | None
    apex: int | None
    offset: int | None
    emotion: str
    aus: str
    blinks: list[int] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def expression_profile(n_frames: int, onset: int, apex: int, offset: int) -> np.ndarray:
    """Intensity of an expression per frame: 0 at onset, 1 at apex, 0 at offset.

    Raised-cosine ramps, zero outside ``[onset, offset]``.

    Examples
    --------
    >>> expression_profile(7, 1, 3, 5).round(2).tolist()
    [0.0, 0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    """
    if not 0 <= onset < apex < offset < n_frames:
        raise ValueError(f"need 0 <= onset < apex < offset < n_frames, got {onset}, {apex}, {offset}, {n_frames}")
    t = np.arange(n_frames, dtype=np.float64)
    prof = np.zeros(n_frames)
    rise = (t > onset) & (t <= apex)
    prof[rise] = 0.5 * (1 - np.cos(np.pi * (t[rise] - onset) / (apex - onset)))
    fall = (t > apex) & (t < offset)
    prof[fall] = 0.5 * (1 + np.cos(np.pi * (t[fall] - apex) / (offset - apex)))
    return prof


def smooth_noise(rng: np.random.Generator, n: int, std: float, corr: float = 0.85, dims: int = 1) -> np.ndarray:
    """A smooth random walk-like signal: AR(1) noise with stationary standard deviation ``std``."""
    out = np.zeros((n, dims))
    innov = std * np.sqrt(1 - corr**2)
    state = rng.normal(0, std, dims)
    for i in range(n):
        state = corr * state + rng.normal(0, innov, dims)
        out[i] = state
    return out if dims > 1 else out[:, 0]


@lru_cache(maxsize=16)
def cached_subject(seed: int) -> Subject:
    """:func:`make_subject`, kept for the last 16 seeds (a subject takes a while to make)."""
    return make_subject(seed)


def render_clip(spec: ClipSpec) -> RenderedClip:
    """Render one clip from its specification.

    Timing at 25 fps: 4-10 neutral frames before the onset and after the
    offset; onset to offset lasts 6-12 frames (240-480 ms, under the 500 ms
    that defines a micro-expression) and the apex falls 35-65% of the way.
    Other frame rates scale these durations.

    Returns
    -------
    RenderedClip
    """
    if spec.emotion != "no_me" and spec.emotion not in EMOTION_AUS:
        raise ValueError(
            f"cannot synthesise emotion {spec.emotion!r}; choose from {', '.join([*EMOTION_AUS, 'no_me'])}"
        )
    if spec.size % 2 or spec.size < 32:
        raise ValueError(f"clip size must be even and >= 32, got {spec.size}")
    subject = cached_subject(spec.subject_seed)
    rng = np.random.default_rng(np.random.SeedSequence([spec.subject_seed, spec.seed, 0xC11]))
    ms = spec.fps / 1000.0  # frames per millisecond
    lead = int(rng.integers(max(2, round(160 * ms)), max(3, round(400 * ms)) + 1))
    tail = int(rng.integers(max(2, round(160 * ms)), max(3, round(400 * ms)) + 1))
    max_span = max(4, int(np.floor(0.5 * spec.fps - 1e-9)))  # offset - onset < 0.5 s
    span = int(rng.integers(min(max(4, round(240 * ms)), max_span), max_span + 1))
    n_frames = lead + span + tail + 1
    onset, offset = lead, lead + span
    apex = onset + int(np.clip(round(span * rng.uniform(0.35, 0.65)), 1, span - 1))

    crop_factor = rng.uniform(1.6, 1.9) * subject.distance
    scale = spec.size / (subject.face_width * crop_factor)
    centre = subject.face_centre + rng.normal(0, 0.04, 2) * subject.face_width
    renderer = FaceRenderer(subject, out_size=(spec.size, spec.size), centre=centre, scale=scale)

    lm = subject.landmarks
    displacement_unit = np.zeros((68, 2))
    aus = ""
    profile = np.zeros(n_frames)
    if spec.emotion != "no_me":
        names = EMOTION_AUS[spec.emotion]
        weights = {au: float(rng.uniform(0.6, 1.0)) for au in names}
        field_ = au_field(lm, weights)
        peak = np.max(np.hypot(field_[:, 0], field_[:, 1]))
        displacement_unit = field_ / peak * (spec.amplitude_px / scale)  # subject pixels at apex
        aus = "+".join(AU_CODES[a] for a in names)
        profile = expression_profile(n_frames, onset, apex, offset)

    # Blinks: ~110-160 ms closures.  Likelier in No-ME clips; in ME clips kept away from the expression.
    blink_profile = np.zeros(n_frames)
    blinks: list[int] = []
    p_blink = 0.6 if spec.emotion == "no_me" else 0.2
    if rng.random() < p_blink:
        shape = np.array([0.5, 1.0, 0.7, 0.3])
        if spec.emotion == "no_me":
            start = int(rng.integers(0, max(1, n_frames - len(shape))))
        else:
            choices = [s for s in range(n_frames - len(shape)) if s + len(shape) <= onset or s > offset]
            start = int(rng.choice(choices)) if choices else -1
        if start >= 0:
            blink_profile[start : start + len(shape)] = shape[: n_frames - start]
            blinks.append(start + 1)
    blink_disp = blink_field(lm, closure=float(rng.uniform(0.75, 0.95)))

    jitter_px = rng.uniform(0.3, 0.8) if spec.emotion != "no_me" else rng.uniform(0.4, 1.2)
    shifts = smooth_noise(rng, n_frames, jitter_px / scale, dims=2)
    angles = smooth_noise(rng, n_frames, np.deg2rad(0.3))
    zooms = 1 + smooth_noise(rng, n_frames, 0.003)
    gains = 1 + smooth_noise(rng, n_frames, 0.01, corr=0.7)

    frames = np.empty((n_frames, spec.size, spec.size, 3), np.uint8)
    landmarks = np.empty((n_frames, 68, 2), np.float32)
    for t in range(n_frames):
        disp = profile[t] * displacement_unit + blink_profile[t] * blink_disp
        frame, out_lm = renderer.render(disp, shift=shifts[t], angle=angles[t], zoom=zooms[t], gain=gains[t])
        frame += rng.normal(0, spec.noise_std, frame.shape).astype(np.float32)
        frames[t] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
        landmarks[t] = out_lm
    has_me = spec.emotion != "no_me"
    return RenderedClip(
        frames,
        landmarks,
        onset,
        apex if has_me else None,
        offset,
        spec.emotion,
        aus,
        blinks,
        {"crop_factor": round(float(crop_factor), 4), "jitter_px": round(float(jitter_px), 4)},
    )


@dataclass(frozen=True)
class SynthConfig:
    """Settings of a synthetic dataset.

    Attributes
    ----------
    n_subjects : int
        Number of distinct subjects.
    clips_per_subject : int
        Clips per subject.
    classes : tuple of str
        Emotions to generate (``no_me`` for clips without expression).
    proportions : str or dict
        ``"balanced"``, ``"cmed"`` (CMED Table II's shares; every class still
        gets at least one clip) or ``{class: weight}``.
    size : int
        Frame width and height (112-300 is typical; even).
    fps : float
        Frame rate.
    amplitude_px : (float, float)
        Range of the apex displacement in output pixels.
    noise_std : (float, float)
        Range of sensor noise.
    crf : int
        H.264 constant rate factor.
    seed : int
        Master seed: everything is deterministic given the config.
    """

    n_subjects: int = 8
    clips_per_subject: int = 14
    classes: tuple[str, ...] = DEFAULT_CLASSES
    proportions: str | Mapping[str, float] = "balanced"
    size: int = 160
    fps: float = 25.0
    amplitude_px: tuple[float, float] = (2.0, 4.0)
    noise_std: tuple[float, float] = (1.0, 2.5)
    crf: int = 23
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = asdict(self)
        d["classes"] = list(self.classes)
        d["amplitude_px"] = list(self.amplitude_px)
        d["noise_std"] = list(self.noise_std)
        d["proportions"] = self.proportions if isinstance(self.proportions, str) else dict(self.proportions)
        return d


def class_allocation(n: int, classes: tuple[str, ...], proportions: str | Mapping[str, float]) -> dict[str, int]:
    """Split ``n`` clips over ``classes`` by the largest-remainder method, at least one each.

    Examples
    --------
    >>> class_allocation(10, ("happiness", "fear", "no_me"), "cmed")
    {'happiness': 4, 'fear': 1, 'no_me': 5}
    """
    if n < len(classes):
        raise ValueError(f"{n} clips cannot cover {len(classes)} classes")
    if proportions == "balanced":
        weights = {c: 1.0 for c in classes}
    elif proportions == "cmed":
        missing = [c for c in classes if c not in CMED_CLASS_COUNTS]
        if missing:
            raise ValueError(f"CMED proportions know no class {missing}")
        weights = {c: float(CMED_CLASS_COUNTS[c]) for c in classes}
    elif isinstance(proportions, Mapping):
        unknown = [c for c in proportions if c not in classes]
        if unknown:
            raise ValueError(f"proportions name classes not generated: {unknown}")
        weights = {c: float(proportions.get(c, 0.0)) for c in classes}
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError("proportions must be non-negative with a positive sum")
    else:
        raise ValueError(f"proportions must be 'balanced', 'cmed' or a mapping, got {proportions!r}")
    alloc = {c: 1 for c in classes}
    rest = n - len(classes)
    total = sum(weights.values())
    quotas = {c: rest * weights[c] / total for c in classes}
    for c in classes:
        alloc[c] += int(np.floor(quotas[c]))
    left = n - sum(alloc.values())
    order = sorted(classes, key=lambda c: (-(quotas[c] - np.floor(quotas[c])), classes.index(c)))
    for c in order[:left]:
        alloc[c] += 1
    return alloc


def plan_dataset(config: SynthConfig) -> list[dict[str, Any]]:
    """The rows (without rendering) of a synthetic dataset, deterministic given ``config``."""
    for c in config.classes:
        if c != "no_me" and c not in EMOTION_AUS:
            raise ValueError(f"cannot synthesise class {c!r}; choose from {', '.join([*EMOTION_AUS, 'no_me'])}")
    if config.n_subjects < 1 or config.clips_per_subject < 1:
        raise ValueError("n_subjects and clips_per_subject must be >= 1")
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0xDA7A]))
    n = config.n_subjects * config.clips_per_subject
    alloc = class_allocation(n, tuple(config.classes), config.proportions)
    labels = [c for c in config.classes for _ in range(alloc[c])]
    labels = [labels[i] for i in rng.permutation(n)]
    subject_seeds = [int(s) for s in rng.choice(np.arange(1, 10_000), size=config.n_subjects, replace=False)]
    rows = []
    for k, emotion in enumerate(labels):
        s = k % config.n_subjects
        subject = f"s{s + 1:02d}"
        sample_id = f"{subject}_{k // config.n_subjects + 1:03d}"
        rows.append(
            {
                "subject": subject,
                "sample_id": sample_id,
                "spec": ClipSpec(
                    subject_seed=subject_seeds[s],
                    seed=int(rng.integers(0, 2**31 - 1)),
                    emotion=emotion,
                    size=config.size,
                    fps=config.fps,
                    amplitude_px=round(float(rng.uniform(*config.amplitude_px)), 3),
                    noise_std=round(float(rng.uniform(*config.noise_std)), 3),
                    crf=config.crf,
                ),
            }
        )
    return rows


def _clip_files(sample_id: str, subject: str) -> tuple[Path, Path, Path]:
    folder = Path("clips") / subject
    return folder / f"{sample_id}.mp4", folder / f"{sample_id}.landmarks.npy", folder / f"{sample_id}.json"


def _rendered(out: Path, sample_id: str, subject: str, spec: ClipSpec) -> dict[str, Any] | None:
    """The manifest row of a clip an earlier run finished with the same spec, else ``None``."""
    video_rel, lm_rel, meta_rel = _clip_files(sample_id, subject)
    meta_path = out / meta_rel
    if meta_path.exists() and (out / video_rel).exists() and (out / lm_rel).exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("spec") == asdict(spec):
            return meta["row"]
    return None


def _render_to_disk(out_dir: str, sample_id: str, subject: str, spec: ClipSpec) -> dict[str, Any]:
    out = Path(out_dir)
    video_rel, lm_rel, meta_rel = _clip_files(sample_id, subject)
    meta_path = out / meta_rel
    done = _rendered(out, sample_id, subject, spec)
    if done is not None:
        return done  # finished in an earlier run
    clip = render_clip(spec)
    write_video(out / video_rel, clip.frames, fps=spec.fps, crf=spec.crf)
    with atomic_path(out / lm_rel) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, clip.landmarks)
    row = {
        "dataset": "synth",
        "subject": subject,
        "sample_id": sample_id,
        "path": video_rel.as_posix(),
        "fps": spec.fps,
        "n_frames": int(len(clip.frames)),
        "onset": clip.onset,
        "apex": clip.apex,
        "offset": clip.offset,
        "emotion": clip.emotion,
        "aus": clip.aus,
        "landmarks": lm_rel.as_posix(),
        "subject_seed": spec.subject_seed,
        "clip_seed": spec.seed,
        "amplitude_px": spec.amplitude_px,
        "noise_std": spec.noise_std,
        "blink_frames": " ".join(str(b) for b in clip.blinks),
        "crop_factor": clip.meta["crop_factor"],
    }
    # The marker is written last: a clip counts as done only when all its files exist.
    write_json_atomic(meta_path, {"spec": asdict(spec), "row": row})
    return row


def synthesize_dataset(
    out_dir: str | os.PathLike[str],
    config: SynthConfig = SynthConfig(),
    *,
    jobs: int = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """Render a synthetic dataset: clips, landmark files and ``manifest.csv``.

    An interrupted run resumes: clips finished earlier (with a matching
    specification) are not rendered again.  Files appear atomically.

    Parameters
    ----------
    out_dir : path-like
        Output folder; ``out_dir/manifest.csv`` is written last.
    config : SynthConfig
        What to generate.
    jobs : int
        Worker processes.
    progress : bool
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        The manifest.
    """
    plan = plan_dataset(config)  # validates the settings before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "synth.json"
    if cfg_path.exists():
        old = json.loads(cfg_path.read_text())
        if old != config.to_dict():
            raise FileExistsError(
                f"{out}: holds a synthetic dataset made with other settings ({cfg_path}); choose another folder"
            )
    write_json_atomic(cfg_path, config.to_dict())
    rows: list[dict[str, Any]] = [{}] * len(plan)
    from rich.progress import Progress

    cached = sum(_rendered(out, it["sample_id"], it["subject"], it["spec"]) is not None for it in plan)
    label = "synthesising clips" + (f" ({cached} cached)" if cached else "")
    if progress and cached == len(plan):
        from rich.console import Console

        Console(stderr=True).print(f"synthetic clips: {cached} cached", highlight=False)
    with Progress(disable=not progress or cached == len(plan), transient=False) as bar:
        task = bar.add_task(label, total=len(plan), completed=0)
        if jobs <= 1:
            for i, item in enumerate(plan):
                rows[i] = _render_to_disk(str(out), item["sample_id"], item["subject"], item["spec"])
                bar.advance(task)
        else:
            from mextk.workers import worker_pool

            with worker_pool(jobs) as pool:
                futures = {
                    pool.submit(_render_to_disk, str(out), it["sample_id"], it["subject"], it["spec"]): i
                    for i, it in enumerate(plan)
                }
                from concurrent.futures import as_completed

                for fut in as_completed(futures):
                    rows[futures[fut]] = fut.result()
                    bar.advance(task)
    df = pd.DataFrame(rows)
    df = df[[*COLUMNS, *[c for c in df.columns if c not in COLUMNS]]]
    df.attrs["root"] = str(out.resolve())
    df.attrs["source"] = str(out / "manifest.csv")
    save_manifest(df, out / "manifest.csv")
    return coerce_manifest(df)
