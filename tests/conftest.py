"""Shared fixtures.  Tests that need ``../shared`` skip with a reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):
    # each of the run's workers (``-n 2`` on 2 cores) gets one core's worth of threads: OpenMP's and BLAS's
    # thread pools sized to the machine spin against the other worker (a boosted-tree fit took 167 s beside
    # it, 22 s alone).  Set before numpy, torch or scikit-learn load them; subprocesses inherit it.
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_DATA = SHARED / "data"
SHARED_REFERENCE = SHARED / "reference"


def need_shared(path: Path) -> Path:
    """Return ``path`` or skip the test when the shared folder is not beside the repository."""
    if not path.exists():
        pytest.skip(f"{path} is absent: it ships beside the repository in CI, not in a user's clone")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def textured_frames() -> np.ndarray:
    """A (12, 64, 80, 3) uint8 clip of smooth random texture drifting right by 1 px per frame."""
    import cv2

    g = np.random.default_rng(7)
    base = cv2.GaussianBlur(g.uniform(0, 255, (64, 120, 3)).astype(np.float32), (0, 0), 2.0)
    base = (base - base.min()) / (base.max() - base.min()) * 255
    return np.stack([base[:, 20 - t : 100 - t].astype(np.uint8) for t in range(12)])


@pytest.fixture(scope="session")
def synth_dataset(tmp_path_factory: pytest.TempPathFactory):
    """A small synthetic dataset (4 subjects x 7 clips, 96 px), rendered once per session."""
    from mextk.synth.clips import SynthConfig, synthesize_dataset

    out = tmp_path_factory.mktemp("synth")
    cfg = SynthConfig(n_subjects=4, clips_per_subject=7, size=96, seed=3)
    df = synthesize_dataset(out, cfg, progress=False)
    return out, cfg, df


@pytest.fixture(scope="session")
def synth_call(tmp_path_factory: pytest.TempPathFactory):
    """A 24 s synthetic gallery call (4 people, one joins late, one leaves early, a screen share)."""
    from mextk.synth.call import CallConfig, make_call_recording

    path = tmp_path_factory.mktemp("call") / "call.mp4"
    cfg = CallConfig(n_participants=4, duration_s=24, width=640, height=360, seed=4, me_rate=8, min_event_gap_s=4.0)
    truth = make_call_recording(path, cfg, progress=False)
    return path, cfg, truth
