"""Model speed (prints figures; not a test).

    python benchmarks/models.py            # about 25 minutes on 2 cores
    python benchmarks/models.py --full     # also the full runs (about 2 hours)

In one run:

1. per-sample inference latency of VGG-16 (224 px apex frame) against the DGCNN
   (a 126-node key-frame graph), batch of one, CPU;
2. training time per fold of every model at its default input size, measured
   on a few batches of random inputs and scaled to a CMED-sized fold
   (10,776 training samples) and the model's default epochs;
3. the wall time of leave-one-subject-out LBP-TOP + SVM at CMED's scale
   (74 subjects, 10,924 samples with CMED Table V's subject/class counts;
   histograms are LBP-TOP of synthetic clips plus noise, precomputed like a
   reused feature cache), with LIBLINEAR's dual solver (before) and mextk's
   primal one (after), and how many test predictions they share; without
   ``--full`` a sample of folds is timed and scaled to 74;
4. leave-one-subject-out STSTNet on 442 inputs of 28x28x3 from 68 subjects
   (800 epochs, Adam, learning rate 5e-5, full batch): a plain PyTorch loop,
   one fold after another, against mextk's runner (folds in worker processes,
   each training with the fused kernel of :mod:`mextk.models.fused`);
   without ``--full`` both run the same ``--folds`` folds (8) and are scaled
   to 68; both sets of predictions are scored;
5. the same LOSO STSTNet with five seeds (``mextk evaluate --seeds 0-4``: the
   (seed, fold) pairs of all seeds spread over one pool of ``--jobs`` workers)
   against one seed, with the UF1 of each seed, their mean and sd, and the seed
   ensemble's UF1; without ``--full`` the same ``--folds`` folds of every seed
   are timed and scaled to 68 (the issue's target: 5 seeds under 15 minutes).

6. the fused STSTNet kernel's two arithmetics side by side: microseconds per
   sample and epoch in float32 and in bfloat16 (Intel AMX), on one thread and
   on all, 436 inputs, runs alternated and repeated (the median of 3);
7. the fused kernel with flip and shift augmentation (drawn per sample and epoch) against without, 436
   inputs, runs alternated and repeated (the median of 5).

8. the docs' model table (``--only 8``, or with ``--full``; about 80 minutes on 2 cores): every flow model
   (STSTNet, STSTNet with shift augmentation, HTNet's CPU configuration) under LOSO on part 4's inputs with
   ``--seeds`` seeds (5): each seed's UF1, their mean ± sd and range, the seed ensemble, and the wall time
   with ``--jobs`` workers; then the mean ensemble of all of them and the stacked one (``mextk ensemble
   --stack``, whose time is its inner training); OFF-ApexNet (hours per seed on a CPU) is timed on
   ``--offapexnet-folds`` folds and its full cost estimated.  ``--keep DIR`` keeps the run folders, so an
   interrupted run resumes (its minutes then count only what the rerun did).

Part 5 trains STSTNet with the fused kernel's bfloat16 convolutions (``--train precision=bf16``,
opt-in in mextk; Intel AMX) where this machine has them, and says so; ``--precision fp32`` times
mextk's default float32 arithmetic instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_json import save  # noqa: E402

#: Tables of the parts that ran, for benchmarks/results/models.json (merged with the other parts' earlier runs).
TABLES: list[dict] = []


def _median_ms(fn, repeats: int = 20) -> float:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def inference_latency() -> None:
    from mextk.faces.reference import ASTRONAUT_LANDMARKS
    from mextk.features.graphs import landmark_graph, to_pyg
    from mextk.models.registry import get_model
    from mextk.models.training import collate, forward

    vgg = get_model("vgg16_apex").build(num_classes=6).eval()
    dg = get_model("dgcnn").build(num_classes=6).eval()
    image = torch.randn(1, 3, 224, 224)
    lm = np.stack([ASTRONAUT_LANDMARKS] * 3) + np.random.default_rng(0).normal(0, 1, (3, 68, 2))
    graph = collate([to_pyg(landmark_graph(lm))], "graph")
    with torch.no_grad():
        t_vgg = _median_ms(lambda: vgg(image))
        t_dg = _median_ms(lambda: forward(dg, graph, "graph"))
    print("1. inference latency per sample (batch 1, CPU, median of 20)")
    print(
        f"   VGG-16 apex (224 px): {t_vgg:8.2f} ms   DGCNN (126-node graph): {t_dg:6.2f} ms   ratio {t_vgg / t_dg:.0f}x"
    )
    rows = [
        ["VGG-16 apex (224 px image)", f"{t_vgg:.2f}", f"{t_vgg / t_dg:.0f}x"],
        ["DGCNN (126-node graph)", f"{t_dg:.2f}", "1x"],
    ]
    TABLES.append({"title": "1. Inference latency per sample (batch 1, CPU, median of 20)",
                   "columns": ["model", "ms per sample", "ratio"], "rows": rows})  # fmt: skip


def training_per_fold(n_train: int = 10776) -> None:
    from mextk.faces.reference import ASTRONAUT_LANDMARKS
    from mextk.features.graphs import landmark_graph
    from mextk.models.inputs import to_model_input
    from mextk.models.registry import MODELS
    from mextk.models.training import collate, forward

    g = np.random.default_rng(0)
    title = f"2. Training time per fold at default sizes (scaled to {n_train} training samples x default epochs)"
    print("\n" + title)
    rows: list[list] = []
    TABLES.append({"title": title, "columns": ["model", "input", "ms per training sample", "samples x epochs",
                                               "hours per fold"], "rows": rows})  # fmt: skip
    for name, spec in MODELS.items():
        if spec.family != "torch":
            continue
        size = spec.feature_params.get("size", 28)
        bs = spec.train.get("batch_size") or 442  # full-batch models: one MEGC-sized batch
        n_frames = spec.feature_params.get("n", 16)
        if spec.input_type == "clip":
            bs_measure = 4
            items = [
                to_model_input({"x": g.integers(0, 255, (n_frames, size, size, 3), dtype=np.uint8)}, "clip")
                for _ in range(bs_measure)
            ]
        elif spec.input_type == "image":
            bs_measure = 8
            items = [
                to_model_input({"x": g.integers(0, 255, (1, size, size, 3), dtype=np.uint8)}, "image")
                for _ in range(bs_measure)
            ]
        elif spec.input_type == "graph":
            bs_measure = bs
            lm = np.stack([ASTRONAUT_LANDMARKS] * 3)
            items = []
            for _ in range(bs_measure):
                graph = landmark_graph(lm + g.normal(0, 1, lm.shape))
                items.append(to_model_input({"x": graph.x, "edge_index": graph.edge_index}, "graph"))
        else:
            bs_measure = bs
            items = [to_model_input({"x": g.random((28, 28, 3), dtype=np.float32)}, "flow") for _ in range(bs_measure)]
        batch = collate(items, spec.input_type)
        y = torch.as_tensor(g.integers(0, 6, bs_measure))
        model = spec.build(num_classes=6).train()
        opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

        def step(model=model, opt=opt, batch=batch, y=y, kind=spec.input_type) -> None:  # type: ignore[no-untyped-def]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(forward(model, batch, kind), y).backward()
            opt.step()

        per_sample = _median_ms(step, repeats=3) / 1000 / bs_measure
        epochs = spec.train.get("epochs", 30)
        n = 442 if spec.name in ("ststnet", "offapexnet") else n_train
        fold_s = per_sample * n * epochs
        shape = {"clip": f"{n_frames}x{size}x{size}", "image": f"{size}x{size}", "graph": "126-node graph"}.get(
            spec.input_type, "28x28x3"
        )
        print(
            f"   {name:11s} {shape:15s} {1000 * per_sample:9.2f} ms per training sample; "
            f"fold of {n} samples x {epochs} epochs: {fold_s / 3600:8.2f} h"
        )
        rows.append([name, shape, f"{1000 * per_sample:.2f}", f"{n} x {epochs}", f"{fold_s / 3600:.2f}"])
    # the PyTorch step above, against the fused kernel that mextk trains STSTNet with (same full batch)
    from mextk.models.fused import fit_ststnet, kernel
    from mextk.models.training import TrainConfig

    if kernel() is not None:
        items = [to_model_input({"x": g.random((28, 28, 3), dtype=np.float32)}, "flow") for _ in range(442)]
        y = g.integers(0, 6, 442)
        cfg = TrainConfig(epochs=50, batch_size=0, optimizer="adam", lr=5e-5, lr_step=0, device="cpu")
        t = time.perf_counter()
        fit_ststnet(
            lambda: MODELS["ststnet"].build(num_classes=6), items, y, n_classes=6, input_type="flow", config=cfg
        )
        per_sample = (time.perf_counter() - t) / 50 / 442
        print(
            f"   {'ststnet':11s} {'fused kernel':15s} {1000 * per_sample:9.2f} ms per training sample; "
            f"fold of 442 samples x 800 epochs: {per_sample * 442 * 800 / 3600:8.2f} h"
        )
        rows.append(
            ["ststnet", "fused kernel", f"{1000 * per_sample:.2f}", "442 x 800", f"{per_sample * 442 * 800 / 3600:.2f}"]
        )


def _bf16_missing() -> str | None:
    """Why the fused kernel's bfloat16 path cannot run here (``None`` when it can)."""
    from mextk.models.fused import bf16_unavailable, kernel

    lib = kernel()
    return "no fused kernel (no C compiler)" if lib is None else bf16_unavailable(lib)


