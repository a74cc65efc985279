"""The spread over seeds of mextk's own figures (prints figures; not a test).

    python benchmarks/seeds.py [--seeds 0-4] [--jobs 2] [--keep DIR] [--models ststnet,...] [--precision bf16]

On the demo's synthetic dataset (``mextk demo``'s defaults: 6 subjects x 14
clips, 6 classes), each of the demo's models and STSTNet is evaluated under
leave-one-subject-out once per seed (``mextk evaluate --seeds``), with the
demo's settings; only the seed changes.  Printed per model: each seed's UF1
and UAR, their mean and sample standard deviation, the range, and the seed
ensemble's UF1 and UAR.  This is the spread that a single run's figure hides.
``--models`` keeps some of the models; ``--precision bf16`` trains STSTNet with the fused kernel's
opt-in bfloat16 convolutions (``--train precision=bf16``), so the two arithmetics can be compared
seed by seed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_json import save  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None)
    ap.add_argument("--models", default="", help="comma-separated models to keep (default: all)")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="STSTNet's kernel arithmetic")
    args = ap.parse_args()

    from mextk.demo import DemoConfig, _demo_models
    from mextk.evaluate.runconfig import RunConfig
    from mextk.evaluate.seeds import evaluate_seeds, parse_seeds
    from mextk.synth.clips import SynthConfig, synthesize_dataset

    work = args.keep or Path(tempfile.mkdtemp(prefix="mextk-seeds-"))
    demo = DemoConfig()
    seeds = parse_seeds(args.seeds)
    synth = SynthConfig(
        n_subjects=demo.n_subjects, clips_per_subject=demo.clips_per_subject, size=demo.size,
        proportions=demo.proportions, seed=demo.seed,
    )  # fmt: skip
    synthesize_dataset(work / "data", synth, jobs=args.jobs, progress=False)
    print(
        f"LOSO on the demo's synthetic data ({demo.n_subjects} subjects x {demo.clips_per_subject} clips, "
        f"task {demo.task}, chance UF1 about {1 / 6:.2f}), seeds {args.seeds}, {args.jobs} worker(s):"
    )
    wanted = {m for m in args.models.split(",") if m}
    rows: list[list] = []
    for model, train in [*_demo_models(demo), ("ststnet", {"precision": args.precision})]:
        if wanted and model not in wanted:
            continue
        config = RunConfig(
            manifest=str(work / "data" / "manifest.csv"), model=model, task=demo.task,
            features_dir=str(work / "features"), train=train,
        )  # fmt: skip
        t = time.perf_counter()
        executor = "process" if args.jobs > 1 and model != "lbptop_svm" else "local"
        m = evaluate_seeds(
            config,
            work / "runs" / f"{model}_{args.precision}",
            seeds,
            executor=executor,
            jobs=args.jobs,
            progress=False,
        )
        took = time.perf_counter() - t
        for metric in ("uf1", "uar"):
            s = m.summary[metric]
            values = ", ".join(f"{v:.3f}" for v in s.values)
            print(
                f"  {model:11s} {metric.upper()} {s.mean:.3f} ± {s.sd:.3f} (range {s.min:.3f}-{s.max:.3f}; "
                f"per seed {values}); seed ensemble {m.ensemble[metric]:.3f}"
            )
        print(f"  {model:11s} {took:.0f} s for {len(seeds)} seeds")
        u = m.summary["uf1"]
        rows.append([model, f"{u.mean:.3f} ± {u.sd:.3f}", f"{u.min:.3f}-{u.max:.3f}", f"{m.ensemble['uf1']:.3f}",
                     f"{m.summary['uar'].mean:.3f}", f"{took:.0f}"])  # fmt: skip
    columns = ["model", "UF1 mean ± sd", "UF1 range", "seed-ensemble UF1", "UAR mean", "seconds"]
    title = f"LOSO on the demo's synthetic data, seeds {args.seeds}"
    notes = (f"{demo.n_subjects} subjects x {demo.clips_per_subject} clips, task {demo.task} (chance UF1 about "
             f"{1 / 6:.2f}), {args.jobs} worker(s), STSTNet arithmetic {args.precision}.")  # fmt: skip
    print(f"wrote {save('seeds', [{'title': title, 'columns': columns, 'rows': rows}], notes=notes)}")


if __name__ == "__main__":
    main()
