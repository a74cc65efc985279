from __future__ import annotations

import pandas as pd
import pytest

from mextk.datasets.stats import clip_summary, compute_tables, imbalance_sentence
from tests.conftest import SHARED_REFERENCE, need_shared

CLASS_COLUMNS = ["disgust", "happiness", "anger", "fear", "sadness", "surprise", "no_me"]


def manifest_from_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """One row per sample, exactly as many per subject and class as the counts say (no clip exists)."""
    rows = []
    for rec in counts.to_dict("records"):
        for cls in CLASS_COLUMNS:
            for k in range(int(rec[cls])):
                rows.append(
                    {
                        "dataset": "cmed",
                        "subject": rec["subject"],
                        "sample_id": f"{rec['subject']}_{cls}_{k}",
                        "path": f"nowhere/{rec['subject']}_{cls}_{k}.mp4",
                        "fps": 25.0,
                        "n_frames": 10 + k % 7,
                        "onset": 0,
                        "apex": None if cls == "no_me" else 1,
                        "offset": 9 + k % 7,
                        "emotion": "No_Emotion" if cls == "no_me" else cls.capitalize(),
                        "aus": "",
                    }
                )
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # order must not matter


@pytest.fixture(scope="module")
def reference():
    path = need_shared(SHARED_REFERENCE / "cmed_table_v_subject_class_counts.csv")
    return pd.read_csv(path)


@pytest.fixture(scope="module")
def tables(reference):
    return compute_tables(manifest_from_counts(reference), task="cmed7")


@pytest.mark.shared_data
def test_table_ii_totals_match_the_paper(tables):
    got = dict(zip(tables.class_counts["Class"], tables.class_counts["Number of Samples"], strict=True))
    assert got == {
        "Anger": 114,
        "Disgust": 105,
        "Fear": 19,
        "Sadness": 42,
        "Happiness": 4855,
        "Surprise": 351,
        "Total Emotion Samples": 5486,
        "No-ME": 5438,
        "Total": 10924,
    }
    assert list(got)[:6] == ["Anger", "Disgust", "Fear", "Sadness", "Happiness", "Surprise"]  # paper's row order


@pytest.mark.shared_data
def test_table_iii_matches_the_paper(tables):
    got = dict(zip(tables.megc3_counts["Class"], tables.megc3_counts["Number of Samples"], strict=True))
    assert got == {"Negative": 280, "Positive": 4855, "Surprise": 351, "Total Emotion Samples": 5486}


@pytest.mark.shared_data
def test_table_v_matches_the_paper_exactly(tables, reference):
    t5 = tables.subject_counts
    assert list(t5.columns) == [
        "Subject",
        "Disgust",
        "Happiness",
        "Anger",
        "Fear",
        "Sadness",
        "Surprise",
        "No-ME",
        "Total",
    ]
    expected = reference.rename(columns={"subject": "Subject", "no_me": "No-ME", "total": "Total"})
    expected = expected.rename(columns={c: c.capitalize() for c in CLASS_COLUMNS if c != "no_me"})
    pd.testing.assert_frame_equal(
        t5.reset_index(drop=True), expected[t5.columns].reset_index(drop=True), check_dtype=False
    )


@pytest.mark.shared_data
def test_imbalance_ratio(tables):
    assert tables.imbalance["majority"] == "Happiness" and tables.imbalance["minority"] == "Fear"
    assert tables.imbalance["ratio"] == pytest.approx(4855 / 19)
    assert tables.imbalance["with_no_me"]["majority"] == "No-ME"


def test_table_iv_frame_statistics_by_hand():
    df = pd.DataFrame(
        {
            "subject": ["a", "a", "b", "b", "c"],
            "emotion": ["happy", "anger", "No_Emotion", "no-me", "others"],
            "n_frames": [4, 10, 7680, 9, 1000],
        }
    )
    t = compute_tables(df, task="cmed7")
    rows = {r["Condition"]: r for r in t.frame_counts.to_dict("records")}
    assert (rows["6 Emotion Classes"]["Max Frames"], rows["6 Emotion Classes"]["Min Frames"]) == (10, 4)
    assert rows["6 Emotion Classes"]["Avg Frames"] == 7.0
    assert (rows["No-ME Class"]["Max Frames"], rows["No-ME Class"]["Min Frames"]) == (7680, 9)
    assert rows["No-ME Class"]["Avg Frames"] == pytest.approx(3844.5)
    assert rows["Overall"]["Avg Frames"] == pytest.approx(round((4 + 10 + 7680 + 9) / 4, 2))
    assert t.excluded == {"others": 1}  # counted apart, not lost


def test_ties_in_table_v_keep_natural_subject_order():
    df = pd.DataFrame({"subject": ["sub_10", "sub_2", "sub_1", "sub_2"], "emotion": ["fear"] * 4, "n_frames": [5] * 4})
    t5 = compute_tables(df, task="cmed6").subject_counts
    assert t5["Subject"].tolist() == ["sub_2", "sub_1", "sub_10"]


