"""LBP-TOP: local binary patterns on three orthogonal planes (CMED equation 4).

Zhao and Pietikainen, "Dynamic texture recognition using local binary
patterns with an application to facial expressions", IEEE TPAMI 29(6), 2007,
doi:10.1109/TPAMI.2007.1110.

The arithmetic follows ``LBPTOP.m`` of Zhao and Huang as ported to Python in
MEB (``tvaranka/meb``, ``meb/utils/traditional_methods.py``, ``LBPTOP``), the
implementation behind the published MEGC baselines, so that histograms are
identical to it for equal parameters:

* neighbour ``p`` of ``P`` on a plane lies at offsets
  ``floor(R_a cos(2 pi p / P) + 0.5)`` and ``floor(-R_b sin(2 pi p / P) + 0.5)``
  (nearest pixel, no interpolation); on the YT plane the y offset uses the *x*
  radius, and its codes go through the *XT* plane's mapping table, as that code does;
* bit ``p`` is set when the neighbour is ``>=`` the centre;
* centre pixels are those at least ``border_length`` from the image edges and
  ``time_length`` from the clip's ends;
* block geometry (``geometry="reference"``, the default): the overlap size is
  ``ceil(ceil((W - 2B) / cols) - 1) * ratio) - 1``, which is ``-1`` for ratio 0;
  the block length in time is ``floor((T - 2 * border_length + (parts - 1)) / parts)``
  (the reference subtracts the *spatial* border there, not ``time_length``);
  each 1-based position gets a current and a next block by that code's
  ceil/floor arithmetic, and a pixel whose next block differs counts in both.
  A negative next block indexes the histogram from its end, as numpy does in
  the reference; where the reference would index outside the histogram or
  divide zero by zero, :func:`lbp_top` raises ``ValueError`` instead;
* ``geometry="clamped"`` keeps mextk's earlier geometry: overlap sizes clamped
  to ``>= 0`` and the time blocks computed from ``time_length``;
* codes are mapped with ``u2`` (uniform patterns numbered in increasing code
  order, all others sharing the last bin: 59 bins for P = 8) or kept raw;
* the histogram has ``time_parts * rows * cols`` blocks of three planes (XY, XT,
  YT), each padded to the largest plane's bin count (the reference's layout;
  with equal ``n_points`` nothing is padded), and is divided by its sum unless
  ``normalize=False`` (the reference returns the raw counts).

:func:`lbp_top` is vectorised numpy (milliseconds per clip);
:func:`lbp_top_reference` is a plain per-pixel transcription of the reference's
loop, with its own geometry and tables, kept for checking it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

GEOMETRIES = ("reference", "clamped")


@lru_cache(maxsize=16)
def uniform_mapping(n_points: int) -> tuple[np.ndarray, int]:
    """The ``u2`` mapping of ``n_points``-bit LBP codes and its number of bins.

    Uniform codes (at most two 0/1 transitions around the circle) get the bins
    ``0, 1, ...`` in increasing code order; every other code gets the bin
    ``P (P - 1) + 2``.  The number of bins is the number of distinct values in
    the table (59 for P = 8; for P <= 3 every code is uniform, so ``2**P``).

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
    return table, len(np.unique(table))


@dataclass(frozen=True)
class _Geometry:
    block_w: int
    block_h: int
    block_t: int
    over_x: int
    over_y: int
    over_t: int = 1


def _geometry(
    shape: tuple[int, int, int],
    border: int,
    time_length: int,
    rows: int,
    cols: int,
    parts: int,
    overlap: float,
    geometry: str,
) -> _Geometry:
    t, h, w = shape
    no_w = math.ceil((w - border * 2) / cols) - 1
    no_h = math.ceil((h - border * 2) / rows) - 1
    over_x = math.ceil(no_w * overlap) - 1
    over_y = math.ceil(no_h * overlap) - 1
    t_margin = border
    if geometry == "clamped":
        over_x, over_y, t_margin = max(0, over_x), max(0, over_y), time_length
    block_w = (w - border * 2 + over_x * (cols - 1)) // cols
    block_h = (h - border * 2 + over_y * (rows - 1)) // rows
    block_t = (t - t_margin * 2 + 1 * (parts - 1)) // parts
    if geometry == "clamped" and min(block_w, block_h, block_t) < 1:
        raise ValueError(f"a {w}x{h}x{t} clip is too small for {rows}x{cols}x{parts} blocks with these borders")
    return _Geometry(block_w, block_h, block_t, over_x, over_y)


