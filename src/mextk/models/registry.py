"""The model registry: one small dict, names as ``--model`` takes them.

Each entry says how to build the model (``module:function``, imported only
when the model is used, so ``mextk --help`` never loads torch), which cached
feature it consumes (a kind of :mod:`mextk.features.batch` and its
parameters), how that feature becomes the model's input
(:mod:`mextk.models.inputs`), and its default training settings.

Training defaults and where they come from:

==============  ==================================================================================
lbptop_svm      LBP-TOP on onset/apex/offset (CMED), 5x5 blocks, linear SVM (C 0.01), balanced class weights
motion_svm      block-averaged onset-apex Farneback flow, standardised, linear SVM (C 1), balanced class
                weights: a fast check of a pipeline (mextk's own baseline)
vgg16_apex      SGD 0.001, momentum 0.9, batch 32, 30 epochs, /10 every 10 (CMED gives none; DFME's
                schedule with a fine-tuning rate)
dgcnn           Adam 0.001, batch 32, 50 epochs, no decay (CMED gives none; Zhang et al.'s optimiser)
r3d, p3d,       DFME 4.5: SGD, momentum 0.9, batch 32, starting rates 0.005, 0.01, 0.05, 0.005,
d3d, i3d        divided by 10 every 10 epochs; 30 epochs (DFME gives no count); 16 adaptive frames at
                224, 160, 224, 224 pixels
ststnet         Adam 5e-5, full batch, 800 epochs (the authors' public code); trained by the fused CPU
                kernel of mextk.models.fused when the settings allow
offapexnet      Adam 1e-4, full batch, 800 epochs (mextk's choice on STSTNet's pattern)
htnet           CPU configuration (dim 16, blocks 1/1/2): Adam 1e-3, full batch, 200 epochs (mextk's
                choice, measured); --model-option config=paper is the authors' (dim 256, blocks
                2/2/10; train it with their Adam 5e-5, batch 256, 800 epochs: a GPU job)
==============  ==================================================================================
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from mextk.models.inputs import INPUT_TYPES


@dataclass(frozen=True)
class ModelSpec:
    """A registered model.

    Attributes
    ----------
    name : str
        Registry name.
    builder : str
        ``"module:function"``; the function takes ``num_classes`` and keyword options.
    family : str
        ``"sklearn"`` (an estimator) or ``"torch"`` (an ``nn.Module``).
    input_type : str
        One of :data:`mextk.models.inputs.INPUT_TYPES`.
    feature : str
        Feature kind it consumes (:data:`mextk.features.batch.KINDS`).
    feature_params : dict
        Overrides of that kind's parameters.
    train : dict
        Default training settings (:class:`mextk.models.training.TrainConfig` fields).
    size_param : str or None
        The feature parameter that sets the input size (``--size`` changes it).
    description : str
        One line for listings.
    trainer : str
        ``"module:function"`` that trains a torch model (signature of
        :func:`mextk.models.training.fit_torch`); STSTNet names its fused CPU trainer.
    """

    name: str
    builder: str
    family: str
    input_type: str
    feature: str
    feature_params: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    size_param: str | None = None
    description: str = ""
    trainer: str = "mextk.models.training:fit_torch"

    def fit_function(self) -> Any:
        """The training function (imported on first use)."""
        module, _, fn = self.trainer.partition(":")
        return getattr(importlib.import_module(module), fn)

    def training_settings(self) -> dict[str, Any]:
        """The settings a fit uses by default: the training loop's for torch models, the
        estimator's keyword defaults for scikit-learn ones (e.g. ``C`` of an SVM)."""
        if self.family == "torch":
            return dict(self.train)
        import inspect

        module, _, fn = self.builder.partition(":")
        signature = inspect.signature(getattr(importlib.import_module(module), fn))
        return {
            name: p.default
            for name, p in signature.parameters.items()
            if name != "num_classes" and p.default is not inspect.Parameter.empty
        }

    def build(self, *, num_classes: int, **options: Any) -> Any:
        """Build a fresh, untrained model."""
        module, _, fn = self.builder.partition(":")
        return getattr(importlib.import_module(module), fn)(num_classes=num_classes, **options)


MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model; a name can be registered once."""
    if spec.name in MODELS:
        raise ValueError(f"model {spec.name!r} is already registered")
    if spec.family not in ("sklearn", "torch"):
        raise ValueError(f"family must be 'sklearn' or 'torch', got {spec.family!r}")
    if spec.input_type not in INPUT_TYPES:
        raise ValueError(f"input_type must be one of {INPUT_TYPES}, got {spec.input_type!r}")
    MODELS[spec.name] = spec
    return spec


def get_model(name: str) -> ModelSpec:
    """The registered model ``name``, or a ValueError listing the names."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None


_SGD = {"optimizer": "sgd", "momentum": 0.9, "batch_size": 32, "epochs": 30, "lr_step": 10, "lr_gamma": 0.1}
_CLIP = {"sampling": "adaptive", "n": 16, "align": "affine"}

register(
    ModelSpec(
        "lbptop_svm",
        "mextk.models.baselines:lbptop_svm",
        "sklearn",
        "vector",
        "lbp_top",
        description="LBP-TOP histograms (onset/apex/offset) + linear SVM (CMED)",
    )
)
register(
    ModelSpec(
        "motion_svm",
        "mextk.models.baselines:motion_svm",
        "sklearn",
        "vector",
        "motion",
        description="block-averaged onset-apex flow + linear SVM (fast baseline)",
    )
)
register(
    ModelSpec(
        "vgg16_apex",
        "mextk.models.vgg_apex:vgg16_apex",
        "torch",
        "image",
        "frames",
        {"sampling": "apex", "size": 224, "align": "affine"},
        {**_SGD, "lr": 0.001},
        "size",
        "VGG-16 on the apex frame (CMED Fig. 7)",
    )
)
register(
    ModelSpec(
        "dgcnn",
        "mextk.models.dgcnn:dgcnn",
        "torch",
        "graph",
        "graphs",
        {},
        {"optimizer": "adam", "lr": 0.001, "batch_size": 32, "epochs": 50, "lr_step": 0},
        None,
        "DGCNN over key-frame landmark graphs (CMED Fig. 8)",
    )
)
for _name, _fn, _lr, _size in (
    ("r3d", "r3d", 0.005, 224),
    ("p3d", "p3d", 0.01, 160),
    ("d3d", "d3d", 0.05, 224),
    ("i3d", "i3d", 0.005, 224),
):
    register(
        ModelSpec(
            _name,
            f"mextk.models.video3d:{_fn}",
            "torch",
            "clip",
            "frames",
            {**_CLIP, "size": _size},
            {**_SGD, "lr": _lr},
            "size",
            f"{_name.upper()} over 16 adaptive key frames (DFME 4.4)",
        )
    )
register(
    ModelSpec(
        "ststnet",
        "mextk.models.flownets:ststnet",
        "torch",
        "flow",
        "flow",
        {},
        {"optimizer": "adam", "lr": 5e-5, "batch_size": 0, "epochs": 800, "lr_step": 0},
        "out_size",
        "STSTNet on onset-apex flow + strain (MEGC 2019)",
        trainer="mextk.models.fused:fit_ststnet",
    )
)
register(
    ModelSpec(
        "offapexnet",
        "mextk.models.flownets:offapexnet",
        "torch",
        "flow",
        "flow",
        {},
        {"optimizer": "adam", "lr": 1e-4, "batch_size": 0, "epochs": 800, "lr_step": 0},
        "out_size",
        "OFF-ApexNet on onset-apex flow (MEGC 2019)",
    )
)
register(
    ModelSpec(
        "htnet",
        "mextk.models.htnet:htnet_on_regions",
        "torch",
        "flow_regions",
        "flow",
        {},
        {"optimizer": "adam", "lr": 1e-3, "batch_size": 0, "epochs": 200, "lr_step": 0},
        "out_size",
        "HTNet on four facial regions of onset-apex flow + strain (Wang et al. 2024): CPU configuration, "
        "0.17 ms per sample and step on one core (config=paper: 18.7 ms)",
    )
)
