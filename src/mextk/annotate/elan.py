"""ELAN ``.eaf`` export: one file per clip, one tier per rater and step, and the final outcome.

ELAN (MPI for Psycholinguistics) is what psychologists use to read annotated
video.  Each clip becomes ``OUT/SAMPLE.eaf`` (EAF 2.8, the format ELAN 4.9
and later open; ``pympi-ling`` reads it), linked to the prepared clip:

* tier ``RATER / STEP`` for each rater's answers at a step: the class, ``keyframes``
  (the rater's own onset to offset), or the action units (``AU4+AU7``);
* tier ``RATER / STEP / apex`` with the rater's apex frame, where a step marks one;
* tier ``final`` with each decided segment's outcome (the class, or ``rejected`` /
  ``flagged``) and tier ``final AUs`` where a protocol codes action units.

Times are milliseconds: frame ``k`` runs from ``k / fps`` to ``(k + 1) / fps``,
so a segment ``onset..offset`` spans ``[1000 onset / fps, 1000 (offset + 1) / fps)``,
rounded to whole ms.  The class tiers use a controlled vocabulary of the
protocol's classes.  Files are written atomically; rater names are account
names (staff); subjects appear as the manifest's pseudonymous ids only.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import select


def export_elan(project: Any, out: str | os.PathLike[str]) -> list[Path]:
    """Write one ``.eaf`` per clip into ``out``; returns the files."""
    from mextk.annotate.store import Answer, Clip, Segment, User
    from mextk.io.atomic import write_text_atomic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    order = {s.id: k for k, s in enumerate(project.protocol.steps)}
    with project.Session() as s:
        clips = s.scalars(select(Clip).order_by(Clip.id)).all()
        answers = s.execute(
            select(Answer, User.name, Segment).join(User, User.id == Answer.user_id)
            .join(Segment, Segment.id == Answer.segment_id).order_by(Answer.id)
        ).all()  # fmt: skip
        segments = s.scalars(select(Segment).order_by(Segment.id)).all()
    written = []
    for clip in clips:
        tiers: dict[str, list[tuple[int, int, str]]] = {}
        for answer, rater, seg in answers:
            if seg.clip_id != clip.id:
                continue
            kind = project.protocol.step(answer.step).kind
            name = f"{rater} / {answer.step}"
            if kind == "keyframes":
                v = answer.value
                tiers.setdefault(name, []).append((v["onset"], v["offset"], "keyframes"))
                tiers.setdefault(f"{name} / apex", []).append((v["apex"], v["apex"], "apex"))
            elif kind in ("aus", "reconcile"):
                tiers.setdefault(name, []).append((seg.onset, seg.offset, "+".join(answer.value or []) or "none"))
            else:
                tiers.setdefault(name, []).append((seg.onset, seg.offset, answer.label))
                if kind == "segment" and seg.apex is not None:
                    tiers.setdefault(f"{name} / apex", []).append((seg.apex, seg.apex, "apex"))
        final = [(g.onset, g.offset, g.label if g.status == "accepted" else g.status)
                 for g in segments if g.clip_id == clip.id and g.status != "open"]  # fmt: skip
        final_aus = [(g.onset, g.offset, "+".join(g.aus)) for g in segments if g.clip_id == clip.id and g.aus]
        ordered = sorted(tiers.items(), key=lambda kv: (order.get(kv[0].split(" / ")[1], 99), kv[0]))
        ordered += [("final", final)] + ([("final AUs", final_aus)] if final_aus else [])
        path = out / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', clip.sample_id)}.eaf"
        write_text_atomic(path, _eaf(clip, ordered, list(project.protocol.classes)))
        written.append(path)
    return written


def _eaf(clip: Any, tiers: list[tuple[str, list[tuple[int, int, str]]]], classes: list[str]) -> str:
    def ms(frame: int) -> int:
        return round(1000.0 * frame / clip.fps)

    slots: list[int] = []
    body = []
    n_ann = 0
    for tier_id, spans in tiers:
        vocabulary = all(v in classes or v in ("rejected", "flagged") for _, _, v in spans) and spans
        annotations = []
        for onset, offset, value in spans:
            slots += [ms(onset), ms(offset + 1)]
            n_ann += 1
            annotations.append(
                f'<ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a{n_ann}" TIME_SLOT_REF1="ts{len(slots) - 1}" '
                f'TIME_SLOT_REF2="ts{len(slots)}"><ANNOTATION_VALUE>{escape(value)}</ANNOTATION_VALUE>'
                "</ALIGNABLE_ANNOTATION></ANNOTATION>"
            )
        kind = "class" if vocabulary else "text"
        body.append(
            f"<TIER LINGUISTIC_TYPE_REF={quoteattr(kind)} TIER_ID={quoteattr(tier_id)}>{''.join(annotations)}</TIER>"
        )
    time_order = "".join(f'<TIME_SLOT TIME_SLOT_ID="ts{k + 1}" TIME_VALUE="{t}"/>' for k, t in enumerate(slots))
    media = Path(clip.path)
    entries = "".join(f'<CV_ENTRY DESCRIPTION="">{escape(c)}</CV_ENTRY>' for c in [*classes, "rejected", "flagged"])
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ANNOTATION_DOCUMENT AUTHOR="mextk" DATE="1970-01-01T00:00:00+00:00" FORMAT="2.8" VERSION="2.8" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:noNamespaceSchemaLocation="http://www.mpi.nl/tools/elan/EAFv2.8.xsd">'
        f'<HEADER MEDIA_FILE="" TIME_UNITS="milliseconds"><MEDIA_DESCRIPTOR MEDIA_URL={quoteattr(media.as_uri())} '
        f'MIME_TYPE="video/mp4" RELATIVE_MEDIA_URL={quoteattr(media.name)}/>'
        f'<PROPERTY NAME="lastUsedAnnotationId">{n_ann}</PROPERTY>'
        f'<PROPERTY NAME="mextk:subject">{escape(clip.subject)}</PROPERTY></HEADER>'
        f"<TIME_ORDER>{time_order}</TIME_ORDER>{''.join(body)}"
        '<LINGUISTIC_TYPE CONTROLLED_VOCABULARY_REF="classes" GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="class" '
        'TIME_ALIGNABLE="true"/>'
        '<LINGUISTIC_TYPE GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="text" TIME_ALIGNABLE="true"/>'
        "<CONSTRAINT DESCRIPTION=\"Time subdivision of parent annotation's time interval, no time gaps allowed within "
        'this interval" STEREOTYPE="Time_Subdivision"/>'
        f'<CONTROLLED_VOCABULARY CV_ID="classes" DESCRIPTION="classes">{entries}</CONTROLLED_VOCABULARY>'
        "</ANNOTATION_DOCUMENT>\n"
    )
