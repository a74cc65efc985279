"""HTNet's four facial regions of a 28 x 28 flow input: where they are, and the 2 x 2 layout cut from them.

HTNet (:mod:`mextk.models.htnet`) looks at four 14 x 14 regions, around the
eyes and the mouth corners, laid side by side as one 28 x 28 image (eyes
above, mouth corners below; the image's left one first in each row).  Their
centres come, for each sample, from the first of these that its arrays hold
(:func:`region_centres`):

``regions``    ``(4, 2)`` centres (x, y) in the input's pixels, as they are;
``landmarks``  68 iBUG points (dlib's: eye centres as the means of points
               36-41 and 42-47, mouth corners points 48 and 54) or 5 MTCNN
               points (eyes, nose, mouth corners: HTNet's authors' own
               detector), in the input's pixels;
neither        the fixed template :data:`REGION_CENTRES`.

mextk's ``flow`` feature stores the onset frame's 68 landmarks, moved into the
aligned crop and scaled to the 28 px input, so every input mextk computes has
its own regions; a precomputed ``.npz`` input may carry either array.  The
MEGC composite's flow images carry neither, so their regions sit at the
template, which is the one HTNet's authors use when their detector finds no
face in a composite image (eyes at (9.5, 11.1) and (21.4, 10.9), mouth corners
at (10.3, 22.1) and (20.6, 22.3)): the composite's faces are cropped tightly.
mextk's own crop keeps a margin around the face (``margin`` 0.2), which puts
the features elsewhere: on six clips of the real footage in ``shared/data``
the eye centres lay near (9.3, 7.6) and (17.8, 7.5) and the mouth corners near
(10.1, 16.7) and (17.6, 16.8) (medians, frame 30 of each), 3.5 to 5.5 px from
the template, which is why mextk's inputs carry their landmarks.

Each centre is rounded and clamped to 7-21 px, as the authors clamp theirs, so
a crop never leaves the image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: The template (x, y) in pixels of a 28 x 28 input: the image's left eye, right eye, left and right mouth corner,
#: as HTNet's authors place them on a composite image without a detected face.
REGION_CENTRES: tuple[tuple[float, float], ...] = (
    (9.528073, 11.062551), (21.396168, 10.919773), (10.255435, 22.121233), (20.583706, 22.25584),
)  # fmt: skip
#: Side of the input and of a region.
SIDE, REGION = 28, 14


def centres_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """The four region centres ``(4, 2)`` of 68 iBUG or 5 MTCNN landmarks ``(n, 2)`` (x, y).

    Raises
    ------
    ValueError
        Another number of points, or points that are not finite.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[1] != 2 or lm.shape[0] not in (68, 5):
        raise ValueError(f"landmarks must be 68 (iBUG) or 5 (MTCNN) points of (x, y), got shape {lm.shape}")
    if not np.isfinite(lm).all():
        raise ValueError("landmarks hold a value that is not finite (a face not found?)")
    if lm.shape[0] == 5:
        return lm[[0, 1, 3, 4]]
    return np.stack([lm[36:42].mean(axis=0), lm[42:48].mean(axis=0), lm[48], lm[54]])


def region_centres(arrays: Mapping[str, Any]) -> np.ndarray:
    """A sample's four region centres ``(4, 2)``: from its ``regions``, its ``landmarks`` or the template."""
    if "regions" in arrays:
        c = np.asarray(arrays["regions"], dtype=np.float64)
        if c.shape != (4, 2) or not np.isfinite(c).all():
            raise ValueError(f"regions must be 4 finite centres (x, y), got shape {c.shape}")
        return c
    if "landmarks" in arrays:
        return centres_from_landmarks(arrays["landmarks"])
    return np.asarray(REGION_CENTRES, dtype=np.float64)


def region_layout(x: Any, centres: Sequence[Sequence[float]] | np.ndarray = REGION_CENTRES) -> Any:
    """The four 14 x 14 regions of ``(..., 28, 28)`` inputs (NumPy or PyTorch), laid out 2 x 2 as ``(..., 28, 28)``.

    Each crop is centred at its (x, y) centre rounded and clamped to 7-21 px: rows ``cy - 7`` to ``cy + 6``,
    columns likewise.
    """
    if tuple(x.shape[-2:]) != (SIDE, SIDE):
        raise ValueError(f"HTNet takes 28 x 28 inputs, got {tuple(x.shape[-2:])}")
    half = REGION // 2
    tiles = []
    for cx, cy in np.asarray(centres, dtype=np.float64):
        px = min(max(round(float(cx)), half), SIDE - half)
        py = min(max(round(float(cy)), half), SIDE - half)
        tiles.append(x[..., py - half : py + half, px - half : px + half])
    if isinstance(x, np.ndarray):
        return np.concatenate([np.concatenate(tiles[:2], -1), np.concatenate(tiles[2:], -1)], -2)
    import torch

    return torch.cat([torch.cat(tiles[:2], dim=-1), torch.cat(tiles[2:], dim=-1)], dim=-2)
