"""``mextk features KIND MANIFEST --out DIR``: per-sample features over a manifest, cached and resumable.

Each kind is a function from one manifest row to named arrays.  Results go to
the feature cache of ``DESIGN.md`` (``DIR/KIND/PARAMS_HASH/SAMPLE_ID.npz`` with
``params.json``); a sample that fails leaves ``SAMPLE_ID.error`` (one line) and
the batch goes on; an interrupted batch resumes with the samples not yet done;
``index.csv`` lists every sample's status.

Kinds (parameters and defaults in :data:`mextk.features.kinds.KIND_DEFAULTS`, listed by
``mextk features --help``; ``--feature KEY=VALUE`` changes one):

``landmarks``   68 landmarks on every frame (:func:`mextk.faces.landmarks.track_landmarks`),
                arrays ``landmarks (T, 68, 2)`` and ``found (T,)``; long clips are read in
                chunks, so memory does not grow with their length
``frames``      the input of the 3D CNNs and of the apex CNN: ``n`` frames (default 16) sampled
                ``adaptive`` (around onset, apex, offset; :func:`~mextk.features.sampling.adaptive_positions`),
                ``uniform`` (onset to offset) or ``apex`` (one frame), with temporal interpolation for
                short clips; aligned on the onset frame's stable landmarks (``align``: affine,
                similarity or none) and cropped from the onset face box plus ``margin`` to
                ``size`` (224, 160, 112 or 28; :func:`mextk.faces.crop.aligned_crop_matrix`), one
                transform for the whole clip.  Arrays ``x (n, size, size, 3)`` uint8 (``(n, size, size)``
                with ``gray``) and ``positions (n,)``.  Only the frames needed are decoded.
``flow``        the MEGC 3-channel onset-to-apex input (:func:`mextk.features.flow.megc_flow_input`):
                onset and apex aligned and cropped to ``size`` (128) first, then TV-L1 flow and strain,
                array ``x (out_size, out_size, 3)`` (28), ``flow_range (4,)`` (the raw flow's extremes) and,
                when the frames were aligned, ``landmarks (68, 2)``: the onset frame's landmarks in ``x``'s
                pixels (where HTNet's regions go); ``align=none`` with ``size=0`` uses the frames as they are
``motion``      block-averaged Farneback flow from onset to apex (:func:`mextk.features.motion.block_flow_features`),
                the input of the ``motion_svm`` baseline
``graphs``      landmark graphs of the onset, apex and offset frames (:func:`mextk.features.graphs.landmark_graph`),
                arrays ``x, edge_index, pos`` (:func:`mextk.features.graphs.to_pyg` makes a
                ``torch_geometric`` ``Data`` of them)
``lbp_top``     LBP-TOP histograms (:func:`mextk.features.lbp_top.lbp_top`, the reference ``LBPTOP``
                geometry unless ``geometry=clamped``) over the onset, apex and offset frames (CMED's
                choice; ``temporal="clip"`` for every frame from onset to offset) of the aligned face
                crop (``align``, ``size`` 128, ``margin``, as ``flow``), so the 5x5 blocks sit on the
                same parts of every face; array ``x``.  Only those frames are decoded.

No-ME clips have no apex: where one is needed, a frame drawn between onset and
offset stands in for it (CMED section IV-A), seeded by ``seed`` and the sample id.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mextk.features.cache import FeatureCache
from mextk.features.kinds import KIND_DEFAULTS
from mextk.io.atomic import atomic_path
from mextk.workers import worker_pool

CHUNK = 500  # frames read at a time for whole-clip features


def _frame_index(row: dict[str, Any], key: str) -> int | None:
    v = row.get(key)
    return None if v is None or pd.isna(v) else int(v)


def _last_frame(row: dict[str, Any]) -> int:
    """The sample's offset, estimated where the sheet left it unknown (:func:`mextk.features.sampling.last_frame`)."""
    from mextk.features.sampling import last_frame

    keys = ("onset", "apex", "offset")
    return last_frame(int(row["n_frames"]), **{k: _frame_index(row, k) for k in keys})


