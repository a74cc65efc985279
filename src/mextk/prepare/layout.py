"""Gallery layout analysis: where the tiles are, and whether a shared screen replaced them.

A video-call gallery shows participants in rectangular tiles on a uniform dark
background, separated by gaps.  :func:`find_tiles` recovers the tiles with a
recursive XY-cut (Nagy and Seth, ICPR 1984): rows that are entirely
background split the frame into bands, columns that are entirely background
split each band into tiles, and each tile is trimmed of background rows and
columns, and of black bars (a camera of another aspect is padded with them),
so that a tile is the picture itself.  When the frame's border is not a uniform dark colour there is no
gallery structure and the whole frame is one tile.

:func:`tile_descriptor` summarises a tile's content (a small gray thumbnail
and its colour) so that a participant's feed can be recognised after the
gallery is laid out again (tiles move and resize when someone joins or leaves,
but the feed is the same video).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mextk.faces.landmarks import box_iou as iou

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class Layout:
    """The tiles of one frame.

    Attributes
    ----------
    tiles : tuple of Box
        Tile boxes in source pixels, in reading order.
    background : float or None
        Gray level of the gallery background; ``None`` when the frame has no
        gallery structure (one tile covering the frame).
    """

    tiles: tuple[Box, ...]
    background: float | None

    @property
    def gallery(self) -> bool:
        """Whether the frame shows a gallery (tiles on a uniform background)."""
        return self.background is not None and len(self.tiles) > 0


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ``[a, b)`` runs of True in a 1-D boolean array."""
    if not mask.any():
        return []
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def find_tiles(
    gray: np.ndarray,
    *,
    scale: float = 1.0,
    tol: float = 12.0,
    max_background: float = 90.0,
    min_uniform: float = 0.85,
    gap_fill: float = 0.985,
    min_tile_frac: float = 0.004,
) -> Layout:
    """Find the gallery tiles of a (downscaled) grayscale frame.

    Parameters
    ----------
    gray : numpy.ndarray
        ``(H, W)`` ``uint8`` frame, possibly downscaled.
    scale : float
        Source pixels per ``gray`` pixel; boxes are returned in source pixels.
    tol : float
        Gray-level tolerance of a background pixel.
    max_background : float
        The background must be darker than this (galleries use dark backgrounds).
    min_uniform : float
        Fraction of the frame's 2-pixel border that must be background.
    gap_fill : float
        A row or column is a gap when this fraction of it is background.
    min_tile_frac : float
        Tiles smaller than this fraction of the frame are ignored (labels, icons).

    Returns
    -------
    Layout
    """
    h, w = gray.shape
    ring = np.concatenate([gray[:2].ravel(), gray[-2:].ravel(), gray[:, :2].ravel(), gray[:, -2:].ravel()])
    bg = float(np.median(ring))
    if bg > max_background or np.mean(np.abs(ring.astype(np.float32) - bg) <= tol) < min_uniform:
        return Layout(((0, 0, int(round(w * scale)), int(round(h * scale))),), None)
    is_bg = np.abs(gray.astype(np.int16) - int(round(bg))) <= tol
    cells: list[list[int]] = []  # y0, y1, x0, x1 of each tile, and its band's extent
    bands: list[tuple[int, int, list[int]]] = []
    min_area = min_tile_frac * h * w
    for r0, r1 in _runs(is_bg.mean(axis=1) < gap_fill):
        band = is_bg[r0:r1]
        members = []
        for c0, c1 in _runs(band.mean(axis=0) < gap_fill):
            cell = is_bg[r0:r1, c0:c1]
            rows = _runs(cell.mean(axis=1) < gap_fill)
            cols = _runs(cell.mean(axis=0) < gap_fill)
            if not rows or not cols:
                continue
            y0, y1 = r0 + rows[0][0], r0 + rows[-1][1]
            x0, x1 = c0 + cols[0][0], c0 + cols[-1][1]
            if (y1 - y0) * (x1 - x0) < min_area:
                continue
            members.append(len(cells))
            cells.append([y0, y1, x0, x1])
        bands.append((r0, r1, members))
    if not cells:
        return Layout((), bg)
    _regularise(cells, bands, w)
    tiles = []
    for y0, y1, x0, x1 in cells:
        y0, y1, x0, x1 = _trim_black_bars(gray, y0, y1, x0, x1)
        tiles.append(_to_source((x0, y0, x1 - x0, y1 - y0), scale, w * scale, h * scale))
    return Layout(tuple(tiles), bg)