def _kernel_times(variants: dict[str, dict], *, repeats: int, epochs: int, threads: int) -> dict[str, list[float]]:
    """Microseconds per sample and epoch of the fused STSTNet kernel for each training-settings variant.

    436 random 28x28x3 inputs, full batch, Adam; the variants' runs alternate, so that the machine's drift
    touches them alike.  Each run must have trained in the kernel.
    """
    from mextk.models.flownets import ststnet
    from mextk.models.fused import fit_ststnet
    from mextk.models.training import TrainConfig

    g = np.random.default_rng(0)
    items = [torch.from_numpy(g.random((3, 28, 28), dtype=np.float32)) for _ in range(436)]
    y = g.integers(0, 3, 436)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, change in variants.items():
            cfg = TrainConfig(epochs=epochs, batch_size=0, optimizer="adam", lr=5e-5, lr_step=0, device="cpu", **change)
            t = time.perf_counter()
            _, history = fit_ststnet(
                lambda: ststnet(num_classes=3), items, y, n_classes=3, input_type="flow", config=cfg, threads=threads
            )
            assert history["trainer"] == "kernel"
            times[name].append((time.perf_counter() - t) / epochs / len(items) * 1e6)
    return times


def kernel_precisions(repeats: int = 3, epochs: int = 100) -> None:
    """Part 6: the fused kernel in float32 against bfloat16 (same inputs, settings and seed)."""
    import statistics

    print("\n6. fused STSTNet kernel, float32 against bfloat16: 436 inputs, full batch, Adam")
    why = _bf16_missing()
    if why:
        print(f"   bfloat16 not available here: {why}")
        return
    for threads in (1, torch.get_num_threads()):
        variants = {"fp32": {"precision": "fp32"}, "bf16": {"precision": "bf16"}}
        times = _kernel_times(variants, repeats=repeats, epochs=epochs, threads=threads)
        f32, b16 = statistics.median(times["fp32"]), statistics.median(times["bf16"])
        print(
            f"   {threads} thread(s): float32 {f32:.1f} us, bfloat16 {b16:.1f} us per sample and epoch "
            f"({f32 / b16:.2f}x; runs {', '.join(f'{v:.1f}' for v in times['fp32'])} / "
            f"{', '.join(f'{v:.1f}' for v in times['bf16'])})"
        )


