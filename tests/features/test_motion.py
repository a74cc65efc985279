from __future__ import annotations

import numpy as np
import pytest

from mextk.features.motion import block_flow_features
from mextk.features.sampling import pick_apex


def _texture(seed=0, size=96):
    import cv2

    g = np.random.default_rng(seed)
    img = cv2.GaussianBlur(g.uniform(0, 255, (size, size)).astype(np.float32), (0, 0), 2.0)
    return cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def test_local_motion_shows_in_its_block_and_global_motion_is_removed():
    a = _texture()
    b = a.copy()
    # move a patch in the top-left quadrant 2 px to the right (a local "expression")
    b[8:40, 10:42] = a[8:40, 8:40]
    f = block_flow_features(a, b, grid=4, size=96)
    u, v = f[:16].reshape(4, 4), f[16:].reshape(4, 4)
    assert u[0, 0] > 0.5 and np.abs(u[2:, 2:]).max() < 0.2 and np.abs(v).max() < 0.5
    # the whole frame shifting (head motion) gives ~no features
    shifted = np.roll(a, 2, axis=1)
    g = block_flow_features(a, shifted, grid=4, size=96)
    assert np.abs(g[:16].reshape(4, 4)[:, 1:-1]).max() < 0.3


def test_identical_frames_give_zero_and_bad_input_is_rejected():
    a = _texture(1)
    assert np.abs(block_flow_features(a, a, grid=6, size=96)).max() < 0.02  # Farneback: ~0, not exactly 0
    with pytest.raises(ValueError, match="uint8"):
        block_flow_features(a.astype(np.float32), a)
    with pytest.raises(ValueError, match="differ in shape"):
        block_flow_features(a, a[:50])
    with pytest.raises(ValueError, match="multiple"):
        block_flow_features(a, a, grid=7, size=96)


def test_pick_apex():
    g = np.random.default_rng(0)
    assert pick_apex(20, onset=1, apex=7, offset=15, rng=g) == 7
    picks = {pick_apex(20, onset=3, apex=None, offset=9, rng=g) for _ in range(200)}
    assert picks == set(range(4, 10))
    assert pick_apex(5, onset=None, apex=None, offset=None, rng=np.random.default_rng(1)) in range(1, 5)
    a = [pick_apex(30, onset=0, apex=None, offset=29, rng=np.random.default_rng(5)) for _ in range(3)]
    assert len(set(a)) == 1  # same seed, same frame
    with pytest.raises(ValueError):
        pick_apex(10, onset=2, apex=12, offset=8, rng=g)
    with pytest.raises(ValueError):
        pick_apex(10, onset=8, apex=None, offset=2, rng=g)
