from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mextk.datasets.cmed import load_cmed
from mextk.io.manifest import load_manifest, sample_path, validate_manifest
from mextk.io.writer import write_video


def _fake_cmed(root, rows):
    """CMED's released layout: metadata CSV + FinalFullVideos_subjects/{emotion}/{subject}/{filename}."""
    meta = []
    for subject, filename, emotion, apex, n in rows:
        if n:
            frames = np.full((n, 32, 32, 3), 100, np.uint8)
            write_video(root / "FinalFullVideos_subjects" / emotion / subject / filename, frames, fps=25)
        meta.append({"subject": subject, "filename": filename, "emotion": emotion, "apex_frame": apex})
    pd.DataFrame(meta).to_csv(root / "video_emotion_metadata.csv", index=False)


def test_loads_released_layout_as_is(tmp_path):
    _fake_cmed(
        tmp_path,
        [
            ("sub_1", "clip_001.mp4", "Happiness", "3", 8),
            ("sub_1", "clip_002.mp4", "No_Emotion", "", 12),
            ("sub_10", "clip_001.mp4", "Surprise", "0", 4),
        ],
    )
    df = load_cmed(tmp_path)
    assert df["sample_id"].tolist() == ["sub_1/clip_001", "sub_1/clip_002", "sub_10/clip_001"]
    assert df["n_frames"].tolist() == [8, 12, 4]
    assert df["onset"].tolist() == [0, 0, 0]
    assert df["offset"].tolist() == [7, 11, 3]
    assert df["apex"].tolist()[0] == 3 and pd.isna(df["apex"].iloc[1]) and df["apex"].iloc[2] == 0
    assert (df["fps"] == 25.0).all() and (df["dataset"] == "cmed").all()
    assert df["path"].iloc[0] == "FinalFullVideos_subjects/Happiness/sub_1/clip_001.mp4"
    assert sample_path(df, df["path"].iloc[0]).exists()
    assert validate_manifest(df, taxonomy="cmed7", excluded="error") == []


def test_bad_clips_are_skipped_and_reported(tmp_path):
    _fake_cmed(
        tmp_path,
        [
            ("sub_1", "ok.mp4", "Anger", "2", 6),
            ("sub_1", "missing.mp4", "Anger", "2", 0),  # no file written
            ("sub_2", "late_apex.mp4", "Fear", "9", 5),
        ],
    )
    (tmp_path / "FinalFullVideos_subjects" / "Disgust" / "sub_2").mkdir(parents=True)
    (tmp_path / "FinalFullVideos_subjects" / "Disgust" / "sub_2" / "corrupt.mp4").write_bytes(b"junk" * 50)
    meta = pd.read_csv(tmp_path / "video_emotion_metadata.csv", dtype=str, keep_default_na=False)
    meta.loc[len(meta)] = ["sub_2", "corrupt.mp4", "Disgust", "1"]
    meta.to_csv(tmp_path / "video_emotion_metadata.csv", index=False)
    with pytest.warns(UserWarning, match="skipped 3 clip"):
        df = load_cmed(tmp_path)
    assert df["sample_id"].tolist() == ["sub_1/ok"]
    skipped = df.attrs["skipped"]
    assert len(skipped) == 3
    assert "video_emotion_metadata.csv:3:" in skipped[0] and "missing.mp4: file not found" in skipped[0]
    assert ":4:" in skipped[1] and "apex 9 is outside the clip's 5 frames" in skipped[1]
    assert ":5:" in skipped[2] and "corrupt.mp4" in skipped[2]
    with pytest.raises(Exception, match="missing.mp4"):
        load_cmed(tmp_path, on_error="raise")


def test_missing_metadata_or_columns(tmp_path):
    with pytest.raises(FileNotFoundError, match="video_emotion_metadata.csv"):
        load_cmed(tmp_path)
    pd.DataFrame({"subject": ["a"], "filename": ["b"]}).to_csv(tmp_path / "video_emotion_metadata.csv", index=False)
    with pytest.raises(ValueError, match="emotion, apex_frame"):
        load_cmed(tmp_path)


def test_cli_writes_a_valid_manifest(tmp_path):
    from typer.testing import CliRunner

    from mextk.cli import app

    root = tmp_path / "CMED"
    root.mkdir()
    _fake_cmed(root, [("sub_3", "a.mp4", "Sadness", "1", 5), ("sub_3", "b.mp4", "No_Emotion", "", 6)])
    for args in (["datasets", "import", "cmed"], ["cmed-manifest"]):  # the old name still runs
        out = tmp_path / "out" / "cmed.parquet"
        res = CliRunner().invoke(app, [*args, str(root), "--out", str(out)])
        assert res.exit_code == 0, res.output
        df = load_manifest(out, taxonomy="cmed7", excluded="error", check_files=True)  # paths relative to out/
        assert len(df) == 2 and df["n_frames"].tolist() == [5, 6]
        assert df["path"].str.startswith("../CMED/FinalFullVideos_subjects/").all()
