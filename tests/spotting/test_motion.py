"""Region motion from anchored flow (:mod:`mextk.spotting.motion`) on hand-made aligned faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mextk.spotting.motion import REGIONS, MotionSettings, region_motion


def faces_with_a_step(shift_px: float, at: int, n: int = 40, region: str = "brow_left", crop: int = 96):
    """Aligned faces of smooth texture in which one region's content moves right by ``shift_px`` at frame ``at``."""
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (crop, crop), dtype=np.uint8), (0, 0), 2.0)
    x0, y0, x1, y1 = (int(round(v * crop)) for v in REGIONS[region])
    m = np.float32([[1, 0, shift_px], [0, 1, 0]])
    moved = cv2.warpAffine(base, m, (crop, crop), borderMode=cv2.BORDER_REFLECT)
    after = base.copy()
    after[y0:y1, x0:x1] = moved[y0:y1, x0:x1]
    return [base if t < at else after for t in range(n)]


def test_a_region_that_moves_two_crop_pixels_measures_about_two_at_every_scale_spanning_the_step():
    faces = faces_with_a_step(2.0, at=20)
    sig = region_motion(faces, [3, 10], settings=MotionSettings(anchor_every_s=0.2, rigid="nose"), fps=25.0)
    names = list(REGIONS)
    brow, lip = names.index("brow_left"), names.index("nose_lip")
    for i, k in enumerate(sig.scales):
        spanning = sig.motion[20 : 20 + k, i, brow]
        assert np.all((spanning > 1.4) & (spanning < 2.6)), (k, spanning)  # frames t - k < 20 <= t
        assert np.nanmax(sig.motion[20 + k :, i, brow]) < 0.3  # both frames after the step: no motion
        assert np.nanmax(sig.motion[k:20, i, brow]) < 0.3  # both before it
        assert np.nanmax(sig.motion[k:, i, lip]) < 0.3  # a region that did not move
        assert np.isnan(sig.motion[:k, i]).all()  # no frame k before


@pytest.mark.parametrize("rigid", ["similarity", "affine"])
def test_a_rotation_and_zoom_of_the_whole_face_is_taken_out_but_a_brow_step_is_kept(rigid):
    base = faces_with_a_step(0.0, at=0, n=1)[0]
    # the whole face turns by 1.5 degrees and grows by 2% about a point off its centre, in 10 frames:
    # at the brows' corners that moves the content by about 1.5-2 crop pixels
    frames = [
        cv2.warpAffine(base, cv2.getRotationMatrix2D((40.0, 50.0), 0.15 * t, 1 + 0.002 * t), (96, 96),
                       borderMode=cv2.BORDER_REFLECT)
        for t in range(11)
    ]  # fmt: skip
    frames += [frames[-1]] * 10
    names = list(REGIONS)
    nose = region_motion(frames, [10], settings=MotionSettings(anchor_every_s=0.2, rigid="nose"), fps=25.0)
    fitted = region_motion(frames, [10], settings=MotionSettings(anchor_every_s=0.2, rigid=rigid), fps=25.0)
    brows = [names.index("brow_left"), names.index("brow_right")]
    assert np.nanmax(nose.motion[10, 0, brows]) > 1.0  # a translation alone leaves the turn in the brows
    assert np.nanmax(fitted.motion[10:, 0]) < 0.3  # the fitted head motion takes it out everywhere
    step = region_motion(faces_with_a_step(2.0, at=20), [3], settings=MotionSettings(anchor_every_s=0.2, rigid=rigid),
                         fps=25.0)  # fmt: skip
    assert np.all(step.motion[20:23, 0, names.index("brow_left")] > 1.2)  # a local step is not absorbed


def test_a_frame_without_a_face_breaks_the_chain_so_no_motion_spans_the_gap():
    faces: list[np.ndarray | None] = list(faces_with_a_step(0.0, at=0, n=30))
    faces[12] = None
    sig = region_motion(faces, [4], fps=25.0)
    assert not sig.face[12] and sig.face[[11, 13]].all()
    assert np.isnan(sig.motion[12:17, 0]).all()  # t - 4 <= 12 <= t: frames on both sides of the gap
    assert np.isfinite(sig.motion[17:, 0]).all() and np.isfinite(sig.motion[4:12, 0]).all()


