from __future__ import annotations

import numpy as np
import pytest

from mextk.features.lbp_top import lbp_top, lbp_top_reference, uniform_mapping


def test_uniform_mapping():
    table, bins = uniform_mapping(8)
    assert bins == 59 and len(np.unique(table)) == 59
    assert (table < 58).sum() == 58  # 58 uniform 8-bit patterns
    assert table[0] == 0 and table[255] == 57 and table[0b00001111] < 58 and table[0b01010101] == 58
    table4, bins4 = uniform_mapping(4)
    assert bins4 == 15 and table4[0b0101] == 14


def test_small_neighbour_counts_have_as_many_bins_as_distinct_table_values():
    # every 2- and 3-bit code has at most two circular transitions: all are uniform
    assert uniform_mapping(2)[1] == 4 and uniform_mapping(3)[1] == 8


def test_codes_on_a_tiny_volume_by_hand():
    v = np.zeros((3, 3, 3), np.uint8)
    v[1, 1, 1] = 5  # the only centre pixel
    v[1, 1, 2] = 9  # its right-hand neighbour (p = 0 on the XY and XT planes)
    h = lbp_top(v, rows=1, cols=1, geometry="clamped")
    assert h.shape == (177,)
    table, _ = uniform_mapping(8)
    expected = np.zeros(177)
    expected[table[1]] += 1  # XY: code 0b00000001
    expected[59 + table[1]] += 1  # XT: code 0b00000001
    expected[118 + table[0]] += 1  # YT: nothing >= 5 -> code 0
    np.testing.assert_array_equal(h, expected / 3)
    raw = lbp_top(v, rows=1, cols=1, mapping="none", geometry="clamped")
    assert raw.shape == (768,) and raw[1] == raw[256 + 1] == raw[512] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"radius": (3, 3, 3), "rows": 4, "cols": 4},
        {"radius": (2, 1, 1), "n_points": (8, 8, 4), "rows": 3, "cols": 2, "time_parts": 2, "overlap": 0.3},
        {"radius": (1, 1, 1), "n_points": (4, 8, 8), "rows": 2, "cols": 4, "time_parts": 2},
        {"mapping": "none", "rows": 2, "cols": 2},
        {"radius": (1.5, 2.5, 1), "overlap": 0.5},
        {"radius": (1, 1, 2), "n_points": (8, 8, 8), "time_parts": 3, "rows": 2, "cols": 3, "overlap": 0.9},
    ],
)
def test_fast_equals_the_reference_transcription_bit_for_bit(params):
    v = np.random.default_rng(len(str(params))).integers(0, 256, (11, 30, 34)).astype(np.uint8)
    np.testing.assert_array_equal(lbp_top(v, **params), lbp_top_reference(v, **params))


def test_monotonic_gray_changes_do_not_change_the_histogram():
    v = np.random.default_rng(1).integers(0, 120, (5, 24, 24)).astype(np.uint8)
    a = lbp_top(v, rows=2, cols=2)
    b = lbp_top((v.astype(np.float32) * 2 + 10), rows=2, cols=2)
    np.testing.assert_array_equal(a, b)
    assert a.sum() == pytest.approx(1.0)


def test_three_key_frames_need_the_clamped_geometry_and_bad_settings_are_refused():
    frames = np.random.default_rng(2).integers(0, 255, (20, 16, 16)).astype(np.uint8)
    kf = frames[[2, 9, 15]]  # onset, apex, offset
    assert lbp_top(kf, rows=1, cols=1, geometry="clamped").shape == (177,)
    with pytest.raises(ValueError, match="outside its histogram"):  # the reference fails on one block row
        lbp_top(kf, rows=1, cols=1)
    with pytest.raises(ValueError, match="border_length"):
        lbp_top(frames, radius=(2, 2, 1), border_length=1)
    with pytest.raises(ValueError, match="no centre frame"):
        lbp_top(frames[:2])
    with pytest.raises(ValueError, match="overlap"):
        lbp_top(frames, overlap=1.0)
    with pytest.raises(ValueError, match="mapping"):
        lbp_top(frames, mapping="ri")
    with pytest.raises(ValueError, match="too small"):
        lbp_top(frames[:, :6, :6], rows=5, cols=5, geometry="clamped")
    with pytest.raises(ValueError, match="geometry"):
        lbp_top(frames, geometry="matlab")
    with pytest.raises(ValueError, match="XT"):
        lbp_top(frames, n_points=(8, 4, 8))


