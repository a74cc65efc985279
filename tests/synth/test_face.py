from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from mextk.faces.reference import ASTRONAUT_LANDMARKS, MIRROR
from mextk.synth.face import FaceRenderer, au_field, blink_field, face_frame, make_subject, rbf_basis, rbf_weights


def _haar_faces(img):
    import cv2

    casc = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    return casc.detectMultiScale(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), 1.1, 5)


def _render(seed, size=160):
    s = make_subject(seed)
    r = FaceRenderer(s, out_size=(size, size), centre=s.face_centre, scale=size / (s.face_width * 1.75))
    frame, lm = r.render()
    return s, r, np.clip(frame, 0, 255).astype(np.uint8), lm


def test_mirror_permutation_is_an_involution():
    assert sorted(MIRROR.tolist()) == list(range(68))
    assert np.array_equal(MIRROR[MIRROR], np.arange(68))


def test_subjects_are_deterministic_and_distinct():
    a1, a2, b = make_subject(11), make_subject(11), make_subject(12)
    np.testing.assert_array_equal(a1.image, a2.image)
    assert np.abs(a1.image - b.image).mean() > 10  # different skin, light, background
    assert np.abs(a1.landmarks - b.landmarks).max() > 1.0  # different face shape
    assert a1.params != b.params


@pytest.mark.parametrize("seed", [0, 3, 8, 21])
def test_rendered_subjects_are_real_looking_faces(seed):
    """OpenCV's Haar cascade finds exactly one face, where the landmarks are."""
    _, _, img, lm = _render(seed)
    faces = _haar_faces(img)
    assert len(faces) == 1
    x, y, w, h = faces[0]
    cx, cy = lm[27:36].mean(axis=0)  # nose
    assert x < cx < x + w and y < cy < y + h


@pytest.mark.parametrize(
    ("au", "idx", "direction"),
    [("AU1", [21, 22], (0, -1)), ("AU4", [21, 22], (0, 1)), ("AU15", [48, 54], (0, 1)), ("AU10", [51], (0, -1))],
)
def test_action_units_move_landmarks_the_right_way(au, idx, direction):
    d = au_field(ASTRONAUT_LANDMARKS, {au: 1.0})
    _, _, ey, _ = face_frame(ASTRONAUT_LANDMARKS)
    for i in idx:
        assert np.dot(d[i], ey) * direction[1] > 0.3
    untouched = [i for i in range(68) if not np.any(d[i])]
    assert len(untouched) > 40  # local: most landmarks do not move


def test_lip_corner_puller_is_outward_and_up_and_r12_is_one_sided():
    lm = ASTRONAUT_LANDMARKS
    d = au_field(lm, {"AU12": 1.0})
    assert d[48, 0] < 0 and d[54, 0] > 0  # corners move apart
    assert d[48, 1] < 0 and d[54, 1] < 0  # and up (image y decreases)
    r = au_field(lm, {"R12": 1.0})
    assert np.allclose(r[48], 0) and np.linalg.norm(r[54]) > 0.5
    with pytest.raises(ValueError, match="unknown action unit"):
        au_field(lm, {"AU99": 1.0})


def test_rbf_field_moves_landmarks_by_their_displacement():
    lm = ASTRONAUT_LANDMARKS
    disp = au_field(lm, {"AU12": 1.0}) * 3.0
    w = rbf_weights(lm, disp, sigma=12.0)
    moved = rbf_basis(lm, lm, 12.0) @ w
    assert np.abs(moved - disp).max() < 0.35


def test_renderer_expression_moves_pixels_near_the_mouth_only():
    s, r, neutral, lm = _render(5)
    disp = au_field(s.landmarks, {"AU12": 1.0, "AU6": 1.0})
    disp = disp / np.abs(disp).max() * 4.0
    frame, lm2 = r.render(disp)
    diff = np.abs(frame.astype(np.float32) - neutral.astype(np.float32)).mean(axis=2)
    mouth = lm[48:68].mean(axis=0).astype(int)
    near = diff[mouth[1] - 8 : mouth[1] + 8, mouth[0] - 20 : mouth[0] + 20].mean()
    far = np.concatenate([diff[:15].ravel(), diff[-15:].ravel()]).mean()  # top and bottom borders
    assert near > 3 * far + 1
    # landmarks follow: corners moved apart in the output frame
    assert lm2[54, 0] - lm2[48, 0] > lm[54, 0] - lm[48, 0] + 1


def test_blink_closes_the_eyes():
    lm = ASTRONAUT_LANDMARKS
    d = blink_field(lm, closure=1.0)
    np.testing.assert_allclose((lm + d)[37], lm[41])
    assert np.allclose(d[40], 0)


def test_astronaut_landmarks_agree_with_dlib():
    """The stored landmarks are what dlib's 68-point predictor gives (skipped without dlib and its model)."""
    dlib = pytest.importorskip("dlib")
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("face-recognition-models is not installed")
    model = Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    from skimage import data

    img = data.astronaut()
    rects = dlib.get_frontal_face_detector()(img, 1)
    rect = max(rects, key=lambda r: r.width() * (r.top() < 200))
    shape = dlib.shape_predictor(str(model))(img, rect)
    pts = np.array([[p.x, p.y] for p in shape.parts()], float)
    assert np.abs(pts - ASTRONAUT_LANDMARKS).max() <= 1.0
