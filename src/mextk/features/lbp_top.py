"""LBP-TOP: local binary patterns on three orthogonal planes (CMED equation 4).

Zhao and Pietikainen, "Dynamic texture recognition using local binary
patterns with an application to facial expressions", IEEE TPAMI 29(6), 2007,
doi:10.1109/TPAMI.2007.1110.

The parameters and the arithmetic follow the widely used MATLAB ``LBPTOP.m``
of Zhao and Huang (the version with block rows/columns, time parts and an
overlap ratio), so that histograms equal that implementation's for equal
parameters and published baselines stay comparable:

* neighbour ``p`` of ``P`` on a plane lies at offsets
  ``floor(R_a cos(2 pi p / P) + 0.5)`` and ``floor(-R_b sin(2 pi p / P) + 0.5)``
  (nearest pixel, no interpolation); on the YT plane the y offset uses the *x*
  radius, as that code does;
* bit ``p`` is set when the neighbour is ``>=`` the centre;
* centre pixels are those at least ``border_length`` from the image edges and
  ``time_length`` from the clip's ends;
* pixels go to ``rows x cols x time_parts`` blocks by that code's ceil/floor
  arithmetic; with an overlap ratio, pixels in an overlap count in both blocks;
* codes are mapped with ``u2`` (uniform patterns numbered in increasing code
  order, all others sharing the last bin: 59 bins for P = 8) or kept raw;
* the concatenated histogram (block by block, planes XY, XT, YT within a
  block) is divided by its sum.

Where the planes have different bin counts the MATLAB code pads to the largest
and then, in a branch that returns a single number, breaks; mextk returns the
unpadded concatenation, normalised the same way.

:func:`lbp_top` is vectorised numpy (milliseconds per clip);
:func:`lbp_top_reference` is a plain per-pixel loop kept for checking it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=16)
def uniform_mapping(n_points: int) -> tuple[np.ndarray, int]:
    """The ``u2`` mapping of ``n_points``-bit LBP codes and its number of bins.

    Uniform codes (at most two 0/1 transitions around the circle) get the bins
    ``0, 1, ...`` in increasing code order; every other code gets the last bin.

    Examples
    --------
    >>> table, bins = uniform_mapping(8)
    >>> bins, int(table[0]), int(table[1]), int(table[5]), int(table[255])
    (59, 0, 1, 58, 57)
    """
    table = np.zeros(2**n_points, dtype=np.int64)
    index = 0
    other = n_points * (n_points - 1) + 2
    for code in range(2**n_points):
        rotated = ((code << 1) & (2**n_points - 1)) | (code >> (n_points - 1))
        transitions = bin(code ^ rotated).count("1")
        if transitions <= 2:
            table[code] = index
            index += 1
        else:
            table[code] = other
    return table, other + 1


@dataclass(frozen=True)
class _Geometry:
    block_w: int
    block_h: int
    block_t: int
    over_x: int
    over_y: int
    over_t: int = 1


def _geometry(
    shape: tuple[int, int, int], border: int, time_length: int, rows: int, cols: int, parts: int, overlap: float
) -> _Geometry:
    t, h, w = shape
    no_w = math.ceil((w - border * 2) / cols) - 1
    no_h = math.ceil((h - border * 2) / rows) - 1
    over_x = max(0, math.ceil(no_w * overlap) - 1)
    over_y = max(0, math.ceil(no_h * overlap) - 1)
    block_w = (w - border * 2 + over_x * (cols - 1)) // cols
    block_h = (h - border * 2 + over_y * (rows - 1)) // rows
    block_t = (t - time_length * 2 + 1 * (parts - 1)) // parts
    if block_w < 1 or block_h < 1 or block_t < 1:
        raise ValueError(f"a {w}x{h}x{t} clip is too small for {rows}x{cols}x{parts} blocks with these borders")
    return _Geometry(block_w, block_h, block_t, over_x, over_y)


def _cur_nex(pos: int, border: int, block: int, over: int, n: int) -> tuple[int, int]:
    """Block of a 1-based position (and the next block, for overlaps), as LBPTOP.m computes them."""
    if pos - border - block - 1 < 0:
        cur = 0
    else:
        cur = math.floor((pos - border - block - 1) / (block - over) + 1)
    cur = min(cur, n - 1)
    nex = min(math.ceil((pos - border + (cur + 1) * over) / block) - 1, n - 1)
    return cur, nex


def _time_block(i: int, time_length: int, g: _Geometry, parts: int) -> tuple[int, int]:
    if i - time_length - g.block_t < 0:
        cur = 0
    elif g.block_t - g.over_t == 0:
        cur = parts - 1
    else:
        cur = math.ceil((i - time_length - g.block_t) / (g.block_t - g.over_t) + 1) - 1
    cur = min(cur, parts - 1)
    nex = min(math.ceil((i - time_length + (cur + 1) * g.over_t) / g.block_t) - 1, parts - 1)
    return cur, nex


def _offsets(n_points: int, r_first: float, r_second: float) -> list[tuple[int, int]]:
    return [
        (
            math.floor(r_first * math.cos(2 * math.pi * p / n_points) + 0.5),
            math.floor(-r_second * math.sin(2 * math.pi * p / n_points) + 0.5),
        )
        for p in range(n_points)
    ]


def _check(
    volume: np.ndarray, radius: tuple[float, float, float], border: int, time_length: int, overlap: float
) -> None:
    if volume.ndim != 3:
        raise ValueError(f"volume must be (T, H, W), got shape {volume.shape}")
    if not (np.issubdtype(volume.dtype, np.integer) or np.issubdtype(volume.dtype, np.floating)):
        raise ValueError(f"volume must hold numbers, got {volume.dtype}")
    rx, ry, rt = radius
    if border < math.ceil(max(rx, ry)) or time_length < math.ceil(rt):
        raise ValueError("border_length must be >= the x/y radii and time_length >= the t radius")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap ratio must be in [0, 1), got {overlap}")
    if volume.shape[0] < 2 * time_length + 1:
        raise ValueError(f"a clip of {volume.shape[0]} frames has no centre frame with time_length {time_length}")


def _tables(n_points: tuple[int, int, int], mapping: str) -> list[tuple[np.ndarray, int]]:
    if mapping == "u2":
        return [uniform_mapping(p) for p in n_points]
    if mapping == "none":
        return [(np.arange(2**p), 2**p) for p in n_points]
    raise ValueError(f"mapping must be 'u2' or 'none', got {mapping!r}")


def _setup(
    volume: np.ndarray,
    radius: tuple[float, float, float],
    n_points: tuple[int, int, int],
    border_length: int | None,
    time_length: int | None,
    rows: int,
    cols: int,
    time_parts: int,
    overlap: float,
    mapping: str,
) -> tuple[tuple[float, float, float], int, int, list[tuple[np.ndarray, int]], _Geometry]:
    """Defaults, checks, code tables and block geometry shared by both implementations."""
    r = (float(radius[0]), float(radius[1]), float(radius[2]))
    border = int(math.ceil(max(r[0], r[1]))) if border_length is None else int(border_length)
    tlen = int(math.ceil(r[2])) if time_length is None else int(time_length)
    _check(volume, r, border, tlen, overlap)
    tables = _tables(tuple(n_points), mapping)  # type: ignore[arg-type]
    g = _geometry(volume.shape, border, tlen, rows, cols, time_parts, overlap)
    return r, border, tlen, tables, g


def _finish(hist: np.ndarray, bins: list[int]) -> np.ndarray:
    # hist: (blocks, 3, max_bins) -> concatenate each plane's own bins, block by block
    parts = [hist[:, k, : bins[k]] for k in range(3)]
    flat = np.concatenate([np.concatenate([parts[k][b] for k in range(3)]) for b in range(hist.shape[0])])
    total = flat.sum()
    return flat / total if total > 0 else flat


def lbp_top(
    volume: np.ndarray,
    *,
    radius: tuple[float, float, float] = (1, 1, 1),
    n_points: tuple[int, int, int] = (8, 8, 8),
    border_length: int | None = None,
    time_length: int | None = None,
    rows: int = 5,
    cols: int = 5,
    time_parts: int = 1,
    overlap: float = 0.0,
    mapping: str = "u2",
) -> np.ndarray:
    """LBP-TOP histogram of a clip, equal to ``LBPTOP.m``'s for equal parameters.

    Parameters
    ----------
    volume : numpy.ndarray
        ``(T, H, W)`` gray clip (any integer or float dtype; values are compared, not rescaled).
    radius : (float, float, float)
        Radii along x, y and t (``FxRadius``, ``FyRadius``, ``TInterval``).
    n_points : (int, int, int)
        Neighbours on the XY, XT and YT planes.
    border_length, time_length : int, optional
        Margins without centre pixels (default: the largest x/y radius, the t radius).
    rows, cols, time_parts : int
        Block grid.
    overlap : float
        Overlap ratio of neighbouring blocks in the XY plane, in [0, 1).
    mapping : {"u2", "none"}
        Uniform-pattern mapping or raw codes.

    Returns
    -------
    numpy.ndarray
        ``(time_parts * rows * cols * (bins_xy + bins_xt + bins_yt),)`` ``float64``
        summing to 1 (177 values per block for P = 8 with ``u2``).

    Examples
    --------
    >>> v = np.random.default_rng(0).integers(0, 256, (5, 20, 20))
    >>> h = lbp_top(v, rows=2, cols=2)
    >>> h.shape, round(float(h.sum()), 6)
    ((708,), 1.0)
    """
    radius, border, tlen, tables, g = _setup(
        volume, radius, n_points, border_length, time_length, rows, cols, time_parts, overlap, mapping
    )
    bins = [b for _, b in tables]
    t_len, h, w = volume.shape
    vol = volume.astype(np.float64)
    ts = np.arange(tlen, t_len - tlen)
    ys = np.arange(border, h - border)
    xs = np.arange(border, w - border)
    centre = vol[ts[0] : ts[-1] + 1, ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1]
    rx, ry, rt = radius

    def shifted(dt: int, dy: int, dx: int) -> np.ndarray:
        return vol[ts[0] + dt : ts[-1] + 1 + dt, ys[0] + dy : ys[-1] + 1 + dy, xs[0] + dx : xs[-1] + 1 + dx]

    codes = []
    for plane, (table, _) in enumerate(tables):
        p_count = n_points[plane]
        code = np.zeros(centre.shape, dtype=np.int64)
        if plane == 0:
            offs = [(0, dy, dx) for dx, dy in _offsets(p_count, rx, ry)]
        elif plane == 1:
            offs = [(dt, 0, dx) for dx, dt in _offsets(p_count, rx, rt)]
        else:  # LBPTOP.m places YT neighbours with the x radius: y = floor(yc - Rx cos + 0.5)
            offs = [
                (
                    math.floor(-rt * math.sin(2 * math.pi * p / p_count) + 0.5),
                    math.floor(-rx * math.cos(2 * math.pi * p / p_count) + 0.5),
                    0,
                )
                for p in range(p_count)
            ]
        for p, (dt, dy, dx) in enumerate(offs):
            code |= (shifted(dt, dy, dx) >= centre).astype(np.int64) << p
        codes.append(table[code])
    cur_r, nex_r = np.array([_cur_nex(y + 1, border, g.block_h, g.over_y, rows) for y in ys]).T
    cur_c, nex_c = np.array([_cur_nex(x + 1, border, g.block_w, g.over_x, cols) for x in xs]).T
    cur_t, nex_t = np.array([_time_block(int(i), tlen, g, time_parts) for i in ts]).T
    blocks_per_t = rows * cols
    cur = cur_t[:, None, None] * blocks_per_t + cur_r[None, :, None] * cols + cur_c[None, None, :]
    nex = nex_t[:, None, None] * blocks_per_t + nex_r[None, :, None] * cols + nex_c[None, None, :]
    twice = cur != nex
    n_blocks = time_parts * blocks_per_t
    max_bins = max(bins)
    hist = np.zeros(n_blocks * 3 * max_bins, dtype=np.float64)
    for plane in range(3):
        idx = (cur * 3 + plane) * max_bins + codes[plane]
        hist += np.bincount(idx.ravel(), minlength=hist.size)
        idx2 = (nex[twice] * 3 + plane) * max_bins + codes[plane][twice]
        hist += np.bincount(idx2, minlength=hist.size)
    return _finish(hist.reshape(n_blocks, 3, max_bins), bins)


def lbp_top_reference(
    volume: np.ndarray,
    *,
    radius: tuple[float, float, float] = (1, 1, 1),
    n_points: tuple[int, int, int] = (8, 8, 8),
    border_length: int | None = None,
    time_length: int | None = None,
    rows: int = 5,
    cols: int = 5,
    time_parts: int = 1,
    overlap: float = 0.0,
    mapping: str = "u2",
) -> np.ndarray:
    """The same histogram as :func:`lbp_top`, by a plain loop over every pixel (slow; for checking)."""
    radius, border, tlen, tables, g = _setup(
        volume, radius, n_points, border_length, time_length, rows, cols, time_parts, overlap, mapping
    )
    bins = [b for _, b in tables]
    t_len, h, w = volume.shape
    vol = volume.astype(np.float64)
    rx, ry, rt = radius
    max_bins = max(bins)
    hist = np.zeros((time_parts * rows * cols, 3, max_bins))
    for i in range(tlen, t_len - tlen):
        cur_t, nex_t = _time_block(i, tlen, g, time_parts)
        for yc in range(border + 1, h - border + 1):  # 1-based, as in LBPTOP.m
            cur_r, nex_r = _cur_nex(yc, border, g.block_h, g.over_y, rows)
            for xc in range(border + 1, w - border + 1):
                cur_c, nex_c = _cur_nex(xc, border, g.block_w, g.over_x, cols)
                centre = vol[i, yc - 1, xc - 1]
                for plane in range(3):
                    p_count = n_points[plane]
                    code = 0
                    for p in range(p_count):
                        a = 2 * math.pi * p / p_count
                        if plane == 0:
                            x = math.floor(xc + rx * math.cos(a) + 0.5)
                            y = math.floor(yc - ry * math.sin(a) + 0.5)
                            value = vol[i, y - 1, x - 1]
                        elif plane == 1:
                            x = math.floor(xc + rx * math.cos(a) + 0.5)
                            z = math.floor(i - rt * math.sin(a) + 0.5)
                            value = vol[z, yc - 1, x - 1]
                        else:
                            y = math.floor(yc - rx * math.cos(a) + 0.5)
                            z = math.floor(i - rt * math.sin(a) + 0.5)
                            value = vol[z, y - 1, xc - 1]
                        if value >= centre:
                            code += 2**p
                    b = tables[plane][0][code]
                    block = cur_t * rows * cols + cur_r * cols + cur_c
                    hist[block, plane, b] += 1
                    if nex_r != cur_r or nex_c != cur_c or nex_t != cur_t:
                        hist[nex_t * rows * cols + nex_r * cols + nex_c, plane, b] += 1
    return _finish(hist, bins)


def key_frame_volume(frames: np.ndarray, onset: int, apex: int, offset: int) -> np.ndarray:
    """The onset, apex and offset frames as a 3-frame volume (CMED's temporal axis for LBP-TOP).

    With ``time_length = 1`` the apex is the only centre frame, and its XT/YT
    neighbours are the onset and offset frames.
    """
    if not 0 <= onset <= apex <= offset < len(frames):
        raise ValueError(f"need 0 <= onset <= apex <= offset < {len(frames)}, got {onset}, {apex}, {offset}")
    return np.stack([frames[onset], frames[apex], frames[offset]])
