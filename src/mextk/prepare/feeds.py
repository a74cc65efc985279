"""Gallery recordings: one track per participant feed, and when that feed's face is there.

**Identity.**  Each tile of the gallery (:mod:`mextk.prepare.layout`) shows one
participant's feed.  A feed keeps its track id for the whole recording: while
the tiles stay put each keeps its feed (also when a camera goes off or on,
which changes the tile's look completely); when the gallery is laid out
again (someone joins or leaves, a screen share ends) the feeds are found again
by their look and the gallery's order (:meth:`GalleryFeeds._assign`).  A new
id starts only for a tile that matches no feed seen before.

**Presence.**  A tile shows either a live camera or a camera-off card
(:func:`~mextk.prepare.layout.card_like`).  On a live tile the face is
looked for with cues from cheap to expensive (:mod:`mextk.prepare.faces`):
template matching near its last place, the main detector over the tile, a
second detector near the last place at the face's scale (``recheck_detector``),
and, before a clip may end, a third (``confirm_detector``).  A clip ends only

* when the tile has shown a card (plain, still and without a face) at two
  analysis steps in a row (the clip ends at the last step its face was seen), or
* when the face has been missing for more than ``max_gap`` frames while
  every cue, the confirming detector included, says it is gone,

so a few bad frames (a hand over the mouth, a turn of the head, a laugh)
cannot end a clip: hard frames stay in it, recorded in its quality sidecar.
A face that leaves its crop (a lean, a quick move) does not end the clip either:
the crop follows it.  The tile moving, a screen share and the end of the
recording also end clips.

**Whose face.**  A tile may show more than its participant: people standing or
walking behind.  The participant is the largest, most central face that stays
(:func:`~mextk.prepare.faces.participant`); once known, only a face of their
size near their last place can continue their clip, so a passer-by never takes it over.

Two cues that a careful reader might expect are left out on purpose.  Fitting
68 landmarks in the last box cannot say that a face has gone: dlib's shape
predictor regresses a face shape from whatever box it is given and reports no
confidence, so it "fits" an empty chair as well; it measures the head pose of
a face that is there instead.  Motion in the last box cannot tell a person
from a curtain, a screen or a passer-by, so it is not allowed to keep a clip
open; the CNN detector at the face's own scale, the most pose-robust detector
available, is the last word before a clip ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mextk.prepare.clips import ClipBook, Track
from mextk.prepare.config import PrepareConfig
from mextk.prepare.faces import FaceFinder, participant
from mextk.prepare.follower import Follower
from mextk.prepare.geometry import Box, even, face_fits
from mextk.prepare.layout import (
    Layout,
    card_like,
    descriptor_similarity,
    same_slot,
    tile_descriptor,
    tile_thumbnail,
)

#: Tile-content similarity (:func:`~mextk.prepare.layout.descriptor_similarity`) above which a tile
#: shows a known participant's feed in a new place.  Measured on three synthetic galleries and one
#: of real faces: the same feed 0.2-0.6 s apart (rescaled across re-layouts) scores at least 0.42,
#: different feeds at most 0.32.
SAME_FEED = 0.37
#: The looser bar for a feed that stays in its slot, and the assignment bonus for staying there.
SAME_SLOT = 0.2
#: The bar for a feed that keeps its place in the gallery's order but moved.
SAME_ORDERED = 0.3
#: Frames between the face chips kept for a feed's faceprint, and how many are kept (averaged when described).
FACEPRINT_EVERY = 250
FACEPRINT_MAX = 2
#: Analysis steps in a row that must show a card before a clip ends for it.
CARD_STEPS = 2
#: Frames between detector runs on a tile that looks like a card (a still face on a plain wall looks
#: like one until a face is found in it).
CARD_SEARCH = 50

Window = list[tuple[int, Any, Any]]


class GalleryFeeds(Follower):
    """The gallery follower (see the module docstring).

    Parameters: see :class:`~mextk.prepare.follower.Follower`.
    """

    def __init__(
        self, book: ClipBook, finder: FaceFinder, config: PrepareConfig, intrusion: Callable[..., float]
    ) -> None:
        super().__init__(book, finder, config, intrusion)
        self._last_tiles: tuple[Box, ...] | None = None
        self._order: list[int] = []  # track ids in the gallery's reading order
        self._cards: dict[int, int] = {}  # track id -> card steps in a row

    # ------------------------------------------------------------------ identity
    def lose_tiles(self, t0: int) -> None:
        """The gallery is gone (a screen share, no gallery): every clip ends before ``t0``."""
        for track in self.book.tracks:
            self.book.close(track, end=t0 - 1)
            track.last_tile = track.tile or track.last_tile
            track.tile = None
        self._last_tiles = None

    def _similarity(self, desc: np.ndarray, track: Track) -> float:
        """How much a tile looks like a feed: as its live camera or as its camera-off card."""
        sims = [descriptor_similarity(desc, d) for d in (track.descriptor, track.card) if d is not None]
        return max(sims, default=0.0)

    def step(self, t0: int, window: Window, layout: Layout, recent: list[tuple[int, Any]]) -> None:
        """Analyse the step at frame ``t0``: which feed each tile shows, then each feed's face.

        ``recent`` holds ``(frame, planes)`` of the frames since the previous step (to date a tile's move).
        """
        planes = window[0][2]
        book = self.book
        # A tile found a few pixels off (a dark wall at its edge can look like the gallery's
        # background) is the same slot: keep the box the feed already has.
        known = [tr.tile for tr in book.tracks if tr.tile is not None]
        layout = Layout(
            tuple(next((k for k in known if same_slot(k, tile)), tile) for tile in layout.tiles),
            layout.background,
        )
        thumbs = [tile_thumbnail(planes[0], tile) for tile in layout.tiles]
        descs = [tile_descriptor(*planes, tile, thumbnail=th) for tile, th in zip(layout.tiles, thumbs, strict=True)]
        same_layout = (
            self._last_tiles is not None
            and len(self._last_tiles) == len(layout.tiles)
            and all(same_slot(a, b) for a, b in zip(self._last_tiles, layout.tiles, strict=True))
        )
        self._last_tiles = layout.tiles
        pairs = self._unchanged(layout, descs, planes[0]) if same_layout else None
        if pairs is None:
            pairs = self._relayout(t0, layout, descs, recent, planes[0])
        for (tile, track), desc, thumb in zip(pairs, descs, thumbs, strict=True):
            self._observe(t0, window, tile, track, thumb)
            self._remember_look(track, desc)  # after the observation: as a live camera's look or a card's

    def _unchanged(self, layout: Layout, descs: list[np.ndarray], y: np.ndarray) -> list[tuple[Box, Track]] | None:
        """The tiles did not move: each keeps its feed (``None`` when the feeds were reordered)."""
        pairs = []
        for tile in layout.tiles:
            track = next((tr for tr in self.book.tracks if tr.tile is not None and same_slot(tr.tile, tile)), None)
            if track is None:
                return None
            pairs.append((tile, track))
        for (_, track), desc in zip(pairs, descs, strict=True):
            if self._similarity(desc, track) >= SAME_SLOT:
                continue
            # The look changed a lot in the same slot: a camera going off or on, a laugh, a lighting
            # change.  Galleries do not swap feeds between tiles that stay put, so the slot keeps its
            # feed, unless the tile now shows another known feed (people left and joined at once).
            others = [tr for _, tr in pairs if tr is not track]
            if any(self._similarity(desc, tr) >= SAME_FEED for tr in others):
                return None
        for tile, track in pairs:
            track.tile = tile
        return pairs

    @staticmethod
    def _remember_look(track: Track, desc: np.ndarray) -> None:
        """Keep the tile's look: as the live camera's, or as the camera-off card's (the state at the last step)."""
        if track.live:
            track.descriptor = desc
        else:
            track.card = desc

    def _relayout(
        self, t0: int, layout: Layout, descs: list[np.ndarray], recent: list[tuple[int, Any]], y: np.ndarray
    ) -> list[tuple[Box, Track]]:
        book = self.book
        assigned = self._assign(layout.tiles, descs, y)
        moved = set()
        for i, track in assigned.items():
            if track.tile is None or not same_slot(track.tile, layout.tiles[i]):
                moved.add(track.track_id)
            elif track.tile != layout.tiles[i]:
                track.tile = layout.tiles[i]  # the same slot, measured a pixel or two differently
        for track in book.tracks:
            if track not in assigned.values():
                book.close(track, end=t0 - 1)
                track.last_tile = track.tile or track.last_tile
                track.tile = None
        for i in range(len(layout.tiles)):
            if i not in assigned:
                assigned[i] = book.new_track()
                moved.add(assigned[i].track_id)
        for i, track in assigned.items():
            tile = layout.tiles[i]
            if track.track_id in moved:
                if track.clip is not None and track.tile is not None:
                    self._follow_tile(track, tile, t0, recent, descs[i])
                else:
                    book.close(track, end=t0 - 1)
                    # a feed that joins (or is back): its first clip may start where its tile first showed it
                    track.appeared = self._first_showing(tile, recent, descs[i], after=-1, default=t0)
                track.tile = tile
                track.face = None
                track.thumb = None
        self._order = [assigned[i].track_id for i in sorted(assigned)]
        return [(layout.tiles[i], tr) for i, tr in sorted(assigned.items())]

    def _tile_faceprint(self, tile: Box, y: np.ndarray) -> np.ndarray | None:
        """Who the tile's participant is (its largest, most central face), ``None`` where no face is found."""
        faces = self.finder.detect(y, tile, min_face=self.cfg.min_face_frac * tile[3], max_face=0.95 * tile[3])
        face = participant(faces, None, tile)
        if face is None:
            return None
        return self.finder.faceprint(*self.finder.face_chip(y, tuple(int(v) for v in face)))

    def _track_faceprint(self, track: Track, chips: int) -> np.ndarray | None:
        """Who a feed's participant is: the mean descriptor of its first ``chips`` face chips (each described once,
        when first asked for)."""
        while len(track.faceprints) < min(chips, len(track.face_chips)):
            found = self.finder.faceprint(*track.face_chips[len(track.faceprints)])
            if found is None:
                return None
            track.faceprints.append(found)
        return np.mean(track.faceprints[:chips], axis=0) if track.faceprints else None

    def _assign(self, tiles: tuple[Box, ...], descs: list[np.ndarray], y: np.ndarray) -> dict[int, Track]:
        """Which known feed each tile shows, after the gallery was laid out again.

        Video-call galleries keep their participants in the same order when
        they re-lay out (someone joining is added, someone leaving is taken
        out), so the previous order of feeds is aligned with the new tiles in
        reading order (a Needleman-Wunsch alignment whose match score is the
        content similarity): a feed can move and shrink, but two feeds cannot
        swap.  Tiles left over are compared with feeds seen earlier in the
        call (someone back after leaving) and otherwise are new feeds.

        Where a tile's look does not settle it (no feed looks like it, or several do), who the face in
        it is (:mod:`mextk.faces.identity`) overrides the look both ways: a face that is a feed's
        participant (descriptor distance under :data:`~mextk.faces.identity.SAME_PERSON`) shows that
        feed however much smaller, darker or re-framed the tile is, and one that is clearly someone
        else (over :data:`~mextk.faces.identity.OTHER_PERSON`) never does.  The descriptors are
        computed only then (about 75 ms a face), from the feeds' kept face chips.
        """
        from mextk.faces.identity import OTHER_PERSON, SAME_PERSON, distance

        tracks = [tr for tr in self.book.tracks if tr.descriptor is not None or tr.card is not None]
        looks = {(tr.track_id, b): self._similarity(desc, tr) for tr in tracks for b, desc in enumerate(descs)}
        unsettled = {b for b in range(len(tiles)) if sum(looks[tr.track_id, b] >= SAME_ORDERED for tr in tracks) != 1}
        # a feed that one settled tile alone looks like is there: its face is not asked for
        placed = {
            tr.track_id
            for tr in tracks
            for b in range(len(tiles))
            if b not in unsettled and looks[tr.track_id, b] >= SAME_ORDERED
        }
        # an unsettled tile's face is asked for only when some feed could be it (not placed, a face kept):
        # a newcomer's tile, beside feeds that are all in place, costs nothing
        candidates = any(tr.track_id not in placed and tr.face_chips for tr in tracks)
        prints = {b: self._tile_faceprint(tiles[b], y) for b in sorted(unsettled)} if candidates else {}

        def face_distance(tr: Track, b: int) -> float | None:
            p = prints.get(b)
            if p is None or tr.track_id in placed:
                return None
            d = None
            for chips in range(1, len(tr.face_chips) + 1):  # one chip first; another only while it is unclear
                mine = self._track_faceprint(tr, chips)
                d = None if mine is None else distance(mine, p)
                if d is None or d < SAME_PERSON or d > OTHER_PERSON:
                    break
            return d

        by_id = {tr.track_id: tr for tr in self.book.tracks}
        old = [by_id[i] for i in self._order if by_id[i].descriptor is not None or by_id[i].card is not None]
        m, n = len(old), len(tiles)
        sim = np.zeros((m, n))
        ok = np.zeros((m, n), bool)
        for a, tr in enumerate(old):
            for b, (tile, desc) in enumerate(zip(tiles, descs, strict=True)):
                sim[a, b] = looks[tr.track_id, b]
                slot_before = tr.tile if tr.tile is not None else tr.last_tile
                stayed = slot_before is not None and same_slot(slot_before, tile)
                ok[a, b] = sim[a, b] >= (SAME_SLOT if stayed else SAME_ORDERED)
                if stayed and not ok[a, b]:
                    # its own slot, looking very different (light, camera off, a laugh): still this feed,
                    # unless the tile shows another known feed
                    others = (self._similarity(desc, o) for o in old if o is not tr)
                    ok[a, b] = all(v < SAME_FEED for v in others)
                    sim[a, b] = max(sim[a, b], SAME_SLOT) if ok[a, b] else sim[a, b]
                d = face_distance(tr, b)
                if d is not None and d < SAME_PERSON:
                    ok[a, b], sim[a, b] = True, max(sim[a, b], 1.0 - d)
                elif d is not None and d > OTHER_PERSON:
                    ok[a, b] = False
        score = np.zeros((m + 1, n + 1))
        for a in range(1, m + 1):
            for b in range(1, n + 1):
                best = max(score[a - 1, b], score[a, b - 1])
                if ok[a - 1, b - 1]:
                    best = max(best, score[a - 1, b - 1] + sim[a - 1, b - 1])
                score[a, b] = best
        assigned: dict[int, Track] = {}
        a, b = m, n
        while a > 0 and b > 0:
            if ok[a - 1, b - 1] and score[a, b] == score[a - 1, b - 1] + sim[a - 1, b - 1]:
                assigned[b - 1] = old[a - 1]
                a, b = a - 1, b - 1
            elif score[a, b] == score[a - 1, b]:
                a -= 1
            else:
                b -= 1
        rest = [b for b in range(n) if b not in assigned]
        earlier = [
            tr
            for tr in self.book.tracks
            if tr not in assigned.values() and (tr.descriptor is not None or tr.card is not None)
        ]
        if rest and earlier:
            # the few tiles left: the most similar pairs first (greedy; a handful of tiles at most), by face
            # where both faces are known, else by look
            back = []
            for b in rest:
                for k, tr in enumerate(earlier):
                    d = face_distance(tr, b)
                    if d is not None and d < SAME_PERSON:
                        back.append((1.0 - d + 1.0, b, k))  # a face match ranks above any look match
                    elif (d is None or d <= OTHER_PERSON) and looks[tr.track_id, b] >= SAME_FEED:
                        back.append((looks[tr.track_id, b], b, k))
            taken: set[int] = set()
            for _, b, k in sorted(back, key=lambda x: -x[0]):
                if b not in assigned and k not in taken:
                    assigned[b] = earlier[k]
                    taken.add(k)
        return assigned

    def _follow_tile(self, track: Track, tile: Box, t0: int, recent: list[tuple[int, Any]], now: np.ndarray) -> None:
        """The gallery was laid out again and this feed's tile moved: the clip goes on in the new tile.

        The crop box moves and scales with the tile (the feed is the same video,
        so the face keeps its place in the crop).  The frame where the layout
        changed is the first recent frame whose new tile already shows this feed:
        whose look matches the new tile's look now (``now``), at the new tile's own
        scale (the feed's look from before, at the old scale, can match too weakly
        and date the move late, leaving the old box over another feed's new tile).
        """
        clip = track.clip
        assert clip is not None and track.tile is not None
        ox, oy, ow, oh = track.tile
        nx, ny, nw, nh = tile
        bx, by, bw, bh = clip.box
        ratio = min(nw / ow, nh / oh)
        side = max(4, int(bw * ratio) // 4 * 4)
        side = min(side, nw // 4 * 4, nh // 4 * 4)
        x = even(np.clip(nx + (bx - ox) * nw / ow, nx, nx + nw - side))
        y = even(np.clip(ny + (by - oy) * nh / oh, ny, ny + nh - side))
        new_box = (max(x, nx + nx % 2), max(y, ny + ny % 2), side, side)
        change = self._first_showing(tile, recent, now, after=clip.confirmed_until, default=t0)
        clip.boxes.append((change, new_box))
        clip.box, clip.tile = new_box, tile
        clip.face_h0 *= ratio
        clip.evidence.tile_height = float(nh)

    def _learn_face(self, track: Track, y: np.ndarray, t: int) -> None:
        """Keep a chip of the detected face now and then (the first at once), for telling who it is later.

        Up to :data:`FACEPRINT_MAX` chips, :data:`FACEPRINT_EVERY` frames apart, so that a feed's faceprint
        spans several poses; a chip is a small resize (no model runs here).
        """
        if len(track.face_chips) >= FACEPRINT_MAX or t - track.face_chip_at < FACEPRINT_EVERY or track.face is None:
            return
        track.face_chips.append(self.finder.face_chip(y, track.face))
        track.face_chip_at = t

    def _move_crop(self, track: Track, face: Any, tile: Box, t: int) -> None:
        """The face left its crop (a lean, a head moving in a webcam): the crop moves with it from frame ``t``.

        Only real events end a clip (a join, a leave, a camera going off, a share, a re-layout), so a
        participant who moves stays in one clip; each move is one of the clip's boxes (the manifest's
        ``box_changes``), and a face that grew or shrank gets a crop of its new size.
        """
        clip = track.clip
        assert clip is not None
        box = self.crop(face, tile)
        if box != clip.box:
            clip.boxes.append((t, box))
            clip.box = box
        clip.face_h0 = float(face[3])

    @staticmethod
    def _first_showing(tile: Box, recent: list[tuple[int, Any]], now: np.ndarray, *, after: int, default: int) -> int:
        """The first recent frame after ``after`` whose ``tile`` looks as it does now (``now``): when it began to
        show its feed (``default`` when none does)."""
        for t, planes in recent:
            if t > after and descriptor_similarity(tile_descriptor(*planes, tile), now) >= SAME_FEED:
                return t
        return default

    # ------------------------------------------------------------------ presence
    def _observe(self, t0: int, window: Window, tile: Box, track: Track, thumb: np.ndarray) -> None:
        """Look for the feed's face in its tile and open, continue or close its clip (``thumb``: the tile's look)."""
        cfg, book, finder = self.cfg, self.book, self.finder
        t_seen, planes = window[0][0], window[0][2]
        y = planes[0]
        card = card_like(thumb, track.thumb, min_flat=cfg.card_min_flat, max_change=cfg.card_max_change)
        track.thumb = thumb
        if card and track.face is None and t0 - track.last_full < CARD_SEARCH:
            face, how, score, n_faces = None, "", float("nan"), 0  # a card and no face known: no search
        else:
            face, how, score, n_faces = self._find(t0, y, tile, track)
        # a plain, still tile without a face is a camera-off card (a still face on a plain wall is not)
        appeared, track.appeared = track.appeared, None  # only the first look after the tile appeared uses it
        cards = self._cards.get(track.track_id, 0) + 1 if card and face is None else 0
        self._cards[track.track_id] = cards
        if cards >= CARD_STEPS:  # camera off: the clip ends where the face was last seen
            track.live = False
            book.close(track)
            track.face = None
            return
        track.live = cards == 0
        if face is not None:
            track.face = tuple(int(v) for v in face)
            track.last_seen = t_seen
            if how != "template":
                finder.remember(track, y)
                self._learn_face(track, y, t_seen)
            if track.clip is not None and not face_fits(track.clip.box, face, track.clip.face_h0):
                self._move_crop(track, face, tile, t_seen)  # a moving head: the crop follows, the clip goes on
            if track.clip is None:
                box = self.crop(face, tile)
                # found at the first look after the tile appeared: the clip starts where the tile did
                start = appeared if appeared is not None and appeared < t_seen else t_seen
                book.open(track, start, face, tile, box, intrusion=self.intrusion(y, box, face))
            book.confirm(track, t_seen)
            scanned = track.last_full == t0  # the detector searched the whole tile now: a fresh count of faces
            book.check(
                track, t=t_seen, found=True, n_faces=n_faces, face=face, method=how, score=score, scanned=scanned
            )
            if track.clip is not None and t_seen - track.last_pose >= cfg.pose_every:
                pose = finder.pose(y, track.face)
                track.last_pose = t_seen
                if pose is not None:
                    book.pose(track, *pose)
            return
        book.check(track, t=t_seen, found=False, n_faces=0, scanned=track.last_full == t0)
        if t0 - track.last_seen > cfg.max_gap:
            book.close(track)  # every cue agrees: gone (the clip ends where the face was last seen)
            track.face = None

    def _find(self, t0: int, y: np.ndarray, tile: Box, track: Track) -> tuple[Any, str, float, int]:
        """The face of a live feed: ``(box or None, found by, score, faces in the tile)``."""
        cfg, finder = self.cfg, self.finder
        min_face = cfg.min_face_frac * tile[3]
        n_faces = track.n_faces
        # 1. the known face, by template matching near its last place
        if track.face is not None and t0 - track.last_full < cfg.full_detect_every:
            hit = finder.follow(track, y, tile)
            if hit is not None:
                return hit, "template", round(track.template_score, 3), n_faces
        # 2. the detector over the tile (a tile without a known face: every search_every frames)
        if track.face is not None or t0 - track.last_full >= cfg.search_every:
            # with a face known, faces under 0.4 of its height are not looked for (people far behind): the
            # search runs on a smaller copy of the tile
            low = max(min_face, 0.4 * track.face[3]) if track.face is not None else min_face
            faces = finder.detect(y, tile, min_face=low, max_face=0.95 * tile[3])
            track.last_full = t0
            n_faces = track.n_faces = len(faces)
            found = participant(faces, track.face, tile)
            if found is not None:
                return found, "detector", float("nan"), n_faces
        if cfg.recheck_detector == "none":
            return None, "", float("nan"), n_faces
        # 3. a second detector near the last place, at the face's scale (turned, tilted, covered faces)
        if track.face is not None:
            hit2 = finder.recheck(y, track.face, tile, detector=cfg.recheck_detector, threshold=cfg.recheck_threshold)
            if hit2 is not None:
                return hit2[0], cfg.recheck_detector, round(hit2[1], 3), max(n_faces, 1)
            # 4. before a clip may end, the most robust detector must agree that the face is gone: near its
            # last place, then over the whole tile at the face's scale (a head that moved fast is elsewhere)
            if track.clip is not None and t0 - track.last_seen > cfg.max_gap and cfg.confirm_detector != "none":
                hit3 = finder.recheck(y, track.face, tile, detector=cfg.confirm_detector, threshold=0.0)
                if hit3 is not None:
                    return hit3[0], cfg.confirm_detector, round(hit3[1], 3), max(n_faces, 1)
                faces = finder.scan(y, tile, detector=cfg.confirm_detector, min_face=0.6 * track.face[3], threshold=0.0)
                sized = [f for f in faces if 0.6 < f[3] / max(track.face[3], 1) < 1.6]
                if sized:
                    found = participant(np.asarray(sized), None, tile)
                    return found, cfg.confirm_detector, float("nan"), max(n_faces, len(faces))
        elif t0 - track.last_scan >= cfg.search_every:
            # a live tile whose face is not known: the second detector over the whole tile now and then
            track.last_scan = t0
            faces = finder.scan(y, tile, detector=cfg.recheck_detector, min_face=min_face, threshold=0.0)
            if len(faces):
                return participant(faces, None, tile), cfg.recheck_detector, float("nan"), max(n_faces, len(faces))
        return None, "", float("nan"), n_faces
