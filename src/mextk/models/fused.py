"""Fused CPU training of STSTNet: the same model, loss and optimiser as :func:`mextk.models.training.fit_torch`.

Leave-one-subject-out STSTNet (MEGC 2019: 442 inputs, 68 subjects, 800
full-batch epochs) is dozens of small trainings.  A PyTorch step on the CPU is
not held back by Python overhead but by a dozen passes over the
436 x 16 x 30 x 30 first-layer activations (convolution, ReLU, batch-norm
statistics and output, pooling, and each one's backward).  The C kernel in
``_ststnet.c`` restates the training step exactly (batch norm's backward,
max-pool's routing, dropout, cross-entropy, Adam / SGD and the StepLR
schedule) with one forward pass and one backward pass over those
activations, 16 channels per vector, the samples split over threads.

The kernel is compiled on first use with the machine's C compiler
(``cc -O3 -march=native``) into ``$MEXTK_CACHE_DIR`` (default
``~/.cache/mextk``), keyed by the source, the flags and the CPU, like
``torch.compile`` does.  Without a compiler, or for settings it does not
cover (mini-batches, class resampling, focal loss, an inner validation split,
flow rotation, a GPU), training falls back to the PyTorch loop; ``--train kernel=torch``
asks for that loop.

**Flow augmentation.**  Flips (``u`` negated) and integer shifts (edges replicated) are index maps of a
28 x 28 input: the kernel builds each epoch's augmented inputs itself, in parallel, from draws made in
Python exactly as :func:`~mextk.models.training.fit_torch` makes them for a full batch (the run's seed),
so both train the same weights (``tests/models/test_fused.py``).  It kept 87-89% of the unaugmented speed
here (``benchmarks/models.py --only 7``).  Rotation interpolates and stays with the PyTorch loop.

Results match the PyTorch loop up to float rounding order and the dropout
random numbers (a counter-based hash of seed, epoch, sample and unit rather
than torch's generator); ``tests/models/test_fused.py`` checks the
parameters after a few steps against autograd.

**bfloat16** (``--train precision=bf16``, opt-in).  On CPUs with Intel AMX
(Sapphire Rapids and later; Linux lends the tile registers on request), the
convolution and its weight and bias gradients run as AMX tile products: the
inputs, the convolution weights and the gradient at its output are rounded to
bfloat16 (8 significant bits instead of 24), the products are summed in float32,
and the weights stay float32 between steps.  Everything else is the float32
kernel.  Where AMX is missing, training runs in float32 and
``history["precision_unused"]`` says why; the PyTorch loop always trains in
float32.  Measured on this project's 2-core machine (``benchmarks/models.py``):
a five-seed LOSO run on 442 inputs took 11.3 instead of 31.3 minutes with the
same UF1 (0.751 +- 0.013 against 0.750 +- 0.012, seed by seed within 0.004);
the kernel alone, 12.4 against 31.2 microseconds per sample and epoch on one
thread (part 6; this machine's timings swing by up to 2x between runs).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from mextk.models.training import TrainConfig, augment_record

SOURCE = Path(__file__).with_name("_ststnet.c")
FLAGS = ("-O3", "-march=native", "-ffp-contract=fast", "-fPIC", "-shared", "-pthread", "-fno-predictive-commoning")
#: Epochs per kernel call (progress is reported between calls).
CHUNK = 25

_f = ctypes.POINTER(ctypes.c_float)
_i = ctypes.POINTER(ctypes.c_int32)
_u16 = ctypes.POINTER(ctypes.c_uint16)
_ARGTYPES = [_f, _i, ctypes.c_int, _i, _f, ctypes.c_int, _f, _f, _f, _f, _f, ctypes.c_int, ctypes.c_int, ctypes.c_int]
_ARGTYPES += [ctypes.c_double] * 6 + [ctypes.c_int] + [ctypes.c_double] * 4
_ARGTYPES += [ctypes.c_uint64, ctypes.c_int, _f]


def cache_dir() -> Path:
    """Folder of compiled kernels: ``$MEXTK_CACHE_DIR``, else ``$XDG_CACHE_HOME/mextk``, else ``~/.cache/mextk``."""
    if os.environ.get("MEXTK_CACHE_DIR"):
        return Path(os.environ["MEXTK_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mextk"


def _cpu_key() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = next((line for line in text.splitlines() if line.startswith(("flags", "Features"))), "")
    except OSError:
        flags = ""
    return f"{platform.machine()} {platform.processor()} {flags}"


@lru_cache(maxsize=1)
def kernel() -> ctypes.CDLL | None:
    """The compiled kernel, compiling it on first use; ``None`` (with one warning) when it cannot be had."""
    try:
        if sys.platform == "win32":
            raise RuntimeError("not built on Windows")
        compiler = shlex.split(os.environ.get("CC", "")) or [
            next((c for c in ("cc", "gcc", "clang") if shutil.which(c)), "cc")
        ]
        key = hashlib.sha256(SOURCE.read_bytes() + " ".join(compiler + list(FLAGS) + [_cpu_key()]).encode())
        name = f"ststnet-{key.hexdigest()[:16]}.so"
        try:
            target = _build(compiler, cache_dir(), name)
        except OSError:  # a cache folder that cannot be written (read-only home): the temporary folder
            target = _build(compiler, Path(tempfile.gettempdir()) / f"mextk-{os.getuid()}", name)
        lib = ctypes.CDLL(str(target))
    except (OSError, RuntimeError) as exc:
        warnings.warn(f"no STSTNet kernel ({exc}): STSTNet trains with the (slower) PyTorch loop", stacklevel=2)
        return None
    lib.ststnet_train.argtypes = _ARGTYPES
    lib.ststnet_train.restype = ctypes.c_int
    lib.ststnet_train_bf16.argtypes = [*_ARGTYPES, _u16]
    lib.ststnet_train_bf16.restype = ctypes.c_int
    lib.ststnet_train_aug.argtypes = [*_ARGTYPES, _u16, ctypes.POINTER(ctypes.c_int8), ctypes.c_int]
    lib.ststnet_train_aug.restype = ctypes.c_int
    lib.ststnet_pack_bf16.argtypes = [_f, _i, ctypes.c_int, _u16]
    lib.ststnet_pack_bf16.restype = ctypes.c_int
    lib.ststnet_packed_size.restype = ctypes.c_int
    lib.ststnet_bf16_available.restype = ctypes.c_int
    return lib


def bf16_unavailable(lib: ctypes.CDLL) -> str | None:
    """Why the bfloat16 kernel cannot run here (``None`` when it can)."""
    state = lib.ststnet_bf16_available()
    if state == 0:
        return "bfloat16 needs Intel AMX-BF16 (Sapphire Rapids or later) and a compiler that targets it"
    if state < 0:
        return "the operating system does not lend the AMX tile registers (Linux 5.16 or later does)"
    return None


def _build(compiler: list[str], folder: Path, name: str) -> Path:
    """Compile the kernel into ``folder/name`` unless it is there (temp file, then rename)."""
    target = folder / name
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
    os.close(fd)
    try:
        proc = subprocess.run([*compiler, *FLAGS, "-o", tmp, str(SOURCE), "-lm"], capture_output=True, text=True)
        if proc.returncode:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise RuntimeError(f"{' '.join(compiler)} failed on {SOURCE.name}: {last}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def unsupported(config: TrainConfig, n_classes: int) -> str | None:
    """Why the kernel cannot train with ``config`` (``None`` when it can)."""
    if config.kernel == "torch":
        return "kernel=torch asked for"
    if config.batch_size:
        return "mini-batches (the kernel trains full batch)"
    if config.resample != "none":
        return "class resampling"
    if config.loss not in ("ce", "cb"):
        return f"loss {config.loss!r}"
    if config.val_subjects > 0:
        return "an inner validation split"
    if config.select_on_test:
        return "picking the epoch on the test fold (select_on_test)"
    if config.augment_rotate:
        return "flow rotation (the kernel mirrors and shifts; a rotation interpolates)"
    if config.augment_shift > 27:
        return f"shifts of {config.augment_shift} px (the inputs are 28 px wide)"
    if n_classes > 64:
        return "more than 64 classes"
    from mextk.models.training import resolve_device

    if resolve_device(config.device).type != "cpu":
        return "a GPU is used"
    return None


def _standard(model: Any) -> bool:
    """Whether ``model`` is the STSTNet the kernel restates (3 input channels, 3 + 5 + 8 filters, 28 px)."""
    from mextk.models.flownets import STSTNet

    if not isinstance(model, STSTNet) or model.fc.in_features != 400:
        return False
    convs = [s[0] for s in model.streams]
    drops = {float(s[4].p) for s in model.streams}
    bns = {(s[2].eps, s[2].momentum) for s in model.streams}
    shapes = [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs]
    return shapes == [(3, w, (3, 3), (2, 2)) for w in (3, 5, 8)] and len(drops) == 1 and len(bns) == 1


def pack(model: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """STSTNet parameters as the kernel's flat vector, plus BN running mean and variance."""
    convs = [s[0] for s in model.streams]
    bns = [s[2] for s in model.streams]
    w = np.concatenate([c.weight.detach().numpy() for c in convs])  # (16, 3, 3, 3): out, in, dy, dx
    w = w.transpose(2, 3, 1, 0).reshape(27, 16)  # k = dy*9 + dx*3 + in
    parts = [
        w,
        np.concatenate([c.bias.detach().numpy() for c in convs]),
        np.concatenate([b.weight.detach().numpy() for b in bns]),
        np.concatenate([b.bias.detach().numpy() for b in bns]),
        model.fc.weight.detach().numpy(),
        model.fc.bias.detach().numpy(),
    ]
    flat = np.ascontiguousarray(np.concatenate([p.ravel() for p in parts]), dtype=np.float32)
    rm = np.ascontiguousarray(np.concatenate([b.running_mean.numpy() for b in bns]), dtype=np.float32)
    rv = np.ascontiguousarray(np.concatenate([b.running_var.numpy() for b in bns]), dtype=np.float32)
    return flat, rm, rv


