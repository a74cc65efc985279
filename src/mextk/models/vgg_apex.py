"""VGG-16 on the apex frame (CMED Fig. 7)."""

from __future__ import annotations

from torch import nn


def vgg16_apex(*, num_classes: int, weights: str | None = None, hidden: int = 512, dropout: float = 0.5) -> nn.Module:
    """torchvision's VGG-16 with a new classifier head, for one aligned face frame (the apex).

    The convolutional base is torchvision's ``vgg16``; the 4,096-unit
    ImageNet head is replaced by ``Linear(512*7*7, hidden) - ReLU - Dropout -
    Linear(hidden, num_classes)``, a smaller head that a few thousand
    samples can train (CMED's figure shows a flattened base followed by dense
    layers and a softmax; the sizes are mextk's choice).

    Parameters
    ----------
    num_classes : int
        Output classes.
    weights : str, optional
        ``None`` trains from scratch (the offline default); a torchvision weight
        name (``"IMAGENET1K_V1"``, ``"DEFAULT"``) loads ImageNet weights into the
        base (needs the internet or torch's cache); a file path loads a state dict
        (a mextk checkpoint or a plain ``state_dict``; a head of another size is
        left fresh).
    hidden : int
        Units of the hidden dense layer.
    dropout : float
        Dropout before the output layer.

    Returns
    -------
    torch.nn.Module
        Maps ``(N, 3, H, W)`` images (normalised like ImageNet) to ``(N, num_classes)`` logits;
        any ``H, W >= 32`` works (adaptive pooling to 7x7).

    References
    ----------
    K. Simonyan and A. Zisserman, "Very deep convolutional networks for large-scale image recognition",
    ICLR 2015, arXiv:1409.1556.
    """
    from torchvision.models import VGG16_Weights, vgg16

    from mextk.models.weights import load_weight_file, torchvision_weights

    enum = torchvision_weights(weights, VGG16_Weights)
    model = vgg16(weights=enum)
    model.classifier = nn.Sequential(
        nn.Linear(512 * 7 * 7, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(hidden, num_classes),
    )
    if weights is not None and enum is None:
        load_weight_file(model, weights, skip_head="classifier.")
    return model