def test_random_volumes_and_parameters_equal_the_reference_transcription():
    rng = np.random.default_rng(12)
    compared = 0
    for _ in range(30):
        rx = float(rng.choice([1, 1.5, 2, 3]))
        params = {
            "radius": (rx, float(rng.choice([1, rx])), float(rng.choice([1, 2]))),
            "n_points": (int(rng.choice([4, 8])), 8, int(rng.choice([4, 8]))),
            "rows": int(rng.integers(1, 6)),
            "cols": int(rng.integers(1, 6)),
            "time_parts": int(rng.integers(1, 4)),
            "overlap": float(rng.choice([0, 0.3, 0.5, 0.9])),
        }
        v = rng.integers(0, 256, (int(rng.integers(5, 12)), int(rng.integers(8, 26)), int(rng.integers(8, 26))))
        try:
            ref = lbp_top_reference(v, **params, normalize=False)
        except (IndexError, ValueError, OverflowError):  # the reference itself fails: lbp_top must refuse too
            with pytest.raises(ValueError):
                lbp_top(v, **params)
            continue
        np.testing.assert_array_equal(lbp_top(v, **params, normalize=False), ref)
        compared += 1
    assert compared >= 15


def test_reference_geometry_with_overlap_ratio_0_by_hand():
    # 8x8 frames, border 1, 2x2 blocks: the overlap size is ceil(0 * (ceil(6 / 2) - 1)) - 1 = -1 and the
    # block side floor((6 - 1) / 2) = 2.  For the 1-based positions 1..6 after the border, the current block
    # is 0 for p - 3 < 0, else floor((p - 3) / 3 + 1) capped at 1; the next is ceil((p - (cur + 1)) / 2) - 1:
    cur = [0, 0, 1, 1, 1, 1]
    nxt = [-1, 0, 0, 0, 1, 1]
    expected_blocks = np.zeros(4)
    for ry in range(6):
        for rx in range(6):
            expected_blocks[cur[ry] * 2 + cur[rx]] += 1
            if (nxt[ry], nxt[rx]) != (cur[ry], cur[rx]):
                expected_blocks[(nxt[ry] * 2 + nxt[rx]) % 4] += 1  # a negative row counts from the end
    v = np.full((3, 8, 8), 7, np.uint8)  # every neighbour >= centre: code 255, u2 bin 57, on every plane
    h = lbp_top(v, rows=2, cols=2, normalize=False).reshape(4, 3, 59)
    np.testing.assert_array_equal(h[:, :, 57], np.repeat(expected_blocks[:, None], 3, axis=1))
    assert h.sum() == 3 * expected_blocks.sum() and expected_blocks.sum() == 36 + 27
    # the earlier geometry (overlap clamped to 0) puts each pixel in one block: 9 per block
    old = lbp_top(v, rows=2, cols=2, normalize=False, geometry="clamped").reshape(4, 3, 59)
    np.testing.assert_array_equal(old[:, :, 57], np.full((4, 3), 9))


def test_time_blocks_subtract_the_border_not_time_length():
    # 7 frames, border 1, time_length 2, two parts: the reference's block length is
    # floor((7 - 2 * 1 + 1) / 2) = 3 (with time_length it would be floor((7 - 4 + 1) / 2) = 2).
    # Centre frames i = 2, 3, 4 (start s = i - 2 = 0, 1, 2): current part 0 while s - 3 < 0; the next is
    # ceil((s + 1) / 3) - 1 = 0, 0, 0.  So every pixel of the 3 centre frames lands in part 0 only.
    # Overlap ratio 0.5 keeps every spatial next block >= 0 here (overlap sizes 1 and 0), so nothing wraps.
    v = np.full((7, 5, 14), 3, np.uint8)
    h = lbp_top(v, radius=(1, 1, 2), rows=1, cols=3, time_parts=2, overlap=0.5, normalize=False)
    per_part = h.reshape(2, 3, 3, 59).sum(axis=(1, 2, 3))
    assert per_part[1] == 0 and per_part[0] > 0
    # with time_length-based blocks (the earlier geometry) of length 2, s = 2 also counts in part 1
    old = lbp_top(v, radius=(1, 1, 2), rows=1, cols=3, time_parts=2, overlap=0.5, normalize=False, geometry="clamped")
    assert old.reshape(2, 3, 3, 59).sum(axis=(1, 2, 3))[1] > 0


def test_yt_codes_go_through_the_xt_table():
    v = np.zeros((3, 3, 3), np.uint8)
    v[1, 1, 1] = 5
    v[1, 0, 1] = v[1, 2, 1] = 9  # above and below the centre: YT bits 0 and 2 (P = 4), XY bits 2 and 6
    h = lbp_top(v, rows=1, cols=1, n_points=(8, 8, 4), geometry="clamped", normalize=False)
    assert h.shape == (3 * 59,)  # blocks are as wide as the widest plane
    expected = np.zeros(3 * 59)
    expected[58] = 1  # XY code 0b01000100: not uniform
    expected[59 + 0] = 1  # XT: code 0
    expected[118 + 58] = 1  # YT code 0b0101 through the 8-bit table: not uniform (its own 4-bit table: 14)
    np.testing.assert_array_equal(h, expected)