def test_other_taxonomies_use_their_own_classes():
    df = pd.DataFrame(
        {"subject": ["1", "1", "2"], "emotion": ["repression", "others", "happiness"], "n_frames": [30, 40, 50]}
    )
    t = compute_tables(df, task="casme2")
    assert t.class_counts["Class"].tolist() == ["Happiness", "Disgust", "Surprise", "Repression", "Others", "Total"]
    assert t.class_counts["Number of Samples"].tolist() == [1, 0, 0, 1, 1, 3]
    assert t.megc3_counts["Number of Samples"].tolist() == [0, 1, 0, 1]


def test_stats_cli_works_from_manifest_alone_and_writes_csv_and_markdown(tmp_path):
    from typer.testing import CliRunner

    from mextk.cli import app

    counts = pd.DataFrame(
        [
            {
                "subject": "sub_1",
                "disgust": 1,
                "happiness": 3,
                "anger": 0,
                "fear": 1,
                "sadness": 0,
                "surprise": 2,
                "no_me": 4,
            },
            {
                "subject": "sub_2",
                "disgust": 0,
                "happiness": 5,
                "anger": 1,
                "fear": 0,
                "sadness": 1,
                "surprise": 0,
                "no_me": 1,
            },
        ]
    )
    manifest = tmp_path / "m.csv"
    manifest_from_counts(counts).to_csv(manifest, index=False)  # the clips do not exist
    out = tmp_path / "tables"
    res = CliRunner().invoke(app, ["stats", str(manifest), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "Table V" in res.stdout and "Imbalance ratio" in res.stdout
    for name in ("class_counts", "megc3_counts", "frame_counts", "subject_counts"):
        assert (out / f"{name}.csv").exists() and (out / f"{name}.md").read_text().count("|") > 4
    t5 = pd.read_csv(out / "subject_counts.csv", dtype={"Subject": str})
    assert t5["Subject"].tolist() == ["sub_1", "sub_2"] and t5["Total"].tolist() == [11, 8]
    assert "Happiness 8 / Anger 1 = 8.00" in (out / "stats.md").read_text()


def _balanced(n: int = 2) -> pd.DataFrame:
    counts = pd.DataFrame([{"subject": s, **{c: n for c in CLASS_COLUMNS}} for s in ("sub_1", "sub_2")])
    return manifest_from_counts(counts)


def test_balanced_data_is_called_balanced_not_majority_over_minority():
    t = compute_tables(_balanced(), task="cmed7")
    sentence = imbalance_sentence(t.imbalance)
    assert "1.00 (balanced: every class has 4 samples)" in sentence and " / " not in sentence


def test_clip_summary_by_hand_and_unlabelled_rows_left_out_of_the_class_tables():
    df = _balanced(1)  # 2 subjects x 7 classes, n_frames 10 each (k = 0), 25 fps
    df.loc[df.index[:3], "emotion"] = ""  # three clips not labelled yet
    summary = clip_summary(df).set_index("Quantity")["Value"].to_dict()
    assert summary["Clips"] == "14" and summary["Subjects"] == "2" and summary["Labelled clips"] == "11"
    assert summary["Duration, total (s)"] == "5.60"  # 14 clips x 10 frames / 25 fps
    assert summary["Duration, min / mean / max (s)"] == "0.40 / 0.40 / 0.40"
    t = compute_tables(df, task="cmed7")
    assert t.unlabelled == 3 and t.class_counts["Number of Samples"].iloc[-1] == 11
    assert "Labels are missing for 3 clip(s)" in t.to_markdown()


def test_stats_cli_on_an_unlabelled_manifest_prints_what_it_can(tmp_path):
    from typer.testing import CliRunner

    from mextk.cli import app

    df = _balanced(1)
    df["emotion"], df["onset"], df["apex"], df["offset"] = "", None, None, None
    df.to_csv(tmp_path / "u.csv", index=False)
    res = CliRunner().invoke(app, ["stats", str(tmp_path / "u.csv"), "--out", str(tmp_path / "t")], terminal_width=150)
    assert res.exit_code == 0, res.output
    assert "Labels are missing: all 14 clips are unlabelled" in res.stdout and "Table II" not in res.stdout
    assert "Subjects" in res.stdout and "5.60" in res.stdout
    assert (tmp_path / "t" / "clips.csv").exists() and not (tmp_path / "t" / "class_counts.csv").exists()


def test_table_v_names_subjects_by_dataset_when_two_datasets_share_a_name():
    rows = [
        {"dataset": d, "subject": "01", "emotion": "Happiness", "n_frames": 10, "sample_id": f"{d}{k}"}
        for d, n in (("casme2", 2), ("samm", 3))
        for k in range(n)
    ]
    t = compute_tables(pd.DataFrame(rows), task="cmed7").subject_counts
    assert dict(zip(t["Subject"], t["Total"], strict=True)) == {"samm/01": 3, "casme2/01": 2}
    one = compute_tables(pd.DataFrame(rows[:2]), task="cmed7").subject_counts
    assert one["Subject"].tolist() == ["01"]  # one dataset: the names it uses
