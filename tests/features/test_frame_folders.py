"""Every feature kind reads a folder of frames as it reads the same clip as a video, and Ray computes the same cache."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from mextk.features.batch import KINDS, extract_features
from mextk.features.cache import FeatureCache
from mextk.io.video import read_frames, read_frames_at


@pytest.fixture
def video_and_folder(synth_dataset, tmp_path):
    """Three clips of the synthetic dataset, as videos and as lossless PNG folders numbered from 1."""
    out, _, df = synth_dataset
    rows = df[df["apex"].notna()].head(3).copy()
    rows["path"] = [str(out / p) for p in rows["path"]]
    video = tmp_path / "video.csv"
    rows.to_csv(video, index=False)
    folders = []
    for row in rows.itertuples():
        folder = tmp_path / "frames" / str(row.sample_id)
        folder.mkdir(parents=True)
        for i, frame in enumerate(read_frames(row.path), start=1):
            cv2.imwrite(str(folder / f"img{i}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        folders.append(str(folder))
    frames = tmp_path / "frames.csv"
    rows.assign(path=folders).to_csv(frames, index=False)
    return video, frames, rows


@pytest.mark.parametrize("kind", ["landmarks", "frames", "flow", "lbp_top", "graphs"])
def test_each_kind_gives_the_same_arrays_from_a_frame_folder_and_from_the_video(video_and_folder, tmp_path, kind):
    video, frames, rows = video_and_folder
    a = extract_features(video, kind, tmp_path / "a", progress=False)
    b = extract_features(frames, kind, tmp_path / "b", progress=False)
    assert sorted(a["done"]) == sorted(b["done"]) and len(a["done"]) >= 2
    ca, cb = FeatureCache(tmp_path / "a", kind, KINDS[kind][1]), FeatureCache(tmp_path / "b", kind, KINDS[kind][1])
    for sid in a["done"]:
        x, y = ca.load(sid), cb.load(sid)
        assert set(x) == set(y)
        for name in x:
            np.testing.assert_array_equal(x[name], y[name], err_msg=f"{kind} {sid} {name}")


def test_a_frame_folder_reads_only_the_frames_asked_for(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    for i in (1, 2, 10, 100):  # natural order: img2 before img10 before img100
        cv2.imwrite(str(folder / f"img{i}.png"), np.full((4, 4, 3), i, np.uint8))
    (folder / "img3.png").write_bytes(b"not an image")  # never read unless asked for
    got = read_frames_at(folder, [0, 4], gray=True)
    assert got[0][0, 0] == 1 and got[4][0, 0] == 100
    with pytest.raises(Exception, match="img3.png"):
        read_frames_at(folder, [2])


def test_ray_executor_writes_the_same_cache_as_a_serial_run(video_and_folder, tmp_path):
    pytest.importorskip("ray")
    _, frames, _ = video_and_folder
    serial = extract_features(frames, "lbp_top", tmp_path / "serial", progress=False)
    on_ray = extract_features(frames, "lbp_top", tmp_path / "ray", executor="ray", jobs=2, progress=False)
    assert sorted(serial["done"]) == sorted(on_ray["done"])
    cs = FeatureCache(tmp_path / "serial", "lbp_top", KINDS["lbp_top"][1])
    cr = FeatureCache(tmp_path / "ray", "lbp_top", KINDS["lbp_top"][1])
    for sid in serial["done"]:
        np.testing.assert_array_equal(cs.load(sid)["x"], cr.load(sid)["x"])
    assert pd.read_csv(cr.folder / "index.csv")["status"].eq("ok").all()
    again = extract_features(frames, "lbp_top", tmp_path / "ray", executor="ray", jobs=2, progress=False)
    assert again["done"] == [] and len(again["cached"]) == len(serial["done"])  # resumes like a serial run
    with pytest.raises(ValueError, match="executor"):
        extract_features(frames, "lbp_top", tmp_path / "x", executor="slurm", progress=False)
