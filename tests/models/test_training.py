from __future__ import annotations

import numpy as np
import pytest
import torch

from mextk.models.flownets import ststnet
from mextk.models.training import TrainConfig, fit_torch, inner_validation_split, predict_torch


def _flow_data(n=60, seed=0):
    """Flow-like inputs whose class is the sign of the mean horizontal channel."""
    g = np.random.default_rng(seed)
    y = g.integers(0, 2, n)
    x = g.uniform(0, 1, (n, 3, 28, 28)).astype(np.float32) * 0.5
    x[:, 0, 8:20, 8:20] += np.where(y == 1, 0.5, 0.0)[:, None, None]
    return [torch.from_numpy(v) for v in x], y


def test_training_learns_and_is_deterministic():
    inputs, y = _flow_data()
    cfg = TrainConfig(epochs=60, batch_size=0, optimizer="adam", lr=0.01, lr_step=0, seed=3)
    m1, hist = fit_torch(
        lambda: ststnet(num_classes=2), inputs[:40], y[:40], n_classes=2, input_type="flow", config=cfg
    )
    probs = predict_torch(m1, inputs[40:], input_type="flow")
    assert probs.shape == (20, 2) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert (probs.argmax(axis=1) == y[40:]).mean() >= 0.9
    assert hist["loss"][-1] < hist["loss"][0] and hist["chosen_epoch"] == 60
    m2, _ = fit_torch(lambda: ststnet(num_classes=2), inputs[:40], y[:40], n_classes=2, input_type="flow", config=cfg)
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_schedule_resampling_losses_and_validation_run():
    inputs, y = _flow_data(48)
    subjects = np.repeat([f"s{i}" for i in range(6)], 8)
    cfg = TrainConfig(
        epochs=4, batch_size=16, lr=0.05, lr_step=2, resample="uniform", loss="cb_focal", val_subjects=0.34, seed=0
    )
    _, hist = fit_torch(
        lambda: ststnet(num_classes=2), inputs, y, n_classes=2, input_type="flow", config=cfg, subjects=subjects
    )
    assert len(hist["val_uf1"]) == 4 and 1 <= hist["chosen_epoch"] <= 4
    assert hist["chosen_epoch"] == int(np.argmax(hist["val_uf1"])) + 1
    with pytest.raises(ValueError, match="subjects"):
        fit_torch(lambda: ststnet(num_classes=2), inputs, y, n_classes=2, input_type="flow", config=cfg)


def test_inner_validation_never_splits_a_subject():
    subjects = np.repeat(["a", "b", "c", "d", "e"], 4)
    tr, va = inner_validation_split(subjects, np.zeros(20), 0.4, np.random.default_rng(0))
    assert set(subjects[tr]).isdisjoint(subjects[va]) and len(set(subjects[va])) == 2
    assert sorted(np.r_[tr, va].tolist()) == list(range(20))


def test_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="unknown training setting"):
        TrainConfig.from_dict({"epoch": 3})
    for bad in ({"optimizer": "rmsprop"}, {"resample": "smote"}, {"epochs": 0}, {"val_subjects": 1.0}):
        with pytest.raises(ValueError):
            TrainConfig(**bad)


def _mirror(t: torch.Tensor) -> torch.Tensor:
    """A (3, H, W) min-max flow input mirrored by hand: columns reversed, u -> 1 - u."""
    m = torch.flip(t, dims=[2]).clone()
    m[0] = 1.0 - m[0]
    return m


def test_training_with_flips_at_probability_one_equals_training_on_the_mirrored_inputs():
    inputs, y = _flow_data(24)
    base = {"epochs": 3, "batch_size": 8, "optimizer": "adam", "lr": 0.01, "lr_step": 0, "seed": 5, "device": "cpu"}
    build = lambda: ststnet(num_classes=2)  # noqa: E731
    flipped, hist = fit_torch(
        build, inputs, y, n_classes=2, input_type="flow", config=TrainConfig(**base, augment_flip=1.0)
    )
    by_hand, _ = fit_torch(build, [_mirror(t) for t in inputs], y, n_classes=2, input_type="flow",
                           config=TrainConfig(**base))  # fmt: skip
    for a, b in zip(flipped.state_dict().values(), by_hand.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-6)
    assert hist["augment"]["flip"] == 1.0
    plain, _ = fit_torch(build, inputs, y, n_classes=2, input_type="flow", config=TrainConfig(**base))
    off, _ = fit_torch(build, inputs, y, n_classes=2, input_type="flow",
                       config=TrainConfig(**base, augment_flip=0.0, tta=False))  # fmt: skip
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), off.state_dict().values(), strict=True))


def test_test_time_augmentation_averages_the_probabilities_of_the_input_and_its_mirror():
    inputs, y = _flow_data(10)
    model, _ = fit_torch(lambda: ststnet(num_classes=2), inputs, y, n_classes=2, input_type="flow",
                         config=TrainConfig(epochs=2, batch_size=0, device="cpu"))  # fmt: skip
    plain = predict_torch(model, inputs, input_type="flow")
    mirrored = predict_torch(model, [_mirror(t) for t in inputs], input_type="flow")
    tta = predict_torch(model, inputs, input_type="flow", tta=True, batch_size=4)
    assert np.allclose(tta, (plain + mirrored) / 2, atol=1e-6) and not np.allclose(tta, plain, atol=1e-4)


def test_augmentation_settings_are_checked_and_refused_for_inputs_that_are_not_flow():
    with pytest.raises(ValueError, match="augment_flip is a probability"):
        TrainConfig(augment_flip=1.5)
    with pytest.raises(ValueError, match="flow_values"):
        TrainConfig(flow_values="scaled")
    with pytest.raises(ValueError, match="small rotations"):
        TrainConfig(augment_rotate=90)
    with pytest.raises(ValueError, match="apply to optical-flow inputs"):
        TrainConfig(tta=True).check_input_type("clip", "r3d")
