"""The per-recording HTML report of ``mextk analyze``: one self-contained file (plots and thumbnails inline).

Per person: a timeline plot (each event a bar from its start to its end at the
height of its class probability, coloured by class, micro-expressions solid
and macro-expressions hatched; below it, the share of frames where prepare saw
the face) and the share of their time the spotter was blind or weak, then a
table of the events, strongest first, each with how often calm faces give one
as strong and a looping view with the movement magnified and the moved regions
outlined (:mod:`mextk.analyze.event_view`).  Above: a banner when the model was
trained on synthetic data only, the spotter's calibrated false-alarm rate, and
the counts per class and per person; below, the settings in one line (the full
record is ``timeline.json``).  Nothing is loaded from elsewhere, so the file can be mailed
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

from mextk.analyze.event_view import event_view

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:.9em}
th{background:#f4f4f4}img.thumb{height:72px}img.loop{height:128px}.note{color:#666;font-size:.9em}
.banner{background:#fff3cd;border:1px solid #e0b84c;padding:.6em 1em;margin:1em 0}
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
    model: dict[str, Any] | None = None,
    calibration: dict[str, Any] | None = None,
    coverage: dict[str, dict[str, float]] | None = None,
) -> str:
    """The report's HTML text (``timeline`` as built by :mod:`mextk.analyze.chain`, with its ``_`` columns).

    ``model`` is the recognition model's ``model.json``, ``calibration`` what
    :func:`mextk.spotting.calibration.calibration_note` says about the thresholds, ``coverage`` each person's
    seconds on camera, without a face, and with a weak lower face (:mod:`mextk.spotting.coverage`).  The settings
    appear as one line; the full record is ``timeline.json`` beside the report.  No path appears in it.
    """
    esc = html.escape
    duration = float(clips["end_time"].max()) if len(clips) else 0.0
    people = sorted({*timeline["person"], *(_people(clips))})
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>mextk analyze: {esc(recording)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Micro-expression analysis of {esc(recording)}</h1>",
        *_banner(model or {}),
        f"<p class='note'>{len(timeline)} event(s) of {len(people)} person(s) over {duration:.1f} s; "
        "events are candidates from a spotter and a model: a labeller's check (mextk annotate, proposals.csv) "
        "decides.</p>",
        f"<p>{esc(_spotter_statement(calibration))}</p>",
        "<h2>Counts per class</h2>",
        _counts_table(timeline, classes, people),
    ]
    for person in people:
        ev = timeline[timeline["person"] == person]
        own = clips[[p == person for p in _people(clips)]]
        parts.append(f"<h2>{esc(person)}</h2>")
        if coverage and person in coverage:
            parts.append(f"<p class='note'>{esc(_coverage_line(coverage[person]))}</p>")
        parts.append(
            f"<img alt='timeline of {esc(person)}' src='{_timeline_plot(person, ev, own, classes, duration)}'>"
        )
        if ev.empty:
            parts.append("<p class='note'>no event spotted</p>")
            continue
        minutes = float(calibration["minutes"]) if calibration else 0.0
        head = ("strength (z)", "on calm faces", "start (s)", "end (s)", "type", "class", "probability",
                "face visible", "as recorded | movement x4")  # fmt: skip
        rows = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
        for _, e in ev.sort_values("spot_score", ascending=False, kind="stable").iterrows():
            apex = int(e["_apex"]) - int(e["_onset"])
            src = e["_view"] if "_view" in e else event_view(str(e["_frames"]), apex, float(e["_fps"]))
            if src:
                img = f"<img class='loop' alt='the event, as recorded and magnified' src='{src}'>"
            else:  # no face found on the event's first frame: its onset and apex as they are
                src = _thumb(_key_frames(e), 0, apex)
                img = f"<img class='thumb' alt='onset and apex' src='{src}'>" if src else ""
            rows.append(
                f"<tr><td>{e['spot_score']:.1f}</td><td>{esc(_calm_rate(e.get('calm_per_min'), minutes))}</td>"
                f"<td>{e['start_time']:.2f}</td><td>{e['end_time']:.2f}</td><td>{esc(e['type'])}</td>"
                f"<td>{esc(str(e['class']))}</td><td>{e['probability']:.2f}</td><td>{e['face_visible']:.2f}</td>"
                f"<td>{img}</td></tr>"
            )
        rows.append("</table>")
        parts.append("".join(rows))
    parts.append(f"<h2>Settings</h2><p class='note'>{esc(settings_line(settings, model or {}))}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _banner(model: dict[str, Any]) -> list[str]:
    """A warning above everything when the recognition model was trained on mextk's synthetic data only."""
    datasets = model.get("datasets")
    if model.get("synthetic_only"):
        names = ", ".join(f"{k}: {v} samples" for k, v in datasets.items())
        return [f"<div class='banner'><b>The recognition model was trained only on mextk's synthetic data</b> "
                f"({html.escape(names)}): its classes mean nothing on real faces. Read each event as a movement to "
                "check, not as an emotion.</div>"]  # fmt: skip
    if not datasets:
        return ["<div class='banner'>The model folder does not record what it was trained on (it predates that "
                "record): its classes may mean nothing on real faces.</div>"]  # fmt: skip
    return []


