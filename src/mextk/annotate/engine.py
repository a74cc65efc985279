"""The labelling engine: a project folder, its clips and users, and the protocol's steps run on the server.

Every rule of the protocol (:mod:`mextk.annotate.protocol`) is enforced here,
below the web layer, so no page or request can get around it:

* a task goes only to a labeller the step allows (never the author of the
  segment's earlier answers where ``exclude_authors_of`` says so);
* a labeller reads and answers only their own tasks: another's task id is
  "not found", exactly as an id that does not exist;
* the view of a task (:meth:`AnnotationProject.task_view`) holds only what
  the step may see: a ``classify`` task shows the segment's frame range and
  the classes, never an earlier answer or the apex; a ``choose`` task shows
  the candidate classes in a random order with no step names;
* every answer and decision is written in one transaction together with its
  audit record (who, when, old value, new value), so an interrupted request
  leaves either both or neither.

Project folder: ``project.json`` (protocol name, creation time),
``protocol.json`` (the protocol as it was when the project was made: a later
mextk cannot change a running project's rules) and ``annotate.db`` (SQLite,
unless a database URL is given).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mextk.annotate.accounts import AccountCommands
from mextk.annotate.admin import AdminCommands
from mextk.annotate.answers import AnswerCommands
from mextk.annotate.assignment import AssignmentCommands
from mextk.annotate.protocol import Protocol, protocol_from_dict
from mextk.annotate.store import Audit, Clip, Segment, add_tasks, database_url, make_engine, sessions, upgrade
from mextk.annotate.views import ReadViews


class AnnotationProject(AccountCommands, AssignmentCommands, AnswerCommands, AdminCommands, ReadViews):
    """An annotation project on disk: open one with ``AnnotationProject(folder)``, make one with :meth:`create`.

    Its commands come in parts: accounts (:mod:`~mextk.annotate.accounts`), assignment
    (:mod:`~mextk.annotate.assignment`), answers (:mod:`~mextk.annotate.answers`), the admin's
    corrections (:mod:`~mextk.annotate.admin`) and the read models (:mod:`~mextk.annotate.views`);
    the rules they apply are pure functions (:mod:`~mextk.annotate.rules`), the tables :mod:`~mextk.annotate.store`.
    """

    def __init__(self, folder: str | os.PathLike[str], *, db: str | None = None) -> None:
        self.folder = Path(folder)
        meta = self.folder / "project.json"
        if not meta.is_file():
            raise FileNotFoundError(f"{self.folder}: not an annotation project (no project.json)")
        self.protocol: Protocol = protocol_from_dict(json.loads((self.folder / "protocol.json").read_text()))
        self.engine = make_engine(database_url(self.folder, db))
        upgrade(self.engine)
        self.Session = sessions(self.engine)
        self.proposal_problems: list[str] = []

    # ------------------------------------------------------------------ making a project

    @classmethod
    def create(
        cls,
        folder: str | os.PathLike[str],
        manifest: str | os.PathLike[str],
        *,
        protocol: str | os.PathLike[str] = "cmed",
        db: str | None = None,
        proposals: str | os.PathLike[str] | None = None,
    ) -> AnnotationProject:
        """Make a project folder from a manifest of prepared clips (one first-step task per clip).

        ``proposals``: a CSV of candidate segments for a ``segment`` first step
        (:mod:`mextk.annotate.proposals`); rows it cannot use are listed in
        ``project.proposal_problems`` and left out.

        Raises
        ------
        FileExistsError
            The folder already holds a project.
        ValueError
            Proposals for a protocol whose first step does not mark segments.
        """
        from mextk.annotate.protocol import load_protocol
        from mextk.io.atomic import write_json_atomic
        from mextk.io.manifest import load_manifest, sample_path

        folder = Path(folder)
        if (folder / "project.json").exists():
            raise FileExistsError(f"{folder}: already an annotation project; open it, or choose another folder")
        proto = load_protocol(protocol)
        df = load_manifest(manifest, check_files=True)
        candidates: dict[str, list[dict[str, Any]]] = {}
        problems: list[str] = []
        if proposals is not None:
            from mextk.annotate.proposals import read_proposals

            if proto.first.kind != "segment":
                raise ValueError(f"protocol {proto.name} starts with {proto.first.kind}: proposals need a segment step")
            sizes = {str(r["sample_id"]): int(r["n_frames"]) for r in df.to_dict("records")}
            candidates, problems = read_proposals(proposals, sizes, proto.classes)
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / "protocol.json", proto.source)
        clips = []
        for row in df.to_dict("records"):
            quality = row.get("quality")
            clips.append(
                Clip(
                    sample_id=str(row["sample_id"]),
                    dataset=str(row["dataset"]),
                    subject=str(row["subject"]),
                    path=str(sample_path(df, row["path"]).resolve()),
                    fps=float(row["fps"]),
                    n_frames=int(row["n_frames"]),
                    quality=str(sample_path(df, quality).resolve()) if isinstance(quality, str) and quality else None,
                    proposals=candidates.get(str(row["sample_id"])),
                )
            )
        engine = make_engine(database_url(folder, db))
        upgrade(engine)
        with sessions(engine)() as s, s.begin():
            s.add_all(clips)
            s.flush()
            for clip in clips:
                if proto.first.kind == "keyframes":  # one expression per clip: its segment exists from the start
                    seg = Segment(clip_id=clip.id, onset=0, apex=None, offset=clip.n_frames - 1)
                    s.add(seg)
                    s.flush()
                    add_tasks(s, proto.first, clip.id, seg.id)
                else:
                    add_tasks(s, proto.first, clip.id, None)
            s.add(Audit(action="create", entity="project",
                        new={"clips": len(clips), "protocol": proto.name,
                             "proposals": sum(len(v) for v in candidates.values())}))  # fmt: skip
        engine.dispose()
        write_json_atomic(
            folder / "project.json",
            {"protocol": proto.name, "created": datetime.now(UTC).isoformat(), "clips": len(clips)},
        )
        made = cls(folder, db=db)
        made.proposal_problems = problems
        return made
