from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mextk.features.batch import KINDS, extract_features
from mextk.features.cache import FeatureCache


@pytest.fixture
def small_dataset(synth_dataset, tmp_path):
    """The session's synthetic dataset plus one corrupt clip, in a manifest of its own."""
    out, _, df = synth_dataset
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    rows = df.head(6).copy()
    rows["path"] = [str(out / p) for p in rows["path"]]
    extra = rows.iloc[[0]].copy()
    extra["sample_id"], extra["path"] = "broken", str(bad)
    manifest = tmp_path / "m.csv"
    pd.concat([rows, extra]).to_csv(manifest, index=False)
    return manifest, df


def test_features_are_cached_failures_reported_and_runs_resume(small_dataset, tmp_path):
    manifest, _ = small_dataset
    cache_dir = tmp_path / "feat"
    res = extract_features(manifest, "flow", cache_dir, progress=False)
    assert len(res["done"]) == 6 and list(res["failed"]) == ["broken"]
    assert "bad.mp4" in res["failed"]["broken"] and "\n" not in res["failed"]["broken"]
    cache = FeatureCache(cache_dir, "flow", KINDS["flow"][1])
    x = cache.load(res["done"][0])["x"]
    assert x.shape == (28, 28, 3) and 0 <= x.min() and x.max() <= 1
    again = extract_features(manifest, "flow", cache_dir, progress=False)
    assert again["done"] == [] and len(again["cached"]) == 6 and list(again["failed"]) == ["broken"]
    index = pd.read_csv(res["folder"] / "index.csv")
    assert (index["status"] == "failed").sum() == 1
    other = extract_features(manifest, "flow", cache_dir, params={"out_size": 32}, progress=False)
    assert len(other["done"]) == 6  # other parameters: a new cache folder
    with pytest.raises(ValueError, match="unknown parameter"):
        extract_features(manifest, "flow", cache_dir, params={"sizes": 3}, progress=False)
    with pytest.raises(ValueError, match="unknown feature kind"):
        extract_features(manifest, "lbp", cache_dir, progress=False)


def test_parallel_landmarks_match_serial(small_dataset, tmp_path):
    manifest, _ = small_dataset
    a = extract_features(manifest, "landmarks", tmp_path / "a", progress=False)
    b = extract_features(manifest, "landmarks", tmp_path / "b", jobs=2, progress=False)
    assert sorted(a["done"]) == sorted(b["done"])
    ca = FeatureCache(tmp_path / "a", "landmarks", KINDS["landmarks"][1])
    cb = FeatureCache(tmp_path / "b", "landmarks", KINDS["landmarks"][1])
    sid = a["done"][0]
    np.testing.assert_array_equal(ca.load(sid)["landmarks"], cb.load(sid)["landmarks"])
    assert ca.load(sid)["found"].mean() > 0.9


