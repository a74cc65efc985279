"""One run folder (:mod:`mextk.io.runfolder`): settings record, inputs' fingerprint, resume or refuse."""

from __future__ import annotations

import json

import pytest

from mextk.io.runfolder import RunFolder, fingerprint_files


def test_a_new_folder_starts_the_run_and_the_same_settings_resume_it(tmp_path):
    folder = RunFolder(tmp_path / "run", "settings.json")
    assert folder.claim({"lr": 0.1, "sizes": (28, 28)}) is False
    assert json.loads((tmp_path / "run" / "settings.json").read_text()) == {"lr": 0.1, "sizes": [28, 28]}
    assert folder.claim({"lr": 0.1, "sizes": (28, 28)}) is True  # a tuple reads back as a list: still the same


def test_other_settings_are_refused_in_one_line_naming_the_folder_and_what_differs(tmp_path):
    folder = RunFolder(tmp_path, "settings.json", what="spotting run")
    folder.claim({"lr": 0.1, "epochs": 5})
    with pytest.raises(FileExistsError) as err:
        folder.claim({"lr": 0.2, "epochs": 5, "seed": 1})
    message = str(err.value)
    assert "\n" not in message and str(tmp_path) in message and "differs in: lr, seed" in message
    assert json.loads((tmp_path / "settings.json").read_text()) == {"lr": 0.1, "epochs": 5}  # untouched


def test_a_folder_with_nothing_worth_keeping_restarts_with_the_new_settings(tmp_path):
    folder = RunFolder(tmp_path, "settings.json")
    folder.claim({"lr": 0.1})
    assert folder.claim({"lr": 0.2}, restart_if=lambda: True) is False
    assert folder.recorded() == {"lr": 0.2}


def test_edited_inputs_are_not_taken_for_the_same_run(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("sample_id,emotion\na,fear\n")
    folder = RunFolder(tmp_path / "run", "settings.json")
    folder.claim({"lr": 0.1}, inputs=fingerprint_files([manifest]))
    assert folder.claim({"lr": 0.1}, inputs=fingerprint_files([manifest])) is True
    manifest.write_text("sample_id,emotion\na,anger\n")  # relabelled
    with pytest.raises(FileExistsError, match="differs in: the inputs"):
        folder.claim({"lr": 0.1}, inputs=fingerprint_files([manifest]))


def test_settings_under_a_key_are_compared_and_the_rest_of_the_record_is_not(tmp_path):
    folder = RunFolder(tmp_path, "model.json", what="model trained", key="config")
    folder.write({"task": "cmed6"}, classes=["a", "b"], version="1")
    assert folder.recorded() == {"task": "cmed6"}
    assert folder.claim({"task": "cmed6"}, write=False) is True
    with pytest.raises(FileExistsError, match="holds a model trained with other settings"):
        folder.claim({"task": "megc3"}, write=False)


def test_the_fingerprint_follows_the_bytes_and_the_order_of_the_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    assert fingerprint_files([a, b]) == fingerprint_files([a, b]) != fingerprint_files([b, a])
    before = fingerprint_files([a])
    a.write_bytes(b"One")
    assert fingerprint_files([a]) != before
