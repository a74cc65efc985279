"""clip_format="mp4": encoded clips hold the frames of their virtual twins."""

from __future__ import annotations

import numpy as np

from mextk.io.video import probe_video, read_frames
from mextk.prepare.batch import prepare_recordings
from mextk.prepare.config import preset
from tests.prepare.helpers import face_video


def test_mp4_clips_equal_the_virtual_clips_up_to_compression(tmp_path):
    video = face_video(tmp_path / "v.mp4", 200, [(20, 180)])
    virt = prepare_recordings([video], tmp_path / "virtual", preset("default", pose=False), progress=False)
    enc = prepare_recordings(
        [video], tmp_path / "mp4", preset("default", pose=False, clip_format="mp4"), progress=False
    )
    a, b = virt.manifest, enc.manifest
    cols = ["sample_id", "start_frame", "end_frame", "n_frames", "x", "y", "w", "h"]
    assert a[cols].equals(b[cols]) and len(a) == 1
    assert a["path"].iloc[0].endswith(".clip.json") and b["path"].iloc[0].endswith(".mp4")
    fv = read_frames(tmp_path / "virtual" / a["path"].iloc[0])
    fm = read_frames(tmp_path / "mp4" / b["path"].iloc[0])
    assert fv.shape == fm.shape == (a["n_frames"].iloc[0], 300, 300, 3)
    assert probe_video(tmp_path / "mp4" / b["path"].iloc[0]).n_frames == a["n_frames"].iloc[0]
    assert np.abs(fv.astype(int) - fm.astype(int)).mean() < 3.0  # CRF 18: the encoder's loss only
    # the clip's first frame is the recording's start_frame, cut at the box (an independent crop)
    src = read_frames(video, start=int(a["start_frame"].iloc[0]), stop=int(a["start_frame"].iloc[0]) + 1)[0]
    x, y, w = (int(a[c].iloc[0]) for c in ("x", "y", "w"))
    import cv2

    want = cv2.resize(
        src[y : y + w, x : x + w], (300, 300), interpolation=cv2.INTER_AREA if w > 300 else cv2.INTER_LINEAR
    )
    assert np.abs(fv[0].astype(int) - want.astype(int)).mean() < 3.0