def unpack(model: Any, flat: np.ndarray, rm: np.ndarray, rv: np.ndarray, steps: int) -> None:
    """Write the kernel's vectors back into an STSTNet."""
    import torch

    n_classes = model.fc.out_features
    w = flat[:432].reshape(3, 3, 3, 16).transpose(3, 2, 0, 1)  # -> (16, in, dy, dx)
    b, g, be = flat[432:448], flat[448:464], flat[464:480]
    fw = flat[480 : 480 + 400 * n_classes].reshape(n_classes, 400)
    fb = flat[480 + 400 * n_classes :]
    lo = 0
    with torch.no_grad():
        for stream in model.streams:
            conv, bn = stream[0], stream[2]
            hi = lo + conv.out_channels
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(w[lo:hi])))
            conv.bias.copy_(torch.from_numpy(b[lo:hi].copy()))
            bn.weight.copy_(torch.from_numpy(g[lo:hi].copy()))
            bn.bias.copy_(torch.from_numpy(be[lo:hi].copy()))
            bn.running_mean.copy_(torch.from_numpy(rm[lo:hi].copy()))
            bn.running_var.copy_(torch.from_numpy(rv[lo:hi].copy()))
            bn.num_batches_tracked.fill_(steps)
            lo = hi
        model.fc.weight.copy_(torch.from_numpy(np.ascontiguousarray(fw)))
        model.fc.bias.copy_(torch.from_numpy(fb.copy()))


