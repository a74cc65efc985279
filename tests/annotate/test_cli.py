"""``mextk annotate`` commands: init, users add, agreement, export, backup."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

pytest.importorskip("sqlalchemy")
pytest.importorskip("argon2")

from mextk.annotate.engine import AnnotationProject
from mextk.annotate.rules import SegmentInput
from mextk.cli import app  # noqa: E402
from tests.annotate.helpers import clips_manifest, free_port  # noqa: E402


def test_init_users_agreement_export_and_backup_from_the_command_line(synth_dataset, tmp_path):
    clips_manifest(synth_dataset, tmp_path, 2)
    runner = CliRunner()
    proj = tmp_path / "proj"
    res = runner.invoke(app, ["annotate", "init", str(proj), "--clips", str(tmp_path / "clips.csv")])
    assert res.exit_code == 0 and "2 clips to label" in res.output, res.output
    res = runner.invoke(app, ["annotate", "init", str(proj), "--clips", str(tmp_path / "clips.csv")])
    assert res.exit_code == 2 and "already an annotation project" in res.output
    for name in ("anna", "ben"):
        (tmp_path / f"{name}.pw").write_text(f"secret-{name}\n")
        res = runner.invoke(
            app,
            ["annotate", "users", "add", name, "--project", str(proj), "--password-file", str(tmp_path / f"{name}.pw")],
        )
        assert res.exit_code == 0 and f"added labeller {name}" in res.output, res.output
    (tmp_path / "short.pw").write_text("x\n")
    res = runner.invoke(
        app, ["annotate", "users", "add", "carl", "--project", str(proj), "--password-file", str(tmp_path / "short.pw")]
    )
    assert res.exit_code == 2 and "at least 8 characters" in res.output
    p = AnnotationProject(proj)
    anna, ben = (p.authenticate(n, f"secret-{n}").id for n in ("anna", "ben"))
    assert p.authenticate("anna", "wrong") is None and p.authenticate("anna", "") is None
    p.submit_segments(p.next_task(anna), anna, [SegmentInput(2, 9, "happiness", apex=5)])
    p.submit_segments(p.next_task(anna), anna, [])
    p.submit_label(p.next_task(ben), ben, "happiness")
    res = runner.invoke(app, ["annotate", "agreement", str(proj), "--json"])
    assert res.exit_code == 0
    report = json.loads(res.output)
    assert report["n"] == 1 and report["kappa"] == 1.0 and report["accepted"]["verify"] == 1
    res = runner.invoke(app, ["annotate", "agreement", str(proj)])
    assert "Cohen's kappa, mark vs verify: 1.0000 over 1 segments" in res.output
    res = runner.invoke(app, ["annotate", "export", str(proj), "--out", str(tmp_path / "ds")])
    assert res.exit_code == 0 and "1 segments" in res.output
    res = runner.invoke(app, ["annotate", "backup", str(proj), "--out", str(tmp_path / "b.db")])
    assert res.exit_code == 0
    with sqlite3.connect(tmp_path / "b.db") as conn:
        assert conn.execute("select count(*) from answers").fetchone()[0] == 2
    res = runner.invoke(app, ["annotate", "export", str(tmp_path / "nope"), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "not an annotation project" in res.output


def test_accounts_audit_and_reference_export_from_the_command_line(synth_dataset, tmp_path):
    import pandas as pd

    clips_manifest(synth_dataset, tmp_path, 2)
    runner = CliRunner()
    proj = str(tmp_path / "proj")
    p = AnnotationProject.create(proj, tmp_path / "clips.csv")
    anna, ben = p.add_user("anna", "labeller", "secret-anna"), p.add_user("ben", "labeller", "secret-ben")
    p.submit_segments(p.next_task(anna), anna, [SegmentInput(2, 9, "anger", apex=4)])
    p.submit_label(p.next_task(ben), ben, "anger")
    res = runner.invoke(app, ["annotate", "users", "list", "--project", proj])
    assert res.exit_code == 0 and res.output.split("\n")[0].split() == ["anna", "labeller", "1", "done", "0", "open"]
    res = runner.invoke(app, ["annotate", "users", "disable", "anna", "--project", proj])
    assert res.exit_code == 0 and p.authenticate("anna", "secret-anna") is None
    assert "(disabled)" in runner.invoke(app, ["annotate", "users", "list", "--project", proj]).output
    res = runner.invoke(app, ["annotate", "users", "enable", "anna", "--project", proj])
    assert res.exit_code == 0 and p.authenticate("anna", "secret-anna") is not None
    res = runner.invoke(app, ["annotate", "users", "disable", "zoe", "--project", proj])
    assert res.exit_code == 2 and "no user 'zoe'" in res.output
    res = runner.invoke(app, ["annotate", "audit", proj, "--out", str(tmp_path / "audit.csv")])
    assert res.exit_code == 0, res.output
    log = pd.read_csv(tmp_path / "audit.csv")
    answers = log[log["action"] == "answer"]
    assert answers["user"].tolist() == ["anna", "ben"] and '"label": "anger"' in answers["new"].iloc[1]
    assert log["action"].tolist().count("disable") == 1 and log["action"].tolist().count("enable") == 1
    assert "secret" not in (tmp_path / "audit.csv").read_text()  # no password or hash in the log
    res = runner.invoke(app, ["annotate", "audit", proj, "--last", "2"])
    assert res.exit_code == 0 and len(res.output.strip().splitlines()) == 2 and "enable" in res.output
    res = runner.invoke(app, ["annotate", "export", proj, "--out", str(tmp_path / "refs"), "--mode", "references"])
    assert res.exit_code == 0 and "1 segments" in res.output
    m = pd.read_csv(tmp_path / "refs" / "manifest.csv")
    assert (m["onset"].item(), m["apex"].item(), m["offset"].item()) == (2, 4, 9)
    res = runner.invoke(app, ["annotate", "export", proj, "--out", str(tmp_path / "x"), "--mode", "links"])
    assert res.exit_code == 2 and "--mode must be one of clips, references" in res.output


def test_serve_listens_on_localhost_and_serves_the_sign_in_page(synth_dataset, tmp_path):
    import subprocess
    import sys
    import time
    import urllib.request

    clips_manifest(synth_dataset, tmp_path, 1)
    AnnotationProject.create(tmp_path / "proj", tmp_path / "clips.csv")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mextk", "annotate", "serve", str(tmp_path / "proj"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        page = None
        for _ in range(100):
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert page is not None and "Sign in" in page
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    assert f"on http://127.0.0.1:{port}/ to this machine only" in output


def test_demo_makes_a_project_with_two_labellers_and_an_admin_whose_passwords_work(tmp_path):
    res = CliRunner().invoke(app, ["annotate", "demo", "--out", str(tmp_path / "d"), "--clips", "3"])
    assert res.exit_code == 0, res.output
    lines = [line.split()[:2] for line in res.output.splitlines() if line.startswith("  ")]
    users = {name: password for name, password in lines}
    assert set(users) == {"anna", "ben", "admin"}
    p = AnnotationProject(tmp_path / "d" / "project")
    assert p.authenticate("anna", users["anna"]) is not None and p.authenticate("ben", users["anna"]) is None
    assert p.authenticate("admin", users["admin"]).role == "admin"
    assert p.progress()["steps"]["mark"] == {"open": 3}
    res = CliRunner().invoke(app, ["annotate", "demo", "--out", str(tmp_path / "d")])
    assert res.exit_code == 2 and "already there" in res.output


def test_the_help_asks_for_no_extra_install_for_the_labelling_app():
    from mextk.cli import app as main_app

    res = CliRunner().invoke(main_app, ["--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    assert 'pip install "mextk"' not in res.output  # rich markup once swallowed "[annotate]" here
    assert "annotate" in res.output
