"""Agreement statistics against published worked examples, statsmodels, the krippendorff package and hand sums."""

from __future__ import annotations

import numpy as np
import pytest

from mextk.annotate.agreement import (
    au_reliability,
    fleiss_kappa,
    keyframe_agreement,
    krippendorff_alpha,
    rater_confusion,
    ratings_table,
)

# Fleiss (1971) as worked on Wikipedia's "Fleiss' kappa" page: 10 items, 14 raters, 5 categories, kappa 0.210
WIKIPEDIA_TABLE = np.array(
    [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1], [7, 7, 0, 0, 0],
     [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
)  # fmt: skip

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: 4 observers, 12 units, missing values;
# nominal alpha 0.743
K = None
KRIPPENDORFF_DATA = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, K, K, K],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, K, 3],
    [K, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, K],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, K],
]


def test_fleiss_kappa_is_the_published_0_210_and_equals_statsmodels():
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    assert fleiss_kappa(WIKIPEDIA_TABLE) == pytest.approx(0.2099, abs=5e-5)
    rng = np.random.default_rng(0)
    for raters, categories in ((5, 8), (7, 8), (3, 2)):
        bias = rng.dirichlet(np.ones(categories))
        table = np.stack([rng.multinomial(raters, 0.5 * bias + 0.5 * np.eye(categories)[rng.integers(categories)])
                          for _ in range(60)])  # fmt: skip
        assert fleiss_kappa(table) == pytest.approx(sm_fleiss(table, method="fleiss"), abs=1e-12)


def test_fleiss_kappa_refuses_unequal_rater_counts_and_is_one_when_all_agree_on_one_class():
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa(np.array([[3, 0], [1, 1]]))
    assert fleiss_kappa(np.array([[4, 0], [4, 0]])) == 1.0
    assert fleiss_kappa(np.array([[4, 0], [0, 4]])) == 1.0


def test_ratings_table_counts_each_items_ratings_and_names_an_unknown_class():
    table = ratings_table([["a", "b", "a"], ["c", "c", "c"]], ["a", "b", "c"])
    np.testing.assert_array_equal(table, [[2, 1, 0], [0, 0, 3]])
    with pytest.raises(ValueError, match="item 1: unknown category 'd'"):
        ratings_table([["a"], ["d"]], ["a", "b"])


def test_krippendorff_alpha_is_the_published_0_743_with_missing_values_and_equals_the_package():
    import krippendorff

    assert krippendorff_alpha(KRIPPENDORFF_DATA) == pytest.approx(0.743, abs=5e-4)
    rng = np.random.default_rng(1)
    for _ in range(10):
        truth = rng.integers(0, 5, 40)
        data = np.where(rng.random((6, 40)) < 0.7, truth, rng.integers(0, 5, (6, 40))).astype(float)
        data[rng.random(data.shape) < 0.25] = np.nan  # a quarter of the ratings missing
        ours = krippendorff_alpha([[None if np.isnan(x) else int(x) for x in row] for row in data])
        assert ours == pytest.approx(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def test_krippendorff_alpha_on_string_classes_and_degenerate_data():
    by_hand = krippendorff_alpha([["a", "a", "b"], ["a", "b", "b"]])
    # coincidences: o_aa 2, o_bb 2, o_ab = o_ba = 1; n = 6, n_a = n_b = 3: 1 - 5 * 2 / (36 - 18)
    assert by_hand == pytest.approx(1 - 5 * 2 / 18)
    assert np.isnan(krippendorff_alpha([["a", None], [None, "b"]]))  # no item has two ratings
    assert krippendorff_alpha([["a", "a"], ["a", "a"]]) == 1.0


def test_au_reliability_pools_items_as_dfme_and_splits_by_au():
    c1 = [{"AU4"}, {"AU6", "AU12"}, {"AU1", "AU2"}, set()]
    c2 = [{"AU4", "AU7"}, {"AU12"}, {"AU1", "AU2"}, set()]
    r = au_reliability(c1, c2)
    # shared 1 + 1 + 2 = 4 of 1+2 + 2+1 + 2+2 = 10 AUs chosen in all
    assert r["overall"] == pytest.approx(2 * 4 / 10)
    assert r["per_item"][:3] == pytest.approx([2 / 3, 2 / 3, 1.0]) and np.isnan(r["per_item"][3])
    assert r["mean_item"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert list(r["per_au"]) == ["AU1", "AU2", "AU4", "AU6", "AU7", "AU12"]  # in AU order
    assert r["per_au"]["AU4"] == 1.0 and r["per_au"]["AU7"] == 0.0 == r["per_au"]["AU6"] and r["per_au"]["AU12"] == 1.0
    with pytest.raises(ValueError, match="same items"):
        au_reliability(c1, c2[:2])


def test_keyframe_agreement_in_frames_and_ms_against_the_median():
    marks = [
        [(10, 20, 30), (12, 20, 31), (10, 22, 30)],  # 200 fps: 5 ms per frame
        [(0, 5, 9), (2, None, 9)],  # 100 fps: 10 ms per frame; one rater gave no apex
    ]
    combined = [(10, 20, 30), (1, 5, 9)]
    out = keyframe_agreement(marks, combined, [200.0, 100.0], tolerance_ms=10)
    # onset deviations: 0, 2, 0 frames (0, 10, 0 ms) and 1, 1 frames (10, 10 ms)
    assert out["onset"]["mad_frames"] == pytest.approx(4 / 5)
    assert out["onset"]["mad_ms"] == pytest.approx(30 / 5)
    assert out["onset"]["within_tolerance"] == 1.0
    # onset pairs: |10-12| |10-10| |12-10| = 2, 0, 2 frames (10, 0, 10 ms); |0-2| = 2 frames (20 ms)
    assert out["onset"]["pairwise_frames"] == pytest.approx(6 / 4)
    assert out["onset"]["pairwise_ms"] == pytest.approx(40 / 4)
    # apex: 0, 0, 2 frames at 200 fps (0, 0, 10 ms) and 0 at 100 fps; the missing apex is left out
    assert out["apex"]["n"] == 4 and out["apex"]["mad_ms"] == pytest.approx(10 / 4)
    assert keyframe_agreement(marks, combined, [200.0, 100.0], tolerance_ms=5)["onset"]["within_tolerance"] == 0.4


def test_rater_confusion_counts_each_rater_against_the_final_label():
    final = {1: "happy", 2: "sad", 3: "sad", 4: None}
    ratings = {"r1": {1: "happy", 2: "sad", 3: "happy", 4: "sad"}, "r2": {1: "sad", 2: "sad"}}
    out = rater_confusion(ratings, final, ["happy", "sad"])
    assert out["r1"]["confusion"] == [[1, 0], [1, 1]] and out["r1"]["agreement"] == pytest.approx(2 / 3)
    assert out["r2"]["confusion"] == [[0, 1], [0, 1]] and out["r2"]["n"] == 2