def test_deflection_command_writes_table_and_figure(small_dataset, tmp_path):
    from typer.testing import CliRunner

    from mextk.cli import app

    manifest, _ = small_dataset
    res = CliRunner().invoke(app, ["features", "deflection", str(manifest), "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "d" / "deflection.csv")
    assert {"dataset", "emotion", "landmark", "dx", "dy", "spread_y"} <= set(table.columns)
    assert (tmp_path / "d" / "deflection.png").read_bytes()[:4] == b"\x89PNG"
    res = CliRunner().invoke(app, ["features", "flow", str(manifest), "--out", str(tmp_path / "f")])
    assert res.exit_code == 1 and "broken" in res.output
    # two manifests: two datasets side by side
    other = pd.read_csv(manifest)
    other["dataset"] = "second"
    other["sample_id"] = "b_" + other["sample_id"].astype(str)
    other.to_csv(tmp_path / "m2.csv", index=False)
    res = CliRunner().invoke(
        app, ["features", "deflection", str(manifest), str(tmp_path / "m2.csv"), "--out", str(tmp_path / "d2")]
    )
    assert res.exit_code == 0, res.output
    both = pd.read_csv(tmp_path / "d2" / "deflection.csv")
    assert set(both["dataset"]) == {str(pd.read_csv(manifest)["dataset"][0]), "second"}
    res = CliRunner().invoke(
        app, ["features", "frames", str(manifest), "--out", str(tmp_path / "f"), "--feature", "sizes=3"]
    )
    assert res.exit_code == 2 and "unknown parameter" in res.output


def test_lbp_top_kind(small_dataset, tmp_path):
    manifest, _ = small_dataset
    res = extract_features(manifest, "lbp_top", tmp_path / "l", progress=False)
    assert len(res["done"]) == 6
    cache = FeatureCache(tmp_path / "l", "lbp_top", KINDS["lbp_top"][1])
    x = cache.load(res["done"][0])["x"]
    assert x.shape == (25 * 177,) and abs(x.sum() - 1) < 1e-9
    whole = extract_features(manifest, "lbp_top", tmp_path / "l", params={"temporal": "clip"}, progress=False)
    assert len(whole["done"]) >= 5  # 96 px synthetic faces are near dlib's limit: a miss is reported


def test_lbp_top_kind_runs_on_the_aligned_crop_of_the_key_frames(small_dataset, tmp_path):
    from mextk.faces.crop import align_crop_clip, aligned_crop_matrix
    from mextk.faces.landmarks import image_landmarks
    from mextk.features.lbp_top import lbp_top
    from mextk.io.video import read_frames

    manifest, df = small_dataset
    res = extract_features(manifest, "lbp_top", tmp_path / "l", progress=False)
    rows = df.set_index("sample_id").loc[res["done"]]
    sid = rows.index[rows["apex"].notna()][0]
    row = rows.loc[sid]
    cache = FeatureCache(tmp_path / "l", "lbp_top", KINDS["lbp_top"][1])
    # the same crop built by hand from the whole decoded clip: onset-frame landmarks, affine, 128 px
    frames = read_frames(pd.read_csv(manifest).set_index("sample_id").loc[sid, "path"], gray=True)
    key = [int(row["onset"]), int(row["apex"]), int(row["offset"])]
    matrix = aligned_crop_matrix(image_landmarks(frames[key[0]]), size=128, margin=0.2, kind="affine")
    volume = align_crop_clip(frames[key], matrix, size=128)
    np.testing.assert_array_equal(cache.load(sid)["x"], lbp_top(volume, time_length=1))


def test_graphs_kind(small_dataset, tmp_path):
    manifest, _ = small_dataset
    res = extract_features(manifest, "graphs", tmp_path / "g", progress=False)
    # 96 px synthetic faces are near the detector's limit: a miss is reported, not fatal
    assert len(res["done"]) >= 5 and "broken" in res["failed"]
    assert all("no face" in m for k, m in res["failed"].items() if k != "broken")
    data = FeatureCache(tmp_path / "g", "graphs", KINDS["graphs"][1]).load(res["done"][0])
    assert data["x"].shape == (3 * 42, 4) and data["edge_index"].shape[0] == 2


def test_frames_kind_aligns_crops_and_samples(small_dataset, tmp_path):
    manifest, df = small_dataset
    res = extract_features(manifest, "frames", tmp_path / "k", params={"size": 64}, progress=False)
    assert len(res["done"]) >= 5 and "broken" in res["failed"]
    cache = FeatureCache(tmp_path / "k", "frames", {**KINDS["frames"][1], "size": 64})
    sid = res["done"][0]
    data = cache.load(sid)
    row = df.set_index("sample_id").loc[sid]
    assert data["x"].shape == (16, 64, 64, 3) and data["x"].dtype == np.uint8
    assert data["positions"][0] == row["onset"] and data["positions"][-1] == row["offset"]
    if not pd.isna(row["apex"]):
        assert row["apex"] in data["positions"]
    apex = extract_features(manifest, "frames", tmp_path / "k", params={"sampling": "apex", "size": 64}, progress=False)
    one = FeatureCache(tmp_path / "k", "frames", {**KINDS["frames"][1], "sampling": "apex", "size": 64}).load(sid)
    assert one["x"].shape == (1, 64, 64, 3) and len(apex["done"]) >= 5
    # the apex frame of the 16 adaptive samples is the apex-only sample
    if not pd.isna(row["apex"]):
        k = int(np.flatnonzero(data["positions"] == row["apex"])[0])
        np.testing.assert_array_equal(data["x"][k], one["x"][0])


@pytest.mark.parametrize("n_frames", [4, 7680])
def test_frames_kind_handles_cmeds_shortest_and_longest_clips(tmp_path, n_frames):
    from mextk.io.writer import write_video

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (1, 16, 16), dtype=np.uint8)
    frames = np.repeat(base, n_frames, axis=0)
    frames[:, 0, 0] = (np.arange(n_frames) * 7) % 256  # a frame counter in one pixel
    clip = tmp_path / "c.mp4"
    write_video(clip, np.repeat(frames[..., None], 3, axis=3), fps=25, crf=0)
    manifest = tmp_path / "m.csv"
    pd.DataFrame(
        [
            {
                "sample_id": "c",
                "subject": "s1",
                "path": str(clip),
                "emotion": "happiness",
                "dataset": "x",
                "fps": 25,
                "n_frames": n_frames,
                "aus": "AU12",
                "onset": 0,
                "apex": n_frames // 2,
                "offset": n_frames - 1,
            }
        ]
    ).to_csv(manifest, index=False)
    params = {"align": "none", "size": 0, "gray": True}
    for sampling in ("uniform", "adaptive"):
        res = extract_features(
            manifest, "frames", tmp_path / "f", params={**params, "sampling": sampling}, progress=False
        )
        assert res["done"] == ["c"], res["failed"]
        data = FeatureCache(tmp_path / "f", "frames", {**KINDS["frames"][1], **params, "sampling": sampling}).load("c")
        assert data["x"].shape == (16, 16, 16)
        assert data["positions"][0] == 0 and data["positions"][-1] == n_frames - 1


def test_a_clip_whose_length_disagrees_with_n_frames_is_reported_by_sample(small_dataset, tmp_path):
    manifest, _ = small_dataset
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    df = df[df["sample_id"] != "broken"].copy()
    real = int(df["n_frames"].iloc[1])
    df.loc[df.index[1], "n_frames"] = str(real * 2)  # the manifest claims twice the clip's frames
    wrong_id = df["sample_id"].iloc[1]
    df.to_csv(tmp_path / "m.csv", index=False)
    for kind in ("landmarks", "lbp_top"):
        res = extract_features(tmp_path / "m.csv", kind, tmp_path / "f", progress=False)
        assert list(res["failed"]) == [wrong_id] and len(res["done"]) == len(df) - 1
        message = res["failed"][wrong_id]
        assert f"sample {wrong_id}" in message and f"n_frames {real * 2}" in message and f"has {real} frames" in message


def test_unlabelled_clips_get_every_kind_over_the_whole_clip(small_dataset, tmp_path):
    manifest, _ = small_dataset
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False).head(2)
    for col in ("onset", "apex", "offset", "emotion", "aus"):
        df[col] = ""
    df.to_csv(tmp_path / "u.csv", index=False)
    for kind in KINDS:
        res = extract_features(tmp_path / "u.csv", kind, tmp_path / "f", progress=False)
        assert len(res["done"]) == 2, (kind, res["failed"])
    frames = FeatureCache(tmp_path / "f", "frames", KINDS["frames"][1]).load(df["sample_id"].iloc[0])
    n = int(df["n_frames"].iloc[0])
    # no key frames: the samples span the clip, from its first frame to its last
    assert frames["positions"][0] == 0 and frames["positions"][-1] == pytest.approx(n - 1)


