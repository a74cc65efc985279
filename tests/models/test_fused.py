"""The fused STSTNet trainer against PyTorch autograd, its fallbacks and its compiled-kernel cache."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings

import numpy as np
import pytest
import torch

from mextk.models import fused
from mextk.models.flownets import ststnet
from mextk.models.training import TrainConfig, fit_torch


@pytest.fixture
def compiled() -> None:
    """The kernel built with this machine's compiler.

    Decided when a test runs, not while pytest collects (collection must not compile C).  Without any C
    compiler the kernel tests skip, saying so, and the fallback tests below still run; with a compiler,
    a build that breaks fails these tests instead of making them vanish.
    """
    compiler = os.environ.get("CC") or next((c for c in ("cc", "gcc", "clang") if shutil.which(c)), None)
    if compiler is None:
        pytest.skip("no C compiler on this machine: the kernel cannot be built (the fallback tests still run)")
    fused.kernel.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the build failure's message becomes this test's error
        lib = fused.kernel()
    assert lib is not None, f"{compiler} is present, but the STSTNet kernel did not build"


def _data(n: int = 24, channels: int = 3, seed: int = 0) -> tuple[list[torch.Tensor], np.ndarray]:
    rng = np.random.default_rng(seed)
    x = [torch.from_numpy(rng.random((channels, 28, 28), dtype=np.float32)) for _ in range(n)]
    return x, rng.integers(0, 3, n)


def _max_rel_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    worst = 0.0
    for key in a:
        scale = max(float(b[key].float().abs().max()), 1e-3)
        worst = max(worst, float((a[key].float() - b[key].float()).abs().max()) / scale)
    return worst


@pytest.mark.parametrize(
    "settings",
    [
        {"optimizer": "adam", "lr": 1e-3, "loss": "ce"},
        {"optimizer": "sgd", "lr": 0.05, "weight_decay": 1e-3, "lr_step": 3, "lr_gamma": 0.5, "loss": "cb"},
    ],
)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.usefixtures("compiled")
def test_kernel_matches_autograd(settings: dict, threads: int) -> None:
    x, y = _data()
    cfg = TrainConfig(epochs=6, batch_size=0, device="cpu", seed=1, **{"lr_step": 0, **settings})

    def build() -> torch.nn.Module:
        return ststnet(num_classes=3, dropout=0.0)

    fast, h_fast = fused.fit_ststnet(build, x, y, n_classes=3, input_type="flow", config=cfg, threads=threads)
    ref, h_ref = fit_torch(build, x, y, n_classes=3, input_type="flow", config=cfg)
    assert h_fast["trainer"] == "kernel"
    np.testing.assert_allclose(h_fast["loss"], h_ref["loss"], rtol=1e-5)
    assert _max_rel_diff(fast.state_dict(), ref.state_dict()) < 1e-4
    # the weights moved: the comparison is not between two untouched initialisations
    torch.manual_seed(1)
    assert _max_rel_diff(build().state_dict(), ref.state_dict()) > 1e-3


@pytest.mark.parametrize(
    ("augment", "flow_values"),
    [
        ({"augment_flip": 0.5, "augment_shift": 2}, "minmax"),
        ({"augment_flip": 1.0}, "raw"),
        ({"augment_shift": 3}, "minmax"),
    ],
)
@pytest.mark.usefixtures("compiled")
def test_augmented_kernel_matches_the_torch_loop_with_the_same_draws(augment: dict, flow_values: str) -> None:
    """Flips (u negated: -u, or 1 - u on min-max inputs) and shifts drawn per sample and epoch from the seed
    train the same weights in the kernel as in the PyTorch loop, which augments with FlowAugment itself."""
    x, y = _data(20)
    cfg = TrainConfig(epochs=5, batch_size=0, optimizer="adam", lr=1e-3, lr_step=0, device="cpu", seed=3,
                      flow_values=flow_values, **augment)  # fmt: skip

    def build() -> torch.nn.Module:
        return ststnet(num_classes=3, dropout=0.0)

    fast, h_fast = fused.fit_ststnet(build, x, y, n_classes=3, input_type="flow", config=cfg, threads=2)
    ref, h_ref = fit_torch(build, x, y, n_classes=3, input_type="flow", config=cfg)
    plain, _ = fused.fit_ststnet(
        build, x, y, n_classes=3, input_type="flow", config=TrainConfig(**{**cfg.to_dict(), "augment_flip": 0.0,
                                                                           "augment_shift": 0}), threads=2
    )  # fmt: skip
    assert h_fast["trainer"] == "kernel" and h_fast["augment"] == h_ref["augment"]
    np.testing.assert_allclose(h_fast["loss"], h_ref["loss"], rtol=1e-5)
    assert _max_rel_diff(fast.state_dict(), ref.state_dict()) < 1e-4
    # the augmentation changed the training: the match is not that of two unaugmented runs
    assert _max_rel_diff(plain.state_dict(), ref.state_dict()) > 1e-3


def _bf16(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.bfloat16).to(torch.float32)


class _RoundGrad(torch.autograd.Function):
    """Identity on the way forward; the gradient rounded to bfloat16 on its way back."""

    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return z.clone()

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _bf16(g)


class _BF16Conv(torch.nn.Conv2d):
    """The bfloat16 kernel's convolution said in PyTorch (the reference): inputs and weights rounded to
    bfloat16 (their products are exact in float32, the sums float32), the weights' gradient taken as if
    unrounded, the gradient at the output rounded before it reaches the weights and the bias."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight + (_bf16(self.weight) - self.weight).detach()
        z = torch.nn.functional.conv2d(_bf16(x), w, None, self.stride, self.padding)
        return _RoundGrad.apply(z + self.bias[None, :, None, None])


