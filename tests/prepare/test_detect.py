from __future__ import annotations

import numpy as np
import pytest

from mextk.prepare.detect import make_detector


@pytest.fixture(scope="module")
def astronaut_gray():
    import cv2
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)


@pytest.mark.parametrize("name", ["haar", "dlib-hog"])
def test_detectors_find_the_astronaut(name, astronaut_gray):
    boxes = make_detector(name)(astronaut_gray, min_size=60, max_size=200)
    assert boxes.dtype == np.int64 and boxes.shape[1] == 4
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    assert any(abs(cx - 225) < 20 and abs(cy - 120) < 25 for cx, cy in centres)
    assert make_detector(name)(np.full((120, 160), 128, np.uint8), min_size=24).shape == (0, 4)


def test_size_limits_are_respected(astronaut_gray):
    det = make_detector("haar")
    assert len(det(astronaut_gray, min_size=150)) == 0
    assert len(det(astronaut_gray, min_size=24, max_size=60)) == 0 or all(
        w <= 60 for _, _, w, _ in det(astronaut_gray, min_size=24, max_size=60)
    )


def test_unknown_detector():
    with pytest.raises(ValueError, match="unknown detector"):
        make_detector("yolo")