def _blocks(
    start: np.ndarray, block: int, over: int, n: int, *, extra: int, rounding: str, strict: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Current and next block of each ``start`` (position minus margin), as the reference computes them.

    With ``d = start - block - extra``, the current block is ``0`` while ``d < 0`` and
    otherwise ``floor(d / (block - over) + 1)`` in space (``extra = 1``: 1-based
    positions) or ``ceil(d / (block - over) + 1) - 1`` in time (``extra = 0``);
    the next block is ``ceil((start + (cur + 1) * over) / block) - 1``.  Both are
    capped at ``n - 1``.  Float arithmetic, as in the reference: a zero step
    makes ``inf`` (capped) or, for ``0 / 0``, an error (``strict``) or the last block.
    """
    s = start.astype(np.float64)
    d = s - block - extra
    with np.errstate(divide="ignore", invalid="ignore"):
        step = d / float(block - over)
        raw = np.floor(step + 1) if rounding == "floor" else np.ceil(step + 1) - 1
        cur = np.where(d < 0, 0.0, raw)
        if np.isnan(cur).any():
            if strict:
                raise ValueError(f"LBPTOP's block arithmetic divides 0 by 0 here (block {block}, overlap {over})")
            cur = np.where(np.isnan(cur), n - 1, cur)
        cur = np.where(cur >= n, n - 1, cur)
        nex = np.ceil((s + (cur + 1) * over) / block) - 1
    nex = np.where(nex >= n, n - 1, nex)
    if not np.isfinite(nex).all():
        raise ValueError(f"LBPTOP's block arithmetic divides by a block length of {block} here")
    return cur.astype(np.int64), nex.astype(np.int64)


def _offsets(n_points: int, r_first: float, r_second: float) -> list[tuple[int, int]]:
    return [
        (
            math.floor(r_first * math.cos(2 * math.pi * p / n_points) + 0.5),
            math.floor(-r_second * math.sin(2 * math.pi * p / n_points) + 0.5),
        )
        for p in range(n_points)
    ]


def _check(
    volume: np.ndarray,
    radius: tuple[float, float, float],
    n_points: tuple[int, int, int],
    border: int,
    time_length: int,
    overlap: float,
    geometry: str,
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
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry must be one of {', '.join(GEOMETRIES)}, got {geometry!r}")
    if n_points[2] > n_points[1]:
        raise ValueError(
            f"the YT plane's codes go through the XT plane's table (as in LBPTOP), so it cannot have more "
            f"neighbours than XT: got n_points {tuple(n_points)}"
        )
    if volume.shape[0] < 2 * time_length + 1:
        raise ValueError(f"a clip of {volume.shape[0]} frames has no centre frame with time_length {time_length}")


def _tables(n_points: tuple[int, int, int], mapping: str) -> list[tuple[np.ndarray, int]]:
    if mapping == "u2":
        xy, xt, yt = (uniform_mapping(p) for p in n_points)
    elif mapping == "none":
        xy, xt, yt = ((np.arange(2**p), 2**p) for p in n_points)
    else:
        raise ValueError(f"mapping must be 'u2' or 'none', got {mapping!r}")
    # The YT plane is coded with the XT table; its own table only counts towards the bin width.
    return [xy, xt, (xt[0], yt[1])]


def _row_index(flat: np.ndarray, n_rows: int) -> np.ndarray:
    """Histogram rows of (block * 3 + plane) indices, negative ones counted from the end as numpy indexes."""
    if flat.size and flat.min() < -n_rows:
        raise ValueError(
            "these parameters make LBPTOP index outside its histogram (a block row before the first); "
            "use more block rows/time parts or geometry='clamped'"
        )
    return np.where(flat < 0, flat + n_rows, flat)


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
    geometry: str = "reference",
    normalize: bool = True,
) -> np.ndarray:
    """LBP-TOP histogram of a clip, identical to the reference ``LBPTOP``'s for equal parameters.

    Parameters
    ----------
    volume : numpy.ndarray
        ``(T, H, W)`` gray clip (any integer or float dtype; values are compared, not rescaled).
        The reference takes ``(H, W, T)`` with ``first_f = 0`` and ``last_f = T - 1``.
    radius : (float, float, float)
        Radii along x, y and t (``FxRadius``, ``FyRadius``, ``TInterval``).
    n_points : (int, int, int)
        Neighbours on the XY, XT and YT planes (YT may not exceed XT: it uses XT's table).
    border_length, time_length : int, optional
        Margins without centre pixels (default: the largest x/y radius, the t radius).
    rows, cols, time_parts : int
        Block grid.
    overlap : float
        Overlap ratio (``overratio``) of neighbouring blocks in the XY plane, in [0, 1).
    mapping : {"u2", "none"}
        Uniform-pattern mapping or raw codes.
    geometry : {"reference", "clamped"}
        Block geometry: the reference's (see the module docstring) or mextk's
        earlier one (overlap sizes clamped to 0, time blocks from ``time_length``).
    normalize : bool
        Divide the histogram by its sum (``False``: the reference's raw counts).

    Returns
    -------
    numpy.ndarray
        ``(time_parts * rows * cols * 3 * max_bins,)`` ``float64`` (177 values per
        block for P = 8 with ``u2``).

    Raises
    ------
    ValueError
        Bad parameters, a clip too small for them, or parameters with which the
        reference itself fails (it would index outside its histogram).

    Examples
    --------
    >>> v = np.random.default_rng(0).integers(0, 256, (5, 20, 20))
    >>> h = lbp_top(v, rows=2, cols=2)
    >>> h.shape, round(float(h.sum()), 6)
    ((708,), 1.0)
    """
    r = (float(radius[0]), float(radius[1]), float(radius[2]))
    n_points = (int(n_points[0]), int(n_points[1]), int(n_points[2]))
    border = int(math.ceil(max(r[0], r[1]))) if border_length is None else int(border_length)
    tlen = int(math.ceil(r[2])) if time_length is None else int(time_length)
    _check(volume, r, n_points, border, tlen, overlap, geometry)
    tables = _tables(n_points, mapping)
    g = _geometry(volume.shape, border, tlen, rows, cols, time_parts, overlap, geometry)
    max_bins = max(b for _, b in tables)
    t_len, h, w = volume.shape
    vol = volume.astype(np.float64)
    ts = np.arange(tlen, t_len - tlen)
    ys = np.arange(border, h - border)
    xs = np.arange(border, w - border)
    centre = vol[ts[0] : ts[-1] + 1, ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1]
    rx, ry, rt = r

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
        else:  # LBPTOP places YT neighbours with the x radius: y = floor(yc - Rx cos + 0.5)
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
    strict = geometry == "reference"
    cur_r, nex_r = _blocks(ys + 1 - border, g.block_h, g.over_y, rows, extra=1, rounding="floor", strict=strict)
    cur_c, nex_c = _blocks(xs + 1 - border, g.block_w, g.over_x, cols, extra=1, rounding="floor", strict=strict)
    cur_t, nex_t = _blocks(ts - tlen, g.block_t, g.over_t, time_parts, extra=0, rounding="ceil", strict=strict)
    per_t = rows * cols
    cur = cur_t[:, None, None] * per_t + cur_r[None, :, None] * cols + cur_c[None, None, :]
    twice = (
        (nex_t[:, None, None] != cur_t[:, None, None])
        | (nex_r[None, :, None] != cur_r[None, :, None])
        | (nex_c[None, None, :] != cur_c[None, None, :])
    )
    nex = nex_t[:, None, None] * per_t + nex_r[None, :, None] * cols + nex_c[None, None, :]
    n_rows = time_parts * per_t * 3
    hist = np.zeros(n_rows * max_bins, dtype=np.float64)
    for plane in range(3):
        idx = _row_index(cur * 3 + plane, n_rows) * max_bins + codes[plane]
        hist += np.bincount(idx.ravel(), minlength=hist.size)
        idx2 = _row_index(nex[twice] * 3 + plane, n_rows) * max_bins + codes[plane][twice]
        hist += np.bincount(idx2, minlength=hist.size)
    if not normalize:
        return hist
    total = hist.sum()
    return hist / total if total > 0 else hist


def _reference_table(n_points: int, mapping: str) -> tuple[list[int], int]:
    """The reference's ``get_mapping``: a bit-by-bit count of circular transitions."""
    if mapping == "none":
        return list(range(2**n_points)), 2**n_points
    new_max = n_points * (n_points - 1) + 3
    table, index = [], 0
    for i in range(2**n_points):
        j = (i << 1) | ((i >> (n_points - 1)) & 1)
        transitions = sum(((i ^ j) >> b) & 1 for b in range(n_points))
        if transitions <= 2:
            table.append(index)
            index += 1
        else:
            table.append(new_max - 1)
    return table, len(set(table))


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
    normalize: bool = True,
) -> np.ndarray:
    """The reference geometry's histogram by a plain loop over every pixel (slow; for checking :func:`lbp_top`).

    A line-by-line transcription of the reference ``LBPTOP`` loop (1-based pixel
    positions, float block arithmetic, numpy's negative indexing).  It shares no
    geometry or table code with :func:`lbp_top`.
    """
    rx, ry, rt = (float(radius[0]), float(radius[1]), float(radius[2]))
    border = int(math.ceil(max(rx, ry))) if border_length is None else int(border_length)
    tlen = int(math.ceil(rt)) if time_length is None else int(time_length)
    code_xy, bin_xy = _reference_table(n_points[0], mapping)
    code_xt, bin_xt = _reference_table(n_points[1], mapping)
    _, bin_yt = _reference_table(n_points[2], mapping)
    bin_count = max(bin_xy, bin_xt, bin_yt)
    hist = np.zeros((rows * cols * time_parts * 3, bin_count))
    t_over = 1
    n_frames, height, width = volume.shape
    vol = volume.astype(np.float64)
    f = np.float64  # the reference's block sizes are numpy floats: x / 0 is inf (capped below), 0 / 0 is nan
    x_over = np.ceil((np.ceil((width - border * 2) / cols) - 1) * overlap) - 1
    y_over = np.ceil((np.ceil((height - border * 2) / rows) - 1) * overlap) - 1
    block_w = np.floor(f(width - border * 2 + x_over * (cols - 1)) / cols)
    block_h = np.floor(f(height - border * 2 + y_over * (rows - 1)) / rows)
    block_t = np.floor(f(n_frames - border * 2 + t_over * (time_parts - 1)) / time_parts)

    def add(t: float, r: float, c: float, plane: int, b: int) -> None:
        hist[int((t * (rows * cols) + r * cols + c) * 3 + plane), b] += 1

    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(tlen, n_frames - tlen):
            if i - tlen - block_t < 0:
                cur_t = 0
            else:
                cur_t = np.ceil((i - tlen - block_t) / (block_t - t_over) + 1) - 1
            if cur_t >= time_parts:
                cur_t = time_parts - 1
            new_t = np.ceil((i - tlen + (cur_t + 1) * t_over) / block_t) - 1
            if new_t >= time_parts:
                new_t = time_parts - 1
            for yc in range(border + 1, height - border + 1):
                for xc in range(border + 1, width - border + 1):
                    if yc - border - block_h - 1 < 0:
                        cur_r = 0
                    else:
                        cur_r = np.floor((yc - border - block_h - 1) / (block_h - y_over) + 1)
                    if xc - border - block_w - 1 < 0:
                        cur_c = 0
                    else:
                        cur_c = np.floor((xc - border - block_w - 1) / (block_w - x_over) + 1)
                    if cur_r >= rows:
                        cur_r = rows - 1
                    if cur_c >= cols:
                        cur_c = cols - 1
                    new_r = np.ceil((yc - border + (cur_r + 1) * y_over) / block_h) - 1
                    new_c = np.ceil((xc - border + (cur_c + 1) * x_over) / block_w) - 1
                    if new_r >= rows:
                        new_r = rows - 1
                    if new_c >= cols:
                        new_c = cols - 1
                    twice = (new_r != cur_r) | (new_c != cur_c) | (new_t != cur_t)
                    centre = vol[i, yc - 1, xc - 1]
                    for plane, (table, p_count) in enumerate(
                        ((code_xy, n_points[0]), (code_xt, n_points[1]), (code_xt, n_points[2]))
                    ):
                        code = 1
                        for p in range(p_count):
                            a = 2 * math.pi * p / p_count
                            if plane == 0:
                                y = math.floor(yc - ry * math.sin(a) + 0.5)
                                x = math.floor(xc + rx * math.cos(a) + 0.5)
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
                        add(cur_t, cur_r, cur_c, plane, table[code - 1])
                        if twice:
                            add(new_t, new_r, new_c, plane, table[code - 1])
    flat = hist.reshape(-1)
    if not normalize:
        return flat
    total = flat.sum()
    return flat / total if total > 0 else flat
