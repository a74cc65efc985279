"""``mextk analyze`` end to end on a gallery of real people (``../shared/data``) with micro-expressions rendered in.

Four real talking-head cameras are composed into a 20 s, 960x540, 25 fps call.
Each person makes two micro-expressions of 0.4 s (10 frames) at known times,
rendered into their real face by :mod:`mextk.synth.effects` (``expression``:
dlib landmarks of the frame, the emotion's action units, a radial-basis warp);
they talk and move their heads throughout, as real participants do.  The
people's micro-expressions are at different times, so an event can be told
apart from another person's.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from mextk.cli import app
from mextk.synth.call import CallConfig, compose_gallery
from mextk.synth.effects import Effect
from tests.analyze.conftest import assert_proposals_load
from tests.conftest import SHARED_DATA, need_shared
from tests.prepare.helpers import persons_in_clip

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

CAMERAS = ["talking_head_d3.mp4", "talking_head_d6.mp4", "talking_head_d9.mp4", "speech_frontal_1.mp4"]
#: (person index, onset frame, emotion): 10-frame micro-expressions, at least 1.5 s from anyone else's.
EXPRESSIONS = [
    (0, 60, "surprise"),
    (1, 100, "happiness"),
    (2, 140, "disgust"),
    (3, 180, "sadness"),
    (0, 230, "anger"),
    (1, 270, "surprise"),
    (2, 310, "happiness"),
    (3, 350, "surprise"),
]


@pytest.fixture(scope="module")
def real_call(model, tmp_path_factory):
    videos = [need_shared(SHARED_DATA / "videos" / name) for name in CAMERAS]
    folder = tmp_path_factory.mktemp("real_call")
    cfg = CallConfig(duration_s=20, width=960, height=540, n_late=0, n_early_leave=0, screen_share=False, seed=5)
    effects: dict[int, list[Effect]] = {}
    for person, onset, emotion in EXPRESSIONS:
        effects.setdefault(person, []).append(Effect("expression", onset, onset + 10, amount=0.08, emotion=emotion))
    truth = compose_gallery(videos, folder / "call.mp4", cfg, effects=effects, progress=False)
    out = folder / "analysis"
    result = CliRunner().invoke(app, ["analyze", str(folder / "call.mp4"), "--model", str(model), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return truth, out, out / "call"


def _with_maker(truth, out, timeline):
    manifest = pd.read_csv(out / "prepared" / "manifest.csv", dtype={"sample_id": str})
    maker = {}
    for row in manifest.to_dict("records"):
        who = persons_in_clip(row, truth)
        maker[row["sample_id"]] = max(who, key=who.get)
    return timeline.assign(maker=timeline["clip"].map(maker))


def test_analyze_on_real_people_writes_a_self_contained_report_with_every_person(real_call):
    truth, out, folder = real_call
    timeline = pd.read_csv(folder / "timeline.csv", dtype={"person": str})
    people = json.loads((folder / "timeline.json").read_text())["people"]
    page = (folder / "report.html").read_text()
    manifest = pd.read_csv(out / "prepared" / "manifest.csv")
    assert manifest["track_id"].nunique() == 4  # one track per real person
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "data:image/webp;base64," in page or "data:image/gif;base64," in page  # looping views of real faces
    for person in people:
        assert f"<h2>{person}</h2>" in page
    assert str(out) not in page and str(out.parent) not in page  # no path: the report can be sent as it is
    assert "trained only on mextk's synthetic data" in page  # the test's model is the demo's kind
    assert "calibrated to at most 1 false micro-expression a minute" in page
    n = manifest["track_id"].nunique()  # each person's blind or weak time: speaking, turned, another face near
    assert page.count("lower face weak") == page.count("head turned 30° or more") == page.count("another face") == n
    assert set(timeline["person"]) <= set(people)


def test_rendered_micro_expressions_fall_in_their_makers_timeline(real_call):
    truth, out, folder = real_call
    timeline = _with_maker(truth, out, pd.read_csv(folder / "timeline.csv", dtype={"person": str}))
    assert (timeline.groupby("person")["maker"].nunique() == 1).all()  # a person's timeline is one real person
    names = [p["person"] for p in truth["participants"]]
    in_maker = in_other = 0
    for person, onset, _ in EXPRESSIONS:
        hit = timeline[(timeline["start_frame"] <= onset + 9) & (timeline["end_frame"] >= onset)]
        in_maker += bool((hit["maker"] == names[person]).any())
        in_other += int((hit["maker"] != names[person]).sum())
    print(f"{in_maker} of {len(EXPRESSIONS)} rendered micro-expressions found in their maker's timeline; "
          f"{in_other} events of other people overlap them; {len(timeline)} events in all")  # fmt: skip
    # measured (2026-12-07, fresh clone): 1 of 8 found, 6 events of the other three people overlap the same
    # windows, 14 events in all.  Before the spotter was calibrated to calm faces (1 micro-expression a minute)
    # and took out the head's similarity motion and the mouth's speech: 3 of 8, with 8 overlapping and about 28
    # in all.  These people talk with strong posed expressions (the expressive clips), so their other events are
    # not all false.  Micro-expressions on talking faces are mostly below what region motion tells from talking
    # (docs/guide/spotting.md); what this checks is that a found one lands in its maker's timeline
    assert in_maker >= 1, (in_maker, timeline)


def test_real_call_proposals_load_into_an_annotation_project(real_call, tmp_path):
    _, out, folder = real_call
    assert_proposals_load(out, folder, tmp_path)