def layout_holds(gray: np.ndarray, layout: Layout, *, scale: float = 1.0, tol: float = 12.0) -> bool:
    """Whether a (downscaled) frame still shows ``layout``: a fast check that saves :func:`find_tiles`.

    True when everything outside the tiles is still the gallery's background
    (98% of it within ``tol`` gray levels, or black: the bars beside a picture
    of another aspect) and every tile is still covered by a picture (at most
    20% of it looks like the background); a tile appearing, moving, shrinking
    or going away breaks one of the two, and the layout is then found again (a
    very dark picture always is).
    """
    if not layout.gallery or layout.background is None:
        return False
    h, w = gray.shape
    is_bg = np.abs(gray.astype(np.int16) - int(round(layout.background))) <= tol
    outside = np.ones((h, w), bool)
    for x, y, bw, bh in layout.tiles:
        x0, y0 = int(x / scale), int(y / scale)
        x1, y1 = int(np.ceil((x + bw) / scale)), int(np.ceil((y + bh) / scale))
        # a tile's edge (its highlight frame, the letterbox bars) may be either: leave a margin out
        outside[max(0, y0 - 2) : y1 + 2, max(0, x0 - 2) : x1 + 2] = False
        if is_bg[y0:y1, x0:x1].mean() > 0.2:
            return False  # part of a tile shows the background: it moved or went away (or is very dark)
    # outside the pictures: the background, or the black bars beside a picture of another aspect
    still = is_bg[outside] | (gray[outside] <= 20)
    return bool(still.mean() >= 0.98) if still.size else True