def padded_inputs(inputs: Sequence[Any]) -> np.ndarray:
    """``(3, 28, 28)`` tensors -> ``(n, 32, 32, 3)`` float32, channels last, zero-padded by 2."""
    x = np.stack([np.asarray(t, dtype=np.float32) for t in inputs])
    if x.ndim != 4 or x.shape[1:] != (3, 28, 28):
        raise ValueError(f"the STSTNet kernel takes (3, 28, 28) inputs, got {x.shape[1:]}")
    out = np.zeros((len(x), 32, 32, 3), dtype=np.float32)
    out[:, 2:30, 2:30] = x.transpose(0, 2, 3, 1)
    return out


def _ptr(a: np.ndarray, kind: Any) -> Any:
    return a.ctypes.data_as(kind)


def _augment_draws(
    config: TrainConfig, n: int, uv_ratios: Sequence[float | None] | None, names: Sequence[str] | None
) -> Callable[[], np.ndarray] | None:
    """Per call, one epoch's ``(n, 3)`` int8 (dx, dy, flip) for the kernel; ``None`` without augmentation.

    The draws are :func:`~mextk.models.training.fit_torch`'s for a full batch: its sample order
    (``rng.permutation`` of the run's seed, drawn every epoch) and one
    :meth:`~mextk.models.augment.FlowAugment.draw` per epoch from the augmentation's own stream, the ``j``-th
    draw going to the ``j``-th sample of that order.  So the same seed augments each sample alike in both.
    """
    if not config.augments:
        return None
    from mextk.models.augment import FlowAugment

    augment = FlowAugment(
        flip=config.augment_flip, shift=config.augment_shift, normalised=config.flow_values == "minmax",
        ratios=uv_ratios, names=names,
    )  # fmt: skip
    order_rng = np.random.default_rng(config.seed)
    aug_rng = np.random.default_rng([config.seed, 7])

    def one_epoch() -> np.ndarray:
        order = order_rng.permutation(n)
        d = augment.draw(n, aug_rng)
        out = np.zeros((n, 3), dtype=np.int8)
        out[order] = np.stack([d["dx"], d["dy"], d["flip"]], axis=1).astype(np.int8)
        return out

    return one_epoch


