from __future__ import annotations

import numpy as np
import pytest
import torch

from mextk.models.registry import MODELS, ModelSpec, get_model, register

TORCH_MODELS = [name for name, spec in MODELS.items() if spec.family == "torch"]


def _tiny_batch(input_type: str):
    torch.manual_seed(0)
    if input_type == "image":
        return torch.randn(2, 3, 32, 32)
    if input_type == "clip":
        return torch.randn(2, 3, 8, 32, 32)
    if input_type in ("flow", "flow_regions"):  # a region layout is a 28 x 28 flow image too
        return torch.rand(2, 3, 28, 28)
    if input_type == "graph":
        from mextk.faces.reference import ASTRONAUT_LANDMARKS
        from mextk.features.graphs import landmark_graph, to_pyg
        from mextk.models.training import collate

        g = np.random.default_rng(0)
        graphs = [
            to_pyg(landmark_graph(np.stack([ASTRONAUT_LANDMARKS] * 3) + g.normal(0, 1, (3, 68, 2)))) for _ in range(2)
        ]
        return collate(graphs, "graph")
    raise AssertionError(input_type)


def test_every_issue_model_is_registered():
    assert set(MODELS) == {
        "lbptop_svm", "motion_svm", "vgg16_apex", "dgcnn", "r3d", "p3d", "d3d", "i3d", "ststnet", "offapexnet", "htnet"
    }  # fmt: skip


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_forward_and_backward_on_tiny_inputs(name):
    from mextk.models.training import forward

    spec = get_model(name)
    torch.manual_seed(0)
    model = spec.build(num_classes=3)
    assert isinstance(model, torch.nn.Module)
    batch = _tiny_batch(spec.input_type)
    logits = forward(model, batch, spec.input_type)
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2])).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads), "every parameter takes part in the forward pass"
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_lbptop_svm_is_a_sklearn_pipeline_that_learns_histograms():
    from sklearn.base import clone

    g = np.random.default_rng(0)
    x0 = g.dirichlet(np.ones(59), size=30)
    x1 = g.dirichlet(np.r_[np.full(10, 5.0), np.ones(49)], size=30)
    X, y = np.vstack([x0, x1]), np.r_[np.zeros(30), np.ones(30)].astype(int)
    model = clone(get_model("lbptop_svm").build(num_classes=2))
    assert (model.fit(X[::2], y[::2]).predict(X[1::2]) == y[1::2]).mean() > 0.9


def test_registry_refuses_duplicates_and_unknown_names():
    with pytest.raises(ValueError, match="already registered"):
        register(MODELS["dgcnn"])
    with pytest.raises(ValueError, match="choose one of"):
        get_model("resnet9000")
    with pytest.raises(ValueError, match="input_type"):
        register(ModelSpec("x", "m:f", "torch", "audio", "flow"))


def test_weights_by_name_or_file(tmp_path):
    from torchvision.models import VGG16_Weights
    from torchvision.models.video import R3D_18_Weights

    from mextk.models.weights import torchvision_weights

    assert torchvision_weights("IMAGENET1K_V1", VGG16_Weights) is VGG16_Weights.IMAGENET1K_V1
    assert torchvision_weights("R3D_18_Weights.KINETICS400_V1", R3D_18_Weights) is R3D_18_Weights.KINETICS400_V1
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        torchvision_weights("IMAGENET", VGG16_Weights)
    # a checkpoint trained for 3 classes starts a 5-class model: base kept, head fresh
    spec = get_model("vgg16_apex")
    torch.manual_seed(0)
    trained = spec.build(num_classes=3)
    path = tmp_path / "vgg.pt"
    torch.save({"model": trained.state_dict()}, path)
    torch.manual_seed(1)
    tuned = spec.build(num_classes=5, weights=str(path))
    assert torch.equal(tuned.features[0].weight, trained.features[0].weight)
    assert tuned.classifier[-1].out_features == 5
    same = spec.build(num_classes=3, weights=str(path))
    assert torch.equal(same.classifier[-1].weight, trained.classifier[-1].weight)
    with pytest.raises(FileNotFoundError):
        spec.build(num_classes=3, weights=str(tmp_path / "none.pt"))
    from mextk.models.weights import load_weight_file

    with pytest.raises(ValueError, match="do not fit"):  # a file of another architecture is refused
        load_weight_file(get_model("ststnet").build(num_classes=3), path)
