"""DFME's multi-rater protocol on the engine: key frames by 5, AUs by 2 then reconciled, emotion by 7; blindness."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("argon2")

from mextk.annotate.engine import AnnotationProject
from mextk.annotate.protocol import protocol_from_dict  # noqa: E402
from mextk.annotate.rules import Refused
from mextk.annotate.store import Answer, Segment, Task  # noqa: E402
from tests.annotate.helpers import clips_manifest  # noqa: E402

NAMES = ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"]


@pytest.fixture
def dfme(synth_dataset, tmp_path, db_url):
    """A DFME project on two synthetic clips with eight labellers, in SQLite and PostgreSQL."""
    rows = clips_manifest(synth_dataset, tmp_path, 2)
    p = AnnotationProject.create(tmp_path / "proj", tmp_path / "clips.csv", protocol="dfme", db=db_url)
    ids = {n: p.add_user(n, "labeller", f"password-{n}") for n in NAMES}
    return p, ids, rows


def _take(p, user, kind):
    t = p.next_task(user)
    assert t is not None and p.task_view(t, user)["kind"] == kind
    return t


def test_key_frames_are_the_median_of_five_raters_and_each_rates_a_clip_once(dfme):
    p, ids, rows = dfme
    marks = [(4, 8, 13), (5, 9, 14), (6, 9, 12), (3, 10, 13), (5, 8, 15)]  # medians 5, 9, 13
    seg = None
    for (onset, apex, offset), name in zip(marks, NAMES, strict=False):
        t = _take(p, ids[name], "keyframes")
        view = p.task_view(t, ids[name])
        assert view["first"] == 0 and view["last"] == int(rows.iloc[view["clip"] - 1]["n_frames"]) - 1
        assert not {"codings", "shown", "answers"} & set(view)  # nothing of the others' marks
        seg = view["segment"]
        if name == "r1":
            with pytest.raises(Refused, match="onset <= apex <= offset"):
                p.submit_keyframes(t, ids[name], 9, 8, 12)
        p.submit_keyframes(t, ids[name], onset, apex, offset)
        # the next task of the same rater is never the same clip's key frames again
        nxt = p.next_task(ids[name])
        again = None if nxt is None else p.task_view(nxt, ids[name])
        assert again is None or again["kind"] != "keyframes" or again["segment"] != seg
    with p.Session() as s:
        row = s.get(Segment, seg)
        assert (row.onset, row.apex, row.offset) == (5, 9, 13)
        fps = float(rows.iloc[0]["fps"])
        # 8 frames onset to offset: micro at the clip's rate when 8 / fps < 0.5 s, or 4 frames to the apex < 0.25 s
        assert row.expression == ("micro" if 8 / fps < 0.5 or 4 / fps < 0.25 else "macro")
        aus_tasks = s.query(Task).filter(Task.step == "aus", Task.segment_id == seg).count()
    assert aus_tasks == 2


MARKS = [(4, 9, 12), (5, 9, 12), (4, 10, 12), (3, 9, 13), (4, 9, 12)]  # medians 4, 9, 12


def _round(p, ids, *, aus1, aus2, final, emotions):
    """Run one clip through all four rounds; returns the segment id."""
    for k in range(5):
        t = _take(p, ids[NAMES[k]], "keyframes")
        p.submit_keyframes(t, ids[NAMES[k]], *MARKS[k])
        seg = p.task_view(t, ids[NAMES[k]])["segment"]
    coders = []
    for name, codes in (("r6", aus1), ("r7", aus2)):
        t = _take(p, ids[name], "aus")
        view = p.task_view(t, ids[name])
        assert "codings" not in view and view["segment"] == seg  # blind to the other coder
        p.submit_aus(t, ids[name], codes)
        coders.append(name)
    t = _take(p, ids["r6"], "reconcile")  # back to the first coder, who sees both codings
    view = p.task_view(t, ids["r6"])
    assert [c["aus"] for c in view["codings"]] == [
        sorted(set(aus1.split("+")), key=lambda a: int(a[2:])),
        sorted(set(aus2.split("+")), key=lambda a: int(a[2:])),
    ]
    assert [c["yours"] for c in view["codings"]] == [True, False]
    p.submit_aus(t, ids["r6"], final)
    for name, label in zip(NAMES[1:8], emotions, strict=True):
        t = _take(p, ids[name], "classify")
        view = p.task_view(t, ids[name])
        assert view["shown"][0]["value"] == final.split("+")  # the final AUs are shown to the emotion raters
        p.submit_label(t, ids[name], label)
    return seg


def test_aus_reconcile_and_a_majority_of_seven_accept_or_flag(dfme):
    p, ids, _ = dfme
    seg = _round(p, ids, aus1="AU4+AU7", aus2="AU4", final="AU4+AU7",
                 emotions=["anger"] * 4 + ["disgust"] * 3)  # fmt: skip
    with p.Session() as s:
        row = s.get(Segment, seg)
        assert (row.status, row.label, row.aus, row.decided_at_step) == ("accepted", "anger", ["AU4", "AU7"], "emotion")
        assert s.query(Answer).filter(Answer.segment_id == seg, Answer.step == "emotion").count() == 7
        raters = {a.user_id for a in s.query(Answer).filter(Answer.segment_id == seg, Answer.step == "emotion")}
        assert len(raters) == 7  # seven distinct raters
    seg2 = _round(p, ids, aus1="AU12", aus2="AU6+AU12", final="AU6+AU12",
                  emotions=["happiness"] * 3 + ["others"] * 3 + ["surprise"])  # fmt: skip
    with p.Session() as s:
        row = s.get(Segment, seg2)
        assert (row.status, row.label) == ("flagged", None)  # 3 of 7 is not more than half: for discussion
    assert p.segments()[1]["status"] == "flagged"


def test_the_last_two_raters_submitting_at_once_combine_exactly_once(dfme, monkeypatch):
    import time

    p, ids, _ = dfme
    close = AnnotationProject._close

    def slow_close(self, s, task, user_id):  # widen the window between a rater's answer and the count of answers
        close(self, s, task, user_id)
        time.sleep(0.3)

    monkeypatch.setattr(AnnotationProject, "_close", slow_close)
    tasks = [(_take(p, ids[n], "keyframes"), ids[n]) for n in NAMES[:5]]
    for t, u in tasks[:3]:
        p.submit_keyframes(t, u, 4, 9, 12)
    barrier = threading.Barrier(2)
    errors = []

    def submit(t, u):
        barrier.wait()
        try:
            p.submit_keyframes(t, u, 4, 9, 12)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=x) for x in tasks[3:]]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    seg = p.task_view(tasks[0][0], tasks[0][1])["segment"]
    with p.Session() as s:
        assert s.query(Task).filter(Task.step == "aus", Task.segment_id == seg).count() == 2  # not 0, not 4


def test_protocol_settings_make_a_cmed_variant_with_three_raters_at_stage_2():
    import json
    from importlib import resources

    data = json.loads(resources.files("mextk.annotate").joinpath("protocols/cmed.json").read_text())
    data["steps"][1]["raters"] = 3
    proto = protocol_from_dict(data)
    assert proto.step("verify").raters == 3 and proto.step("verify").majority == 0.5
    data["steps"][2]["raters"] = 2
    with pytest.raises(ValueError, match="same_as gives the task to one labeller"):
        protocol_from_dict(data)
    bad = json.loads(resources.files("mextk.annotate").joinpath("protocols/dfme.json").read_text())
    bad["steps"][2]["of"] = "keyframes"
    with pytest.raises(ValueError, match="reconcile step needs 'of', an earlier aus step"):
        protocol_from_dict(bad)


def test_the_report_of_a_dfme_round_matches_statsmodels_and_hand_sums(dfme):
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    from mextk.annotate.agreement_report import project_agreement

    p, ids, rows = dfme
    _round(p, ids, aus1="AU4+AU7", aus2="AU4", final="AU4+AU7", emotions=["anger"] * 4 + ["disgust"] * 3)
    _round(p, ids, aus1="AU12", aus2="AU6+AU12", final="AU6+AU12",
           emotions=["happiness"] * 3 + ["others"] * 3 + ["surprise"])  # fmt: skip
    report = project_agreement(p)
    classes = report["classes"]
    table = np.zeros((2, len(classes)), dtype=int)
    for c, n in (("anger", 4), ("disgust", 3)):
        table[0, classes.index(c)] = n
    for c, n in (("happiness", 3), ("others", 3), ("surprise", 1)):
        table[1, classes.index(c)] = n
    emotion = report["multi"]["emotion"]
    assert emotion["n_complete"] == 2 and emotion["fleiss_kappa"] == pytest.approx(sm_fleiss(table, method="fleiss"))
    assert emotion["per_rater"]["r2"]["agreement"] == 1.0 and emotion["per_rater"]["r8"]["agreement"] == 0.0
    assert emotion["per_rater"]["r8"]["n"] == 1  # the flagged segment has no final label to compare with
    aus = report["au_reliability"]["aus"]
    # shared AU4 and AU12; chosen 2 + 1 and 1 + 2 AUs
    assert aus["overall"] == pytest.approx(2 * 2 / 6) and aus["n"] == 2
    assert aus["per_au"] == pytest.approx({"AU4": 1.0, "AU6": 0.0, "AU7": 0.0, "AU12": 1.0})
    kf = report["keyframes"]["keyframes"]
    fps = [float(rows.iloc[k]["fps"]) for k in range(2)]
    # onset deviations from the median 4 are 0, 1, 0, 1, 0 frames on each clip
    assert kf["onset"]["mad_frames"] == pytest.approx(0.4)
    assert kf["onset"]["mad_ms"] == pytest.approx(np.mean([1000 * d / f for f in fps for d in (0, 1, 0, 1, 0)]))
    assert kf["apex"]["pairwise_frames"] == pytest.approx(4 / 10)  # one apex of 5 differs by 1: 4 of 10 pairs
    assert report["accepted"]["emotion"] == 1 and report["flagged"] == 1
    assert sum(report["expression"].values()) == 2


def test_the_report_as_text_json_figures_and_page(dfme, tmp_path):
    import json

    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from mextk.annotate.agreement_report import project_agreement
    from mextk.annotate.server import create_app
    from mextk.cli import app

    p, ids, _ = dfme
    _round(p, ids, aus1="AU4+AU7", aus2="AU4", final="AU4+AU7", emotions=["anger"] * 4 + ["disgust"] * 3)
    kappa = project_agreement(p)["multi"]["emotion"]["fleiss_kappa"]
    db = [] if p.engine.dialect.name == "sqlite" else ["--db", p.engine.url.render_as_string(hide_password=False)]
    runner = CliRunner()
    res = runner.invoke(app, ["annotate", "agreement", str(p.folder), *db, "--plots", str(tmp_path / "figs")])
    assert res.exit_code == 0, res.output
    assert f"emotion: Fleiss' kappa {kappa:.4f} over 1 segments with all 7 raters" in res.output
    assert "aus: AU reliability 0.6667 over 1 segments; per AU: AU4 1.00, AU7 0.00" in res.output
    assert sorted(f.name for f in (tmp_path / "figs").iterdir()) == [
        "aus_aus.png", "keyframes_keyframes.png", "raters_emotion.png",
    ]  # fmt: skip
    assert (tmp_path / "figs" / "raters_emotion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = runner.invoke(app, ["annotate", "agreement", str(p.folder), *db, "--json"])
    report = json.loads(res.output)  # strict JSON: no NaN
    assert report["kappa"] is None and report["multi"]["emotion"]["fleiss_kappa"] == pytest.approx(kappa)
    p.add_user("root", "admin", "password-root")
    c = TestClient(create_app(p.folder, db=None if not db else db[1]))
    c.post("/login", data={"name": "root", "password": "password-root"})
    page = c.get("/report").text
    assert f"Fleiss' kappa <b>{kappa:.3f}</b>" in page and 'id="fig-raters_emotion" src="data:image/png;base64,' in page
