"""``mextk annotate``: make a labelling project, add users, see agreement, export the dataset, back it up.

Thin like the rest of the command line: each command calls :mod:`mextk.annotate`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mextk.cli.base import MextkGroup, fail, out_file, out_folder

annotate_app = typer.Typer(
    name="annotate",
    cls=MextkGroup,
    help="The labelling stage: CMED's three-stage blind protocol or DFME's multi-rater one on prepared clips, "
    "with agreement, export and Label Studio / ELAN interchange.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(name="users", cls=MextkGroup, help="Project accounts.", no_args_is_help=True)
annotate_app.add_typer(users_app, name="users")

_DB_HELP = "Database URL (default: the project's SQLite file), e.g. postgresql+psycopg://user@host/db."


def _require_extra() -> None:
    """Fail in one line when the app's dependencies are missing (they install with mextk; a broken environment)."""
    import importlib.util

    missing = [m for m in ("sqlalchemy", "alembic", "argon2") if importlib.util.find_spec(m) is None]
    if missing:
        fail(f"mextk annotate needs {', '.join(missing)}, which pip install mextk installs; reinstall mextk")


def _project(folder: Path, db: str | None):  # type: ignore[no-untyped-def]
    _require_extra()
    from mextk.annotate.engine import AnnotationProject

    if not (folder / "project.json").is_file():
        fail(f"{folder}: not an annotation project (no project.json); make one with 'mextk annotate init'")
    return AnnotationProject(folder, db=db)


