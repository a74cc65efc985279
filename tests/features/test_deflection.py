from __future__ import annotations

import numpy as np
import pytest

from mextk.faces.reference import ASTRONAUT_LANDMARKS
from mextk.features.deflection import (
    BASE_LANDMARKS,
    ROI_LANDMARKS,
    deflection_scale,
    deflection_table,
    draw_deflection,
    normalise_landmarks,
    plot_deflection,
)


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


def _table(displacements: dict[str, float]):  # type: ignore[no-untyped-def]
    """A deflection table over the ROI landmarks of the astronaut's face; each emotion moves landmark 48 up."""
    lm = ASTRONAUT_LANDMARKS
    width = np.linalg.norm(lm[16] - lm[0])
    onsets, apexes, emotions = [], [], []
    for emotion, dy in displacements.items():
        apex = lm.copy()
        apex[48] += [0, -dy * width]
        onsets.append(lm)
        apexes.append(apex)
        emotions.append(emotion)
    return deflection_table(np.stack(onsets), np.stack(apexes), emotions, ["d"] * len(emotions))


def test_arrow_scale_comes_from_the_data_by_hand():
    # longest mean arrow 0.004 face widths: 0.1 / 0.004 = 25, rounded down to 1-2-5 steps: 20
    assert deflection_scale(_table({"happiness": 0.004, "fear": 0.001})) == (20.0, 0.002)
    # head motion left in real clips: 0.3 face widths -> 0.1 / 0.3 = 0.33, rounded down: 0.2
    assert deflection_scale(_table({"happiness": 0.3})) == (0.2, 0.2)


def _arrow_tips_inside(fig) -> int:  # type: ignore[no-untyped-def]
    """Assert every arrow's tip lies inside its panel; return the number of arrows."""
    from matplotlib.quiver import Quiver

    n, limits = 0, set()
    for ax in fig.axes:
        for q in [c for c in ax.collections if isinstance(c, Quiver)]:
            tips = q.XY + np.column_stack([q.U, q.V])
            (x0, x1), (y1, y0) = ax.get_xlim(), ax.get_ylim()
            assert (tips[:, 0] > x0).all() and (tips[:, 0] < x1).all()
            assert (tips[:, 1] > y0).all() and (tips[:, 1] < y1).all()
            n += len(tips)
            limits.add((ax.get_xlim(), ax.get_ylim()))
    assert len(limits) == 1  # one scale and one frame for every panel
    return n


def test_figure_keeps_every_arrow_in_its_panel_and_draws_a_scale_legend():
    import matplotlib.pyplot as plt
    from matplotlib.quiver import QuiverKey

    table = _table({"happiness": 0.3, "fear": 0.002, "anger": 0.02})  # a hundredfold range of motions
    fig = draw_deflection(table)
    assert _arrow_tips_inside(fig) == 3 * len(ROI_LANDMARKS)
    keys = [a for ax in fig.axes for a in ax.artists + ax.get_children() if isinstance(a, QuiverKey)]
    assert keys and "0.2 face widths (x0.2)" in keys[0].text.get_text()
    assert "arrows drawn x0.2" in fig.get_suptitle()
    plt.close(fig)
    # the old fixed x10 would have drawn the 0.3 arrow three face widths long: the scale must not be fixed
    assert deflection_scale(table)[0] * 0.3 <= 0.1 + 1e-12


@pytest.mark.shared_data
def test_figure_on_real_talking_heads_and_synthetic_clips(synth_dataset, tmp_path):
    """Real faces move their heads; synthetic micro-expressions move a few pixels: both figures fit."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from mextk.features.batch import deflection_from_manifests
    from mextk.io.video import probe_video
    from tests.conftest import SHARED_DATA, need_shared

    out, _, df = synth_dataset
    synth = df.assign(path=[str(out / p) for p in df["path"]])
    synth.to_csv(tmp_path / "synth.csv", index=False)
    rows = []
    for k, name in enumerate(["talking_head_d0.mp4", "talking_head_d3.mp4", "talking_head_d6.mp4"]):
        video = need_shared(SHARED_DATA / "videos" / name)
        info = probe_video(video)
        rows.append({"dataset": "real", "subject": str(k), "sample_id": f"r{k}", "path": str(video), "fps": info.fps,
                     "n_frames": info.n_frames, "onset": 0, "apex": min(12, info.n_frames - 1),
                     "offset": min(24, info.n_frames - 1), "emotion": "happiness", "aus": ""})  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "real.csv", index=False)
    for name in ("synth", "real"):
        res = deflection_from_manifests([tmp_path / f"{name}.csv"], tmp_path / name, progress=False)
        assert res["samples"] >= 3
        fig = draw_deflection(res["table"])
        assert _arrow_tips_inside(fig) > 0
        plt.close(fig)
        assert (tmp_path / name / "deflection.png").read_bytes()[:4] == b"\x89PNG"
