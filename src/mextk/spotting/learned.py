"""The learned spotter: a per-frame expression score, trained leave-one-subject-out, then peaks and intervals.

Two models (``model``):

* ``boosting`` (default): gradient-boosted trees (scikit-learn's
  ``HistGradientBoostingClassifier``) on each frame's region motion, the
  training-free spotter's own measurements (:mod:`mextk.spotting.motion`):
  for every scale ``k`` and region, ``M_k(t)``, ``M_k(t + k)``, ``M_2k(t + k)``
  and the transient score, each divided by its median over the video (so the
  features do not depend on a video's resolution or noise).  Three classes per
  frame: inside a micro-expression, inside a macro-expression, neither.  Trees
  learn from the few hundred expression frames a dataset has, where a CNN
  from scratch does not (measured: on the synthetic long videos SOFTNet
  scored at the level of randomly placed intervals, see the README).
* ``softnet``: SOFTNet (Liong, See and Wong, ICIP 2021) as published: for every
  frame ``t`` (at most ``rate_hz`` frames per second), the optical flow from the
  aligned face at ``t`` to ``t + k`` (``u``, ``v``, optical strain; DIS flow, the
  nose bridge's flow subtracted), ``size`` x ``size``, with ``k`` =
  ``micro_k_s`` (0.2 s; SOFTNet's 6 frames at 30 fps) or ``macro_k_s`` (0.6 s;
  18 frames), one :class:`mextk.models.softnet.SOFTNet` per type, mean squared
  error against SOFTNet's pseudo-labels (``y(t) = 1`` when ``[t, t + k]``
  shares a frame with an interval of the type), Adam, each channel scaled by
  its spread in the training frames.

Both: non-expression frames far outnumber the rest, so each fold keeps every
expression frame and ``negatives_per_positive`` times as many others, drawn at
random (seeded).  Leave-one-subject-out: the model that scores a person's
videos never saw that person; each fold's scores are saved as it finishes, so
a killed run resumes at the next fold.

Spotting: a type's scores are smoothed by a moving average over ``2k + 1``
frames; peaks at least ``k`` apart, above ``mean + p (max - mean)`` of the
video's smoothed scores (SOFTNet's threshold, ``p`` = 0.55) and above
``min_score`` (an absolute floor, so a video without expressions need not
yield any; a careful addition to SOFTNet) are kept.  ``boosting``: the
interval is the run of frames around the peak whose smoothed score stays above
half the peak's (so a macro-expression's length comes from the data), at most
0.5 s for a micro-expression.  ``softnet``: since ``y(t)`` marks windows that
*start* up to ``k`` before an interval, a peak at ``t`` proposes
``[t + k/2 - k, t + k/2 + k]``.  Micro and macro proposals overlapping by half
of the shorter one keep the higher score.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.intervals import megc_threshold, moving_average, peak_frames, suppress
from mextk.spotting.baseline import SpotterSettings
from mextk.spotting.motion import EXPRESSION_REGIONS, EYE_REGIONS, REFERENCE, MotionSettings, aligned_faces

KINDS: tuple[str, ...] = ("micro", "macro")


@dataclass(frozen=True)
class LearnedSettings:
    """Settings of the learned spotter (see the module docstring).

    Attributes
    ----------
    model : {"boosting", "softnet"}
        Gradient-boosted trees on region motion, or SOFTNet on flow images.
    micro_k_s, macro_k_s : float
        ``k`` of each type, seconds (smoothing; SOFTNet's flow span).
    macro_scales_s : tuple of float
        ``boosting``: the macro scales of the region-motion features, seconds.
    rate_hz : float
        Frames per second used at most.
    size : int
        Side of the network input, pixels.
    epochs, batch_size : int
    lr : float
        Adam learning rate.
    negatives_per_positive : float
        Non-expression frames kept per expression frame in training.
    p : float
        Threshold factor: ``mean + p (max - mean)`` of a video's smoothed scores.
    min_score : float
        Least smoothed score of a peak.
    overlap : float
        Share of the shorter interval above which the lower-scored of two proposals is dropped.
    motion : MotionSettings
        Face alignment and flow.
    """

    model: str = "boosting"
    micro_k_s: float = 0.2
    macro_k_s: float = 0.6
    macro_scales_s: tuple[float, ...] = (0.5, 1.0, 1.5)
    rate_hz: float = 30.0
    size: int = 42
    epochs: int = 10
    batch_size: int = 48
    lr: float = 5e-4
    negatives_per_positive: float = 3.0
    p: float = 0.55
    min_score: float = 0.25
    overlap: float = 0.5
    motion: MotionSettings = field(default_factory=MotionSettings)

    def ks(self, fps: float) -> dict[str, int]:
        """``k`` in frames per type at ``fps``."""
        return {"micro": max(1, round(self.micro_k_s * fps)), "macro": max(1, round(self.macro_k_s * fps))}

    def step(self, fps: float) -> int:
        """Frames between the frames used."""
        return max(1, round(fps / self.rate_hz))

    def __post_init__(self) -> None:
        if self.model not in ("boosting", "softnet"):
            raise ValueError(f"model must be 'boosting' or 'softnet', got {self.model!r}")

    def regions(self) -> SpotterSettings:
        """The region-motion measurement that ``boosting`` learns from."""
        return SpotterSettings(micro_k_s=self.micro_k_s, macro_k_s=self.macro_scales_s, motion=self.motion)

    @property
    def feature_kind(self) -> str:
        """The feature cache kind of this spotter's per-video features."""
        return "region_motion" if self.model == "boosting" else "spot_flow"

    def feature_params(self, fps: float) -> dict[str, Any]:
        """What the per-video features depend on at ``fps``."""
        if self.model == "boosting":
            return self.regions().feature_params(fps)
        return {"k": self.ks(fps), "step": self.step(fps), "size": self.size, **asdict(self.motion)}

    def compute_video(self, path: str | os.PathLike[str], fps: float) -> dict[str, np.ndarray]:
        """One video's features, streamed: region motion (``boosting``) or flow images (``softnet``)."""
        from mextk.io.video import iter_frames

        if self.model == "boosting":
            return self.regions().compute_video(path, fps)
        faces = aligned_faces(iter_frames(path, gray=True), fps, self.motion)
        return flow_images(faces, self.ks(fps), self.step(fps), self)


def flow_images(faces: Any, ks: dict[str, int], step: int, settings: LearnedSettings) -> dict[str, np.ndarray]:
    """``u, v, strain`` images from every ``step``-th frame ``t`` to ``t + k``, per type.

    Returns ``n_frames``, and per type ``TYPE`` ``(n, 3, size, size)`` ``float16`` and ``TYPE_index``
    (the frames ``t`` they start at: those where both faces were found).
    """
    import cv2

    from mextk.features.flow import optical_strain

    dis = cv2.DISOpticalFlow_create({"ultrafast": 0, "fast": 1, "medium": 2}[settings.motion.flow_preset])
    crop = settings.motion.crop
    x0, y0, x1, y1 = (int(round(v * crop)) for v in REFERENCE)
    depth = max(ks.values()) + 1
    ring: list[np.ndarray | None] = [None] * depth
    feats: dict[str, dict[int, np.ndarray]] = {kind: {} for kind in ks}
    n = 0
    for t2, img in enumerate(faces):
        n = t2 + 1
        ring[t2 % depth] = img
        for kind, k in ks.items():
            t = t2 - k
            if t < 0 or t % step or img is None or ring[t % depth] is None:
                continue
            f = dis.calc(ring[t % depth], img, None)
            f -= np.median(f[y0:y1, x0:x1].reshape(-1, 2), axis=0)
            chans = np.dstack([f, optical_strain(f)])
            small = cv2.resize(chans, (settings.size, settings.size), interpolation=cv2.INTER_AREA)
            feats[kind][t] = np.transpose(small, (2, 0, 1)).astype(np.float16)
    out: dict[str, np.ndarray] = {"n_frames": np.array(n)}
    for kind, by_t in feats.items():
        index = np.array(sorted(by_t), dtype=np.int64)
        out[f"{kind}_index"] = index
        empty = np.zeros((0, 3, settings.size, settings.size), np.float16)
        out[kind] = np.stack([by_t[t] for t in index]) if len(index) else empty
    if not any(len(out[f"{kind}_index"]) for kind in ks):
        raise ValueError(f"no face found on enough frames ({n} frames read)")
    return out


def pseudo_labels(index: np.ndarray, k: int, intervals: list[tuple[int, int]]) -> np.ndarray:
    """SOFTNet's labels: 1 where the window ``[t, t + k]`` shares a frame with an interval.

    Examples
    --------
    >>> pseudo_labels(np.arange(0, 20, 2), 3, [(10, 12)]).tolist()
    [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    """
    y = np.zeros(len(index), np.float32)
    for on, off in intervals:
        y[(index + k >= on) & (index <= off)] = 1.0
    return y


def smooth_scores(index: np.ndarray, scores: np.ndarray, n_frames: int, k: int) -> np.ndarray:
    """Per-frame scores: the used frames' scores spread to every frame, then averaged over ``2k + 1`` frames."""
    full = np.full(n_frames, np.nan)
    if len(index):
        full = np.interp(np.arange(n_frames), index, scores, left=np.nan, right=np.nan)
    return moving_average(full, 2 * k + 1, fill=True)


def peaks_to_intervals(smoothed: np.ndarray, k: int, kind: str, settings: LearnedSettings) -> list[dict[str, Any]]:
    """Proposals from one video's smoothed scores (see the module docstring)."""
    height = megc_threshold(smoothed, settings.p, floor=settings.min_score)
    if height is None:
        return []
    peaks = peak_frames(smoothed, height=height, distance=k)
    n = len(smoothed)
    out = []
    for p in peaks:
        centre = int(p) + k // 2
        out.append(
            {
                "onset": int(max(0, centre - k)),
                "apex": int(min(n - 1, centre)),
                "offset": int(min(n - 1, centre + k)),
                "type": kind,
                "score": float(smoothed[p]),
            }
        )
    return out


def _train(x: np.ndarray, y: np.ndarray, settings: LearnedSettings, size: int, seed: int) -> Any:
    import torch

    from mextk.models.softnet import SOFTNet

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = SOFTNet(size=size)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    xt = torch.from_numpy(x.astype(np.float32))
    yt = torch.from_numpy(y)
    model.train()
    for _ in range(settings.epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(order), settings.batch_size):
            b = order[i : i + settings.batch_size]
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(xt[b]), yt[b])
            loss.backward()
            opt.step()
    model.eval()
    return model