@annotate_app.command()
def init(
    project: Annotated[Path, typer.Argument(help="Project folder to make.")],
    clips: Annotated[Path, typer.Option(help="Manifest of the prepared clips (mextk prepare's manifest.csv).")],
    protocol: Annotated[str, typer.Option(help="Protocol: cmed, dfme, or a protocol .json file.")] = "cmed",
    proposals: Annotated[
        Path | None,
        typer.Option(
            help="CSV of candidate segments (sample_id, onset, offset[, apex, label, score]) that stage 1 "
            "may take or correct; never shown at a blind step."
        ),
    ] = None,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """Make a labelling project: one first-step task per clip."""
    _require_extra()
    from mextk.annotate.engine import AnnotationProject

    out_folder(project)
    if proposals is not None and not proposals.is_file():
        fail(f"{proposals}: proposals file not found")
    try:
        p = AnnotationProject.create(project, clips, protocol=protocol, db=db, proposals=proposals)
    except ValueError as exc:
        fail(str(exc))
    for line in p.proposal_problems:
        typer.echo(f"skipped proposal {line}", err=True)
    n = p.progress()["steps"].get(p.protocol.first.id, {}).get("open", 0)
    typer.echo(f"made {project}: protocol {p.protocol.name}, {n} clips to label; add users with "
               f"'mextk annotate users add NAME --role labeller --project {project}'")  # fmt: skip


def _read_password(password_file: Path | None) -> str:
    """The first line of a password file, or a password asked for twice (never a command-line argument)."""
    if password_file is None:
        return typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if not password_file.is_file():
        fail(f"{password_file}: password file not found")
    lines = password_file.read_text().splitlines()
    return lines[0] if lines else ""


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name.")],
    project: Annotated[Path, typer.Option(help="Project folder.")],
    role: Annotated[str, typer.Option(help="admin or labeller.", metavar="[admin|labeller]")] = "labeller",
    password_file: Annotated[
        Path | None, typer.Option(help="Read the password from this file's first line (default: ask).")
    ] = None,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """Add an account; the password is asked for (never given on the command line, where others could see it)."""
    password = _read_password(password_file)
    p = _project(project, db)
    from mextk.annotate.rules import Refused

    try:
        user_id = p.add_user(name, role, password)
    except Refused as exc:
        fail(str(exc))
    typer.echo(f"added {role} {name} (id {user_id})")


@users_app.command("list")
def users_list(
    project: Annotated[Path, typer.Option(help="Project folder.")],
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """The accounts, their roles, and their done and open tasks."""
    for u in _project(project, db).users():
        state = "" if u["active"] else "  (disabled)"
        typer.echo(f"{u['name']:16s} {u['role']:9s} {u['done']:5d} done {u['open']:4d} open{state}")


def _set_active(name: str, project: Path, db: str | None, active: bool) -> None:
    from mextk.annotate.rules import NotFound

    try:
        _project(project, db).set_active(name, active)
    except NotFound as exc:
        fail(str(exc))
    typer.echo(f"{'enabled' if active else 'disabled'} {name}")


@users_app.command("password")
def users_password(
    name: Annotated[str, typer.Argument(help="User name.")],
    project: Annotated[Path, typer.Option(help="Project folder.")],
    password_file: Annotated[
        Path | None, typer.Option(help="Read the new password from this file's first line (default: ask).")
    ] = None,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """Set a new password for an account; its open sessions end."""
    from mextk.annotate.rules import NotFound, Refused

    password = _read_password(password_file)
    try:
        _project(project, db).set_password(name, password)
    except (NotFound, Refused) as exc:
        fail(str(exc))
    typer.echo(f"new password set for {name}")


@users_app.command("disable")
def users_disable(
    name: Annotated[str, typer.Argument(help="User name.")],
    project: Annotated[Path, typer.Option(help="Project folder.")],
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """Disable an account: it cannot sign in and its open sessions stop working (its answers stay)."""
    _set_active(name, project, db, False)


@users_app.command("enable")
def users_enable(
    name: Annotated[str, typer.Argument(help="User name.")],
    project: Annotated[Path, typer.Option(help="Project folder.")],
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """Enable a disabled account again."""
    _set_active(name, project, db, True)


@annotate_app.command()
def agreement(
    project: Annotated[Path, typer.Argument(help="Project folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (null where undefined).")] = False,
    tolerance_ms: Annotated[
        float, typer.Option(help="Key frames within this many ms of the combined one agree.")
    ] = 10.0,
    plots: Annotated[Path | None, typer.Option(help="Also write the report's figures here (PNG).")] = None,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """Agreement: Cohen's kappa (stage 1 vs 2), Fleiss' kappa, Krippendorff's alpha, AU and key-frame agreement."""
    from mextk.annotate.agreement_report import jsonable, project_agreement, report_lines

    report = project_agreement(_project(project, db), tolerance_ms=tolerance_ms)
    if plots is not None:
        from mextk.annotate.figures import report_figures
        from mextk.io.atomic import atomic_path

        out_folder(plots).mkdir(parents=True, exist_ok=True)
        for name, png in report_figures(report).items():
            with atomic_path(plots / f"{name}.png") as tmp:
                tmp.write_bytes(png)
    if as_json:
        typer.echo(json.dumps(jsonable(report), indent=2))
        return
    for line in report_lines(report):
        typer.echo(line)


@annotate_app.command()
def export(
    project: Annotated[Path, typer.Argument(help="Project folder.")],
    out: Annotated[Path, typer.Option(help="dataset and elan: a folder; labelstudio: a .json file.")],
    format: Annotated[
        str,
        typer.Option(
            "--format",
            help="dataset: manifest.csv and clips; labelstudio: Label Studio JSON (every "
            "answer); elan: one .eaf per clip.",
            metavar="[dataset|labelstudio|elan]",
        ),
    ] = "dataset",
    mode: Annotated[
        str,
        typer.Option(
            help="dataset: cut one H.264 clip per segment (clips) or point at the prepared clips' frames (references).",
            metavar="[clips|references]",
        ),
    ] = "clips",
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """Export: the accepted segments as a dataset, or every answer for Label Studio or ELAN."""
    from mextk.annotate.export import EXPORT_MODES, export_project

    if format not in ("dataset", "labelstudio", "elan"):
        fail(f"--format must be one of dataset, labelstudio, elan, got {format!r}")
    if mode not in EXPORT_MODES:
        fail(f"--mode must be one of {', '.join(EXPORT_MODES)}, got {mode!r}")
    p = _project(project, db)
    if format == "labelstudio":
        from mextk.annotate.labelstudio import export_labelstudio
        from mextk.io.atomic import write_text_atomic

        tasks = export_labelstudio(p)
        write_text_atomic(out_file(out), json.dumps(tasks, indent=1))
        typer.echo(f"wrote {out}: {len(tasks)} tasks, {sum(len(t['annotations']) for t in tasks)} annotations")
        return
    out_folder(out)
    if format == "elan":
        from mextk.annotate.elan import export_elan

        files = export_elan(p, out)
        typer.echo(f"wrote {len(files)} .eaf files to {out}")
        return
    df = export_project(p, out, mode=mode, progress=True)
    typer.echo(f"wrote {out / 'manifest.csv'}: {len(df)} segments (mextk stats / mextk evaluate read it)")


@annotate_app.command("import")
def import_(
    project: Annotated[Path, typer.Argument(help="Project folder (made with 'mextk annotate init' on the clips).")],
    labelstudio: Annotated[Path, typer.Argument(help="Label Studio JSON export (video timeline labels).")],
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """Replay Label Studio annotations into a project, through the protocol's rules; bad ones are listed."""
    from mextk.annotate.labelstudio import import_labelstudio

    if not labelstudio.is_file():
        fail(f"{labelstudio}: file not found")
    try:
        tasks = json.loads(labelstudio.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{labelstudio}: not JSON ({exc})")
    try:
        result = import_labelstudio(_project(project, db), tasks, source=str(labelstudio))
    except ValueError as exc:
        fail(str(exc))
    for line in result["skipped"]:
        typer.echo(f"skipped {line}", err=True)
    added = ", ".join(result["users_added"]) or "none"
    typer.echo(f"replayed {result['replayed']} answers; skipped {len(result['skipped'])}; raters added (disabled): "
               f"{added}")  # fmt: skip
    if result["skipped"]:
        raise typer.Exit(1)


@annotate_app.command()
def audit(
    project: Annotated[Path, typer.Argument(help="Project folder.")],
    out: Annotated[
        Path | None, typer.Option(help="Write the log as CSV here (default: print the last records).")
    ] = None,
    last: Annotated[int, typer.Option(help="How many of the newest records to print.")] = 50,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """The audit log: every answer, decision, correction and move, with who, when, the old and the new value."""
    import pandas as pd

    from mextk.io.atomic import write_text_atomic

    records = _project(project, db).audit_log()
    table = pd.DataFrame(records, columns=["id", "at", "user", "action", "entity", "entity_id", "old", "new"])
    for col in ("old", "new"):
        table[col] = [None if v is None else json.dumps(v, sort_keys=True) for v in table[col]]
    if out is not None:
        write_text_atomic(out_file(out), table.to_csv(index=False))
        typer.echo(f"wrote {out}: {len(table)} records")
        return
    for r in table.tail(last).itertuples():
        typer.echo(f"{r.at[:19]} {r.user or '(system)':12s} {r.action:9s} {r.entity} {r.entity_id or ''} "
                   f"{r.old or ''} -> {r.new or ''}")  # fmt: skip


@annotate_app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo clips and project.")] = Path("mextk-annotate-demo"),
    clips: Annotated[int, typer.Option(help="Synthetic clips to label.")] = 6,
    protocol: Annotated[str, typer.Option(help="Protocol: cmed, dfme, or a protocol .json file.")] = "cmed",
) -> None:
    """A project on synthetic clips with its labellers (CMED: anna, ben) and an admin, ready to serve."""
    _require_extra()
    from mextk.annotate.demo import make_demo_project

    out_folder(out)
    made = make_demo_project(out, clips=clips, protocol=protocol)
    typer.echo(f"made {made['project']}: {clips} clips; users (passwords shown once):")
    for name, password in made["users"].items():
        typer.echo(f"  {name}  {password}" + ("  (admin: progress, agreement, corrections)" if name == "admin" else ""))
    typer.echo(f"next: mextk annotate serve {made['project']}   then open http://127.0.0.1:8000/")


@annotate_app.command()
def serve(
    project: Annotated[Path, typer.Argument(help="Project folder.")],
    host: Annotated[str, typer.Option(help="Address to listen on (default: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
    proxy: Annotated[
        str | None,
        typer.Option(
            help="Address of the reverse proxy in front (e.g. 127.0.0.1): only then are its X-Forwarded-For/"
            "-Proto/-Host headers believed (sign-in limits count the real client). Without it they are ignored.",
        ),
    ] = None,
    secure_cookies: Annotated[
        bool | None,
        typer.Option(
            "--secure-cookies/--no-secure-cookies",
            help="Mark the session cookie Secure (HTTPS only). Default: on with --proxy (it terminates TLS), "
            "else decided by each request's scheme.",
        ),
    ] = None,
) -> None:
    """Serve the labelling app; it listens on this machine only unless --host says otherwise."""
    import uvicorn

    from mextk.annotate.server import create_app, server_config

    _project(project, db)
    if secure_cookies is None and proxy:
        secure_cookies = True
    app = create_app(project, db=db, secure_cookies=secure_cookies, behind_proxy=proxy is not None)
    where = "this machine only" if host in ("127.0.0.1", "localhost", "::1") else f"the network ({host})"
    typer.echo(f"serving {project} on http://{host}:{port}/ to {where}; Ctrl+C stops")
    uvicorn.Server(server_config(app, host=host, port=port, proxy=proxy)).run()


@annotate_app.command()
def backup(
    project: Annotated[Path, typer.Argument(help="Project folder.")],
    out: Annotated[Path, typer.Option(help="Backup file to write.")],
    db: Annotated[str | None, typer.Option(help=_DB_HELP)] = None,
) -> None:
    """A consistent copy of the project's database, safe to take while the server runs."""
    from mextk.annotate.backup import backup_database
    from mextk.annotate.store import database_url

    out_file(out)
    _project(project, db)  # checks the folder and brings the schema up to date
    backup_database(database_url(project, db), out)
    typer.echo(f"wrote {out}")