def _bf16_reference(num_classes: int) -> torch.nn.Module:
    model = ststnet(num_classes=num_classes, dropout=0.0)
    for stream in model.streams:
        conv = stream[0]
        twin = _BF16Conv(conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding)
        twin.load_state_dict(conv.state_dict())
        stream[0] = twin
    return model


@pytest.fixture
def amx(compiled: None) -> None:
    """The kernel's bfloat16 path can run here (Intel AMX, lent by the OS), else the test skips, saying so."""
    why = fused.bf16_unavailable(fused.kernel())
    if why:
        pytest.skip(f"no bfloat16 kernel here: {why}")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.usefixtures("amx")
def test_bf16_kernel_matches_autograd_with_bf16_rounding(threads: int) -> None:
    x, y = _data(30)
    # lr 0.01: the loss falls steadily (1.15 to 0.70).  At 0.05 it swings to 15 and back, and such a run
    # magnifies any difference in the order of float32 sums (1e-6 after one step, 1e-4 after four)
    cfg = TrainConfig(
        epochs=6, batch_size=0, optimizer="sgd", lr=0.01, weight_decay=1e-3, device="cpu", seed=2, lr_step=0
    )
    fast, h_fast = fused.fit_ststnet(
        lambda: ststnet(num_classes=3, dropout=0.0), x, y, n_classes=3, input_type="flow",
        config=TrainConfig(**{**cfg.to_dict(), "precision": "bf16"}), threads=threads,
    )  # fmt: skip
    ref16, h16 = fit_torch(lambda: _bf16_reference(3), x, y, n_classes=3, input_type="flow", config=cfg)
    ref32, _ = fit_torch(lambda: ststnet(num_classes=3, dropout=0.0), x, y, n_classes=3, input_type="flow", config=cfg)
    assert h_fast["trainer"] == "kernel" and h_fast["precision"] == "bf16"
    np.testing.assert_allclose(h_fast["loss"], h16["loss"], rtol=1e-5)
    close = _max_rel_diff(fast.state_dict(), ref16.state_dict())
    assert close < 1e-4  # as close as the float32 kernel to float32 autograd
    # the comparison tells the arithmetics apart: float32 training is further away than the rounding's own noise
    assert _max_rel_diff(fast.state_dict(), ref32.state_dict()) > 5 * close