def _predict(model: Any, x: np.ndarray) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(x), 512):
            out.append(model(torch.from_numpy(x[i : i + 512].astype(np.float32))).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    """``x[t + k]`` at ``t`` (``nan`` past the end)."""
    out = np.full_like(x, np.nan, dtype=np.float64)
    if k < len(x):
        out[: len(x) - k] = x[k:]
    return out


def region_features(arrays: dict[str, np.ndarray], settings: LearnedSettings) -> np.ndarray:
    """``boosting``'s per-frame features ``(T, F)`` from a video's cached region motion (module docstring)."""
    sig = SpotterSettings.signals(arrays)
    names = list(EXPRESSION_REGIONS + EYE_REGIONS)
    from mextk.spotting.motion import REGIONS

    cols = [list(REGIONS).index(r) for r in names]
    blocks = []
    for _, k in settings.regions().half_widths(sig.fps):
        here = sig.motion[:, sig.scales.index(k), cols].astype(np.float64)
        after = _shift(here, k)
        back = _shift(sig.motion[:, sig.scales.index(2 * k), cols].astype(np.float64), k)
        blocks += [here, after, back, np.minimum(here, after) - back]
    x = np.concatenate(blocks, axis=1)
    with np.errstate(invalid="ignore"):
        scale = np.nanmedian(np.abs(x), axis=0)
    return (x / np.where(np.isfinite(scale) & (scale > 1e-6), scale, 1.0)).astype(np.float32)


def run_interval(smoothed: np.ndarray, peak: int, max_span: int | None) -> tuple[int, int]:
    """The frames around ``peak`` whose score stays at or above half the peak's, at most ``max_span`` apart.

    Examples
    --------
    >>> run_interval(np.array([0, 0.2, 0.6, 1.0, 0.7, 0.4, 0.1]), 3, None)
    (2, 4)
    """
    half = 0.5 * smoothed[peak]
    lo = hi = peak
    while lo > 0 and smoothed[lo - 1] >= half:
        lo -= 1
    while hi < len(smoothed) - 1 and smoothed[hi + 1] >= half:
        hi += 1
    if max_span is not None and hi - lo > max_span:
        lo = max(lo, peak - max_span // 2)
        hi = min(hi, lo + max_span)
    return int(lo), int(hi)


def _fit_boosting(train: list[dict[str, Any]], settings: LearnedSettings, seed: int) -> Any:
    """The boosted trees fitted on ``train``'s frames (every expression frame, and ``negatives_per_positive``
    times as many others drawn with ``seed``)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.concatenate([d["x"] for d in train])
    y = np.concatenate([d["y"] for d in train])
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y > 0), np.flatnonzero(y == 0)
    n_neg = min(len(neg), max(1, int(round(settings.negatives_per_positive * max(1, len(pos))))))
    keep = np.sort(np.concatenate([pos, rng.choice(neg, n_neg, replace=False)]))
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, random_state=seed)
    model.fit(x[keep], y[keep])
    return model


def _boosting_scores(model: Any, d: dict[str, Any]) -> dict[str, np.ndarray]:
    proba = np.zeros((len(d["x"]), 3))
    proba[:, model.classes_] = model.predict_proba(d["x"])
    return {"micro": proba[:, 1], "macro": proba[:, 2]}


def _fit_predict_boosting(
    train: list[dict[str, Any]], test: list[dict[str, Any]], settings: LearnedSettings, seed: int
) -> list[dict[str, np.ndarray]]:
    model = _fit_boosting(train, settings, seed)
    return [_boosting_scores(model, d) for d in test]


def _fit_predict_softnet(
    train: list[dict[str, Any]], test: list[dict[str, Any]], settings: LearnedSettings, seed: int
) -> list[dict[str, np.ndarray]]:
    out: list[dict[str, np.ndarray]] = [{} for _ in test]
    for m, kind in enumerate(KINDS):
        x = np.concatenate([d[kind] for d in train])
        y = np.concatenate([d[f"y_{kind}"] for d in train])
        rng = np.random.default_rng([seed, m])
        pos, neg = np.flatnonzero(y > 0), np.flatnonzero(y == 0)
        n_neg = min(len(neg), max(1, int(round(settings.negatives_per_positive * max(1, len(pos))))))
        keep = np.sort(np.concatenate([pos, rng.choice(neg, n_neg, replace=False)]))
        # each channel scaled by its spread in the training frames (the test person's are not used)
        scale = x[keep].astype(np.float32).std(axis=(0, 2, 3), keepdims=True) + 1e-6
        model = _train(x[keep] / scale, y[keep], settings, settings.size, seed * 2 + m)
        for i, d in enumerate(test):
            out[i][kind] = _predict(model, d[kind] / scale)
    return out


def _prepare_video(arrays: dict[str, np.ndarray], spans: dict[str, list], fps: float, settings: LearnedSettings):
    """A video's training inputs and labels for the chosen model."""
    if settings.model == "boosting":
        x = region_features(arrays, settings)
        y = np.zeros(len(x), np.int64)
        for code, kind in ((1, "micro"), (2, "macro")):
            for on, off in spans[kind]:
                y[on : off + 1] = code
        return {"x": x, "y": y, "n_frames": len(x), "index": {kind: np.arange(len(x)) for kind in KINDS}}
    ks = settings.ks(fps)
    d: dict[str, Any] = {"n_frames": int(arrays["n_frames"]), "index": {}}
    for kind in KINDS:
        d[kind] = arrays[kind]
        d["index"][kind] = arrays[f"{kind}_index"]
        d[f"y_{kind}"] = pseudo_labels(arrays[f"{kind}_index"], ks[kind], spans[kind])
    return d


def _intervals(d: dict[str, Any], scores: dict[str, np.ndarray], fps: float, settings: LearnedSettings):
    ks = settings.ks(fps)
    candidates = []
    for kind in KINDS:
        k = ks[kind]
        smoothed = smooth_scores(d["index"][kind], scores[kind], d["n_frames"], k)
        if settings.model == "softnet":
            candidates += peaks_to_intervals(smoothed, k, kind, settings)
            continue
        height = megc_threshold(smoothed, settings.p, floor=settings.min_score)
        if height is None:
            continue
        filled = np.nan_to_num(smoothed, nan=0.0)
        peaks = peak_frames(smoothed, height=height, distance=k)
        max_span = max(1, int(np.floor(0.5 * fps - 1e-9))) if kind == "micro" else None
        for p in peaks:
            lo, hi = run_interval(filled, int(p), max_span)
            candidates.append({"onset": lo, "apex": int(p), "offset": hi, "type": kind, "score": float(smoothed[p])})
    return suppress(candidates, settings.overlap)


def spot_learned(
    truth: pd.DataFrame,
    videos: pd.DataFrame,
    feature_root: str | os.PathLike[str],
    settings: LearnedSettings,
    *,
    out: str | os.PathLike[str],
    seed: int = 0,
    progress: bool = True,
) -> dict[str, list[dict[str, Any]]]:
    """Leave-one-subject-out: for each person, train on the others' videos and spot in theirs.

    ``truth`` is the long-video manifest (its intervals are the training labels), ``videos`` the
    videos whose features are computed.  Each fold's scores go to ``OUT/folds/`` as it finishes.
    Returns ``{video key: intervals}``.
    """
    from rich.progress import Progress

    from mextk.features.cache import safe_file_name
    from mextk.io.atomic import atomic_path
    from mextk.io.manifest import subject_keys
    from mextk.spotting.signals import load_features, video_key

    videos = videos.copy()
    videos["person"] = subject_keys(videos).to_numpy()
    people = list(dict.fromkeys(videos["person"]))
    if len(people) < 2:
        raise ValueError("the learned spotter trains leave-one-subject-out and needs videos of at least 2 people")
    data: dict[str, dict[str, Any]] = {}
    for _, r in videos.iterrows():
        key, fps = video_key(r), float(r["fps"])
        rows = truth[(truth["dataset"] == r["dataset"]) & (truth["video_id"] == r["video_id"]) & truth["onset"].notna()]
        spans = {
            kind: [(int(a), int(b)) for a, b in zip(g["onset"], g["offset"], strict=True)]
            for kind, g in ((kind, rows[rows["type"] == kind]) for kind in KINDS)
        }
        d = _prepare_video(load_features(feature_root, key, settings, fps), spans, fps, settings)
        data[key] = {**d, "person": r["person"], "fps": fps}
    fit_predict = _fit_predict_boosting if settings.model == "boosting" else _fit_predict_softnet
    folds = Path(out) / "folds"
    folds.mkdir(parents=True, exist_ok=True)
    scores: dict[str, dict[str, np.ndarray]] = {}
    with Progress(disable=not progress) as bar:
        task = bar.add_task(f"learned spotter ({settings.model}), leave one subject out", total=len(people))
        for f, person in enumerate(people):
            done = folds / f"{safe_file_name(person)}.npz"
            mine = [k for k, d in data.items() if d["person"] == person]
            if not done.exists():
                train = [d for d in data.values() if d["person"] != person]
                predicted = fit_predict(train, [data[k] for k in mine], settings, seed * 1000 + f)
                flat = {f"{k}|{kind}": p[kind] for k, p in zip(mine, predicted, strict=True) for kind in KINDS}
                with atomic_path(done) as tmp:
                    with open(tmp, "wb") as fh:
                        np.savez(fh, **flat)
            with np.load(done) as saved:
                for k in mine:
                    scores[k] = {kind: saved[f"{k}|{kind}"] for kind in KINDS}
            bar.advance(task)
    if settings.model == "boosting":
        datasets = videos.groupby("dataset").size().to_dict()
        save_spotter_model(Path(out) / "model", _fit_boosting(list(data.values()), settings, seed * 1000 + len(people)),
                           settings, people=people, datasets=datasets)  # fmt: skip
    return {key: _intervals(d, scores[key], d["fps"], settings) for key, d in data.items()}


#: The files of a saved learned spotter (``mextk spot --spotter learned`` writes ``OUT/model/``).
SPOTTER_MODEL = ("spotter.joblib", "spotter.json")


def save_spotter_model(
    folder: str | os.PathLike[str], model: Any, settings: LearnedSettings, *, people: list[str],
    datasets: dict[str, int],
) -> Path:  # fmt: skip
    """Write a learned spotter fitted on every labelled video (weights first, then its description)."""
    import joblib

    from mextk import __version__
    from mextk.io.atomic import atomic_path, write_json_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / SPOTTER_MODEL[0]) as tmp:
        joblib.dump(model, tmp)
    write_json_atomic(folder / SPOTTER_MODEL[1], {
        "spotter": "learned", "mextk_version": __version__, "settings": json.loads(json.dumps(asdict(settings))),
        "trained_on": list(people), "datasets": {str(k): int(v) for k, v in sorted(datasets.items())},
    })  # fmt: skip
    return folder


def load_spotter_model(folder: str | os.PathLike[str]) -> tuple[Any, LearnedSettings, dict[str, Any]]:
    """A learned spotter saved by ``mextk spot --spotter learned`` (its ``OUT/model/``): the fitted trees, their
    settings and the description; a folder that is not one is a one-line error."""
    import joblib

    from mextk.io.atomic import read_json
    from mextk.spotting.settings import with_settings

    folder = Path(folder)
    missing = [name for name in SPOTTER_MODEL if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"{folder}: not a learned spotter (no {', '.join(missing)}; 'mextk spot --spotter learned "
                         "--out DIR' writes one to DIR/model)")  # fmt: skip
    meta = read_json(folder / SPOTTER_MODEL[1], what="learned spotter")
    settings = with_settings(LearnedSettings(), _dotted(meta.get("settings", {})))
    return joblib.load(folder / SPOTTER_MODEL[0]), settings, meta


def _dotted(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in settings.items():
        if isinstance(v, dict):
            out.update(_dotted(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def spot_with_model(model: Any, settings: LearnedSettings, arrays: dict[str, np.ndarray], fps: float):
    """Intervals in one video's cached features (``settings.compute_video``) from a saved learned spotter."""
    d = _prepare_video(arrays, {kind: [] for kind in KINDS}, fps, settings)
    return _intervals(d, _boosting_scores(model, d), fps, settings)