def kernel_augmentation(repeats: int = 5, epochs: int = 100) -> None:
    """Part 7: the fused kernel with flip and shift augmentation against without (same inputs and seed)."""
    import statistics

    from mextk.models.fused import kernel

    print("\n7. fused STSTNet kernel with flow augmentation (flip 0.5, shift 2 px) against without: 436 inputs")
    if kernel() is None:
        print("   no fused kernel here (no C compiler)")
        return
    variants = {"plain": {}, "augmented": {"augment_flip": 0.5, "augment_shift": 2}}
    threads = torch.get_num_threads()
    times = _kernel_times(variants, repeats=repeats, epochs=epochs, threads=threads)
    plain, aug = statistics.median(times["plain"]), statistics.median(times["augmented"])
    print(
        f"   {threads} thread(s): {plain:.1f} us plain, {aug:.1f} us augmented per sample and epoch: "
        f"the augmented kernel keeps {plain / aug:.0%} of the speed "
        f"(runs {', '.join(f'{v:.1f}' for v in times['plain'])} / {', '.join(f'{v:.1f}' for v in times['augmented'])})"
    )
    TABLES.append({
        "title": "7. Fused STSTNet kernel with flip + shift augmentation (436 inputs, median of 5)",
        "columns": ["threads", "us per sample-epoch, plain", "augmented", "speed kept"],
        "rows": [[threads, f"{plain:.1f}", f"{aug:.1f}", f"{plain / aug:.0%}"]],
    })  # fmt: skip


