"""The looping view of an event (:mod:`mextk.analyze.event_view`): magnification, outlines, the animation."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from mextk.analyze.event_view import ViewSettings, event_view, magnified, moved_regions
from mextk.spotting.motion import REGIONS
from tests.conftest import SHARED_DATA, need_shared


def test_magnified_moves_the_content_amplify_times_as_far():
    rng = np.random.default_rng(0)
    first = rng.integers(0, 255, (64, 64), dtype=np.uint8)
    flow = np.zeros((64, 64, 2), np.float32)
    flow[..., 0] = 1.0  # everything moved 1 px right
    out = magnified(first, flow, 3.0)
    np.testing.assert_array_equal(out[:, 3:], first[:, :-3])  # 3 px right, exactly (whole pixels)


def test_moved_regions_outlines_only_regions_that_moved_at_least_half_the_most():
    size = 100
    flow = np.zeros((size, size, 2), np.float32)
    x0, y0, x1, y1 = REGIONS["glabella"]
    flow[int(y0 * size) : int(y1 * size), int(x0 * size) : int(x1 * size), 1] = -2.0  # the glabella moved up
    x0, y0, x1, y1 = REGIONS["mouth_left"]
    flow[int(y0 * size) : int(y1 * size), int(x0 * size) : int(x1 * size), 0] = 0.5  # a quarter as much
    assert moved_regions(flow, 0.5) == ["glabella"]
    assert set(moved_regions(flow, 0.2)) >= {"glabella", "mouth_left"}
    assert moved_regions(np.zeros_like(flow), 0.5) == []


@pytest.mark.shared_data
def test_a_brow_raise_rendered_into_a_real_face_plays_as_a_loop_with_the_brows_outlined(tmp_path):
    import cv2
    from PIL import Image

    from mextk.io.video import read_frames
    from mextk.synth.face import move_action_units

    frames = read_frames(need_shared(SHARED_DATA / "videos" / "speech_frontal_1.mp4"), stop=1)
    still = frames[0]
    folder = tmp_path / "event"
    folder.mkdir()
    amounts = [0.0, 0.02, 0.05, 0.08, 0.06, 0.04, 0.02, 0.0]  # eye distances: a brow raise and back
    for i, a in enumerate(amounts):
        img = still if a == 0 else np.clip(move_action_units(still, ("AU1", "AU2"), a), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"{i:06d}.bmp"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    uri = event_view(folder, apex=3, fps=25.0, settings=ViewSettings(size=128))
    mime, data = uri.split(",", 1)
    assert mime in ("data:image/webp;base64", "data:image/gif;base64")
    anim = Image.open(io.BytesIO(base64.b64decode(data)))
    assert anim.n_frames == len(amounts) and anim.size == (256, 128)
    anim.seek(3)
    apex = np.asarray(anim.convert("RGB"))
    red = (apex[..., 0] > 180) & (apex[..., 1] < 90) & (apex[..., 2] < 90)
    ys, _ = np.nonzero(red)
    assert red.any() and ys.max() < 0.5 * 128  # outlines drawn, all in the upper face (brows, glabella)


def test_a_folder_without_frames_gives_no_view(tmp_path):
    assert event_view(tmp_path / "missing", apex=0, fps=25.0) == ""