def _regularise(cells: list[list[int]], bands: list[tuple[int, int, list[int]]], width: int) -> None:
    """Give every tile the gallery's common size.

    Video-call galleries use one tile size and one gap; a tile that came out
    narrower (a dark wall at its edge read as background) gets its edges back
    from its neighbours (a neighbour's edge plus the gap), and an edge with no
    neighbour from the common width.
    """
    ws = sorted(c[3] - c[2] for c in cells)
    hs = sorted(c[1] - c[0] for c in cells)
    mw, mh = ws[len(ws) // 2], hs[len(hs) // 2]
    gaps = [cells[b][2] - cells[a][3] for _, _, m in bands for a, b in zip(m, m[1:], strict=False)]
    gap = sorted(gaps)[len(gaps) // 2] if gaps else 0
    for r0, r1, members in bands:
        for k, i in enumerate(members):
            y0, y1, x0, x1 = cells[i]
            if x1 - x0 < 0.95 * mw:
                if k + 1 < len(members):
                    x1 = max(x1, cells[members[k + 1]][2] - gap)
                if k > 0:
                    x0 = min(x0, cells[members[k - 1]][3] + gap)
                if x1 - x0 < 0.95 * mw:
                    if k + 1 == len(members) and k > 0:
                        x1 = min(width, x0 + mw)  # only the right edge is free
                    elif k == 0 and k + 1 < len(members):
                        x0 = max(0, x1 - mw)  # only the left edge is free
            if y1 - y0 < 0.95 * mh:
                y0, y1 = (r0, r1) if r1 - r0 <= 1.05 * mh else (y0, y1)
            cells[i] = [y0, y1, x0, x1]


def _trim_black_bars(gray: np.ndarray, y0: int, y1: int, x0: int, x1: int, *, level: int = 20) -> tuple[int, ...]:
    """Shrink a tile to its picture: video-call software pads a camera of another aspect with black bars."""
    # a bar column is mostly black; the name label and the speaker highlight drawn over the
    # bars cover a small part of it, so "mostly" rather than "all"
    # The picture is the longest run of non-bar columns (rows): a highlight frame drawn around
    # the tile makes thin runs at the edges, which are not the picture.
    cell = gray[y0:y1, x0:x1] <= level
    col_runs = _runs(cell.mean(axis=0) < 0.85)
    row_runs = _runs(cell.mean(axis=1) < 0.85)
    if not col_runs or not row_runs:
        return y0, y1, x0, x1
    c0, c1 = max(col_runs, key=lambda r: r[1] - r[0])
    r0, r1 = max(row_runs, key=lambda r: r[1] - r[0])
    if c1 - c0 < 0.3 * (x1 - x0) or r1 - r0 < 0.3 * (y1 - y0):
        return y0, y1, x0, x1  # mostly black (camera off): keep the tile as it is
    # bars come in pairs of (nearly) equal width on opposite sides, as the picture is centred;
    # a dark band on one side only is picture content, not a bar
    if _paired(c0, (x1 - x0) - c1):
        x0, x1 = x0 + c0, x0 + c1
    if _paired(r0, (y1 - y0) - r1):
        y0, y1 = y0 + r0, y0 + r1
    return y0, y1, x0, x1


def _paired(a: int, b: int) -> bool:
    return a > 1 and b > 1 and abs(a - b) <= max(2, 0.25 * max(a, b))


def _to_source(box: Box, scale: float, width: float, height: float) -> Box:
    # Round inwards (plus one downscaled pixel when downscaled), so that a tile never takes in the gap.
    x, y, bw, bh = box
    pad = 1 if scale > 1 else 0
    x0 = int(np.ceil((x + pad) * scale) + 1) // 2 * 2
    y0 = int(np.ceil((y + pad) * scale) + 1) // 2 * 2
    x1 = min(int(width), int(np.floor((x + bw - pad) * scale)))
    y1 = min(int(height), int(np.floor((y + bh - pad) * scale)))
    return (x0, y0, max(0, x1 - x0) // 2 * 2, max(0, y1 - y0) // 2 * 2)


def same_slot(a: Box, b: Box) -> bool:
    """Whether two tile boxes are one gallery slot, measured differently.

    Either they overlap closely (IoU above 0.8: a few pixels off), or one lies
    inside the other around the same centre (within 10% of the larger width):
    the same tile with and without its black bars, which a dim picture can
    make hard to tell from the bars.

    Examples
    --------
    >>> same_slot((100, 100, 224, 224), (16 + 100 - 104, 100, 400, 224))
    True
    >>> same_slot((100, 100, 224, 224), (400, 100, 224, 224))
    False
    """
    if iou(a, b) > 0.8:
        return True
    small, big = sorted((a, b), key=lambda r: r[2] * r[3])
    inside = iou(small, big) * (small[2] * small[3] + big[2] * big[3]) / (1 + iou(small, big))
    if inside < 0.95 * small[2] * small[3]:
        return False
    dx = abs(small[0] + small[2] / 2 - big[0] - big[2] / 2)
    dy = abs(small[1] + small[3] / 2 - big[1] - big[3] / 2)
    return dx <= 0.1 * big[2] and dy <= 0.1 * big[3]


def tile_descriptor(
    y: np.ndarray, u: np.ndarray, v: np.ndarray, box: Box, *, thumbnail: np.ndarray | None = None
) -> np.ndarray:
    """Appearance of a tile's content, for recognising a feed after the layout changes.

    A 16x9 gray thumbnail and an 8x4 colour (U, V) thumbnail of the tile's
    inner 88% (the speaker highlight and name label at the edges are left out).

    Parameters
    ----------
    y, u, v : numpy.ndarray
        Planes of a YUV 4:2:0 frame (``u``, ``v`` at half resolution).
    box : Box
        Tile in source pixels.
    thumbnail : numpy.ndarray, optional
        The tile's :func:`tile_thumbnail`, when already made: the gray part is taken from it.
    """
    import cv2

    x, yy, w, h = box
    mx, my = int(0.06 * w), int(0.06 * h)
    # every k-th pixel first (a view): the thumbnails are tiny, so this loses nothing and saves time
    k = max(1, min(w, h) // 72)
    if thumbnail is not None:
        g = cv2.resize(thumbnail, (16, 9), interpolation=cv2.INTER_AREA)
    else:
        inner = y[yy + my : yy + h - my : k, x + mx : x + w - mx : k]
        g = cv2.resize(inner, (16, 9), interpolation=cv2.INTER_AREA).astype(np.float32)
    cu = u[(yy + my) // 2 : (yy + h - my) // 2 : k, (x + mx) // 2 : (x + w - mx) // 2 : k]
    cv = v[(yy + my) // 2 : (yy + h - my) // 2 : k, (x + mx) // 2 : (x + w - mx) // 2 : k]
    cu = cv2.resize(cu, (8, 4), interpolation=cv2.INTER_AREA).astype(np.float32)
    cv_ = cv2.resize(cv, (8, 4), interpolation=cv2.INTER_AREA).astype(np.float32)
    return np.concatenate([g.ravel(), cu.ravel(), cv_.ravel()])


def descriptor_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Similarity in (0, 1] of two tile descriptors (1: same content).

    ``exp(-d / 10)`` of the mean absolute difference ``d`` of the thumbnails
    in gray levels (brightness and colour together).  Raw levels, not
    normalised ones: a tile with little texture (a plain wall, a small face)
    still compares reliably, and the same feed rescaled differs only by
    resampling.
    """
    return float(np.exp(-np.mean(np.abs(a - b)) / 10.0))


def tile_thumbnail(y: np.ndarray, box: Box) -> np.ndarray:
    """A 64x36 area-averaged gray thumbnail of a tile's inner 88% (``float32``): its look at a glance."""
    import cv2

    x, yy, w, h = box
    mx, my = int(0.06 * w), int(0.06 * h)
    k = max(1, min(w, h) // 144)
    inner = y[yy + my : yy + h - my : k, x + mx : x + w - mx : k]
    if inner.size == 0:
        return np.zeros((36, 64), np.float32)
    return cv2.resize(inner, (64, 36), interpolation=cv2.INTER_AREA).astype(np.float32)


def flatness(thumb: np.ndarray, tol: float = 4.0) -> float:
    """Share of a thumbnail within ``tol`` gray levels of its median (a plain card: most of it)."""
    return float(np.mean(np.abs(thumb - np.median(thumb)) <= tol))


def card_like(thumb: np.ndarray, previous: np.ndarray | None, *, min_flat: float, max_change: float) -> bool:
    """Whether a tile shows a camera-off card rather than a live camera.

    A card (a name or initials on a plain background, an avatar, black) is
    plain and does not change: at least ``min_flat`` of its thumbnail lies
    within 4 gray levels of the median, and it differs from the previous
    step's thumbnail by at most ``max_change`` gray levels on average.  A
    black tile is a card at once.  A live camera, however still the person,
    carries sensor noise and small movements, and a face is rarely plain.

    Examples
    --------
    >>> card = np.full((36, 64), 40, np.float32); card[14:22, 26:38] = 230  # initials on gray
    >>> card_like(card, card.copy(), min_flat=0.6, max_change=0.8)
    True
    >>> rng = np.random.default_rng(0); live = rng.uniform(0, 255, (36, 64)).astype(np.float32)
    >>> card_like(live, live + rng.normal(0, 2, live.shape), min_flat=0.6, max_change=0.8)
    False
    """
    if float(thumb.mean()) < 16:
        return True
    if previous is None or previous.shape != thumb.shape:
        return False
    # the change first: a live camera's is large, and it costs a tenth of the flatness (a median)
    return float(np.mean(np.abs(thumb - previous))) <= max_change and flatness(thumb) >= min_flat