def cmed_scale_lbp_svm(full: bool, jobs: int, solvers: tuple[str, ...] = ("liblinear", "primal")) -> None:
    from mextk.evaluate.runconfig import RunConfig
    from mextk.evaluate.runner import evaluate_run
    from mextk.features.lbp_top import lbp_top
    from mextk.synth.clips import DEFAULT_CLASSES, ClipSpec, render_clip

    counts_file = REFERENCE / "cmed_table_v_subject_class_counts.csv"
    if counts_file.exists():
        counts = pd.read_csv(counts_file)
        counts = counts[counts["subject"].str.startswith("sub")]
    else:  # CMED's totals spread evenly (the reference table ships beside the repository)
        per = {"disgust": 2, "happiness": 66, "anger": 2, "fear": 1, "sadness": 2, "surprise": 5, "no_me": 70}
        counts = pd.DataFrame([{"subject": f"sub_{i + 1}", **per} for i in range(74)])
    classes = ["anger", "disgust", "fear", "sadness", "happiness", "surprise", "no_me"]
    rows = [(r["subject"], c) for _, r in counts.iterrows() for c in classes for _ in range(int(r[c]))]
    print(f"\n3. LOSO LBP-TOP + SVM at CMED's scale: {counts['subject'].nunique()} subjects, {len(rows)} samples")
    # a pool of real LBP-TOP histograms of synthetic key frames, then per-sample noise
    g = np.random.default_rng(0)
    pool: dict[str, list[np.ndarray]] = {c: [] for c in classes}
    for i in range(70):
        emotion = DEFAULT_CLASSES[i % len(DEFAULT_CLASSES)]
        clip = render_clip(ClipSpec(subject_seed=i % 10, seed=i, emotion=emotion, size=112))
        gray = clip.frames.mean(axis=3).astype(np.uint8)
        apex = clip.apex if clip.apex is not None else (clip.onset + clip.offset) // 2
        pool[emotion].append(lbp_top(gray[[clip.onset, apex, clip.offset]], time_length=1))
    tmp = Path(tempfile.mkdtemp())
    paths = []
    for k, (_subject, c) in enumerate(rows):
        base = pool[c][g.integers(len(pool[c]))]
        x = np.abs(base + g.normal(0, 0.6 * base.std(), base.shape))
        np.save(tmp / f"{k}.npy", x.astype(np.float32))
        paths.append(str(tmp / f"{k}.npy"))
    manifest = pd.DataFrame(
        {
            "dataset": "cmed-scale",
            "subject": [s for s, _ in rows],
            "sample_id": [f"x{k}" for k in range(len(rows))],
            "path": paths,
            "fps": 25,
            "n_frames": 3,
            "onset": 0,
            "apex": [1 if c != "no_me" else "" for _, c in rows],
            "offset": 2,
            "emotion": [c for _, c in rows],
            "aus": "",
        }
    )
    manifest.to_csv(tmp / "manifest.csv", index=False)
    # before (LinearSVC's dual coordinate descent) and after (mextk's primal Newton)
    cfgs = {
        solver: RunConfig(manifest=str(tmp / "manifest.csv"), model="lbptop_svm", task="cmed7", input="precomputed",
                          model_options={"solver": solver})
        for solver in solvers
    }  # fmt: skip
    rows = []
    if not full:  # time a sample of folds through the runner's own fold function, scale to all
        from mextk.evaluate.fitting import run_fold
        from mextk.evaluate.preparation import prepare_run
        from mextk.evaluate.runconfig import fold_dir

        preds = {}
        for solver, cfg in cfgs.items():
            out = tmp / f"run_{solver}"
            prep = prepare_run(cfg, out, progress=False)
            n_folds = len(prep["folds"])
            sample = [0, n_folds // 3, 2 * n_folds // 3]
            t = time.perf_counter()
            for k in sample:
                run_fold(str(out), k)
            per_fold = (time.perf_counter() - t) / len(sample)
            preds[solver] = pd.concat([pd.read_csv(fold_dir(out, k) / "predictions.csv") for k in sample])
            print(
                f"   {solver}: {per_fold:.1f} s per fold (mean of folds {sample}); {n_folds} folds serially: "
                f"{per_fold * n_folds / 60:.1f} min, with --executor process --jobs {jobs}: about "
                f"{per_fold * n_folds / jobs / 60:.1f} min"
            )
            rows.append([solver, f"{per_fold:.1f}", f"{per_fold * n_folds / jobs / 60:.1f}"])
        if len(solvers) < 2:
            return
        a, b = (preds[s].set_index("sample_id").sort_index() for s in solvers[:2])
        same = float((a["y_pred"] == b["y_pred"]).mean())
        print(f"   the same predicted class for {same:.2%} of the {len(a)} test samples of those folds")
        TABLES.append({
            "title": f"3. LOSO LBP-TOP + SVM at CMED's scale ({len(sample)} folds timed, scaled to all)",
            "columns": ["solver", "s per fold", f"min for the run, --jobs {jobs}"], "rows": rows,
            "notes": f"same predicted class for {same:.2%} of {len(a)} test samples",
        })  # fmt: skip
        return
    for solver, cfg in cfgs.items():
        t = time.perf_counter()
        metrics = evaluate_run(cfg, tmp / f"run_{solver}", executor="process" if jobs > 1 else "local", jobs=jobs,
                               progress=True)  # fmt: skip
        minutes = (time.perf_counter() - t) / 60
        print(f"   {solver}: full LOSO run {minutes:.1f} min (UF1 {metrics.uf1:.4f})")
        rows.append([solver, f"{minutes:.1f}", f"{metrics.uf1:.4f}"])
    TABLES.append({
        "title": f"3. LOSO LBP-TOP + SVM at CMED's scale, whole run (74 folds, --jobs {jobs})",
        "columns": ["solver", "minutes", "UF1"], "rows": rows,
    })  # fmt: skip


def _megc_like(n_subjects: int = 68, n: int = 442, strength: float = 0.1):  # type: ignore[no-untyped-def]
    """Flow-like 28x28x3 inputs of 3 classes, 442 from 68 subjects.

    Each class adds a faint 8x8 blob to its own channel at its own place, moved by up to 3 px per
    subject, over uniform noise: LOSO UF1 is about 0.7, so the comparison of results means something.
    """
    g = np.random.default_rng(1)
    subjects = np.sort(np.r_[np.arange(n_subjects), g.integers(0, n_subjects, n - n_subjects)])
    y = g.integers(0, 3, n)
    shift = g.integers(-3, 4, (n_subjects, 2))
    x = g.random((n, 28, 28, 3), dtype=np.float32) * 0.6
    for k in range(n):
        r0, c0 = np.array(((4, 4), (14, 8), (8, 16))[y[k]]) + shift[subjects[k]]
        x[k, r0 : r0 + 8, c0 : c0 + 8, y[k]] += strength
    return x, y, subjects.astype(str)


def plain_ststnet_loop(  # type: ignore[no-untyped-def]
    x: np.ndarray, y: np.ndarray, subjects: np.ndarray, folds: list[str], epochs: int, dropout: float = 0.5, probs=False
):
    """The baseline: one fold after another, a plain PyTorch loop like STSTNet's public code."""
    from mextk.models.flownets import ststnet

    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.as_tensor(y)
    pred = {}
    for s in folds:
        test = subjects == s
        torch.manual_seed(0)
        model = ststnet(num_classes=3, dropout=dropout)
        opt = torch.optim.Adam(model.parameters(), lr=5e-5)
        tr = torch.as_tensor(~test)
        for _ in range(epochs):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[tr]), yt[tr]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            out = torch.softmax(model(xt[torch.as_tensor(test)]), 1).numpy()
        pred[s] = out if probs else out.argmax(1)
    return pred