def test_motion_settings_refuse_sizes_too_small_for_the_regions():
    with pytest.raises(ValueError, match="flow_size"):
        MotionSettings(flow_size=16)
    with pytest.raises(ValueError, match="anchor_every_s"):
        MotionSettings(anchor_every_s=-1)


def test_eye_transform_of_five_points_equals_that_of_the_same_corners_in_68():
    from mextk.faces.landmarks import FIVE_IN_68
    from mextk.spotting.motion import eye_transform

    rng = np.random.default_rng(0)
    full = rng.uniform(50, 250, (68, 2))
    full[[36, 39]] = [[100, 120], [130, 122]]  # left eye's corners: centre (115, 121)
    full[[42, 45]] = [[170, 118], [200, 116]]  # right eye's corners: centre (185, 117)
    five = full[list(FIVE_IN_68)]
    params = eye_transform(five, 96)
    assert np.allclose(params, eye_transform(full, 96))
    dist = np.hypot(70, -4)  # between the two centres, by hand
    assert np.allclose(params, [150, 119, np.log(0.4 * 96 / dist), np.arctan2(-4, 70)])


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["talking_head_d6", "speech_frontal_1"])
def test_five_point_alignment_jitters_no_more_than_the_68_point_one_on_real_talking_heads(name):
    """The alignment's frame-to-frame jitter (median absolute second difference of its scale and angle)
    with dlib's 5-point model is within a fifth of the 68-point model's (measured on five real videos:
    0.78-0.99% against 0.80-1.07% in scale, 4.1-9.6 against 4.1-9.8 mrad in angle)."""
    import itertools

    from mextk.faces.landmarks import LandmarkTracker
    from mextk.io.video import iter_frames
    from mextk.spotting.motion import eye_transform
    from tests.conftest import SHARED_DATA, need_shared

    frames = list(itertools.islice(iter_frames(need_shared(SHARED_DATA / "videos" / f"{name}.mp4"), gray=True), 100))
    jitter = {}
    for points in (68, 5):
        tracker = LandmarkTracker(points=points)
        params = np.array([eye_transform(tracker.update(f), 96) for f in frames])
        jitter[points] = np.median(np.abs(np.diff(params[:, 2:], 2, axis=0)), axis=0)  # log scale, angle
    assert (jitter[5] <= 1.2 * jitter[68]).all(), jitter


def test_cell_means_are_the_mean_flow_over_each_cell():
    from mextk.spotting.motion import _cell_means, _cells

    # u = column, v = 2 * row: over rows [y0, y1) and columns [x0, x1) the means are the middle column
    # (x0 + x1 - 1) / 2 and twice the middle row
    size = 64
    rows, cols = np.mgrid[0:size, 0:size]
    f = np.stack([cols, 2 * rows], axis=-1).astype(np.float32)
    cells, _ = _cells(size)
    got = _cell_means(f, cells)
    y0, y1, x0, x1 = cells.T.astype(float)
    assert np.allclose(got[:, 0], (x0 + x1 - 1) / 2) and np.allclose(got[:, 1], (y0 + y1 - 1))
    assert got.shape == (4 * len(REGIONS), 2)


def test_a_two_frame_jump_of_the_whole_face_is_taken_out_and_a_brief_local_movement_is_kept():
    from mextk.spotting.motion import REGIONS, despike

    rng = np.random.default_rng(3)
    n = 4 * len(REGIONS)
    pos = rng.normal(0, 0.1, (30, n, 2))
    pos[10:12] += 9.0  # every quarter jumps for frames 10-11 (a failed measurement)
    pos[20:22, :4] += 3.0  # one region's four quarters move for two frames (a local movement)
    pos[25:, :, 0] += np.linspace(0, 6, 5)[:, None]  # the head turns steadily at the end
    seg = np.zeros(30, int)
    seg[:3] = -1  # no face at first
    out = despike(pos, seg, 1.0)
    assert np.abs(out[10:12]).max() < 1.0  # the jump is gone
    assert np.array_equal(out[20:22], pos[20:22]) and np.array_equal(out[25:], pos[25:])  # the rest untouched
    assert np.array_equal(despike(pos, seg, 0.0), pos)  # spike_px 0 keeps every frame
