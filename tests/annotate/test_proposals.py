"""Candidate segments (init --proposals): read with one line per bad row, shown at stage 1, never at a blind step."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from fastapi.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from mextk.annotate.engine import AnnotationProject
from mextk.annotate.server import create_app  # noqa: E402
from mextk.cli import app  # noqa: E402
from tests.annotate.helpers import clips_manifest  # noqa: E402


@pytest.fixture
def proposed(synth_dataset, tmp_path):
    rows = clips_manifest(synth_dataset, tmp_path, 2)
    first, second = rows["sample_id"].tolist()
    n = int(rows.iloc[0]["n_frames"])
    (tmp_path / "proposals.csv").write_text(
        "sample_id,onset,apex,offset,label,score\n"
        f"{first},3,6,10,surprise,0.91\n"
        f"{first},1,,4,,0.40\n"
        f"{second},9,5,12,fear,0.5\n"  # apex outside
        f"nobody_001,1,2,3,fear,0.5\n"
        f"{first},2,3,{n},fear,0.5\n"  # offset past the clip
        f"{first},2,3,5,joy,0.5\n"
    )
    return tmp_path, rows, n


def test_bad_proposal_rows_are_skipped_with_their_line_and_the_rest_kept(proposed):
    tmp, rows, n = proposed
    res = CliRunner().invoke(app, ["annotate", "init", str(tmp / "proj"), "--clips", str(tmp / "clips.csv"),
                                   "--proposals", str(tmp / "proposals.csv")])  # fmt: skip
    assert res.exit_code == 0, res.output
    skipped = [line for line in res.output.splitlines() if line.startswith("skipped proposal")]
    assert [line.split("proposals.csv:")[1].split(":")[0] for line in skipped] == ["4", "5", "6", "7"]
    assert "the apex 5 is outside 9 to 12" in skipped[0] and "no clip 'nobody_001'" in skipped[1]
    assert f"offset < {n}" in skipped[2] and "unknown label 'joy'" in skipped[3]
    with pytest.raises(ValueError, match="proposals need a segment step"):
        AnnotationProject.create(tmp / "dfme", tmp / "clips.csv", protocol="dfme", proposals=tmp / "proposals.csv")


def test_stage_1_sees_the_proposals_and_no_stage_2_response_does(proposed):
    tmp, rows, _ = proposed
    p = AnnotationProject.create(tmp / "proj", tmp / "clips.csv", proposals=tmp / "proposals.csv")
    p.add_user("anna", "labeller", "password-anna")
    p.add_user("ben", "labeller", "password-ben")
    client = {}
    for name in ("anna", "ben"):
        c = TestClient(create_app(tmp / "proj"))
        c.post("/login", data={"name": name, "password": f"password-{name}"})
        c.headers["X-CSRF-Token"] = c.get("/api/me").json()["csrf"]
        client[name] = c
    anna, ben = client["anna"], client["ben"]
    t = anna.post("/api/next").json()["task"]
    view = anna.get(f"/api/tasks/{t}").json()
    assert view["proposals"] == [
        {"onset": 1, "apex": None, "offset": 4, "label": None, "score": 0.4},
        {"onset": 3, "apex": 6, "offset": 10, "label": "surprise", "score": 0.91},
    ]
    # anna takes the second proposal but corrects its class
    anna.post(f"/api/tasks/{t}/segments", json={"segments": [{"onset": 3, "apex": 6, "offset": 10, "label": "fear"}]})
    t2 = ben.post("/api/next").json()["task"]
    responses = [ben.get(f"/api/tasks/{t2}"), ben.get(f"/task/{t2}"), ben.get("/api/tasks"), ben.get("/")]
    assert responses[0].json()["kind"] == "classify"
    for r in responses:
        body = r.json() if r.headers["content-type"].startswith("application/json") else None
        rest = (
            {k: v for k, v in body.items() if k not in ("classes", "no_apex_classes")}
            if isinstance(body, dict)
            else body
        )
        text = json.dumps(rest) if body is not None else r.text
        assert "proposals" not in text and "surprise" not in text and "0.91" not in text