def same_training_check(x: np.ndarray, y: np.ndarray, subjects: np.ndarray, folds: list[str]) -> None:
    """Without dropout both trainings are deterministic: the kernel must give the plain loop's model."""
    from mextk.models.flownets import ststnet
    from mextk.models.fused import fit_ststnet
    from mextk.models.training import TrainConfig

    plain = plain_ststnet_loop(x, y, subjects, folds, 800, dropout=0.0, probs=True)
    xt = [torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))) for a in x]
    cfg = TrainConfig(epochs=800, batch_size=0, optimizer="adam", lr=5e-5, lr_step=0, device="cpu", seed=0)
    diffs, agree = [], []
    for s in folds:
        train, test = np.flatnonzero(subjects != s), np.flatnonzero(subjects == s)
        model, _ = fit_ststnet(
            lambda: ststnet(num_classes=3, dropout=0.0),
            [xt[i] for i in train],
            y[train],
            n_classes=3,
            input_type="flow",
            config=cfg,
        )
        with torch.no_grad():
            p = torch.softmax(model(torch.stack([xt[i] for i in test])), 1).numpy()
        diffs.append(np.abs(p - plain[s]).max())
        agree.extend(p.argmax(1) == plain[s].argmax(1))
    print(
        f"   without dropout (same initial weights, {len(folds)} folds, {len(agree)} test samples): "
        f"same prediction for {np.mean(agree):.0%}, largest class-probability difference {max(diffs):.1e}"
    )


