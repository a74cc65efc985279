from __future__ import annotations

import numpy as np
import pytest

from mextk.labels import TAXONOMIES, LabelError, get_taxonomy, normalize_label


@pytest.mark.parametrize(
    ("raw", "canon"),
    [
        ("Happy", "happiness"),
        ("HAPPINESS", "happiness"),
        (" sad ", "sadness"),
        ("No_Emotion", "no_me"),
        ("No-ME", "no_me"),
        ("no me", "no_me"),
        ("Other", "others"),
        ("Negative", "negative"),
        ("Repression", "repression"),
        ("contempt", "contempt"),
    ],
)
def test_aliases_case_insensitive(raw, canon):
    assert normalize_label(raw) == canon


@pytest.mark.parametrize("bad", ["", None, float("nan"), "happyy", "neutral face"])
def test_unknown_or_empty_labels_raise(bad):
    with pytest.raises(LabelError):
        normalize_label(bad)


def test_cli_task_names_exist_with_expected_classes():
    assert set(TAXONOMIES) >= {"cmed6", "cmed7", "megc3", "spotting", "dfme7", "casme2", "samm"}
    assert get_taxonomy("cmed6").classes == ("anger", "disgust", "fear", "sadness", "happiness", "surprise")
    assert get_taxonomy("cmed7").classes[-1] == "no_me" and get_taxonomy("cmed7").n_classes == 7
    assert get_taxonomy("dfme7").n_classes == 7 and "contempt" in get_taxonomy("dfme7").classes
    assert get_taxonomy("casme2").classes == ("happiness", "disgust", "surprise", "repression", "others")
    assert get_taxonomy("samm").n_classes == 7
    assert get_taxonomy("spotting").classes == ("me", "no_me")
    with pytest.raises(LabelError, match="unknown task 'cmed9'.*cmed6"):
        get_taxonomy("cmed9")


def test_megc3_mapping_follows_megc2019():
    t = get_taxonomy("megc3")
    for neg in ("anger", "disgust", "fear", "sadness", "Contempt", "negative"):
        assert t.map(neg) == "negative"
    assert t.map("Happy") == "positive" and t.map("positive") == "positive"
    assert t.map("surprised") == "surprise"
    assert t.map("No_Emotion") is None and t.map("others") is None and t.map("repression") is None
    assert t.with_mapping({"repression": "negative"}).map("repression") == "negative"


def test_spotting_counts_every_micro_expression():
    t = get_taxonomy("spotting")
    assert [t.map(x) for x in ("happy", "others", "repression", "No-ME", "negative")] == [
        "me",
        "me",
        "me",
        "no_me",
        "me",
    ]


def test_encode_drop_reports_and_error_refuses():
    t = get_taxonomy("cmed6")
    enc = t.encode(["Happiness", "No_Emotion", "fear", "others", "no-me"])
    assert enc.y.tolist() == [4, 2]
    assert enc.keep.tolist() == [True, False, True, False, False]
    assert enc.dropped == {"no_me": 2, "others": 1}
    assert "dropped 3 samples" in enc.describe_dropped()
    with pytest.raises(LabelError, match="sample 1: label 'No_Emotion' \\(no_me\\) is excluded by task cmed6"):
        t.encode(["Happiness", "No_Emotion"], excluded="error")
    with pytest.raises(LabelError, match="sample 2: unknown emotion label 'joy!'"):
        t.encode(["fear", "anger", "joy!"])
    with pytest.raises(ValueError):
        t.encode(["fear"], excluded="keep")


def test_casme2_excludes_fear_and_sadness_and_samm_others_is_opt_in():
    c = get_taxonomy("casme2")
    assert c.map("fear") is None and c.map("sadness") is None and c.map("others") == "others"
    s = get_taxonomy("samm")
    assert s.map("other") is None
    s8 = s.with_mapping({"others": "others"})
    assert s8.n_classes == 8 and s8.index("others") == 7


def test_encode_is_consistent_with_classes(rng):
    t = get_taxonomy("dfme7")
    labels = rng.choice(t.classes, size=50)
    enc = t.encode(labels)
    assert np.array_equal(np.asarray(t.classes)[enc.y], labels)


def test_bad_taxonomy_definitions_are_refused():
    from mextk.labels import Taxonomy, register_taxonomy

    with pytest.raises(ValueError, match="not classes"):
        Taxonomy("x", ("a",), {"anger": "b"})
    with pytest.raises(ValueError, match="already registered"):
        register_taxonomy(get_taxonomy("cmed6"))
