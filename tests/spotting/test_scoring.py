"""MEGC's spotting measure and the spot-then-recognise score, on hand-made cases worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from mextk.intervals import match_intervals
from mextk.io.manifest import ManifestError
from mextk.spotting.long_manifest import coerce_long
from mextk.spotting.scoring import spotting_scores


def table(rows: list[tuple], *, fps: float = 30.0, emotion: bool = False) -> pd.DataFrame:
    """Rows ``(dataset, video, onset, offset, type[, emotion])``; ``onset`` None for an empty video."""
    out = []
    for r in rows:
        ds, vid, on, off, kind = r[:5]
        row = {
            "dataset": ds,
            "subject": "s1",
            "video_id": vid,
            "path": "",
            "fps": fps,
            "n_frames": 1000,
            "onset": on,
            "apex": None,
            "offset": off,
            "type": kind,
        }
        if emotion:
            row["emotion"] = r[5] if len(r) > 5 else ""
        out.append(row)
    return coerce_long(pd.DataFrame(out), source="t.csv")


def test_iou_of_exactly_one_half_is_a_true_positive_and_just_under_is_not():
    truth = table([("d", "v", 0, 19, "macro")])
    exact = spotting_scores(table([("d", "v", 0, 9, "macro")]), truth)  # 10 of 20 frames: IoU 0.5
    assert exact["all"]["overall"]["tp"] == 1
    under = spotting_scores(table([("d", "v", 0, 8, "macro")]), truth)  # 9 of 20: 0.45
    assert (under["all"]["overall"]["tp"], under["all"]["overall"]["fp"], under["all"]["overall"]["fn"]) == (0, 1, 1)


def test_several_proposals_on_one_interval_give_one_true_positive_and_the_rest_false_positives():
    truth = table([("d", "v", 100, 109, "micro")])
    spotted = table([("d", "v", 100, 109, "micro"), ("d", "v", 101, 110, "micro"), ("d", "v", 99, 108, "micro")])
    m = spotting_scores(spotted, truth)["all"]["micro"]
    # TP 1, FP 2, FN 0: precision 1/3, recall 1, F1 = 2 * (1/3) / (4/3) = 0.5
    assert (m["tp"], m["fp"], m["fn"]) == (1, 2, 0)
    assert m["precision"] == pytest.approx(1 / 3) and m["recall"] == 1.0 and m["f1"] == pytest.approx(0.5)


def test_an_empty_video_counts_its_false_positives_and_an_unlisted_video_its_misses():
    truth = table([("d", "empty", None, None, ""), ("d", "full", 10, 19, "micro"), ("d", "unseen", 5, 14, "micro")])
    spotted = table([("d", "empty", 40, 49, "micro"), ("d", "full", 10, 19, "micro")])
    res = spotting_scores(spotted, truth)
    m = res["all"]["micro"]
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 1)
    assert res["videos_without_spotting"] == ["d/unseen"]
    assert res["videos"] == 3


def test_micro_and_macro_are_scored_apart_and_overall_sums_them():
    truth = table([("d", "v", 0, 9, "micro"), ("d", "v", 100, 159, "macro"), ("d", "v", 300, 359, "macro")])
    spotted = table([("d", "v", 0, 9, "macro"), ("d", "v", 100, 159, "macro"), ("d", "v", 500, 509, "micro")])
    res = spotting_scores(spotted, truth)["all"]
    # the macro proposal on the micro interval is a macro FP and a micro FN
    assert (res["micro"]["tp"], res["micro"]["fp"], res["micro"]["fn"]) == (0, 1, 1)
    assert (res["macro"]["tp"], res["macro"]["fp"], res["macro"]["fn"]) == (1, 1, 1)
    assert (res["overall"]["tp"], res["overall"]["fp"], res["overall"]["fn"]) == (1, 2, 2)
    assert res["overall"]["f1"] == pytest.approx(2 * (1 / 3) * (1 / 3) / (2 / 3))


def test_counts_are_summed_over_videos_before_precision_and_recall_per_dataset_and_overall():
    truth = table(
        [
            ("a", "v1", 0, 9, "micro"),
            ("a", "v2", 0, 9, "micro"),
            ("a", "v2", 50, 59, "micro"),
            ("b", "w", 0, 9, "micro"),
        ]
    )
    spotted = table([("a", "v1", 0, 9, "micro"), ("a", "v2", 30, 39, "micro"), ("b", "w", 0, 9, "micro")])
    res = spotting_scores(spotted, truth)
    a, b, total = res["per_dataset"]["a"]["micro"], res["per_dataset"]["b"]["micro"], res["all"]["micro"]
    assert (a["tp"], a["fp"], a["fn"]) == (1, 1, 2)
    assert (b["tp"], b["fp"], b["fn"]) == (1, 0, 0)
    assert (total["tp"], total["fp"], total["fn"]) == (2, 1, 2)
    assert total["precision"] == pytest.approx(2 / 3) and total["recall"] == pytest.approx(0.5)
    assert total["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_an_untyped_spotted_interval_takes_its_type_from_its_duration():
    truth = table([("d", "v", 0, 9, "micro"), ("d", "v", 100, 189, "macro")], fps=30)
    spotted = table([("d", "v", 0, 9, ""), ("d", "v", 100, 189, "")], fps=30)  # 300 ms and 3 s
    res = spotting_scores(spotted, truth)["all"]
    assert res["micro"]["tp"] == 1 and res["macro"]["tp"] == 1


def test_a_spotted_interval_takes_the_ground_truth_it_overlaps_most():
    # truth intervals overlap; the proposal matches both at IoU >= 0.5, the better one must be taken,
    # so the second proposal can still match the other one
    truth = table([("d", "v", 0, 19, "macro"), ("d", "v", 5, 19, "macro")])
    spotted = table([("d", "v", 4, 19, "macro"), ("d", "v", 0, 17, "macro")])
    # proposal 0: IoU 16/20 = 0.8 with truth 0, 15/16 with truth 1; proposal 1: 18/20 with truth 0, 13/20 with truth 1
    assert match_intervals([(4, 19), (0, 17)], [(0, 19), (5, 19)]) == [(0, 1, 15 / 16), (1, 0, 18 / 20)]
    assert spotting_scores(spotted, truth)["all"]["macro"]["tp"] == 2


def test_the_matcher_finds_the_most_true_positives_where_greedy_by_iou_finds_fewer():
    # by hand (inclusive frames): (5,19)~(7,22) 13/18; (5,19)~(14,25) 6/21; (10,23)~(7,22) 13/17; (10,23)~(14,25) 10/16.
    # Greedy by IoU takes (10,23)~(7,22) first (0.765), leaving (5,19) only (14,25) at 0.29: one TP.
    # Two TPs exist: (5,19)~(7,22) and (10,23)~(14,25).
    matched = match_intervals([(5, 19), (10, 23)], [(7, 22), (14, 25)])
    assert matched == [(0, 0, 13 / 18), (1, 1, 10 / 16)]
    truth = table([("d", "v", 7, 22, "micro"), ("d", "v", 14, 25, "micro")])
    spotted = table([("d", "v", 5, 19, "micro"), ("d", "v", 10, 23, "micro")])
    assert spotting_scores(spotted, truth)["all"]["micro"]["tp"] == 2


def test_no_spotted_intervals_give_zero_precision_recall_and_f1():
    truth = table([("d", "v", 0, 9, "micro")])
    m = spotting_scores(table([("d", "v", None, None, "")]), truth)["all"]["overall"]
    assert (m["tp"], m["fp"], m["fn"], m["precision"], m["recall"], m["f1"]) == (0, 0, 1, 0.0, 0.0, 0.0)


def test_a_spotted_video_missing_from_the_ground_truth_is_named():
    truth = table([("d", "v", 0, 9, "micro")])
    spotted = table([("d", "typo", 0, 9, "micro")])
    with pytest.raises(ManifestError, match="video d/typo is not in the ground truth"):
        spotting_scores(spotted, truth)


def test_spot_then_recognise_score_is_spotting_f1_times_the_analysis_f1_of_true_positives():
    truth = table(
        [
            ("d", "v", 0, 9, "micro", "negative"),
            ("d", "v", 100, 109, "micro", "positive"),
            ("d", "v", 200, 209, "micro", "negative"),
            ("d", "v", 300, 309, "micro", "surprise"),
        ],
        emotion=True,
    )
    spotted = table(
        [
            ("d", "v", 0, 9, "micro", "negative"),  # TP, right class
            ("d", "v", 100, 109, "micro", "negative"),  # TP, wrong class
            ("d", "v", 200, 209, "micro", "negative"),  # TP, right class
            ("d", "v", 600, 609, "micro", "positive"),  # FP: not in the analysis
        ],
        emotion=True,
    )
    res = spotting_scores(spotted, truth)["all"]["overall"]
    # spotting: TP 3, FP 1, FN 1 -> P = R = 0.75, F1 0.75
    assert res["f1"] == pytest.approx(0.75)
    # analysis over the 3 TP pairs, classes negative, positive, surprise (from the truth):
    #   negative: TP 2, FP 1, FN 0 -> P 2/3, R 1;  positive: TP 0, FP 0, FN 1 -> P 0, R 0;  surprise: no pair -> 0, 0
    #   P = (2/3)/3 = 2/9, R = 1/3, F1 = 2 * (2/9) * (1/3) / (2/9 + 1/3) = 4/15
    a = res["analysis"]
    assert a["precision"] == pytest.approx(2 / 9) and a["recall"] == pytest.approx(1 / 3)
    assert a["f1"] == pytest.approx(4 / 15)
    assert res["strs"] == pytest.approx(0.75 * 4 / 15)


def test_spot_then_recognise_maps_both_sides_through_a_task():
    truth = table([("d", "v", 0, 9, "micro", "happiness"), ("d", "v", 50, 59, "micro", "disgust")], emotion=True)
    spotted = table([("d", "v", 0, 9, "micro", "Positive"), ("d", "v", 50, 59, "micro", "negative")], emotion=True)
    res = spotting_scores(spotted, truth, task="megc3")["all"]["overall"]
    assert res["analysis"]["per_class"]["positive"]["tp"] == 1
    assert res["analysis"]["per_class"]["negative"]["tp"] == 1