def ststnet_loso(full: bool, jobs: int, n_folds: int) -> None:
    from mextk.evaluate.executors import run_folds
    from mextk.evaluate.preparation import prepare_run
    from mextk.evaluate.runconfig import RunConfig, fold_dir
    from mextk.models.metrics import uar, uf1

    x, y, subjects = _megc_like()
    all_subjects = list(dict.fromkeys(subjects))
    folds = all_subjects if full else all_subjects[:: max(1, len(all_subjects) // n_folds)][:n_folds]
    print(
        f"\n4. LOSO STSTNet, 442 inputs of 28x28x3 from 68 subjects, 800 epochs, Adam 5e-5, full batch "
        f"({len(folds)} folds timed)"
    )
    t = time.perf_counter()
    plain = plain_ststnet_loop(x, y, subjects, folds, 800)
    t_plain = time.perf_counter() - t
    print(f"   plain loop:    {t_plain:7.1f} s for {len(folds)} folds", flush=True)
    tmp = Path(tempfile.mkdtemp())
    _megc_like_manifest(tmp)
    cfg = RunConfig(manifest=str(tmp / "manifest.csv"), model="ststnet", task="megc3", input="precomputed")
    out = tmp / "run"
    t = time.perf_counter()
    prep = prepare_run(cfg, out, progress=False)
    timed = {f"megc-like/{s}" for s in folds}  # subjects are named DATASET/SUBJECT in a run
    todo = [k for k, f in enumerate(prep["folds"]) if f[0] in timed]
    executor = "process" if jobs > 1 else "local"
    run_folds([(out, k) for k in todo], executor=executor, jobs=jobs, ray_address=None, progress=False)
    t_runner = time.perf_counter() - t
    trainers = {json.loads((fold_dir(out, k) / "history.json").read_text())["trainer"] for k in todo}
    preds = pd.concat(pd.read_csv(p, dtype={"subject": str}) for p in out.glob("folds/*/predictions.csv"))
    preds = preds.set_index("sample_id").loc[[f"m{k}" for s in folds for k in np.flatnonzero(subjects == s)]]
    yt = np.concatenate([y[subjects == s] for s in folds])
    yp = np.concatenate([plain[s] for s in folds])
    scale = 68 / len(folds)
    print(f"   plain loop:    {t_plain * scale / 60:6.1f} min for 68 folds (scaled)")
    print(
        f"   mextk runner:  {t_runner:7.1f} s for {len(folds)} folds -> {t_runner * scale / 60:6.1f} min for 68 "
        f"(executor {executor}, {jobs} job(s), trainer {', '.join(sorted(trainers))})"
    )
    print(f"   speed-up {t_plain / t_runner:.2f}x (target: 10x)")
    print(
        f"   results on these folds ({len(yt)} test samples): plain UF1 {uf1(yt, yp):.3f} UAR {uar(yt, yp):.3f}; "
        f"runner UF1 {uf1(preds['y_true'], preds['y_pred']):.3f} UAR {uar(preds['y_true'], preds['y_pred']):.3f}; "
        f"same prediction for {np.mean(preds['y_pred'].to_numpy() == yp):.0%} of samples"
    )
    print("   (with dropout the two draw different dropout masks, so single predictions differ)")
    same_training_check(x, y, subjects, folds[:2])


def _megc_like_manifest(tmp: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """The inputs of :func:`_megc_like` as ``.npy`` files and a manifest of them (for ``--input precomputed``)."""
    x, y, subjects = _megc_like()
    paths = []
    for k in range(len(y)):
        np.save(tmp / f"{k}.npy", x[k])
        paths.append(str(tmp / f"{k}.npy"))
    names = np.array(["negative", "positive", "surprise"])
    pd.DataFrame(
        {
            "dataset": "megc-like", "subject": subjects, "sample_id": [f"m{k}" for k in range(len(y))],
            "path": paths, "fps": 25, "n_frames": 2, "onset": 0, "apex": 1, "offset": 1, "emotion": names[y],
            "aus": "",
        }
    ).to_csv(tmp / "manifest.csv", index=False)  # fmt: skip
    return tmp / "manifest.csv", y, subjects


def ststnet_seeds(full: bool, jobs: int, n_folds: int, precision: str = "fp32", n_seeds: int = 5) -> None:
    from mextk.evaluate.executors import run_folds
    from mextk.evaluate.runconfig import RunConfig
    from mextk.evaluate.runner import start_run
    from mextk.evaluate.seeds import evaluate_seeds, seed_folder

    if precision == "bf16" and (why := _bf16_missing()):
        print(f"\n5. bfloat16 is not available here ({why}): timing float32")
        precision = "fp32"
    tmp = Path(tempfile.mkdtemp())
    manifest, y, subjects = _megc_like_manifest(tmp)
    all_subjects = list(dict.fromkeys(subjects))
    folds = all_subjects if full else all_subjects[:: max(1, len(all_subjects) // n_folds)][:n_folds]
    print(
        f"\n5. LOSO STSTNet with {n_seeds} seeds against one, 442 inputs from 68 subjects, 800 epochs "
        f"({len(folds)} folds of each seed timed, {jobs} worker(s), precision {precision})"
    )
    cfg = RunConfig(
        manifest=str(manifest), model="ststnet", task="megc3", input="precomputed", train={"precision": precision}
    )
    executor = "process" if jobs > 1 else "local"
    timed = {f"megc-like/{s}" for s in folds}  # subjects are named DATASET/SUBJECT in a run
    times = {}
    for label, seeds, out in (("1 seed", [0], tmp / "one"), (f"{n_seeds} seeds", list(range(n_seeds)), tmp / "many")):
        t = time.perf_counter()
        todo = []
        for s in seeds:
            prep = start_run(replace(cfg, seed=s), seed_folder(out, s), progress=False)
            todo += [(seed_folder(out, s), k) for k, f in enumerate(prep["folds"]) if f[0] in timed]
        run_folds(todo, executor=executor, jobs=jobs, ray_address=None, progress=False)
        times[label] = time.perf_counter() - t
        scale = 68 / len(folds)
        minutes = times[label] * scale / 60
        print(f"   {label:9s} {times[label]:7.1f} s for {len(folds)} folds each -> {minutes:5.1f} min for 68 folds"
              + ("" if full else " (scaled)"), flush=True)  # fmt: skip
    print(f"   {n_seeds} seeds cost {times[f'{n_seeds} seeds'] / times['1 seed']:.2f}x one seed (target: 15 min for 5)")
    if full:  # every fold is done: this scores each seed and combines them
        m = evaluate_seeds(cfg, tmp / "many", list(range(n_seeds)), progress=False)
        u = m.summary["uf1"]
        print(f"   UF1 per seed {', '.join(f'{v:.3f}' for v in u.values)}: {u.mean:.3f} ± {u.sd:.3f}; "
              f"seed ensemble {m.ensemble['uf1']:.3f}")  # fmt: skip


#: Part 8's rows: a label, the registered model and its training settings (beside the model's defaults).
TABLE_MEMBERS = {
    "ststnet": ("STSTNet", "ststnet", {}),
    "ststnet_shift": ("STSTNet, shifts of up to 2 px", "ststnet", {"augment_shift": 2}),
    "htnet": ("HTNet, CPU configuration", "htnet", {}),
}


def model_table(jobs: int, n_seeds: int, members: list[str], keep: Path | None, stack: bool, folds_timed: int) -> None:
    """Every flow model's LOSO on the synthetic MEGC-like set: seed mean ± sd, seed ensemble, wall time; then the
    mean and stacked ensembles of all of them.  OFF-ApexNet is timed on ``folds_timed`` folds only."""
    from mextk.evaluate.ensemble import ensemble_runs
    from mextk.evaluate.runconfig import RunConfig
    from mextk.evaluate.stacking import INNER_FOLDS, stack_runs

    root = keep or Path(tempfile.mkdtemp(prefix="mextk-table-"))
    (root / "data").mkdir(parents=True, exist_ok=True)
    manifest, _, _ = _megc_like_manifest(root / "data")
    seeds = list(range(n_seeds))
    executor = "process" if jobs > 1 else "local"
    title = (
        "8. Flow models on the synthetic MEGC-like set (442 inputs, 68 subjects, 3 classes), LOSO, "
        f"seeds 0-{n_seeds - 1}"
    )
    print(f"\n{title}, {jobs} worker(s); run folders in {root}")
    rows: list[list] = []
    TABLES.append({"title": title, "columns": ["model", "UF1 mean ± sd", "UF1 range", "seed-ensemble UF1",
                                               "UAR mean", "minutes (all seeds)", "minutes per seed"],
                   "rows": rows})  # fmt: skip
    done = []
    for key in members:
        label, model, train = TABLE_MEMBERS[key]
        cfg = RunConfig(manifest=str(manifest), model=model, task="megc3", input="precomputed", train=train)
        m, took = _timed_seeds(cfg, root / key, seeds, executor, jobs)
        u = m.summary["uf1"]
        rows.append([label, f"{u.mean:.3f} ± {u.sd:.3f}", f"{u.min:.3f}-{u.max:.3f}", f"{m.ensemble['uf1']:.3f}",
                     f"{m.summary['uar'].mean:.3f}", f"{took:.1f}", f"{took / n_seeds:.1f}"])  # fmt: skip
        print("   " + " | ".join(rows[-1]), flush=True)
        done.append(root / key)
    if len(done) > 1:
        t = time.perf_counter()
        mean = ensemble_runs(done, root / "mean_ensemble")
        rows.append([f"mean ensemble of the {len(done)} above x {n_seeds} seeds", "", "", f"{mean['uf1']:.3f}",
                     f"{mean['uar']:.3f}", f"{(time.perf_counter() - t) / 60:.1f}", ""])  # fmt: skip
        print("   " + " | ".join(rows[-1]), flush=True)
        if stack:
            t = time.perf_counter()
            st = stack_runs(done, root / "stacked_ensemble", executor=executor, jobs=jobs, progress=False)
            weights = json.loads((root / "stacked_ensemble" / "stacking.json").read_text())["mean_weights"]
            took = (time.perf_counter() - t) / 60
            rows.append([f"stacked ensemble of the same ({INNER_FOLDS} inner folds; mean weights "
                         + ", ".join(f"{w:.2f}" for w in weights.values()) + ")", "", "", f"{st['uf1']:.3f}",
                         f"{st['uar']:.3f}", f"{took:.1f} (inner training)", ""])  # fmt: skip
            print("   " + " | ".join(rows[-1]), flush=True)
    if folds_timed:
        rows.append(offapexnet_estimate(manifest, root, jobs, folds_timed, n_seeds))
        print("   " + " | ".join(rows[-1]), flush=True)
    TABLES[-1]["notes"] = (
        "Each row is `mextk evaluate --seeds` with the model's registered defaults (800 epochs for STSTNet, 200 "
        "for HTNet's CPU configuration), float32, every fold of every seed run. The set's class cues are faint "
        "blobs at fixed places moved up to 3 px per subject, so it ranks models on this set only, not on faces."
    )


def _timed_seeds(cfg, out: Path, seeds: list[int], executor: str, jobs: int):  # type: ignore[no-untyped-def]
    """``evaluate_seeds`` and its wall time in minutes, kept in ``out/timing.json`` by a run that trained every
    fold, so that a resumed benchmark reports the time of the run that did the work (not of the cache)."""
    from mextk.evaluate.seeds import evaluate_seeds

    timing = out / "timing.json"
    fresh = not out.exists()
    t = time.perf_counter()
    m = evaluate_seeds(cfg, out, seeds, executor=executor, jobs=jobs, progress=False)
    took = (time.perf_counter() - t) / 60
    if fresh:
        timing.write_text(json.dumps({"minutes": took, "seeds": seeds, "jobs": jobs}))
    elif timing.exists() and json.loads(timing.read_text())["seeds"] == seeds:
        took = json.loads(timing.read_text())["minutes"]
    else:
        took = float("nan")  # resumed after an interruption: no whole-run time
    return m, took


def offapexnet_estimate(manifest: Path, root: Path, jobs: int, folds_timed: int, n_seeds: int) -> list[str]:
    """OFF-ApexNet trains 1,024-unit dense layers for 800 full-batch epochs: time a few folds, scale to all."""
    from mextk.evaluate.executors import run_folds
    from mextk.evaluate.runconfig import RunConfig
    from mextk.evaluate.runner import start_run

    cfg = RunConfig(manifest=str(manifest), model="offapexnet", task="megc3", input="precomputed")
    prep = start_run(cfg, root / "offapexnet_timed", progress=False)
    n = len(prep["folds"])
    todo = [(root / "offapexnet_timed", k) for k in range(0, n, max(1, n // folds_timed))][:folds_timed]
    t = time.perf_counter()
    run_folds(todo, executor="process" if jobs > 1 else "local", jobs=jobs, ray_address=None, progress=False)
    per_fold = (time.perf_counter() - t) / len(todo)  # wall time per fold with `jobs` folds at once
    hours = per_fold * n * n_seeds / 60 / 60
    return [f"OFF-ApexNet (not run: {len(todo)} folds timed)", "", "", "", "",
            f"{hours * 60:.0f} (estimated)", f"{hours * 60 / n_seeds:.0f} (estimated)"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="run the full LOSO runs (hours)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for the runner")
    parser.add_argument("--only", choices=[str(k) for k in range(1, 9)], help="run one part")
    parser.add_argument("--folds", type=int, default=8, help="STSTNet folds timed without --full (part 4)")
    parser.add_argument(
        "--solvers", default="liblinear,primal", help="part 3's SVM solvers, comma-separated (liblinear, primal)"
    )
    parser.add_argument(
        "--precision", choices=["fp32", "bf16"], default="bf16",
        help="STSTNet's kernel arithmetic in part 5 (bf16: where the CPU has AMX, else float32, said so)",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, default=5, help="part 8: seeds per model")
    parser.add_argument(
        "--table-models", default=",".join(TABLE_MEMBERS), help=f"part 8's models ({', '.join(TABLE_MEMBERS)})"
    )
    parser.add_argument("--keep", type=Path, default=None, help="part 8: run folders here (a rerun resumes)")
    parser.add_argument("--no-stack", action="store_true", help="part 8: no stacked ensemble")
    parser.add_argument("--offapexnet-folds", type=int, default=4, help="part 8: OFF-ApexNet folds timed (0: none)")
    args = parser.parse_args()
    torch.manual_seed(0)
    parts = {
        "1": inference_latency,
        "2": training_per_fold,
        "3": lambda: cmed_scale_lbp_svm(args.full, args.jobs, tuple(args.solvers.split(","))),
        "4": lambda: ststnet_loso(args.full, args.jobs, args.folds),
        "5": lambda: ststnet_seeds(args.full, args.jobs, args.folds, args.precision),
        "6": kernel_precisions,
        "7": kernel_augmentation,
        "8": lambda: model_table(
            args.jobs, args.seeds, args.table_models.split(","), args.keep, not args.no_stack, args.offapexnet_folds
        ),  # fmt: skip
    }
    for key, fn in parts.items():
        if key == "8" and args.only is None and not args.full:  # over an hour: with --full or --only 8
            continue
        if args.only in (None, key):
            fn()
            sys.stdout.flush()
    if TABLES:  # parts 3-6 print their figures only
        print(f"wrote {save('models', TABLES, merge=True)}")


if __name__ == "__main__":
    main()
