"""What both followers of a recording share: the clips, the face cues, the settings, and where a crop goes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mextk.prepare.clips import ClipBook
from mextk.prepare.config import PrepareConfig
from mextk.prepare.faces import FaceFinder
from mextk.prepare.geometry import Box, crop_box


class Follower:
    """Base of :class:`~mextk.prepare.algorithm1.UserFrames` and :class:`~mextk.prepare.feeds.GalleryFeeds`.

    Parameters
    ----------
    book : ClipBook
        The recording's clips and tracks.
    finder : FaceFinder
        The face cues.
    config : PrepareConfig
        Settings.
    intrusion : callable
        ``intrusion(y, box, face) -> float``: the share of a crop outside the face's tile or black bars.
    """

    def __init__(
        self, book: ClipBook, finder: FaceFinder, config: PrepareConfig, intrusion: Callable[..., float]
    ) -> None:
        self.book = book
        self.finder = finder
        self.cfg = config
        self.intrusion = intrusion

    def crop(self, face: Any, bounds: Box) -> Box:
        """The crop box of a new clip of ``face`` inside ``bounds`` (a tile or the frame), by the crop settings."""
        cfg = self.cfg
        return crop_box(face, bounds, mode=cfg.crop, size=cfg.crop_size, scale=cfg.crop_scale)