def test_finished_work_says_cached_instead_of_an_empty_bar(small_dataset, tmp_path):
    from typer.testing import CliRunner

    from mextk.cli import app

    manifest, _ = small_dataset
    args = ["features", "lbp_top", str(manifest), "--out", str(tmp_path / "f")]
    CliRunner().invoke(app, args)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1  # the broken clip failed, the others are kept
    assert "lbp_top features: 6 cached, 1 failed before" in res.output
    assert "0/0" not in res.output and "0%" not in res.output


def test_a_changed_row_or_another_datasets_sample_of_the_same_id_is_computed_again(small_dataset, tmp_path):
    manifest, _ = small_dataset
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    df = df[df["sample_id"] != "broken"].head(3)
    df.to_csv(tmp_path / "a.csv", index=False)
    first = extract_features(tmp_path / "a.csv", "lbp_top", tmp_path / "f", progress=False)
    assert len(first["done"]) == 3
    moved = df.copy()
    moved.loc[moved.index[0], "offset"] = str(int(moved["offset"].iloc[0]) - 1)  # an annotation corrected
    moved.to_csv(tmp_path / "b.csv", index=False)
    again = extract_features(tmp_path / "b.csv", "lbp_top", tmp_path / "f", progress=False)
    assert again["done"] == [df["sample_id"].iloc[0]] and len(again["cached"]) == 2
    # another dataset whose clips carry the same ids: its own features, not the cached ones
    other = df.copy()
    other["dataset"] = "another"
    other.to_csv(tmp_path / "c.csv", index=False)
    third = extract_features(tmp_path / "c.csv", "lbp_top", tmp_path / "f", progress=False)
    assert sorted(third["done"]) == sorted(df["sample_id"]) and third["cached"] == []