def _mostly_blank(n: int = 30, seed: int = 3) -> tuple[list[torch.Tensor], np.ndarray]:
    """Inputs that are 0 but for an 8 x 8 patch: most pooling windows see only the bias, so their nine
    values tie, and the pooled gradient must go to the first of them, as PyTorch's pooling sends it."""
    rng = np.random.default_rng(seed)
    x = []
    for _ in range(n):
        a = np.zeros((3, 28, 28), dtype=np.float32)
        a[:, 10:18, 10:18] = rng.random((3, 8, 8), dtype=np.float32)
        x.append(torch.from_numpy(a))
    return x, rng.integers(0, 3, n)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.usefixtures("compiled")
def test_tied_maxima_get_the_gradient_where_pytorch_sends_it(precision: str) -> None:
    if precision == "bf16" and (why := fused.bf16_unavailable(fused.kernel())):
        pytest.skip(f"no bfloat16 kernel here: {why}")
    x, y = _mostly_blank()
    # two steps: sending the gradient to every tied position instead of the first is 5e-2 away after one.
    # Longer runs drift apart on these inputs whatever the routing (1e-4 after six steps, the float32
    # kernel too): the kernels' batch-norm variance sums each sample's 900 values in float32, and 800
    # equal values round the same way each time (2e-4 off here, 3e-6 on random inputs)
    cfg = TrainConfig(epochs=2, batch_size=0, optimizer="sgd", lr=0.01, device="cpu", seed=4, lr_step=0)
    fast, h_fast = fused.fit_ststnet(
        lambda: ststnet(num_classes=3, dropout=0.0), x, y, n_classes=3, input_type="flow",
        config=TrainConfig(**{**cfg.to_dict(), "precision": precision}), threads=1,
    )  # fmt: skip

    def reference() -> torch.nn.Module:  # built inside fit_torch, after it seeds torch
        return _bf16_reference(3) if precision == "bf16" else ststnet(num_classes=3, dropout=0.0)

    ref, h_ref = fit_torch(reference, x, y, n_classes=3, input_type="flow", config=cfg)
    assert h_fast["trainer"] == "kernel" and h_fast["precision"] == precision
    np.testing.assert_allclose(h_fast["loss"], h_ref["loss"], rtol=1e-5)
    assert _max_rel_diff(fast.state_dict(), ref.state_dict()) < 1e-4


@pytest.mark.usefixtures("compiled")
def test_dropout_is_seeded_and_applied() -> None:
    x, y = _data(40)
    cfg = TrainConfig(epochs=30, batch_size=0, optimizer="adam", lr=1e-3, lr_step=0, device="cpu", seed=4)

    def run(dropout: float, seed: int = 4) -> tuple[torch.nn.Module, dict]:
        c = TrainConfig(**{**cfg.to_dict(), "seed": seed})
        return fused.fit_ststnet(
            lambda: ststnet(num_classes=3, dropout=dropout), x, y, n_classes=3, input_type="flow", config=c
        )

    a, ha = run(0.5)
    b, hb = run(0.5)
    assert ha["loss"] == hb["loss"]
    assert _max_rel_diff(a.state_dict(), b.state_dict()) == 0.0
    _, hc = run(0.5, seed=5)
    _, hd = run(0.0)
    assert ha["loss"] != hc["loss"]
    # dropout makes the training loss noisier and higher than without it
    assert np.mean(ha["loss"][-10:]) > np.mean(hd["loss"][-10:])
    assert hd["loss"][-1] < hd["loss"][0]


@pytest.mark.usefixtures("compiled")
def test_threads_do_not_change_the_result() -> None:
    """Sums run over fixed chunks of samples, so 1, 2 or 3 threads train bit-identical models."""
    x, y = _data(37)
    cfg = TrainConfig(epochs=5, batch_size=0, optimizer="adam", lr=1e-3, lr_step=0, device="cpu", seed=3)
    runs = [
        fused.fit_ststnet(
            lambda: ststnet(num_classes=3), x, y, n_classes=3, input_type="flow", config=cfg, threads=threads
        )
        for threads in (1, 2, 3)
    ]
    for model, history in runs[1:]:
        assert history["loss"] == runs[0][1]["loss"]
        assert _max_rel_diff(model.state_dict(), runs[0][0].state_dict()) == 0.0


