"""HTNet (:mod:`mextk.models.htnet`): its regions, shapes, gradients and learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mextk.models.htnet import CONFIGS, HTNet, htnet
from mextk.models.regions import region_layout
from mextk.models.registry import get_model
from mextk.models.training import TrainConfig, fit_torch, predict_torch


def test_the_four_regions_are_14px_crops_at_the_clamped_centres_laid_out_two_by_two():
    x = torch.arange(28 * 28, dtype=torch.float32).reshape(1, 1, 28, 28)  # pixel (r, c) holds 28 r + c
    centres = ((8.4, 10.64), (19.6, 10.64), (2.0, 30.0), (18.2, 21.0))
    out = region_layout(x, centres)
    assert out.shape == (1, 1, 28, 28)
    # the first crop is centred at (8, 11): rows 4-17, columns 1-14
    assert out[0, 0, 0, 0] == 28 * 4 + 1 and out[0, 0, 13, 13] == 28 * 17 + 14
    # the third centre (2, 30) is clamped to (7, 21): rows 14-27, columns 0-13, placed bottom left
    assert out[0, 0, 14, 0] == 28 * 14 + 0 and out[0, 0, 27, 13] == 28 * 27 + 13
    # the second sits top right: centre (20, 11), columns 13-26
    assert out[0, 0, 0, 14] == 28 * 4 + 13
    assert np.array_equal(region_layout(x.numpy(), centres), out.numpy())  # NumPy arrays are cut the same way
    with pytest.raises(ValueError, match="28 x 28"):
        region_layout(torch.zeros(1, 3, 32, 32))


@pytest.mark.parametrize("config", ["cpu", "paper"])
def test_both_configurations_give_class_scores_and_every_parameter_a_gradient(config):
    torch.manual_seed(0)
    model = htnet(num_classes=3, config=config)
    x = torch.rand(4, 3, 28, 28)
    out = model(x)
    assert out.shape == (4, 3) and torch.isfinite(out).all()
    out.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    assert sum(p.grad.abs().sum() > 0 for p in model.parameters()) == len(list(model.parameters()))
    widths = {"cpu": 16, "paper": 256}[config]
    assert model.embed.out_channels == widths == CONFIGS[config]["dim"]


def test_unknown_configurations_and_untileable_patches_are_refused():
    with pytest.raises(ValueError, match="unknown HTNet configuration"):
        htnet(config="huge")
    with pytest.raises(ValueError, match="do not tile"):
        HTNet(3, patch_size=5)


def test_it_learns_a_separable_task_from_scratch():
    """Each class brightens the u channel of one region: held-out samples are then told apart."""
    g = np.random.default_rng(0)
    spots = [(4, 4), (4, 18), (18, 10)]  # inside the right eye, left eye and mouth regions of the template

    def sample(k: int) -> torch.Tensor:
        x = g.random((3, 28, 28), dtype=np.float32) * 0.5
        r, c = spots[k]
        x[0, r + 2 : r + 7, c : c + 5] += 0.8
        return torch.from_numpy(x)

    y = np.tile(np.arange(3), 30)
    inputs = [sample(int(k)) for k in y]
    cfg = TrainConfig(optimizer="adam", lr=1e-3, batch_size=0, epochs=60, lr_step=0, seed=0)
    model, history = fit_torch(lambda: htnet(num_classes=3), inputs, y, n_classes=3, input_type="flow", config=cfg)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    test_y = np.tile(np.arange(3), 10)
    probs = predict_torch(model, [sample(int(k)) for k in test_y], input_type="flow")
    assert (probs.argmax(axis=1) == test_y).mean() >= 0.9


def test_htnet_is_registered_with_the_cpu_configuration_over_inputs_already_cut_into_regions():
    spec = get_model("htnet")
    assert spec.input_type == "flow_regions" and spec.train["epochs"] == 200
    model = spec.build(num_classes=3)
    assert model.embed.out_channels == CONFIGS["cpu"]["dim"] and model.regions is False
    assert spec.build(num_classes=3, config="paper").embed.out_channels == 256


def test_an_htnet_run_cuts_each_precomputed_input_at_its_own_landmarks(tmp_path):
    """A precomputed .npz that carries 5 MTCNN landmarks is cut there; a .npy without them at the template."""
    from mextk.evaluate.fitting import LazyInputs
    from mextk.models.regions import REGION_CENTRES

    x = np.random.default_rng(0).random((28, 28, 3), dtype=np.float32)
    five = np.array([[12.0, 9.0], [16.0, 9.0], [14.0, 14.0], [11.0, 19.0], [19.0, 20.0]])
    np.savez(tmp_path / "a.npz", x=x, landmarks=five)
    np.save(tmp_path / "b.npy", x)
    inputs = LazyInputs([str(tmp_path / "a.npz"), str(tmp_path / "b.npy")], get_model("htnet").input_type,
                        precomputed=True, preload=True)  # fmt: skip
    chw = x.transpose(2, 0, 1)
    # by hand: the first eye (12, 9) gives rows 2-15 and columns 5-18; the last corner (19, 20) rows 13-26, 12-25
    assert np.array_equal(inputs[0][:, :14, :14].numpy(), chw[:, 2:16, 5:19])
    assert np.array_equal(inputs[0][:, 14:, 14:].numpy(), chw[:, 13:27, 12:26])
    cx, cy = (min(max(round(v), 7), 21) for v in REGION_CENTRES[0])
    assert np.array_equal(inputs[1][:, :14, :14].numpy(), chw[:, cy - 7 : cy + 7, cx - 7 : cx + 7])
