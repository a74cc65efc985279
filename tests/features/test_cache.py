from __future__ import annotations

import json

import numpy as np

from mextk.features.cache import FeatureCache, params_hash


def test_params_hash_changes_with_any_parameter():
    assert params_hash({"a": 1, "b": 2}) == params_hash({"b": 2, "a": 1})
    assert params_hash({"a": 1}) != params_hash({"a": 2})


def test_save_load_error_and_layout(tmp_path):
    c = FeatureCache(tmp_path, "motion", {"grid": 6})
    assert c.folder == tmp_path / "motion" / params_hash({"grid": 6})
    assert json.loads((c.folder / "params.json").read_text()) == {"kind": "motion", "grid": 6}
    assert not c.has("s01/a")
    c.record_error("s01/a", "no face\nfound")
    assert c.error("s01/a") == "no face found"
    c.save("s01/a", x=np.arange(3))
    assert c.has("s01/a") and c.error("s01/a") is None
    np.testing.assert_array_equal(c.load("s01/a")["x"], np.arange(3))
    assert c.path("s01/a").parent == c.folder  # ids with slashes stay in the folder
    other = FeatureCache(tmp_path, "motion", {"grid": 8})
    assert not other.has("s01/a")  # other parameters never reuse stale features
