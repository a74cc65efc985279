"""The per-recording HTML report of ``mextk analyze``: one self-contained file (plots and thumbnails inline).

Per person: a timeline plot (each event a bar from its start to its end at the
height of its class probability, coloured by class, micro-expressions solid
and macro-expressions hatched; below it, the share of frames where prepare saw
the face), then a table of the events, each with a thumbnail of its onset frame
beside its apex frame.  Above: the counts per class and per person, and the
settings used.  Nothing is loaded from elsewhere, so the file can be mailed
or archived as it is; it holds face thumbnails, so it is as private as the
recording.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np
import pandas as pd

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:.9em}
th{background:#f4f4f4}img.thumb{height:72px}.note{color:#666;font-size:.9em}
"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _key_frames(event: pd.Series) -> dict[int, np.ndarray]:
    """The onset and apex frames of an event from its frame folder (``_frames``, frame 0 its onset)."""
    from mextk.io.video import read_frames_at

    try:
        return read_frames_at(str(event["_frames"]), [0, int(event["_apex"]) - int(event["_onset"])])
    except Exception:  # noqa: BLE001  (thumbnails are an aid: the report is written without them)
        return {}


def _thumb(frames: dict[int, np.ndarray], onset: int, apex: int) -> str:
    """Onset and apex frames side by side, as an inline JPEG (empty when they could not be read)."""
    import cv2

    if onset not in frames or apex not in frames:
        return ""
    h = 72
    tiles = [cv2.resize(f, (max(1, round(f.shape[1] * h / f.shape[0])), h)) for f in (frames[onset], frames[apex])]
    pair = np.hstack([tiles[0], np.full((h, 4, 3), 255, np.uint8), tiles[1]])
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(pair, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode() if ok else ""


def pyplot() -> Any:
    """matplotlib's ``pyplot`` on the file-only Agg backend (:func:`mextk.analyze.chain.analyze_recording`
    imports it early, beside other work)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _timeline_plot(person: str, events: pd.DataFrame, clips: pd.DataFrame, classes: list[str], duration: float) -> str:
    plt = pyplot()

    colours = {c: plt.get_cmap("tab10")(i % 10) for i, c in enumerate(classes)}
    fig, (ax, qa) = plt.subplots(2, 1, figsize=(11, 2.8), sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    for _, e in events.iterrows():
        ax.bar(
            e["start_time"],
            e["probability"] if np.isfinite(e["probability"]) else 0.05,
            width=max(e["end_time"] - e["start_time"], 0.04),
            align="edge",
            color=colours.get(e["class"], "grey"),
            hatch="//" if e["type"] == "macro" else None,
            edgecolor="black",
            linewidth=0.4,
        )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("probability")
    ax.set_title(f"{person}: {len(events)} event(s)", fontsize=10, loc="left")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[c]) for c in classes if c in set(events["class"])]
    if handles:
        ax.legend(handles, [c for c in classes if c in set(events["class"])], fontsize=7, ncol=4, loc="upper right")
    for _, c in clips.iterrows():
        qa.axvspan(c["start_time"], c["end_time"], color="#7fbf7f")
    qa.set_yticks([])
    qa.set_ylabel("on camera", fontsize=7, rotation=0, ha="right", va="center")
    qa.set_xlim(0, max(duration, 1e-3))
    qa.set_xlabel("time in the recording (s)")
    return _png(fig)


def write_report(
    recording: str,
    timeline: pd.DataFrame,
    clips: pd.DataFrame,
    *,
    classes: list[str],
    settings: dict[str, Any],
) -> str:
    """The report's HTML text (``timeline`` as built by :mod:`mextk.analyze.chain`, with its ``_`` columns)."""
    esc = html.escape
    duration = float(clips["end_time"].max()) if len(clips) else 0.0
    people = sorted({*timeline["person"], *(_people(clips))})
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>mextk analyze: {esc(recording)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Micro-expression analysis of {esc(recording)}</h1>",
        f"<p class='note'>{len(timeline)} event(s) of {len(people)} person(s) over {duration:.1f} s; "
        "events are candidates from a spotter and a model: a labeller's check (mextk annotate, proposals.csv) "
        "decides.</p>",
        "<h2>Counts per class</h2>",
        _counts_table(timeline, classes, people),
    ]
    for person in people:
        ev = timeline[timeline["person"] == person]
        own = clips[[p == person for p in _people(clips)]]
        parts.append(f"<h2>{esc(person)}</h2>")
        parts.append(
            f"<img alt='timeline of {esc(person)}' src='{_timeline_plot(person, ev, own, classes, duration)}'>"
        )
        if ev.empty:
            parts.append("<p class='note'>no event spotted</p>")
            continue
        rows = ["<table><tr><th>start (s)</th><th>end (s)</th><th>type</th><th>class</th><th>probability</th>"
                "<th>face visible</th><th>onset | apex</th></tr>"]  # fmt: skip
        for _, e in ev.iterrows():
            src = _thumb(_key_frames(e), 0, int(e["_apex"]) - int(e["_onset"]))
            img = f"<img class='thumb' alt='onset and apex' src='{src}'>" if src else ""
            rows.append(
                f"<tr><td>{e['start_time']:.2f}</td><td>{e['end_time']:.2f}</td><td>{esc(e['type'])}</td>"
                f"<td>{esc(str(e['class']))}</td><td>{e['probability']:.2f}</td><td>{e['face_visible']:.2f}</td>"
                f"<td>{img}</td></tr>"
            )
        rows.append("</table>")
        parts.append("".join(rows))
    parts.append("<h2>Settings</h2><table>")
    for key, value in _flatten(settings).items():
        parts.append(f"<tr><th>{esc(key)}</th><td>{esc(str(value))}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)


def person_name(row: pd.Series) -> str:
    """Who a clip shows in the report: its ``subject``, or ``track N`` when the manifest names nobody."""
    subject = str(row.get("subject", "") or "").strip()
    return subject if subject and subject.lower() != "nan" else f"track {int(row['track_id'])}"


def _people(clips: pd.DataFrame) -> list[str]:
    return [person_name(r) for _, r in clips.iterrows()]


def _counts_table(timeline: pd.DataFrame, classes: list[str], people: list[str]) -> str:
    esc = html.escape
    head = "<table><tr><th>person</th>" + "".join(f"<th>{esc(c)}</th>" for c in classes) + "<th>all</th></tr>"
    rows = [head]
    for person in [*people, "all"]:
        ev = timeline if person == "all" else timeline[timeline["person"] == person]
        counts = ev["class"].value_counts()
        cells = "".join(f"<td>{int(counts.get(c, 0))}</td>" for c in classes)
        rows.append(f"<tr><th>{esc(person)}</th>{cells}<td>{len(ev)}</td></tr>")
    return "".join(rows) + "</table>"


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