def _onset_apex(row: dict[str, Any], seed: int) -> tuple[int, int]:
    import zlib

    from mextk.features.sampling import pick_apex

    # a stable per-sample seed (Python's hash() changes from run to run)
    rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(str(row["sample_id"]).encode())]))
    onset = _frame_index(row, "onset") or 0
    apex = pick_apex(
        int(row["n_frames"]),
        onset=_frame_index(row, "onset"),
        apex=_frame_index(row, "apex"),
        offset=_frame_index(row, "offset"),
        rng=rng,
    )
    return onset, apex


def _landmarks(path: Path, row: dict[str, Any], params: dict[str, Any]) -> dict[str, np.ndarray]:
    from mextk.faces.landmarks import track_landmarks
    from mextk.io.video import iter_frames

    parts, found = [], []
    chunk: list[np.ndarray] = []
    for frame in iter_frames(path, gray=True):
        chunk.append(frame)
        if len(chunk) == CHUNK:
            lm, ok = track_landmarks(np.stack(chunk), redetect_every=params["redetect_every"])
            parts.append(lm)
            found.append(ok)
            chunk = []
    if chunk:
        lm, ok = track_landmarks(np.stack(chunk), redetect_every=params["redetect_every"])
        parts.append(lm)
        found.append(ok)
    if not parts:
        raise ValueError("clip has no frames")
    _check_length(row, sum(len(f) for f in found))
    ok_all = np.concatenate(found)
    if not ok_all.any():
        raise ValueError("no face found in any frame")
    return {"landmarks": np.concatenate(parts), "found": ok_all}


def _check_length(row: dict[str, Any], n_read: int) -> None:
    """Refuse a clip whose length disagrees with the manifest's ``n_frames`` (its frame indices would be wrong)."""
    expected = _frame_index(row, "n_frames")
    if expected is not None and expected != n_read:
        raise ValueError(
            f"the manifest says n_frames {expected}, but the clip has {n_read} frames; "
            "correct the manifest (its onset/apex/offset may be off as well)"
        )


def _two_frames(path: Path, row: dict[str, Any], seed: int) -> tuple[np.ndarray, np.ndarray]:
    from mextk.io.video import read_frames

    onset, apex = _onset_apex(row, seed)
    frames = read_frames(path, start=onset, stop=apex + 1, gray=True)
    return frames[0], frames[-1]