def fit_ststnet(
    build: Callable[[], Any],
    inputs: Sequence[Any],
    y: np.ndarray,
    *,
    n_classes: int,
    input_type: str,
    config: TrainConfig,
    subjects: np.ndarray | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    threads: int | None = None,
    uv_ratios: Sequence[float | None] | None = None,
    names: Sequence[str] | None = None,
    test_inputs: Sequence[Any] | None = None,
    test_y: np.ndarray | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train an STSTNet like :func:`~mextk.models.training.fit_torch`, with the fused kernel when it applies.

    Same arguments and return value as ``fit_torch`` (plus ``threads``: kernel threads, default
    ``torch.get_num_threads()``).  Falls back to ``fit_torch`` for settings the kernel does not cover
    (:func:`unsupported`) or when it cannot be compiled; ``history["trainer"]`` says which ran and
    ``history["kernel_unused"]`` why the kernel was not used.
    """
    import torch

    from mextk.models.imbalance import class_counts, loss_class_weights
    from mextk.models.training import fit_torch

    reason = unsupported(config, n_classes)
    if reason is None and len(inputs) and tuple(np.shape(inputs[0])) != (3, 28, 28):
        reason = f"inputs of shape {tuple(np.shape(inputs[0]))} (the kernel takes (3, 28, 28))"
    torch.manual_seed(config.seed)
    model = build() if reason is None else None
    if model is not None and not _standard(model):
        reason = "a modified STSTNet"
    lib = kernel() if reason is None else None
    if lib is None:
        model, history = fit_torch(
            build,
            inputs,
            y,
            n_classes=n_classes,
            input_type=input_type,
            config=config,
            subjects=subjects,
            progress=progress,
            uv_ratios=uv_ratios,
            names=names,
            test_inputs=test_inputs,
            test_y=test_y,
        )
        history["kernel_unused"] = reason or "the kernel could not be compiled"
        history["precision"] = "fp32"
        if config.precision != "fp32":
            history["precision_unused"] = "the PyTorch loop trains in float32"
        return model, history
    y = np.ascontiguousarray(y, dtype=np.int32)
    if len(y) < 2:
        raise ValueError("STSTNet needs at least two training samples (batch normalisation)")
    bn = model.streams[0][2]
    dropout = float(model.streams[0][4].p)
    flat, rm, rv = pack(model)
    mom, vel = np.zeros_like(flat), np.zeros_like(flat)
    img = padded_inputs(inputs)
    idx = np.arange(len(y), dtype=np.int32)
    cw = np.ascontiguousarray(loss_class_weights(config.loss, class_counts(y, n_classes), config.cb_beta), np.float32)
    nt = threads or torch.get_num_threads()
    losses = np.zeros(config.epochs, dtype=np.float32)
    optimizer = 0 if config.optimizer == "adam" else 1
    seed = int(np.random.default_rng(config.seed).integers(0, 2**63))
    extra: dict[str, Any] = {"precision": "fp32"}
    packed = None
    if config.precision == "bf16":
        why = bf16_unavailable(lib)
        if why is None:
            packed = np.zeros((len(y), lib.ststnet_packed_size()), dtype=np.uint16)
            lib.ststnet_pack_bf16(_ptr(img, _f), _ptr(idx, _i), len(y), _ptr(packed, _u16))
            extra["precision"] = "bf16"
        else:
            extra["precision_unused"] = why
    epoch_draws = _augment_draws(config, len(y), uv_ratios, names)
    if epoch_draws is not None:
        extra["augment"] = augment_record(config)
    done = 0
    while done < config.epochs:
        step = min(CHUNK, config.epochs - done)
        aug = None if epoch_draws is None else np.stack([epoch_draws() for _ in range(step)])
        args = [
            _ptr(img, _f), _ptr(idx, _i), len(y), _ptr(y, _i), _ptr(cw, _f), n_classes,
            _ptr(flat, _f), _ptr(mom, _f), _ptr(vel, _f), _ptr(rm, _f), _ptr(rv, _f),
            done, step, optimizer, config.lr, 0.9, 0.999, 1e-8, config.weight_decay, config.momentum,
            config.lr_step, config.lr_gamma, dropout, bn.eps, bn.momentum, seed, nt,
            _ptr(losses[done:], _f),
        ]  # fmt: skip
        if aug is not None:
            packed_ptr = None if packed is None else _ptr(packed, _u16)
            flip_minmax = int(config.flow_values == "minmax")
            rc = lib.ststnet_train_aug(*args, packed_ptr, _ptr(aug, ctypes.POINTER(ctypes.c_int8)), flip_minmax)
        elif packed is None:
            rc = lib.ststnet_train(*args)
        else:
            rc = lib.ststnet_train_bf16(*args, _ptr(packed, _u16))
        if rc == -1:
            raise MemoryError(f"the STSTNet kernel ran out of memory on {len(y)} samples")
        if rc:
            raise RuntimeError(f"the STSTNet kernel refused its arguments (code {rc})")
        done += step
        if progress is not None:
            progress(done, config.epochs, float(losses[done - 1]))
    unpack(model, flat, rm, rv, config.epochs)
    history = {"loss": losses.astype(float).tolist(), "val_uf1": [], "chosen_epoch": config.epochs, "trainer": "kernel"}
    history.update(extra)
    return model.eval(), history
