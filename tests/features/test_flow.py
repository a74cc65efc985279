from __future__ import annotations

import numpy as np
import pytest

from mextk.features.flow import megc_flow_input, minmax, optical_strain, tvl1_flow


def _texture(seed=0, size=64):
    import cv2

    g = np.random.default_rng(seed)
    img = cv2.GaussianBlur(g.uniform(0, 255, (size, size)).astype(np.float32), (0, 0), 1.5)
    return cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def test_strain_on_known_flow_fields():
    y, x = np.mgrid[0:9, 0:9].astype(np.float64)
    translation = np.stack([np.full_like(x, 3.0), np.full_like(x, -1.0)], axis=-1)
    assert np.allclose(optical_strain(translation), 0)  # rigid motion has no strain
    stretch = np.stack([0.1 * x, 0.2 * y], axis=-1)
    assert np.allclose(optical_strain(stretch), np.sqrt(0.1**2 + 0.2**2), atol=1e-6)
    shear = np.stack([0.4 * y, np.zeros_like(x)], axis=-1)  # u_y = 0.4: strain = sqrt(0.4^2 / 2)
    assert np.allclose(optical_strain(shear), np.sqrt(0.5) * 0.4, atol=1e-6)
    rotation = np.stack([-0.1 * (y - 4), 0.1 * (x - 4)], axis=-1)  # u_y = -0.1, v_x = 0.1: no strain
    assert np.allclose(optical_strain(rotation), 0, atol=1e-6)
    with pytest.raises(ValueError):
        optical_strain(np.zeros((4, 4)))


def test_tvl1_recovers_a_translation():
    a = _texture()
    b = np.roll(a, 2, axis=1)
    flow = tvl1_flow(a, b)
    assert flow.shape == (64, 64, 2) and flow.dtype == np.float32
    assert flow[16:48, 16:48, 0].mean() == pytest.approx(2.0, abs=0.1)
    assert abs(flow[16:48, 16:48, 1].mean()) < 0.1
    with pytest.raises(ValueError, match="uint8"):
        tvl1_flow(a.astype(np.float32), b)
    with pytest.raises(ValueError, match="shape"):
        tvl1_flow(a, b[:32])


def test_megc_input_channels_and_normalisation():
    a = _texture(1)
    b = np.roll(a, 1, axis=0)
    x = megc_flow_input(a, b)
    assert x.shape == (28, 28, 3) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    assert minmax(np.full((3, 3), 7.0)).max() == 0
    assert minmax(np.array([2.0, 4.0, 6.0])).tolist() == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("emotion", ["surprise", "happiness", "sadness", "disgust", "anger", "fear"])
def test_flow_recovers_the_rendered_action_units(emotion):
    """On synthetic clips the true landmark motion is known: TV-L1 must point the same way."""
    import cv2

    from mextk.synth.clips import ClipSpec, render_clip

    clip = render_clip(ClipSpec(subject_seed=5, seed=11, emotion=emotion, size=160, amplitude_px=3.0))
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in clip.frames]
    flow = tvl1_flow(gray[clip.onset], gray[clip.apex])
    true = clip.landmarks[clip.apex] - clip.landmarks[clip.onset]
    # remove the head's own jitter from both, then compare the action units' local movement
    true_local = true - np.median(true, axis=0)
    moving = np.hypot(*true_local.T) > 1.0
    assert moving.sum() >= 8
    pts = np.rint(clip.landmarks[clip.onset][moving]).astype(int)
    sampled = flow[pts[:, 1], pts[:, 0]] - np.median(flow[40:120, 40:120].reshape(-1, 2), axis=0)
    t = true_local[moving]
    cos = (sampled * t).sum(1) / np.linalg.norm(sampled, axis=1) / np.linalg.norm(t, axis=1)
    assert np.median(cos) > 0.85 and (cos > 0.5).mean() >= 0.85
    if emotion == "surprise":  # AU1 + AU2: the brows go up (negative y)
        brows = np.rint(clip.landmarks[clip.onset][17:27]).astype(int)
        assert (flow[brows[:, 1], brows[:, 0], 1] - np.median(flow[..., 1])).mean() < -0.5