def _face_transform(
    frames: dict[int, np.ndarray], onset: int, params: dict[str, Any], size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The aligned-crop matrix of a clip, from the landmarks of its onset frame, and those landmarks in the crop.

    When dlib finds no face in the onset frame, the next frames read (in
    order) are tried, so one blurred onset frame does not lose the sample.
    """
    import cv2

    from mextk.faces.crop import aligned_crop_matrix
    from mextk.faces.landmarks import image_landmarks

    for i in sorted(k for k in frames if k >= onset):
        frame = frames[i]
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        lm = image_landmarks(gray)
        if lm is not None:
            matrix = aligned_crop_matrix(lm, size=size, margin=params["margin"], kind=params["align"])
            return matrix, lm @ matrix[:, :2].T + matrix[:, 2]
    raise ValueError(f"no face found in the onset frame {onset} or the key frames after it")


def _key_frames(
    path: Path,
    row: dict[str, Any],
    params: dict[str, Any],
    positions: np.ndarray,
    onset: int,
    *,
    gray: bool,
    landmarks: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Frames at (fractional) positions, aligned and cropped to ``params['size']`` when asked.

    ``landmarks``, a dict, receives ``"landmarks"``: the onset frame's 68 landmarks in the crop's pixels
    (when the frames are aligned).
    """
    from mextk.faces.crop import align_crop_clip
    from mextk.features.sampling import sample_frames
    from mextk.io.video import read_frames_at

    lo = np.floor(positions).astype(int)
    hi = np.ceil(positions).astype(int)
    needed = sorted({onset, *lo.tolist(), *hi.tolist()})
    # a few frames after the onset in case dlib misses the face there
    extra = [onset + d for d in range(1, 4) if onset + d < int(row["n_frames"])]
    frames = read_frames_at(path, [*needed, *extra], gray=gray)
    index = {k: j for j, k in enumerate(needed)}
    stack = np.stack([frames[k] for k in needed])
    if params["align"] != "none" or params["size"]:
        size = params["size"] or max(stack.shape[1:3])
        matrix, in_crop = _face_transform(frames, onset, params, size)
        stack = align_crop_clip(stack, matrix, size=size)
        if landmarks is not None:
            landmarks["landmarks"] = in_crop
    # positions in the stack: floor and ceil of a position are both in it, next to each other
    rel = np.array([index[a] + (p - a) for p, a in zip(positions, lo, strict=True)])
    return sample_frames(stack, rel)


def _frames(path: Path, row: dict[str, Any], params: dict[str, Any]) -> dict[str, np.ndarray]:
    from mextk.features.sampling import adaptive_positions, uniform_positions

    n_frames = int(row["n_frames"])
    onset, apex = _onset_apex(row, params["seed"])
    offset = _last_frame(row)
    mode = params["sampling"]
    if mode == "uniform":
        positions = uniform_positions(n_frames, params["n"], start=onset, stop=offset)
    elif mode == "adaptive":
        positions = adaptive_positions(onset, max(apex, onset), max(offset, apex), params["n"])
    elif mode == "apex":
        positions = np.array([float(apex)])
    else:
        raise ValueError(f"sampling must be 'uniform', 'adaptive' or 'apex', got {mode!r}")
    x = _key_frames(path, row, params, positions, onset, gray=params["gray"])
    return {"x": x, "positions": positions.astype(np.float32)}


def _flow(path: Path, row: dict[str, Any], params: dict[str, Any]) -> dict[str, np.ndarray]:
    from mextk.features.flow import megc_flow_input

    onset, apex = _onset_apex(row, params["seed"])
    found: dict[str, np.ndarray] = {}
    pair = _key_frames(path, row, params, np.array([float(onset), float(apex)]), onset, gray=True, landmarks=found)
    x, flow_range = megc_flow_input(pair[0], pair[1], size=params["out_size"], with_range=True)
    out = {"x": x, "flow_range": flow_range}
    if "landmarks" in found:  # where HTNet's regions go (mextk.models.regions), in the output's pixels
        scale = params["out_size"] / pair.shape[2]
        out["landmarks"] = ((found["landmarks"] + 0.5) * scale - 0.5).astype(np.float32)
    return out


def _motion(path: Path, row: dict[str, Any], params: dict[str, Any]) -> dict[str, np.ndarray]:
    from mextk.features.motion import block_flow_features

    a, b = _two_frames(path, row, params["seed"])
    return {"x": block_flow_features(a, b, grid=params["grid"], size=params["grid"] * 16)}


def _lbp_top(path: Path, row: dict[str, Any], params: dict[str, Any]) -> dict[str, np.ndarray]:
    """LBP-TOP of the aligned face crop (the same crop as ``frames`` and ``flow``), decoding only the frames used."""
    from mextk.features.lbp_top import lbp_top
    from mextk.io.video import probe_video

    _check_length(row, probe_video(path).n_frames)  # the key frames' indices are only right for the right clip
    onset, apex = _onset_apex(row, params["seed"])
    offset = _last_frame(row)
    apex, offset = max(apex, onset), max(offset, apex, onset)
    if params["temporal"] == "key_frames":
        positions, time_length = np.array([onset, apex, offset], dtype=float), 1
    elif params["temporal"] == "clip":
        positions, time_length = np.arange(onset, offset + 1, dtype=float), None
    else:
        raise ValueError(f"temporal must be 'key_frames' or 'clip', got {params['temporal']!r}")
    volume = _key_frames(path, row, params, positions, onset, gray=True)
    hist = lbp_top(
        volume,
        radius=tuple(params["radius"]),
        n_points=tuple(params["n_points"]),
        time_length=time_length,
        rows=params["rows"],
        cols=params["cols"],
        time_parts=params["time_parts"],
        overlap=params["overlap"],
        mapping=params["mapping"],
        geometry=params["geometry"],
    )
    return {"x": hist}


def _graphs(path: Path, row: dict[str, Any], params: dict[str, Any]) -> dict[str, np.ndarray]:
    from mextk.faces.landmarks import track_landmarks
    from mextk.features.graphs import landmark_graph
    from mextk.io.video import read_frames

    onset, apex = _onset_apex(row, params["seed"])
    offset = _last_frame(row)
    offset = max(offset, apex)
    # Landmarks are tracked from onset to offset rather than detected afresh on each key frame: a new
    # detector box per frame moves the landmarks by about as much as a micro-expression does.
    frames = read_frames(path, start=onset, stop=offset + 1, gray=True)
    lm, found = track_landmarks(frames, redetect_every=params["redetect_every"])
    key = [0, apex - onset, offset - onset]
    if not found[key].all():
        missing = [name for name, k in zip(("onset", "apex", "offset"), key, strict=True) if not found[k]]
        raise ValueError(f"no face in the {', '.join(missing)} frame")
    graph = landmark_graph(lm[key], k=params["k"])
    return {"x": graph.x, "edge_index": graph.edge_index, "pos": graph.pos}


#: kind -> (function, default parameters); the parameters live in :mod:`mextk.features.kinds`
KINDS: dict[str, tuple[Callable[..., dict[str, np.ndarray]], dict[str, Any]]] = {
    kind: (fn, KIND_DEFAULTS[kind])
    for kind, fn in (
        ("landmarks", _landmarks),
        ("frames", _frames),
        ("flow", _flow),
        ("lbp_top", _lbp_top),
        ("graphs", _graphs),
        ("motion", _motion),
    )
}


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["size=64", "radius=[1,1,2]", "align=none"]`` -> a parameter dict (values read as JSON, else text).

    Examples
    --------
    >>> parse_params(["size=64", "radius=[1,1,2]", "align=none", "gray=true"])
    {'size': 64, 'radius': [1, 1, 2], 'align': 'none', 'gray': True}
    """
    import json

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"parameter {item!r} is not KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _sample_path(root: str, row: dict[str, Any]) -> Path:
    p = Path(str(row["path"]))
    return p if p.is_absolute() else Path(root) / p


def sample_fingerprint(path: Path, row: dict[str, Any]) -> str:
    """What a sample's features are computed from: dataset, the clip's size on disk, length and key frames.

    A file's size, or a frame folder's number of images with its first and
    last names and their sizes, tells two clips apart without reading them; the
    path itself is left out, so a dataset folder can be moved without losing its
    cache.
    """
    import hashlib
    import json

    from mextk.io.frame_folder import list_frame_files

    try:
        if path.is_dir():
            files = list_frame_files(path)
            disk: Any = [len(files)] + [[f.name, f.stat().st_size] for f in (files[:1] + files[-1:])]
        else:
            disk = path.stat().st_size
    except OSError:
        disk = None
    key = [str(row.get("dataset", ""))] + [_frame_index(row, k) for k in ("n_frames", "onset", "apex", "offset")]
    return hashlib.sha256(json.dumps([key, disk]).encode()).hexdigest()[:16]


def _one(kind: str, params: dict[str, Any], cache_root: str, root: str, row: dict[str, Any]) -> tuple[str, str | None]:
    fn = KINDS[kind][0]
    cache = FeatureCache(cache_root, kind, params)
    sid = str(row["sample_id"])
    path = _sample_path(root, row)
    fingerprint = sample_fingerprint(path, row)
    try:
        arrays = fn(path, row, params)
    except Exception as exc:  # one bad sample must not stop the batch
        msg = f"sample {sid} ({path}): {exc.__class__.__name__}: {exc}"
        cache.record_error(sid, msg, fingerprint)
        return sid, " ".join(msg.split())
    cache.save(sid, fingerprint, **arrays)
    return sid, None


def extract_features(
    manifest: str | os.PathLike[str] | pd.DataFrame,
    kind: str,
    out_dir: str | os.PathLike[str],
    *,
    jobs: int = 1,
    params: dict[str, Any] | None = None,
    retry_failed: bool = False,
    include_excluded: bool = False,
    progress: bool = True,
    executor: str = "local",
    ray_address: str | None = None,
) -> dict[str, Any]:
    """Compute one kind of feature for every sample of a manifest.

    Clips that review decisions leave out (``kept`` false, or rejected in
    ``review.csv``: :mod:`mextk.io.review`) are skipped and counted, unless
    ``include_excluded``.

    Parameters
    ----------
    manifest : path-like or pandas.DataFrame
        The manifest (validated, files checked), or an already loaded one (``attrs["root"]`` set).
    kind : str
        One of :data:`KINDS`.
    out_dir : path-like
        Cache root.
    jobs : int
        Worker processes (``local``), or CPUs of a local Ray instance (``ray`` without an address).
    params : dict, optional
        Overrides of the kind's parameters (changing any starts a new cache folder).
    retry_failed : bool
        Compute again the samples that failed before.
    include_excluded : bool
        Also compute the clips that review decisions leave out.
    progress : bool
        Show a progress bar.
    executor : {"local", "ray"}
        Compute here (one process, or ``jobs`` worker processes) or as Ray tasks,
        one per sample, on a local Ray or the cluster at ``ray_address``.  Every
        task writes the same cache file a serial run writes, so the cache
        folder must be on a file system every node sees.
    ray_address : str, optional
        Address of a Ray cluster (``ray://host:10001`` or ``auto``).

    Returns
    -------
    dict
        ``{"folder", "done", "cached", "failed": {sample_id: message}, "excluded": {sample_id: reason}}``.
    """
    from rich.progress import track

    from mextk.io.manifest import load_manifest, manifest_root
    from mextk.io.review import apply_review, exclusion_summary

    if kind not in KINDS:
        raise ValueError(f"unknown feature kind {kind!r}; choose one of {', '.join(KINDS)}")
    if executor not in FEATURE_EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(FEATURE_EXECUTORS)}, got {executor!r}")
    merged = {**KINDS[kind][1], **(params or {})}
    unknown = set(params or {}) - set(KINDS[kind][1])
    if unknown:
        raise ValueError(
            f"unknown parameter(s) for {kind}: {', '.join(sorted(unknown))}; it takes {', '.join(KINDS[kind][1])}"
        )
    for key, value in (params or {}).items():
        default = KINDS[kind][1][key]
        ok = isinstance(value, type(default)) or (isinstance(default, float) and isinstance(value, int))
        if not ok or (isinstance(default, int) and isinstance(value, bool) != isinstance(default, bool)):
            raise ValueError(f"parameter {key} of {kind} must be {type(default).__name__}, got {value!r}")
    df = manifest if isinstance(manifest, pd.DataFrame) else load_manifest(manifest)
    df, excluded = apply_review(df, include_excluded=include_excluded)
    if excluded and progress:
        from rich.console import Console

        Console(stderr=True).print(
            f"{kind} features: {exclusion_summary(excluded)}", highlight=False, markup=False, soft_wrap=True
        )
    root = str(manifest_root(df))
    cache = FeatureCache(out_dir, kind, merged)
    rows = df.to_dict("records")
    todo, cached, failed = [], [], {}
    for row in rows:
        sid = str(row["sample_id"])
        fingerprint = sample_fingerprint(_sample_path(root, row), row)
        if cache.has(sid, fingerprint):
            cached.append(sid)
        elif cache.error(sid, fingerprint) and not retry_failed:
            failed[sid] = cache.error(sid) or ""
        else:  # new, failed and retried, or computed from another input (a changed row, another dataset)
            todo.append(row)
    done = []
    label = f"{kind} features" + (f" ({len(cached)} cached)" if cached else "")
    if progress and not todo:
        # no empty 0/0 bar for finished work: say what was found
        from rich.console import Console

        earlier = f", {len(failed)} failed before (--retry-failed computes them again)" if failed else ""
        Console(stderr=True).print(f"{kind} features: {len(cached)} cached{earlier}", highlight=False)
    elif executor == "ray":
        for sid, err in _on_ray(kind, merged, str(out_dir), root, todo, jobs, ray_address, label, progress):
            (failed.__setitem__(sid, err) if err else done.append(sid))
    elif jobs <= 1:
        for row in track(todo, description=label, disable=not progress):
            sid, err = _one(kind, merged, str(out_dir), root, row)
            (failed.__setitem__(sid, err) if err else done.append(sid))
    else:
        from rich.progress import Progress

        with worker_pool(jobs) as pool, Progress(disable=not progress) as bar:
            task = bar.add_task(label, total=len(todo))
            futures = [pool.submit(_one, kind, merged, str(out_dir), root, row) for row in todo]
            for fut in as_completed(futures):
                sid, err = fut.result()
                (failed.__setitem__(sid, err) if err else done.append(sid))
                bar.advance(task)
    index = pd.DataFrame(
        [
            {
                "sample_id": str(r["sample_id"]),
                "file": cache.path(str(r["sample_id"])).name if str(r["sample_id"]) not in failed else "",
                "status": "failed" if str(r["sample_id"]) in failed else "ok",
                "error": failed.get(str(r["sample_id"]), ""),
            }
            for r in rows
        ]
    )
    with atomic_path(cache.folder / "index.csv") as tmp:
        index.to_csv(tmp, index=False)
    return {"folder": cache.folder, "done": done, "cached": cached, "failed": failed, "excluded": excluded}


FEATURE_EXECUTORS = ("local", "ray")


def _on_ray(
    kind: str,
    params: dict[str, Any],
    out_dir: str,
    root: str,
    rows: list[dict[str, Any]],
    jobs: int,
    address: str | None,
    label: str,
    progress: bool,
) -> Iterator[tuple[str, str | None]]:
    """Compute ``rows`` as Ray tasks (one per sample), yielding ``(sample_id, error)`` as they finish."""
    from rich.progress import Progress

    from mextk.raysession import ray_session

    with ray_session(address, num_cpus=jobs) as ray, Progress(disable=not progress) as bar:
        task = bar.add_task(label, total=len(rows))
        remote = ray.remote(num_cpus=1)(_one)
        pending = [remote.remote(kind, params, out_dir, root, row) for row in rows]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                yield ray.get(ref)
                bar.advance(task)


def deflection_from_manifests(
    manifests: list[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    jobs: int = 1,
    exaggerate: float | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """CMED's deflection analysis over one or more manifests (one per dataset, drawn side by side).

    Landmarks come from the ``landmarks`` feature cache in ``out_dir``
    (computed first where missing).  Samples with an onset and an apex and a
    face at both frames take part, grouped by emotion (rows without a label
    form an ``unlabelled`` group); the others are counted as skipped.  Writes
    ``deflection.csv`` and ``deflection.png``; the arrows' lengthening is
    chosen from the data unless ``exaggerate`` is given
    (:func:`mextk.features.deflection.deflection_scale`).
    """
    from mextk.features.deflection import deflection_table, plot_deflection
    from mextk.io.manifest import load_manifest
    from mextk.io.tables import write_table
    from mextk.labels import normalize_label

    onsets, apexes, emotions, datasets = [], [], [], []
    skipped = 0
    without_key_frames = 0
    for manifest in manifests:
        result = extract_features(manifest, "landmarks", out_dir, jobs=jobs, progress=progress)
        cache = FeatureCache(out_dir, "landmarks", KINDS["landmarks"][1])
        df = load_manifest(manifest)
        for row in df.to_dict("records"):
            sid = str(row["sample_id"])
            onset, apex = _frame_index(row, "onset"), _frame_index(row, "apex")
            if onset is None or apex is None:
                without_key_frames += 1
                skipped += 1
                continue
            if sid in result["failed"] or not cache.has(sid):
                skipped += 1
                continue
            data = cache.load(sid)
            if not (data["found"][onset] and data["found"][apex]):
                skipped += 1
                continue
            onsets.append(data["landmarks"][onset])
            apexes.append(data["landmarks"][apex])
            emotions.append(normalize_label(row["emotion"]) if str(row["emotion"]).strip() else "unlabelled")
            datasets.append(str(row["dataset"]))
    if not onsets:
        names = ", ".join(str(m) for m in manifests)
        if without_key_frames == skipped:
            raise ValueError(
                f"{names}: deflection measures onset-to-apex motion, but none of the {skipped} samples has an "
                "onset and an apex (clips from prepare get them when they are labelled)"
            )
        raise ValueError(
            f"{names}: no sample has an onset, an apex and a face at both ({skipped} skipped); nothing to analyse"
        )
    table = deflection_table(np.array(onsets), np.array(apexes), emotions, datasets)
    out = Path(out_dir)
    write_table(table, out, "deflection", floatfmt=".5f")
    figure = plot_deflection(table, out / "deflection.png", exaggerate=exaggerate)
    return {"table": table, "figure": figure, "samples": len(onsets), "skipped": skipped}
