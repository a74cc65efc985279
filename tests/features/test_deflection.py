from __future__ import annotations

import numpy as np
import pytest

from mextk.features.deflection import (
    BASE_LANDMARKS,
    ROI_LANDMARKS,
    deflection_table,
    normalise_landmarks,
    plot_deflection,
)
from mextk.synth.face import ASTRONAUT_LANDMARKS


def test_normalisation_is_centroid_and_face_width():
    lm = ASTRONAUT_LANDMARKS
    norm = normalise_landmarks(lm)
    assert np.allclose(norm[list(BASE_LANDMARKS)].mean(axis=0), 0)
    assert np.linalg.norm(norm[16] - norm[0]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        normalise_landmarks(lm[:60])


def test_deflection_by_hand(tmp_path):
    lm = ASTRONAUT_LANDMARKS
    width = np.linalg.norm(lm[16] - lm[0])
    onset = np.stack([lm, lm, lm])
    apex = onset.copy()
    apex[0, 48] += [0, -width * 0.02]  # sample 0 (happy): corner up by 2% of the face width
    apex[1, 48] += [0, -width * 0.04]  # sample 1 (happy): 4%
    t = deflection_table(onset, apex, ["happiness", "happiness", "fear"], ["cmed", "cmed", "casme2"])
    row = t[(t.emotion == "happiness") & (t.landmark == 48)].iloc[0]
    assert row["n"] == 2 and row["dy"] == pytest.approx(-0.03) and row["spread_y"] == pytest.approx(0.01)
    assert row["dx"] == pytest.approx(0.0, abs=1e-12)
    assert set(t["landmark"]) == set(ROI_LANDMARKS) and set(t["dataset"]) == {"cmed", "casme2"}
    png = plot_deflection(t, tmp_path / "fig.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError):
        deflection_table(onset, apex, ["a"])