def test_a_failed_sample_is_retried_once_its_row_is_corrected(small_dataset, tmp_path):
    manifest, _ = small_dataset
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    df = df[df["sample_id"] != "broken"].head(2)
    real = df["n_frames"].iloc[0]
    bad = df.copy()
    bad.loc[bad.index[0], "n_frames"] = str(int(real) + 5)
    bad.to_csv(tmp_path / "bad.csv", index=False)
    res = extract_features(tmp_path / "bad.csv", "lbp_top", tmp_path / "f", progress=False)
    assert list(res["failed"]) == [df["sample_id"].iloc[0]]
    again = extract_features(tmp_path / "bad.csv", "lbp_top", tmp_path / "f", progress=False)
    assert list(again["failed"]) == [df["sample_id"].iloc[0]] and again["done"] == []  # not retried as it is
    df.to_csv(tmp_path / "good.csv", index=False)
    fixed = extract_features(tmp_path / "good.csv", "lbp_top", tmp_path / "f", progress=False)
    assert fixed["done"] == [df["sample_id"].iloc[0]] and fixed["failed"] == {}


def test_flow_keeps_the_onset_landmarks_where_dlib_finds_them_in_the_aligned_crop(small_dataset, tmp_path):
    """The stored landmarks are moved into the crop; found again by dlib on the crop itself, they agree."""
    import cv2

    from mextk.faces.crop import aligned_crop_matrix
    from mextk.faces.landmarks import image_landmarks
    from mextk.io.video import read_frames_at

    manifest, _ = small_dataset
    res = extract_features(manifest, "flow", tmp_path / "feat", progress=False)
    cache = FeatureCache(tmp_path / "feat", "flow", KINDS["flow"][1])
    rows = pd.read_csv(manifest, dtype={"sample_id": str}).set_index("sample_id")
    for sid in res["done"][:3]:
        onset = int(rows.loc[sid, "onset"])
        frame = read_frames_at(rows.loc[sid, "path"], [onset], gray=True)[onset]
        matrix = aligned_crop_matrix(image_landmarks(frame), size=128, margin=0.2, kind="affine")
        again = image_landmarks(cv2.warpAffine(frame, matrix, (128, 128), flags=cv2.INTER_LINEAR))
        stored = cache.load(sid)["landmarks"]
        assert stored.shape == (68, 2)
        assert np.abs((again + 0.5) * 28 / 128 - 0.5 - stored).mean() < 0.3  # pixels of the 28 px input
