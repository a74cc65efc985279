from __future__ import annotations

import numpy as np
import pytest

from mextk.prepare.layout import descriptor_similarity, find_tiles, iou, tile_descriptor
from mextk.synth.screen import gallery_layout


def _gallery(n, w=640, h=360, bars=False, seed=0):
    g = np.random.default_rng(seed)
    frame = np.full((h, w), 28, np.uint8)
    boxes = gallery_layout(n, w, h)
    for x, y, bw, bh in boxes:
        frame[y : y + bh, x : x + bw] = g.integers(60, 240, (bh, bw))
        if bars:  # a square camera pillarboxed in the 16:9 tile
            side = bh
            frame[y : y + bh, x : x + (bw - side) // 2] = 0
            frame[y : y + bh, x + (bw + side) // 2 : x + bw] = 0
    return frame, boxes


@pytest.mark.parametrize("n", [1, 2, 4, 5, 9])
def test_tiles_of_a_gallery_are_found(n):
    frame, boxes = _gallery(n)
    layout = find_tiles(frame[::2, ::2], scale=2)
    assert layout.gallery and len(layout.tiles) == n
    for found, truth in zip(sorted(layout.tiles), sorted(boxes), strict=True):
        assert iou(found, truth) > 0.9
        fx, fy, fw, fh = found
        tx, ty, tw, th = truth
        assert fx >= tx and fy >= ty and fx + fw <= tx + tw and fy + fh <= ty + th  # never into the gap


def test_black_bars_are_trimmed_to_the_picture():
    frame, boxes = _gallery(4, bars=True)
    layout = find_tiles(frame, scale=1)
    for (_, _, w, h), (_, _, _, th) in zip(sorted(layout.tiles), sorted(boxes), strict=True):
        assert abs(w - th) <= 4 and abs(h - th) <= 4  # the square picture, not the 16:9 tile


def test_frame_without_gallery_is_one_tile():
    g = np.random.default_rng(1)
    frame = g.integers(0, 255, (360, 640), dtype=np.uint8)
    layout = find_tiles(frame)
    assert not layout.gallery and layout.tiles == ((0, 0, 640, 360),)
    bright = np.full((360, 640), 240, np.uint8)  # a slide: uniform but not a dark gallery background
    assert not find_tiles(bright).gallery


def test_empty_gallery_has_background_but_no_tiles():
    layout = find_tiles(np.full((180, 320), 28, np.uint8))
    assert layout.background == 28 and layout.tiles == () and not layout.gallery


def test_descriptor_recognises_the_same_feed_rescaled():
    import cv2

    g = np.random.default_rng(3)

    def scene(level):
        tex = cv2.GaussianBlur(g.uniform(-60, 60, (180, 320)).astype(np.float32), (0, 0), 6)
        return np.clip(level + 3 * tex, 0, 255).astype(np.uint8)

    a, b = scene(150), scene(80)  # two rooms: one bright, one dim
    y = np.zeros((400, 800), np.uint8)
    u = np.full((200, 400), 128, np.uint8)
    v = np.full((200, 400), 128, np.uint8)
    y[0:180, 0:320] = a
    u[0:90, 0:160] = 140  # a warm room
    y[200:335, 400:640] = cv2.resize(a, (240, 135))  # the same feed, smaller, elsewhere
    u[100:168, 200:320] = 140
    y[200:380, 0:320] = b
    da = tile_descriptor(y, u, v, (0, 0, 320, 180))
    da2 = tile_descriptor(y, u, v, (400, 200, 240, 134))
    db = tile_descriptor(y, u, v, (0, 200, 320, 180))
    assert descriptor_similarity(da, da2) > 0.6
    assert descriptor_similarity(da, db) < 0.1
    same_shape_other_colour = da.copy()
    same_shape_other_colour[16 * 9 :] += 30
    assert descriptor_similarity(da, same_shape_other_colour) < descriptor_similarity(da, da2)


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (10, 10, 5, 5)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_layout_holds_for_the_same_gallery_and_breaks_when_a_tile_moves_or_appears():
    from mextk.prepare.layout import find_tiles, layout_holds

    def small(n, seed=0):
        return _gallery(n, seed=seed)[0][::2, ::2]

    four = small(4)
    lay = find_tiles(four, scale=2)
    assert len(lay.tiles) == 4
    assert layout_holds(small(4, seed=1), lay, scale=2)  # other content, same tiles
    assert not layout_holds(small(3), lay, scale=2)  # someone left: the last row is laid out again
    assert not layout_holds(small(5), lay, scale=2)  # someone joined
    dark = four.copy()
    dark[: dark.shape[0] // 2] = 28  # the top row is gone (background where tiles were)
    assert not layout_holds(dark, lay, scale=2)