def _spotter_statement(calibration: dict[str, Any] | None) -> str:
    """How far to trust the events: the calibrated false-alarm rate, or that there is none."""
    if calibration is None:
        return ("The spotter's thresholds are not calibrated to calm faces (a robust z within each video): expect "
                "events on talking faces that express nothing.")  # fmt: skip
    types = " and ".join(f"{t}-expression" for t in calibration["types"]) or "no type"
    text = (f"The spotter is calibrated to at most {calibration['per_minute']:g} false {types} a minute on "
            f"{calibration['minutes']:.1f} minutes of calm real faces ({calibration['videos']} videos, "
            f"{calibration['source']}).")  # fmt: skip
    held = calibration.get("held_out")
    if held:
        text += (f" Judged one person left out at a time, that rule gave {held[0]:.1f} a minute (95% interval "
                 f"{held[1]:.1f} to {held[2]:.1f}).")  # fmt: skip
    if "macro" not in calibration["types"]:
        text += " Macro-expressions keep the plain z threshold (more false alarms on talking faces)."
    return text


def _calm_rate(per_minute: Any, minutes: float) -> str:
    """An event's strength as how often calm faces gave one as strong."""
    try:
        r = float(per_minute)
    except (TypeError, ValueError):
        return ""
    if not np.isfinite(r):
        return ""
    if r <= 0:
        return f"none in {minutes:.1f} min"
    return f"once every {1 / r:.1f} min"


def _coverage_line(c: dict[str, float]) -> str:
    total = max(float(c.get("seconds", 0.0)), 1e-9)

    def part(key: str, what: str) -> str:
        v = float(c.get(key, 0.0))
        return f"{what} {v:.1f} s ({100 * v / total:.0f}%"

    line = (f"Of {total:.1f} s on camera: {part('no_face', 'no face found')}, blind); "
            f"{part('lower_face_weak', 'lower face weak')}: the mouth busy, mostly speaking, so only the brows and "
            "glabella count)")  # fmt: skip
    if "head_turned" in c:
        line += f"; {part('head_turned', 'head turned 30° or more')}, weak)"
    if "other_faces" in c:
        line += f"; {part('other_faces', 'another face near')}, weak)"
    return line + "."


def settings_line(settings: dict[str, Any], model: dict[str, Any]) -> str:
    """The settings as one short line (no path); the full record is ``timeline.json``."""
    learned = settings.get("spotter_model")
    sp = settings.get("spotter") or {}
    motion = sp.get("motion", {})
    source = sp.get("calibration")
    if source:
        own = "mextk's calm reference" if source == "packaged" else "own calm footage"
        calibrated = f"calibrated to {sp.get('false_alarms_per_minute')} a minute ({own})"
    else:
        calibrated = "not calibrated"
    if learned:
        names = ", ".join(learned.get("datasets", {})) or "unrecorded datasets"
        spotter = f"spotter: learned, trained on {len(learned.get('trained_on', []))} people ({names}), not calibrated"
    else:
        spotter = (f"spotter: z >= {sp.get('threshold')}, {calibrated}, speech discount {sp.get('speech_discount')}, "
                   f"head motion {motion.get('rigid')}")  # fmt: skip
    parts = [
        spotter,
        f"model: {model.get('model', settings.get('model'))} ({model.get('task', settings.get('task'))})",
        "all of prepare's review flags analysed" if settings.get("include_excluded") else "prepare's review applied",
    ]
    return "; ".join(parts) + ". Full record: timeline.json beside this report."


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
