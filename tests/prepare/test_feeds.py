"""Gallery feeds: camera-off cards, one id per feed through look changes, clips that end on the card."""

from __future__ import annotations

import numpy as np
import pytest

from mextk.prepare.batch import prepare_recordings
from mextk.prepare.config import preset
from mextk.prepare.layout import card_like, tile_thumbnail
from mextk.synth.call import CallConfig, compose_gallery
from tests.prepare.helpers import evaluate_against_truth, face_video


@pytest.fixture(scope="module")
def card_call(tmp_path_factory):
    """Two synthetic cameras, 16 s; the second camera is off in frames 100-199 (4-8 s)."""
    folder = tmp_path_factory.mktemp("cards")
    videos = [face_video(folder / f"cam{i}.mp4", 400, [(0, 400)], seed=i) for i in range(2)]
    cfg = CallConfig(duration_s=16, width=640, height=360, n_late=0, n_early_leave=0, screen_share=False, seed=1)
    truth = compose_gallery(videos, folder / "call.mp4", cfg, camera_off={1: [(100, 200)]}, progress=False)
    result = prepare_recordings([folder / "call.mp4"], folder / "out", preset("default", pose=False), progress=False)
    return truth, result, folder


def test_the_card_is_told_from_the_live_camera(card_call):
    truth, _, folder = card_call
    tile = tuple(truth["layouts"][0]["tiles"]["p2"])

    def luma(start, stop):  # FFmpeg's gray conversion of the decoded frames
        import av

        with av.open(str(folder / "call.mp4")) as container:
            frames = []
            for f in container.decode(video=0):
                frames.append(f.to_ndarray(format="gray"))
                if len(frames) == stop:
                    break
        return frames[start:stop]

    card = [tile_thumbnail(f, tile) for f in luma(140, 146)[::5]]
    assert card_like(card[1], card[0], min_flat=0.6, max_change=0.8)
    live = [tile_thumbnail(f, tile) for f in luma(40, 46)[::5]]
    assert not card_like(live[1], live[0], min_flat=0.6, max_change=0.8)


def test_a_camera_off_ends_the_clip_at_the_card_and_the_feed_keeps_its_id(card_call):
    truth, result, _ = card_call
    m = result.manifest
    ev = evaluate_against_truth(m, truth)
    assert ev["mixed"] == []  # no clip shows the card
    assert min(ev["recovered"].values()) >= 0.97
    assert ev["tracks"]["p2"] == {2} and ev["tracks"]["p1"] == {1}
    p2 = m[m["track_id"] == 2].sort_values("start_frame")
    assert p2["end_frame"].tolist()[0] in range(90, 100) and p2["start_frame"].tolist()[1] in range(200, 210)


def test_a_lighting_change_in_place_keeps_the_feed(tmp_path):
    """The light goes down in one camera (its look changes a lot); the feed keeps its id and its clip."""
    from mextk.synth.effects import Effect

    videos = [face_video(tmp_path / f"cam{i}.mp4", 250, [(0, 250)], seed=i) for i in range(2)]
    cfg = CallConfig(duration_s=10, width=640, height=360, n_late=0, n_early_leave=0, screen_share=False, seed=2)
    # the effects need a face the landmark fitter finds: the synthetic faces are, so place them there
    truth = compose_gallery(
        videos, tmp_path / "call.mp4", cfg, effects={0: [Effect("dim", 100, 250, amount=0.25, ramp=1)]}, progress=False
    )
    result = prepare_recordings(
        [tmp_path / "call.mp4"], tmp_path / "out", preset("default", pose=False), progress=False
    )
    ev = evaluate_against_truth(result.manifest, truth)
    assert ev["tracks"]["p1"] == {1} and ev["tracks"]["p2"] == {2}
    assert min(ev["recovered"].values()) >= 0.97 and ev["mixed"] == []


def test_card_like_needs_a_plain_and_still_tile():
    rng = np.random.default_rng(0)
    card = np.full((36, 64), 46, np.float32)
    card[15:21, 24:40] = 235  # the name
    assert card_like(card, card + rng.normal(0, 0.2, card.shape), min_flat=0.6, max_change=0.8)
    assert not card_like(card, None, min_flat=0.6, max_change=0.8)  # stillness needs a previous look
    moving = card + rng.normal(0, 3, card.shape)  # plain, but a live camera's noise and motion
    assert not card_like(moving, card, min_flat=0.6, max_change=0.8)
    assert card_like(np.full((36, 64), 5, np.float32), None, min_flat=0.6, max_change=0.8)  # black
