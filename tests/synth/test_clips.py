from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mextk.io.manifest import load_manifest, sample_path
from mextk.io.video import probe_video, read_frames
from mextk.synth.clips import (
    ClipSpec,
    SynthConfig,
    class_allocation,
    expression_profile,
    plan_dataset,
    render_clip,
    synthesize_dataset,
)


def test_expression_profile_shape():
    p = expression_profile(20, 4, 8, 14)
    assert p[4] == 0 and p[8] == 1 and p[14] == 0
    assert np.all(np.diff(p[4:9]) > 0) and np.all(np.diff(p[8:15]) < 0)
    assert np.all(p[:5] == 0) and np.all(p[14:] == 0)
    with pytest.raises(ValueError):
        expression_profile(10, 5, 5, 8)


@pytest.mark.parametrize("emotion", ["happiness", "surprise", "disgust", "anger", "sadness", "fear", "contempt"])
def test_micro_expression_clip_ground_truth(emotion):
    spec = ClipSpec(subject_seed=7, seed=3, emotion=emotion, size=112, amplitude_px=3.0, noise_std=0.0)
    clip = render_clip(spec)
    assert clip.frames.shape[1:] == (112, 112, 3) and clip.frames.dtype == np.uint8
    assert 0 < clip.onset < clip.apex < clip.offset < len(clip.frames)
    assert (clip.offset - clip.onset) / spec.fps < 0.5  # a micro-expression
    assert clip.aus and all(a.startswith(("AU", "R-AU")) for a in clip.aus.split("+"))
    # at the apex some landmark has moved by about the amplitude relative to the onset (jitter removed)
    rel = lambda t: clip.landmarks[t] - clip.landmarks[t].mean(axis=0)  # noqa: E731
    moved = np.linalg.norm(rel(clip.apex) - rel(clip.onset), axis=1).max()
    assert 1.5 < moved < 6.0


def test_no_me_clip_has_no_apex_and_little_local_motion():
    me = render_clip(ClipSpec(subject_seed=7, seed=3, emotion="surprise", size=112, noise_std=0.0))
    no = render_clip(ClipSpec(subject_seed=7, seed=3, emotion="no_me", size=112, noise_std=0.0))
    assert no.apex is None and no.aus == ""
    rel = lambda c, t: c.landmarks[t] - c.landmarks[t].mean(axis=0)  # noqa: E731
    d_no = np.linalg.norm(rel(no, no.offset - 2) - rel(no, no.onset), axis=1)[17:27].max()  # brows
    d_me = np.linalg.norm(rel(me, me.apex) - rel(me, me.onset), axis=1)[17:27].max()
    assert d_me > 1.5 and d_no < 0.8


def test_clip_rendering_is_deterministic_and_validates_input():
    spec = ClipSpec(subject_seed=2, seed=9, emotion="fear", size=96)
    a, b = render_clip(spec), render_clip(spec)
    np.testing.assert_array_equal(a.frames, b.frames)
    with pytest.raises(ValueError, match="cannot synthesise"):
        render_clip(ClipSpec(subject_seed=2, seed=9, emotion="boredom"))
    with pytest.raises(ValueError, match="even"):
        render_clip(ClipSpec(subject_seed=2, seed=9, emotion="fear", size=97))


def test_other_frame_rates_keep_micro_expression_timing():
    clip = render_clip(ClipSpec(subject_seed=2, seed=1, emotion="happiness", size=64, fps=100.0))
    assert (clip.offset - clip.onset) / 100.0 < 0.5 and clip.offset - clip.onset >= 24


def test_class_allocation():
    assert class_allocation(14, ("a", "b"), "balanced") == {"a": 7, "b": 7}
    alloc = class_allocation(100, ("anger", "fear", "happiness", "no_me"), "cmed")
    assert sum(alloc.values()) == 100 and alloc["fear"] == 1 and alloc["no_me"] > alloc["happiness"] > alloc["anger"]
    assert class_allocation(6, ("a", "b"), {"a": 2, "b": 1}) == {"a": 4, "b": 2}
    with pytest.raises(ValueError):
        class_allocation(1, ("a", "b"), "balanced")
    with pytest.raises(ValueError, match="mapping"):
        class_allocation(4, ("a", "b"), "skewed")


def test_plan_is_deterministic_and_seed_dependent():
    a = plan_dataset(SynthConfig(n_subjects=3, clips_per_subject=7, seed=1))
    b = plan_dataset(SynthConfig(n_subjects=3, clips_per_subject=7, seed=1))
    c = plan_dataset(SynthConfig(n_subjects=3, clips_per_subject=7, seed=2))
    assert a == b and a != c
    assert len({r["sample_id"] for r in a}) == 21


def test_synthesised_dataset_is_a_valid_labelled_manifest(synth_dataset):
    out, cfg, df = synth_dataset
    assert len(df) == 28 and df["subject"].nunique() == 4
    loaded = load_manifest(out / "manifest.csv", taxonomy="cmed7", excluded="error")
    assert set(loaded["emotion"]) == set(cfg.classes)
    row = loaded.iloc[0]
    info = probe_video(sample_path(loaded, row["path"]))
    assert (info.n_frames, info.width, info.fps) == (row["n_frames"], 96, 25.0)
    lm = np.load(sample_path(loaded, row["landmarks"]))
    assert lm.shape == (row["n_frames"], 68, 2)
    emo = loaded[loaded["emotion"] != "no_me"]
    assert emo["apex"].notna().all() and ((emo["offset"] - emo["onset"]) / emo["fps"] < 0.5).all()
    assert loaded.loc[loaded["emotion"] == "no_me", "apex"].isna().all()


def test_resume_skips_finished_clips_and_refuses_other_settings(synth_dataset):
    out, cfg, df = synth_dataset
    victim = out / df["path"].iloc[3]
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "clips").rglob("*.mp4")}
    victim.unlink()  # as if the run had been killed before this clip
    df2 = synthesize_dataset(out, cfg, progress=False)
    pd.testing.assert_frame_equal(df2, df)
    assert victim.exists()
    for p, m in mtimes.items():
        if p != victim:
            assert p.stat().st_mtime_ns == m  # untouched
    with pytest.raises(FileExistsError, match="other settings"):
        synthesize_dataset(out, SynthConfig(n_subjects=4, clips_per_subject=7, size=96, seed=4), progress=False)
    assert json.loads((out / "synth.json").read_text())["seed"] == 3


def test_parallel_synthesis_matches_serial(tmp_path):
    cfg = SynthConfig(n_subjects=2, clips_per_subject=4, size=64, seed=11, classes=("happiness", "no_me"))
    a = synthesize_dataset(tmp_path / "a", cfg, progress=False)
    b = synthesize_dataset(tmp_path / "b", cfg, jobs=2, progress=False)
    pd.testing.assert_frame_equal(a, b)
    fa = read_frames(tmp_path / "a" / a["path"].iloc[0])
    fb = read_frames(tmp_path / "b" / b["path"].iloc[0])
    np.testing.assert_array_equal(fa, fb)
