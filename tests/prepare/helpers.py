"""Ground-truth bookkeeping for the prepare tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def face_video(path: Path, n_frames: int, visible: list[tuple[int, int]], *, size=(480, 360), fps=25.0, seed=0):
    """A video of one synthetic face on a plain background, visible in the half-open frame ranges given."""
    from mextk.io.writer import VideoWriter
    from mextk.synth.face import FaceRenderer, make_subject

    subject = make_subject(seed + 3)
    w, h = size
    r = FaceRenderer(subject, out_size=(200, 200), centre=subject.face_centre, scale=200 / (subject.face_width * 1.8))
    face, _ = r.render()
    face = np.clip(face, 0, 255).astype(np.uint8)
    g = np.random.default_rng(seed)
    with VideoWriter(path, fps=fps, crf=18) as wr:
        for t in range(n_frames):
            frame = np.full((h, w, 3), 120, np.uint8)
            if any(a <= t < b for a, b in visible):
                y0, x0 = (h - 200) // 2, (w - 200) // 2
                frame[y0 : y0 + 200, x0 : x0 + 200] = face
            noise = g.normal(0, 1.0, frame.shape)
            wr.write(np.clip(frame + noise, 0, 255).astype(np.uint8))
    return path


def clip_boxes(row) -> list[tuple[int, tuple[int, int, int, int]]]:
    """``[(first_frame, (x, y, w, h)), ...]`` of a manifest row (start box plus box_changes)."""
    boxes = [(int(row["start_frame"]), (int(row["x"]), int(row["y"]), int(row["w"]), int(row["h"])))]
    changes = row.get("box_changes", "")
    if isinstance(changes, str) and changes:
        for item in changes.split(";"):
            t, b = item.split(":")
            boxes.append((int(t), tuple(int(v) for v in b.split(","))))
    return boxes


def persons_in_clip(row, truth) -> dict[str, int]:
    """Frames of a clip per person whose truth tile holds the crop box centre ("?" for none)."""
    counts: dict[str, int] = {}
    boxes = clip_boxes(row)
    off = {p["person"]: p.get("camera_off", []) for p in truth["participants"]}
    for lay in truth["layouts"]:
        a = max(lay["start_frame"], int(row["start_frame"]))
        b = min(lay["end_frame"], int(row["end_frame"]))
        for t in range(a, b + 1):
            box = [bx for t0, bx in boxes if t0 <= t][-1]
            cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
            who = "?"
            for person, (x, y, w, h) in lay["tiles"].items():
                if x <= cx < x + w and y <= cy < y + h:
                    who = person
            if who in off and any(a <= t <= b for a, b in off[who]):
                who = "?"  # the tile shows a camera-off card, not the person
            counts[who] = counts.get(who, 0) + 1
    return counts


def evaluate_against_truth(manifest, truth) -> dict:
    """Presence recovered per person, mixing, share overlap, boundary errors (seconds) and track ids per person."""
    fps = truth["fps"]
    result = {"recovered": {}, "mixed": [], "in_share": 0, "start_err": [], "end_err": [], "tracks": {}}
    covered = {p["person"]: np.zeros(truth["n_frames"], bool) for p in truth["participants"]}
    for row in manifest.to_dict("records"):
        who = persons_in_clip(row, truth)
        people = [p for p in who if p != "?"]
        if len(who) != 1 or not people:
            result["mixed"].append((row["sample_id"], who))
            continue
        person = people[0]
        result["tracks"].setdefault(person, set()).add(int(row["track_id"]))
        a, b = int(row["start_frame"]), int(row["end_frame"])
        covered[person][a : b + 1] = True
        for s0, s1 in truth["screen_share"]:
            result["in_share"] += max(0, min(b, s1) - max(a, s0) + 1)
        presence = next(p for p in truth["participants"] if p["person"] == person)["presence"]
        seg = max(presence, key=lambda iv: min(b, iv[1]) - max(a, iv[0]))
        result["start_err"].append(abs(a - seg[0]) / fps)
        result["end_err"].append(abs(b - seg[1]) / fps)
    for p in truth["participants"]:
        mask = np.zeros(truth["n_frames"], bool)
        for a, b in p["presence"]:
            mask[a : b + 1] = True
        result["recovered"][p["person"]] = float(covered[p["person"]][mask].mean()) if mask.any() else 1.0
    return result


def two_face_video(path: Path, n_frames: int, *, fps=25.0):
    """A camera showing two people side by side (siblings sharing a laptop)."""
    from mextk.io.writer import VideoWriter
    from mextk.synth.face import FaceRenderer, make_subject

    faces = []
    for seed in (5, 9):
        s = make_subject(seed)
        r = FaceRenderer(s, out_size=(200, 200), centre=s.face_centre, scale=200 / (s.face_width * 1.8))
        faces.append(np.clip(r.render()[0], 0, 255).astype(np.uint8))
    with VideoWriter(path, fps=fps, crf=18) as wr:
        for _ in range(n_frames):
            frame = np.full((300, 480, 3), 110, np.uint8)
            frame[50:250, 20:220] = faces[0]
            frame[50:250, 260:460] = faces[1]
            wr.write(frame)
    return path
