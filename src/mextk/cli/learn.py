"""Commands that learn and score: ``features``, ``evaluate``, ``train``, ``predict``, ``compare``, ``models``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mextk.cli.base import EXIT_PARTIAL, fail, out_folder
from mextk.cli.options import RECOGNITION_TASK, TASK_HELP
from mextk.cli.tables import metrics_table
from mextk.evaluate.stacking import INNER_FOLDS
from mextk.features.kinds import ANALYSES, KIND_DEFAULTS

_KIND_NAMES = ", ".join([*KIND_DEFAULTS, *ANALYSES])


def features(
    kind: Annotated[str, typer.Argument(help=f"One of {_KIND_NAMES} (each is described below).")],
    manifests: Annotated[list[Path], typer.Argument(help="Manifest(s); deflection takes one per dataset.")],
    out: Annotated[Path, typer.Option(help="Feature cache folder.")] = Path("features"),
    jobs: Annotated[int, typer.Option(help="Worker processes (or CPUs of a local Ray with --executor ray).")] = 1,
    executor: Annotated[
        str, typer.Option(help="Where samples are computed: here, or as Ray tasks.", metavar="[local|ray]")
    ] = "local",
    ray_address: Annotated[Optional[str], typer.Option(help="Ray cluster address (default: a local Ray).")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Compute samples that failed before again.")] = False,
    include_excluded: Annotated[
        bool,
        typer.Option(
            "--include-excluded",
            help="Also compute the clips that review decisions leave out (kept=false, rejected in review.csv).",
        ),
    ] = False,
    exaggerate: Annotated[
        Optional[float],
        typer.Option(
            help="deflection: arrow lengthening in the figure (default: from the data, the same for every panel, "
            "so that the longest mean arrow spans a tenth of the face width; the legend gives the scale)."
        ),
    ] = None,
    feature: _FeatureOpt = None,
) -> None:
    """Compute per-sample features into a resumable cache (a failed sample is reported and the rest go on).

    Unlabelled clips are welcome: a clip without onset, apex and offset is taken as a whole (onset at its first
    frame, offset at its last, and a stand-in apex drawn between them, as for No-ME clips).  The cache folder's
    params.json records the parameters used.  The kinds and their parameters (--feature KEY=VALUE) follow.
    """
    from mextk.features.batch import deflection_from_manifests, extract_features, parse_params

    out_folder(out)
    if kind in ANALYSES:
        res = deflection_from_manifests(manifests, out, jobs=jobs, exaggerate=exaggerate)
        typer.echo(
            f"deflection of {res['samples']} samples ({res['skipped']} skipped) -> "
            f"{out / 'deflection.csv'}, {res['figure']}"
        )
        return
    if kind not in KIND_DEFAULTS:
        fail(f"unknown feature kind {kind!r}; choose one of {_KIND_NAMES}")
    if len(manifests) != 1:
        fail(f"{kind} takes one manifest, got {len(manifests)}")
    params = parse_params(feature or [])
    res = extract_features(
        manifests[0],
        kind,
        out,
        jobs=jobs,
        retry_failed=retry_failed,
        include_excluded=include_excluded,
        params=params,
        executor=executor,
        ray_address=ray_address,
    )
    for msg in res["failed"].values():
        typer.echo(f"failed: {msg}", err=True)
    counts = f"{len(res['done'])} computed, {len(res['cached'])} cached, {len(res['failed'])} failed"
    if res["excluded"]:
        counts += f", {len(res['excluded'])} left out by review decisions"
    typer.echo(f"{kind}: {counts} -> {res['folder']}")
    if res["failed"]:
        raise typer.Exit(EXIT_PARTIAL)


# Options that evaluate and train share: defined once, so the two commands cannot drift apart.
_ModelOpt = Annotated[Optional[str], typer.Option(help="Registered model (mextk models lists them).")]
_TaskOpt = Annotated[str, typer.Option(help=TASK_HELP)]
_SeedOpt = Annotated[int, typer.Option(help="Master seed.")]
_InputOpt = Annotated[
    str,
    typer.Option(
        "--input",
        help="features (computed and cached) or precomputed (the manifest's path).",
        metavar="[features|precomputed]",
    ),
]
_FeaturesOpt = Annotated[
    Optional[Path], typer.Option(help="Feature cache (default: 'features' beside the output folder, shared by runs).")
]
#: The three KEY=VALUE options say what they change: the input's features, the training, or the network.
_FEATURE_HELP = (
    "Feature parameter KEY=VALUE of the input's kind (repeatable; VALUE as JSON, e.g. radius=[1,1,2]); "
    "mextk features --help lists each kind's parameters.  Changes the features (a new cache entry)."
)
_FeatureOpt = Annotated[Optional[list[str]], typer.Option("--feature", help=_FEATURE_HELP, metavar="KEY=VALUE")]
_TrainOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        help="Training setting KEY=VALUE (repeatable): epochs, batch_size, optimizer, lr, ... (each model's "
        "defaults: mextk models).  Changes how the network is fitted, not its inputs or its shape.",
        metavar="KEY=VALUE",
    ),
]
_ModelOptionOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--model-option",
        help="Model constructor option KEY=VALUE (repeatable): a keyword of the model's builder, e.g. dropout=0.3 "
        "or k=20 for dgcnn.  Changes the network itself.",
        metavar="KEY=VALUE",
    ),
]
_WeightsOpt = Annotated[
    Optional[str], typer.Option(help="Starting weights: a torchvision name (IMAGENET1K_V1) or a file.")
]
_SizeOpt = Annotated[
    Optional[int], typer.Option(help="Input size in pixels (default: the model's, listed by mextk models).")
]
_EpochsOpt = Annotated[
    Optional[int], typer.Option(help="Training epochs (default: the model's, listed by mextk models).")
]
_ResampleOpt = Annotated[
    Optional[str], typer.Option(help="Class resampling (default: none).", metavar="[none|uniform]")
]
_LossOpt = Annotated[Optional[str], typer.Option(help="Loss (default: ce).", metavar="[ce|cb|focal|cb_focal]")]
_ValOpt = Annotated[
    Optional[float], typer.Option(help="Share of training subjects held out to pick the epoch (0: fixed).")
]
_JobsOpt = Annotated[int, typer.Option(help="Parallel folds (process, ray) and feature workers.")]
_ExecutorOpt = Annotated[
    Optional[str],
    typer.Option(
        help="Where folds run (default: process with --jobs > 1, else local, as in prepare).",
        metavar="[local|process|ray]",
    ),
]
_RayOpt = Annotated[Optional[str], typer.Option(help="Ray cluster address (default: a local Ray).")]
_ExcludedOpt = Annotated[
    bool,
    typer.Option(
        "--include-excluded",
        help="Also use the clips that review decisions leave out (kept=false, rejected in review.csv).",
    ),
]


def evaluate(
    manifest: Annotated[
        Optional[Path], typer.Argument(help="Manifest of the samples (optional with --checkpoints).")
    ] = None,
    model: _ModelOpt = None,
    protocol: Annotated[
        str,
        typer.Option(
            help="loso (one fold per person), kfold (subject-stratified), lodo (leave one dataset out), holdout "
            "(--train-datasets DATASETS --test DATASETS) or split (--split-column COL --test VALUE "
            "[--train-datasets VALUE]).",
            metavar="[loso|kfold|lodo|holdout|split]",
        ),
    ] = "loso",
    test: Annotated[
        Optional[list[str]],
        typer.Option(help="Test datasets (holdout) or split values (split); repeatable or comma-separated."),
    ] = None,
    train_datasets: Annotated[
        Optional[list[str]],
        typer.Option(
            "--train-datasets",
            help="Training datasets (holdout) or split values (split; default: every other value); repeatable or "
            "comma-separated.",
        ),
    ] = None,
    split_column: Annotated[
        Optional[str], typer.Option(help="Manifest column holding the split (protocol split; DFME: split).")
    ] = None,
    task: _TaskOpt = RECOGNITION_TASK,
    out: Annotated[Path, typer.Option(help="Run folder (re-running resumes it).")] = Path("run"),
    n_splits: Annotated[int, typer.Option(help="Folds of kfold.")] = 10,
    seed: _SeedOpt = 0,
    seeds: Annotated[
        Optional[str],
        typer.Option(
            help="Run the whole protocol once per seed (0-4 or 0,3,7), each in OUT/seed_<s>; report "
            "mean, sd and the seed ensemble."
        ),
    ] = None,  # fmt: skip
    input_: _InputOpt = "features",
    features: _FeaturesOpt = None,
    feature: _FeatureOpt = None,
    train: _TrainOpt = None,
    model_option: _ModelOptionOpt = None,
    weights: _WeightsOpt = None,
    size: _SizeOpt = None,
    epochs: _EpochsOpt = None,
    resample: _ResampleOpt = None,
    loss: _LossOpt = None,
    val_subjects: _ValOpt = None,
    select_on_test: Annotated[
        bool,
        typer.Option(
            "--select-on-test",
            help="LEAKY: keep each fold's epoch that scores best on its own test subjects (HTNet's published "
            "protocol), to set its kind of figure beside the honest one; the run is marked leaky.",
        ),
    ] = False,
    executor: _ExecutorOpt = None,
    jobs: _JobsOpt = 1,
    ray_address: _RayOpt = None,
    mlflow: Annotated[Optional[str], typer.Option(help="MLflow tracking URI to log the run to.")] = None,
    checkpoints: Annotated[
        Optional[Path], typer.Option(help="Score this run folder's saved fold models instead of training.")
    ] = None,
    include_excluded: _ExcludedOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics.json to stdout.")] = False,
) -> None:
    """Train and score a model under a subject-independent protocol (LOSO, k-fold, LODO, holdout, split); resumable."""
    out_folder(out)
    if checkpoints is not None:
        from mextk.evaluate.checkpoints import score_checkpoints

        result = score_checkpoints(checkpoints, out, manifest=manifest, progress=not as_json)
    else:
        from mextk.evaluate.runconfig import build_config
        from mextk.evaluate.runner import evaluate_run

        if manifest is None or model is None:
            fail("evaluate needs a MANIFEST and --model (or --checkpoints RUN_DIR)")
        if select_on_test:
            train = [*(train or []), "select_on_test=true"]
            typer.echo(
                "warning: --select-on-test picks each fold's epoch on its test subjects: the figure is leaky "
                "(as HTNet's published one) and the run is marked so",
                err=True,
            )
        config = build_config(
            manifest=manifest, model=model, task=task, protocol=protocol, n_splits=n_splits, seed=seed, input=input_,
            features_dir=features or out.resolve().parent / "features", feature=feature, train=train,
            model_option=model_option, train_datasets=train_datasets, test=test, split_column=split_column,
            weights=weights, size=size,
            epochs=epochs, resample=resample, loss=loss, val_subjects=val_subjects, include_excluded=include_excluded,
        )  # fmt: skip
        executor = executor or ("process" if jobs > 1 else "local")
        run_options = {"executor": executor, "jobs": jobs, "ray_address": ray_address, "mlflow_uri": mlflow}
        if seeds is not None:
            from mextk.evaluate.seeds import evaluate_seeds, parse_seeds

            try:
                seed_list = parse_seeds(seeds)
            except ValueError as exc:
                fail(str(exc))
            spread = evaluate_seeds(config, out, seed_list, progress=not as_json, **run_options)
            if as_json:
                typer.echo((out / "metrics.json").read_text())
                return
            for key in ("acc", "uf1", "uar"):
                m = spread.summary[key]
                ens = spread.ensemble[key]
                typer.echo(f"{key.upper():4s} {m.mean:.3f} ± {m.sd:.3f} over seeds {seeds} "
                           f"(min {m.min:.3f}, max {m.max:.3f}); seed ensemble {ens:.3f}")  # fmt: skip
            typer.echo(f"run folder: {out} (seed_<s>/ per seed, ensemble/, metrics.json)")
            return
        result = evaluate_run(config, out, progress=not as_json, **run_options)
    if as_json:
        typer.echo((out / "metrics.json").read_text())
        return
    from rich.console import Console

    protocol_text = result.metrics.get("protocol_detail") or result.protocol
    Console().print(metrics_table(result.metrics, f"{result.method} ({result.variant}), {protocol_text}"))
    typer.echo(f"run folder: {out} (predictions.csv, metrics.json, confusion.png, table.md)")


def train(
    manifest: Annotated[Path, typer.Argument(help="Manifest of the training samples (every subject is used).")],
    out: Annotated[Path, typer.Option(help="Model folder to write (model.json, weights).")],
    model: _ModelOpt = None,
    task: _TaskOpt = RECOGNITION_TASK,
    seed: _SeedOpt = 0,
    input_: _InputOpt = "features",
    features: _FeaturesOpt = None,
    feature: _FeatureOpt = None,
    train: _TrainOpt = None,
    model_option: _ModelOptionOpt = None,
    weights: _WeightsOpt = None,
    size: _SizeOpt = None,
    epochs: _EpochsOpt = None,
    resample: _ResampleOpt = None,
    loss: _LossOpt = None,
    val_subjects: _ValOpt = None,
    jobs: _JobsOpt = 1,
    include_excluded: _ExcludedOpt = False,
) -> None:
    """Train a final model on all subjects with the settings evaluate uses; writes a model folder for mextk predict."""
    from mextk.evaluate.final import train_model
    from mextk.evaluate.runconfig import build_config

    if model is None:
        fail("train needs --model (mextk models lists them)")
    out_folder(out)
    config = build_config(
        manifest=manifest, model=model, task=task, seed=seed, input=input_,
        features_dir=features or out.resolve().parent / "features", feature=feature, train=train,
        model_option=model_option, weights=weights, size=size, epochs=epochs, resample=resample, loss=loss,
        val_subjects=val_subjects,
        include_excluded=include_excluded,
    )  # fmt: skip
    trained = train_model(config, out, jobs=jobs)
    if trained.cached:
        typer.echo(f"{out}: already holds this model (same settings); nothing to do")
        return
    typer.echo(
        f"trained {trained.model} ({trained.task}: {', '.join(trained.classes)}) on {trained.n_samples} samples of "
        f"{len(trained.trained_on)} subjects ({trained.skipped} skipped, see {out / 'skipped.csv'}) -> {out}"
    )
    typer.echo("datasets: " + ", ".join(f"{name} ({n} samples)" for name, n in trained.datasets.items()))
    if trained.synthetic_only:
        typer.echo("note: trained on mextk's synthetic data only: its classes mean nothing on real faces", err=True)


def predict(
    model_dir: Annotated[Path, typer.Argument(help="Model folder: mextk train's output or a fold of a run.")],
    items: Annotated[list[Path], typer.Argument(help="A manifest (.csv/.parquet), or clip files and frame folders.")],
    out: Annotated[
        Path,
        typer.Option(
            help="Output folder: OUT/predictions.csv and the feature cache OUT/features. A path ending in .csv "
            "is the predictions file itself, its cache beside it (NAME.features)."
        ),
    ] = Path("predictions"),
    features: Annotated[Optional[Path], typer.Option(help="Feature cache (default: under --out, see there).")] = None,
    jobs: Annotated[int, typer.Option(help="Feature workers.")] = 1,
    include_excluded: _ExcludedOpt = False,
) -> None:
    """Class probabilities of a trained model for new clips (the model's own feature settings are used)."""
    from mextk.cli.base import out_file
    from mextk.evaluate.predict import predict_clips, prediction_outputs

    csv, cache = prediction_outputs(out)
    predicted = predict_clips(
        model_dir, items, out_file(csv), features_dir=features or cache, include_excluded=include_excluded, jobs=jobs
    )
    for sid, reason in predicted.failed.items():
        typer.echo(f"failed: {sid}: {reason}", err=True)
    table = predicted.table
    counts = ", ".join(f"{k} {v}" for k, v in table["predicted"].value_counts().sort_index().items())
    typer.echo(f"{len(table)} clips predicted ({counts or 'none'}); {len(predicted.failed)} failed -> {csv}")
    if predicted.failed:
        raise typer.Exit(EXIT_PARTIAL)


def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run folders of mextk evaluate.")],
    out: Annotated[Optional[Path], typer.Option(help="Folder for compare.md / compare.csv.")] = None,
) -> None:
    """One table over several runs (CMED Table VI, DFME Tables VIII-XI)."""
    from rich.console import Console
    from rich.table import Table

    from mextk.evaluate.compare import compare_runs

    if out is not None:
        out_folder(out)
    df = compare_runs(runs)
    table = Table(title=f"{len(df)} runs", title_justify="left")
    cols = ["Method", "Variant", "Protocol", "Settings", "UF1", "UAR", "Accuracy", "N"]
    if any(not isinstance(v, str) for v in df["Seeds"]):  # some run has several seeds: say how many each has
        cols.append("Seeds")
    cols += [c for c in df.columns if c.startswith(("UF1 (", "UAR ("))]  # per dataset, when runs score several
    for col in cols:
        table.add_column(col, justify="left" if col in ("Method", "Variant", "Protocol", "Settings") else "right")
    for row in df.itertuples(index=False):
        r = row._asdict()
        table.add_row(*[f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in cols])
    Console().print(table)
    if out is not None:
        from mextk.io.tables import write_table

        write_table(df, out, "compare")
        typer.echo(f"-> {out / 'compare.md'}, {out / 'compare.csv'}")


