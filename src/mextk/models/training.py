"""Training and prediction for the deep models: one fold's worth of work.

:func:`fit_torch` trains a fresh model on the training part of a fold and
:func:`predict_torch` gives class probabilities.  Cross-entropy (or the
class-balanced / focal losses of :mod:`mextk.models.imbalance`), SGD with
momentum or Adam, the learning rate divided by ``lr_gamma`` every ``lr_step``
epochs (DFME's schedule), optional uniform class resampling.

Model selection never looks at the test fold.  The default trains for a
fixed number of epochs.  With ``val_subjects > 0`` a share of the *training*
subjects is held out, the model is trained on the rest, and the epoch with the
best validation UF1 is kept.  Picking the epoch by the test fold's score
instead — common in micro-expression code — reports the best of many
attempts on the test subjects: it inflates LOSO scores by several points
because each fold's test set is tiny.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TrainConfig:
    """Training settings of a deep model (registry defaults, then user overrides).

    Attributes
    ----------
    epochs : int
        Passes over the training data.
    batch_size : int
        Samples per step; 0 means the whole training set (full batch).
    optimizer : {"sgd", "adam"}
        Optimiser.
    lr, momentum, weight_decay : float
        Optimiser settings (momentum is SGD's).
    lr_step : int
        Divide the learning rate by ``1 / lr_gamma`` every ``lr_step`` epochs; 0 keeps it constant.
    lr_gamma : float
        Factor of each step.
    resample : {"none", "uniform"}
        ``"uniform"``: each draw picks a class uniformly, then one of its samples.
    loss : {"ce", "cb", "focal", "cb_focal"}
        Cross-entropy, class-balanced, focal, or class-balanced focal loss.
    cb_beta, focal_gamma : float
        Class-balanced loss beta and focal exponent.
    val_subjects : float
        Share of training subjects held out to pick the epoch; 0 trains a fixed number of epochs.
    select_on_test : bool
        **Leaky, off by default**: keep the epoch whose model scores best (UF1) on the *test fold*, as
        HTNet's published code does.  It reproduces that kind of figure so that it can be set beside the
        honest one; runs made with it are marked ``leaky`` in ``metrics.json`` and in ``mextk compare``.
    seed : int
        Seed of initialisation, shuffling, resampling and dropout.
    device : str
        ``"auto"`` (a GPU when present), ``"cpu"`` or a torch device name.
    kernel : {"auto", "torch"}
        ``"auto"``: models with a fused CPU trainer (STSTNet, :mod:`mextk.models.fused`) use it when the
        settings allow; ``"torch"``: always the PyTorch loop.
    precision : {"fp32", "bf16"}
        Arithmetic of the fused STSTNet trainer's convolution.  ``"bf16"`` (opt-in) multiplies its inputs,
        weights and gradients rounded to bfloat16 on Intel AMX, summing in float32 (a five-seed LOSO run
        took 11.3 instead of 31.3 minutes here, with the same UF1: :mod:`mextk.models.fused`); where AMX is
        missing, or the PyTorch loop trains, training is float32 and ``history["precision_unused"]`` says why.
    augment_flip : float
        Flow inputs only: probability of mirroring a training sample, ``u`` negated with it
        (:class:`mextk.models.augment.FlowAugment`, drawn per sample and epoch). 0 (off) by default.
    augment_shift : int
        Flow inputs only: largest translation in pixels (0: off).
    augment_rotate : float
        Flow inputs only: largest rotation in degrees, the vectors rotated with the image (0: off).  The fused
        STSTNet kernel mirrors and shifts inputs itself; a rotation sends training to the PyTorch loop.
    flow_values : {"minmax", "raw"}
        How the flow inputs' ``u`` and ``v`` are scaled: ``"minmax"``, per sample and channel to [0, 1]
        (mextk's STSTNet and OFF-ApexNet inputs, and MEGC's), or ``"raw"`` pixel displacements.  Flips and
        rotations depend on it.
    tta : bool
        Test-time augmentation: predicted probabilities are the mean over the input and its mirror.

    Augmentation draws come from their own generator (seeded by ``seed``), so runs without augmentation
    are unchanged by these settings, and only training samples are augmented: nothing is chosen on a
    test fold.
    """

    epochs: int = 30
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_step: int = 10
    lr_gamma: float = 0.1
    resample: str = "none"
    loss: str = "ce"
    cb_beta: float = 0.9999
    focal_gamma: float = 2.0
    val_subjects: float = 0.0
    select_on_test: bool = False
    seed: int = 0
    device: str = "auto"
    kernel: str = "auto"
    precision: str = "fp32"
    augment_flip: float = 0.0
    augment_shift: int = 0
    augment_rotate: float = 0.0
    flow_values: str = "minmax"
    tta: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 0:
            raise ValueError(f"batch_size must be >= 0, got {self.batch_size}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.resample not in ("none", "uniform"):
            raise ValueError(f"resample must be 'none' or 'uniform', got {self.resample!r}")
        if self.loss not in ("ce", "cb", "focal", "cb_focal"):
            raise ValueError(f"loss must be 'ce', 'cb', 'focal' or 'cb_focal', got {self.loss!r}")
        if self.kernel not in ("auto", "torch"):
            raise ValueError(f"kernel must be 'auto' or 'torch', got {self.kernel!r}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")
        if not 0 <= self.val_subjects < 1:
            raise ValueError(f"val_subjects must lie in [0, 1), got {self.val_subjects}")
        if self.select_on_test and self.val_subjects > 0:
            raise ValueError("select_on_test picks the epoch on the test fold; it cannot be combined with val_subjects")
        if not 0 <= self.augment_flip <= 1:
            raise ValueError(f"augment_flip is a probability in [0, 1], got {self.augment_flip}")
        if self.augment_shift < 0 or self.augment_rotate < 0:
            raise ValueError("augment_shift and augment_rotate are largest amounts and must be >= 0")
        if self.augment_rotate > 45:
            raise ValueError(f"augment_rotate is for small rotations (at most 45 degrees), got {self.augment_rotate}")
        if self.flow_values not in ("minmax", "raw"):
            raise ValueError(f"flow_values must be 'minmax' or 'raw', got {self.flow_values!r}")

    @property
    def augments(self) -> bool:
        """Whether any training augmentation is on."""
        return bool(self.augment_flip or self.augment_shift or self.augment_rotate)

    def check_input_type(self, input_type: str, model: str = "this model") -> None:
        """Refuse flow augmentation or TTA for a model whose inputs are not optical flow."""
        if (self.augments or self.tta) and input_type != "flow":
            raise ValueError(
                f"augment_* and tta apply to optical-flow inputs (STSTNet, OFF-ApexNet); {model} takes "
                f"{input_type!r} inputs"
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict, refusing unknown keys."""
        names = {f.name for f in fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for config.json)."""
        return asdict(self)


def resolve_device(name: str) -> Any:
    """``"auto"`` -> CUDA when available, else CPU."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def collate(items: Sequence[Any], input_type: str) -> Any:
    """Stack model inputs into a batch (graphs become a ``torch_geometric`` ``Batch``)."""
    import torch

    if input_type == "graph":
        from mextk._imports import pyg

        Batch = pyg("torch_geometric.data").Batch

        return Batch.from_data_list(list(items))
    return torch.stack(list(items))


def forward(model: Any, batch: Any, input_type: str) -> Any:
    """Run a model on a batch of its input type."""
    if input_type == "graph":
        return model(batch.x, batch.edge_index, batch.batch)
    return model(batch)


def inner_validation_split(
    subjects: np.ndarray, y: np.ndarray, share: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split training indices by subject into (inner train, validation); never mixes a subject."""
    uniq = np.unique(subjects)
    if len(uniq) < 2:
        raise ValueError("an inner validation split needs at least two training subjects")
    n_val = min(len(uniq) - 1, max(1, int(round(share * len(uniq)))))
    val_subjects = rng.choice(uniq, n_val, replace=False)
    val = np.isin(subjects, val_subjects)
    return np.flatnonzero(~val), np.flatnonzero(val)


def augment_record(config: TrainConfig) -> dict[str, Any]:
    """What a training history says of its flow augmentation."""
    return {"flip": config.augment_flip, "shift": config.augment_shift, "rotate": config.augment_rotate,
            "flow_values": config.flow_values}  # fmt: skip


def fit_torch(
    build: Callable[[], Any],
    inputs: Sequence[Any],
    y: np.ndarray,
    *,
    n_classes: int,
    input_type: str,
    config: TrainConfig,
    subjects: np.ndarray | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    uv_ratios: Sequence[float | None] | None = None,
    names: Sequence[str] | None = None,
    test_inputs: Sequence[Any] | None = None,
    test_y: np.ndarray | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train a fresh model from ``build()`` on ``inputs`` (model inputs, one per sample) and labels ``y``.

    Parameters
    ----------
    build : callable
        Returns a fresh ``nn.Module`` (called after seeding, so initial weights are reproducible).
    inputs : sequence
        Per-sample model inputs (:func:`mextk.models.inputs.to_model_input`).
    y : numpy.ndarray
        Integer labels in ``[0, n_classes)``.
    n_classes : int
        Number of classes.
    input_type : str
        Input type (for batching).
    config : TrainConfig
        Settings.
    subjects : numpy.ndarray, optional
        Subject of each sample (needed when ``config.val_subjects > 0``).
    progress : callable, optional
        Called after each epoch with ``(epoch, epochs, loss)``.
    uv_ratios, names : sequence, optional
        Per sample, the raw flow's v/u range ratio (:func:`mextk.models.augment.uv_ratio`) and its file:
        what ``augment_rotate`` needs on min-max normalised flow inputs, and what its errors name.
    test_inputs, test_y : optional
        The test fold, seen only with ``config.select_on_test`` (leaky: the epoch is picked on it).

    Returns
    -------
    (torch.nn.Module, dict)
        The trained model (in eval mode, on the CPU) and a history: per-epoch loss, the chosen epoch,
        validation UF1s when used, ``trainer: "torch"``, and ``augment`` when training inputs were augmented.
    """
    import torch

    from mextk.models.imbalance import class_counts, make_loss, uniform_class_indices
    from mextk.models.metrics import uf1

    y = np.asarray(y, dtype=np.int64)
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    config.check_input_type(input_type)
    augment = None
    if config.augments:
        from mextk.models.augment import FlowAugment, on_tensor

        augment = FlowAugment(
            flip=config.augment_flip, shift=config.augment_shift, rotate=config.augment_rotate,
            normalised=config.flow_values == "minmax", ratios=uv_ratios, names=names,
        )  # fmt: skip
        aug_rng = np.random.default_rng([config.seed, 7])  # its own stream: the others are as without it

        def batch_of(idx: np.ndarray) -> Any:
            d = augment.draw(len(idx), aug_rng)  # one draw per batch, as the fused STSTNet kernel does
            return collate(
                [on_tensor(augment.apply, inputs[i], int(i), d["angle"][j], d["dx"][j], d["dy"][j], d["flip"][j])
                 for j, i in enumerate(idx)],
                input_type,
            )  # fmt: skip
    else:

        def batch_of(idx: np.ndarray) -> Any:
            return collate([inputs[i] for i in idx], input_type)

    device = resolve_device(config.device)
    train_idx = np.arange(len(y))
    val_idx = np.array([], dtype=np.int64)
    if config.val_subjects > 0:
        if subjects is None:
            raise ValueError("val_subjects needs the training samples' subjects")
        train_idx, val_idx = inner_validation_split(np.asarray(subjects).astype(str), y, config.val_subjects, rng)
    if config.select_on_test:
        if test_inputs is None or test_y is None or not len(test_y):
            raise ValueError("select_on_test needs the test fold's samples (mextk evaluate --select-on-test)")
        chooser_inputs, chooser_y = list(test_inputs), np.asarray(test_y, dtype=np.int64)
    else:
        chooser_inputs, chooser_y = [inputs[i] for i in val_idx], y[val_idx]
    model = build().to(device)
    loss_fn = make_loss(
        config.loss, class_counts(y[train_idx], n_classes), beta=config.cb_beta, gamma=config.focal_gamma
    ).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        opt: Any = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, config.lr_step, config.lr_gamma) if config.lr_step else None
    n = len(train_idx)
    bs = config.batch_size or n
    history: dict[str, Any] = {"loss": [], "val_uf1": [], "trainer": "torch"}
    if augment is not None:
        history["augment"] = augment_record(config)
    best: tuple[float, int, Any] | None = None
    full_batch = None
    if bs >= n and config.resample == "none" and augment is None:  # the same full batch every epoch: collate once
        full_batch = collate([inputs[i] for i in train_idx], input_type).to(device)
        full_y = torch.as_tensor(y[train_idx], device=device)
    for epoch in range(config.epochs):
        model.train()
        if config.resample == "uniform":
            order = train_idx[uniform_class_indices(y[train_idx], n, rng)]
        else:
            order = train_idx[rng.permutation(n)]
        total, seen = 0.0, 0
        for start in range(0, n, bs):
            if full_batch is not None:
                xb, yb = full_batch, full_y
            else:
                chunk = order[start : start + bs]
                xb = batch_of(chunk).to(device)
                yb = torch.as_tensor(y[chunk], device=device)
            if len(yb) < 2 and any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
                continue  # batch norm cannot train on one sample; the remainder is dropped this epoch
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(forward(model, xb, input_type), yb)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(yb)
            seen += len(yb)
        if sched is not None:
            sched.step()
        history["loss"].append(total / max(seen, 1))
        if len(chooser_y):
            probs = predict_torch(
                model, chooser_inputs, input_type=input_type, batch_size=bs,
                tta=config.tta, flow_values=config.flow_values,
            )  # fmt: skip
            score = uf1(chooser_y, probs.argmax(axis=1))
            history["val_uf1"].append(score)
            if best is None or score > best[0]:
                best = (score, epoch, copy.deepcopy(model.state_dict()))
        if progress is not None:
            progress(epoch + 1, config.epochs, history["loss"][-1])
    if best is not None:
        model.load_state_dict(best[2])
        history["chosen_epoch"] = best[1] + 1
    else:
        history["chosen_epoch"] = config.epochs
    return model.cpu().eval(), history


def predict_torch(
    model: Any,
    inputs: Sequence[Any],
    *,
    input_type: str,
    batch_size: int = 64,
    tta: bool = False,
    flow_values: str = "minmax",
) -> np.ndarray:
    """Class probabilities ``(n, n_classes)`` of a model in eval mode.

    With ``tta`` (flow inputs), each sample's probabilities are the mean of those of the input and of its
    mirror (:func:`mextk.models.augment.tta_inputs`, ``u`` negated; ``flow_values`` says how).
    """
    import torch

    if tta and input_type != "flow":
        raise ValueError(f"tta applies to optical-flow inputs, not {input_type!r}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    bs = batch_size or len(inputs) or 1

    def probabilities(xb: Any) -> np.ndarray:
        return torch.softmax(forward(model, xb.to(device), input_type), dim=1).cpu().numpy()

    with torch.no_grad():
        for start in range(0, len(inputs), bs):
            chunk = inputs[start : start + bs]
            p = probabilities(collate(chunk, input_type))
            if tta:
                from mextk.models.augment import flip_flow, on_tensor

                normalised = flow_values == "minmax"
                mirrored = [on_tensor(flip_flow, x, normalised=normalised) for x in chunk]
                p = (p + probabilities(collate(mirrored, input_type))) / 2.0
            out.append(p)
    if was_training:
        model.train()
    return np.concatenate(out) if out else np.zeros((0, 0))
