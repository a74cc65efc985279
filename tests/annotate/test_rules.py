"""The protocol's rules as pure functions (:mod:`mextk.annotate.rules`), without a database or HTTP."""

from __future__ import annotations

import pytest

from mextk.annotate.protocol import load_protocol
from mextk.annotate.rules import Refused, SegmentInput, check_segment, class_of, combine_step, may_rate

CMED = load_protocol("cmed")
DFME = load_protocol("dfme")


def test_only_a_labeller_who_does_not_rate_the_item_already_and_did_not_author_it_may_rate():
    assert may_rate("labeller", rates_item_already=False, authored_excluded_step=False)
    assert not may_rate("admin", rates_item_already=False, authored_excluded_step=False)
    assert not may_rate("labeller", rates_item_already=True, authored_excluded_step=False)
    assert not may_rate("labeller", rates_item_already=False, authored_excluded_step=True)  # blind review


def test_a_label_names_a_class_whatever_its_case_or_space_and_other_words_are_refused_with_the_place():
    assert class_of(CMED, "  Happiness ") == "happiness"
    with pytest.raises(Refused, match=r"^row 3: unknown class 'happy'"):
        class_of(CMED, "happy", "row 3")


@pytest.mark.parametrize(
    ("seg", "message"),
    [
        (SegmentInput(5, 3, "fear", 4), "need 0 <= onset <= offset < 20"),
        (SegmentInput(0, 20, "fear", 4), "need 0 <= onset <= offset < 20"),
        (SegmentInput(0, 9, "fear"), "a fear segment needs an apex"),
        (SegmentInput(0, 9, "no_me", 4), "a no_me segment has no apex"),
        (SegmentInput(2, 9, "fear", 11), "the apex 11 is outside onset 2 to offset 9"),
        (SegmentInput(0, 9.5, "fear", 4), "offset must be an integer frame number"),  # type: ignore[arg-type]
        (SegmentInput(0, 9, "fear", True), "apex must be an integer frame number"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_segment_is_refused_naming_its_number_and_what_is_wrong(seg, message):
    with pytest.raises(Refused, match=f"^segment 2: {message}"):
        check_segment(CMED, seg, 20, 1)


def test_a_good_segment_comes_back_with_its_class_in_the_protocols_spelling():
    assert check_segment(CMED, SegmentInput(2, 9, " Fear", 5), 20, 0) == SegmentInput(2, 9, "fear", 5)


def test_cmed_verification_agreeing_with_the_mark_accepts_and_disagreeing_goes_to_reverification():
    verify = CMED.step("verify")
    agree = combine_step(CMED, verify, [("fear", None)], fps=25, reference="fear")
    assert (agree.target, agree.label, agree.result) == ("accept", "fear", "fear")
    disagree = combine_step(CMED, verify, [("anger", None)], fps=25, reference="fear")
    assert (disagree.target, disagree.result) == ("reverify", "anger")


def test_dfme_emotion_needs_more_than_half_of_seven_raters_else_the_segment_is_flagged():
    emotion = DFME.step("emotion")
    four = combine_step(DFME, emotion, [("fear", None)] * 4 + [("anger", None)] * 3, fps=25)
    assert (four.target, four.label) == ("accept", "fear")
    split = combine_step(DFME, emotion, [("fear", None)] * 3 + [("anger", None)] * 3 + [("sadness", None)], fps=25)
    assert (split.target, split.result, split.label) == ("flag", None, None)


def test_dfme_key_frames_are_the_lower_medians_and_the_type_follows_the_500_ms_rule():
    step = DFME.step("keyframes")
    marks = [(10, 14, 20), (12, 15, 22), (11, 13, 21), (9, 16, 30), (13, 14, 19)]
    out = combine_step(DFME, step, [("", {"onset": a, "apex": b, "offset": c}) for a, b, c in marks], fps=25)
    # by hand: onsets 9..13 -> 11, apexes 13..16 -> 14, offsets 19..30 -> 21; 10 frames at 25 fps = 400 ms: micro
    assert out.keyframes == (11, 14, 21) and out.expression == "micro" and out.target == DFME.after(step)
    slow = combine_step(DFME, step, [("", {"onset": 0, "apex": 10, "offset": 20})] * 5, fps=25)
    assert slow.expression == "macro"  # 800 ms long, apex at 400 ms


def test_dfme_action_units_keep_each_coders_list_and_the_reconciliation_sets_the_segments():
    coded = combine_step(DFME, DFME.step("aus"), [("", ["AU4"]), ("", ["AU4", "AU7"])], fps=25)
    assert coded.result == [["AU4"], ["AU4", "AU7"]] and coded.aus is None
    agreed = combine_step(DFME, DFME.step("reconcile_aus"), [("", ["AU4", "AU7"])], fps=25)
    assert agreed.aus == ["AU4", "AU7"] and agreed.target == "emotion"  # then the emotion step


def test_the_players_turned_head_limits_are_prepares_default_flag_limits():
    from mextk.annotate.views import TURNED_PITCH, TURNED_YAW
    from mextk.prepare.config import PrepareConfig

    assert (TURNED_YAW, TURNED_PITCH) == (PrepareConfig().flag_max_yaw, PrepareConfig().flag_max_pitch)