@pytest.mark.usefixtures("compiled")
def test_learns_a_separable_problem() -> None:
    rng = np.random.default_rng(2)
    y = np.repeat(np.arange(3), 20)
    x = rng.random((60, 28, 28, 3), dtype=np.float32) * 0.5
    for c, (r, k) in enumerate(((4, 4), (14, 8), (8, 16))):
        x[y == c, r : r + 8, k : k + 8, c] += 0.5
    inputs = [torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))) for a in x]
    cfg = TrainConfig(epochs=150, batch_size=0, optimizer="adam", lr=1e-3, lr_step=0, device="cpu", seed=0)
    model, history = fused.fit_ststnet(
        lambda: ststnet(num_classes=3), inputs, y, n_classes=3, input_type="flow", config=cfg
    )
    assert history["trainer"] == "kernel"
    with torch.no_grad():
        pred = model(torch.stack(inputs)).argmax(1).numpy()  # eval mode: running statistics
    assert (pred == y).mean() > 0.9


@pytest.mark.parametrize(
    ("change", "channels", "why"),
    [
        ({"batch_size": 8}, 3, "mini-batches"),
        ({"kernel": "torch"}, 3, "asked for"),
        ({"loss": "focal"}, 3, "focal"),
        ({"resample": "uniform"}, 3, "resampling"),
        ({"augment_rotate": 5.0, "flow_values": "raw"}, 3, "rotation"),
        ({"augment_shift": 30}, 3, "28 px"),
        ({}, 4, "inputs of shape"),
    ],
)
def test_falls_back_to_the_torch_loop(change: dict, channels: int, why: str) -> None:
    x, y = _data(12, channels=channels)
    cfg = TrainConfig(**{"epochs": 2, "batch_size": 0, "optimizer": "adam", "lr": 1e-3, "device": "cpu", **change})
    _, history = fused.fit_ststnet(
        lambda: ststnet(num_classes=3, in_channels=channels), x, y, n_classes=3, input_type="flow", config=cfg
    )
    assert history["trainer"] == "torch"
    assert why in history["kernel_unused"]


def test_bf16_falls_back_to_float32_and_says_why(monkeypatch) -> None:
    """Without AMX (here feigned at the hardware boundary) the kernel trains in float32; the PyTorch loop
    always does; both record why bfloat16 was not used."""
    x, y = _data(12)
    cfg = TrainConfig(epochs=2, batch_size=0, optimizer="adam", lr=1e-3, device="cpu", precision="bf16")
    if fused.kernel() is not None:
        monkeypatch.setattr(fused, "bf16_unavailable", lambda lib: "no AMX on this CPU")
        ref, _ = fused.fit_ststnet(
            lambda: ststnet(num_classes=3), x, y, n_classes=3, input_type="flow",
            config=TrainConfig(**{**cfg.to_dict(), "precision": "fp32"}),
        )  # fmt: skip
        model, history = fused.fit_ststnet(
            lambda: ststnet(num_classes=3), x, y, n_classes=3, input_type="flow", config=cfg
        )
        assert history["trainer"] == "kernel" and history["precision"] == "fp32"
        assert history["precision_unused"] == "no AMX on this CPU"
        assert _max_rel_diff(model.state_dict(), ref.state_dict()) == 0.0  # exactly the float32 kernel
    torch_cfg = TrainConfig(**{**cfg.to_dict(), "kernel": "torch"})
    _, history = fused.fit_ststnet(
        lambda: ststnet(num_classes=3), x, y, n_classes=3, input_type="flow", config=torch_cfg
    )
    assert history["trainer"] == "torch" and history["precision"] == "fp32"
    assert "float32" in history["precision_unused"]
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")


