from __future__ import annotations

import json

import pytest

from mextk.io.atomic import atomic_path, write_json_atomic, write_text_atomic


def test_atomic_path_renames_on_success_and_cleans_on_failure(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".txt" and tmp != target
        tmp.write_text("x")
        assert not target.exists()
    assert target.read_text() == "x"
    with pytest.raises(KeyError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyError("boom")
    assert target.read_text() == "x"  # old content survives
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.txt"]


def test_json_and_text_helpers(tmp_path):
    write_json_atomic(tmp_path / "a.json", {"b": [1, 2]})
    assert json.loads((tmp_path / "a.json").read_text()) == {"b": [1, 2]}
    write_text_atomic(tmp_path / "b.md", "hello")
    assert (tmp_path / "b.md").read_text() == "hello"