def ensemble(
    runs: Annotated[
        list[Path], typer.Argument(help="Run folders of mextk evaluate (a --seeds folder counts as its seeds).")
    ],
    out: Annotated[Path, typer.Option(help="Run folder for the ensemble (mextk compare reads it).")],
    stack: Annotated[
        bool,
        typer.Option(
            "--stack",
            help="Weigh the members per fold, with weights learned by inner cross-validation on that fold's "
            "training subjects (trains each member again; resumable).",
        ),
    ] = False,
    inner_folds: Annotated[int, typer.Option(help="Inner folds of each fold's training subjects (--stack).")] = (
        INNER_FOLDS
    ),
    executor: _ExecutorOpt = None,
    jobs: _JobsOpt = 1,
    ray_address: _RayOpt = None,
) -> None:
    """Combine the class probabilities of runs with the same protocol and folds (models and seeds): mean or stacked."""
    from mextk.evaluate.ensemble import ensemble_runs
    from mextk.evaluate.runner import check_executor
    from mextk.evaluate.stacking import stack_runs
    from mextk.io.atomic import read_json

    out_folder(out)
    executor = executor or ("process" if jobs > 1 else "local")
    try:
        if stack:
            check_executor(executor)
            metrics = stack_runs(runs, out, inner_folds=inner_folds, executor=executor, jobs=jobs,
                                 ray_address=ray_address)  # fmt: skip
        else:
            metrics = ensemble_runs(runs, out)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        fail(str(exc))
    leaky = " (LEAKY: a member selected on its test folds)" if metrics.get("leaky") else ""
    kind = "stacked ensemble" if stack else "ensemble"
    typer.echo(
        f"{kind} of {len(runs)} runs: UF1 {metrics['uf1']:.4f}, UAR {metrics['uar']:.4f}, "
        f"accuracy {metrics['acc']:.4f} on {metrics['n']} samples{leaky} -> {out}"
    )
    if stack:
        weights = read_json(out / "stacking.json", what="stacking record")["mean_weights"]
        typer.echo("mean weights: " + ", ".join(f"{name} {w:.3f}" for name, w in weights.items()))


def models() -> None:
    """List the registered models, their inputs and training defaults."""
    from rich.console import Console
    from rich.table import Table

    from mextk.models.registry import MODELS

    table = Table(title="models (--model)", title_justify="left")
    for col in ("name", "input", "feature", "training", "description"):
        table.add_column(col)
    for spec in MODELS.values():
        params = ", ".join(f"{k}={v}" for k, v in spec.feature_params.items())
        train = ", ".join(f"{k}={v}" for k, v in spec.training_settings().items())
        table.add_row(spec.name, spec.input_type, f"{spec.feature} {params}".strip(), train, spec.description)
    Console().print(table)