def test_unsupported_reasons() -> None:
    assert fused.unsupported(TrainConfig(batch_size=0, optimizer="adam", device="cpu"), 3) is None
    assert "validation" in fused.unsupported(TrainConfig(batch_size=0, val_subjects=0.2, device="cpu"), 3)
    assert "64" in fused.unsupported(TrainConfig(batch_size=0, device="cpu"), 65)
    with pytest.raises(ValueError, match="kernel"):
        TrainConfig(kernel="fast")


@pytest.mark.usefixtures("compiled")
def test_kernel_is_compiled_once_into_the_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MEXTK_CACHE_DIR", str(tmp_path))
    fused.kernel.cache_clear()
    try:
        assert fused.kernel() is not None
        built = list(tmp_path.glob("ststnet-*.so"))
        assert len(built) == 1 and not list(tmp_path.glob("*.tmp*"))
        stamp = built[0].stat().st_mtime_ns
        fused.kernel.cache_clear()
        assert fused.kernel() is not None
        assert built[0].stat().st_mtime_ns == stamp  # reused, not rebuilt
    finally:
        fused.kernel.cache_clear()


def test_without_a_compiler_it_warns_and_falls_back(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MEXTK_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    fused.kernel.cache_clear()
    try:
        with pytest.warns(UserWarning, match="PyTorch loop"):
            assert fused.kernel() is None
        assert not list(tmp_path.iterdir())  # nothing half-written left behind
        x, y = _data(8)
        cfg = TrainConfig(epochs=1, batch_size=0, optimizer="adam", lr=1e-3, device="cpu")
        _, history = fused.fit_ststnet(lambda: ststnet(num_classes=3), x, y, n_classes=3, input_type="flow", config=cfg)
        assert history["trainer"] == "torch"
    finally:
        fused.kernel.cache_clear()


def test_pack_unpack_round_trip() -> None:
    torch.manual_seed(0)
    model = ststnet(num_classes=4)
    for s in model.streams:
        s[2].running_mean.uniform_()
        s[2].running_var.uniform_(0.5, 2)
    flat, rm, rv = fused.pack(model)
    assert flat.shape == (27 * 16 + 16 * 3 + 4 * 400 + 4,)
    other = ststnet(num_classes=4)
    fused.unpack(other, flat, rm, rv, steps=7)
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            assert int(other.state_dict()[key]) == 7
        else:
            assert torch.equal(value, other.state_dict()[key]), key


@pytest.mark.usefixtures("compiled")
def test_portable_build_matches_autograd(tmp_path, monkeypatch) -> None:
    """The generic vector code (CPUs without AVX-512) gives the same training as autograd."""
    monkeypatch.setenv("MEXTK_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(fused, "FLAGS", (*fused.FLAGS, "-mno-avx512f"))
    fused.kernel.cache_clear()
    try:
        if fused.kernel() is None:
            pytest.skip("this compiler cannot build without AVX-512")
        x, y = _data()
        cfg = TrainConfig(epochs=4, batch_size=0, optimizer="adam", lr=1e-3, lr_step=0, device="cpu", seed=2)

        def build() -> torch.nn.Module:
            return ststnet(num_classes=3, dropout=0.0)

        fast, history = fused.fit_ststnet(build, x, y, n_classes=3, input_type="flow", config=cfg, threads=2)
        ref, _ = fit_torch(build, x, y, n_classes=3, input_type="flow", config=cfg)
        assert history["trainer"] == "kernel"
        assert _max_rel_diff(fast.state_dict(), ref.state_dict()) < 1e-4
    finally:
        fused.kernel.cache_clear()


@pytest.mark.usefixtures("compiled")
def test_unwritable_cache_falls_back_to_the_temporary_folder(tmp_path, monkeypatch) -> None:
    (tmp_path / "file").write_text("a file where the cache folder should be")
    monkeypatch.setenv("MEXTK_CACHE_DIR", str(tmp_path / "file" / "mextk"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    fused.kernel.cache_clear()
    try:
        assert fused.kernel() is not None
        assert len(list((tmp_path / "tmp").glob("mextk-*/ststnet-*.so"))) == 1
    finally:
        fused.kernel.cache_clear()
