"""The HTML pages of the annotation app: pure functions from the engine's numbers to escaped HTML.

Every value that came from a user or a file goes through :func:`html.escape`.
The pages carry no inline script (the Content-Security-Policy forbids it):
``player.js`` drives the player and the labeller's queue, ``admin.js`` the
admin's forms, and both send the CSRF token from the page's ``<meta>`` tag.
"""

from __future__ import annotations

from html import escape
from typing import Any


def page(
    title: str, body: str, *, csrf: str, nav: list[tuple[str, str]] | None = None, script: str = "player.js"
) -> str:
    """A whole page: the CSRF token in a meta tag for the scripts, a navigation bar, the body and one script.

    A signed-in page (``csrf`` set) has a *Sign out* button in its bar: a plain form that posts the
    CSRF token to ``/logout``, so it works without the scripts.
    """
    links = "".join(f'<a href="{escape(url)}">{escape(text)}</a>' for url, text in nav or [])
    if csrf:
        links += (
            '<form method="post" action="/logout" class="signout">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            '<button type="submit" id="sign-out">Sign out</button></form>'
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<meta name='csrf-token' content='{escape(csrf)}'>"
        f"<title>{escape(title)} - mextk annotate</title>"
        "<link rel='stylesheet' href='/static/style.css'></head>"
        f"<body><header><nav>{links}</nav><h1>{escape(title)}</h1></header><main>{body}</main>"
        + (f"<script src='/static/{escape(script)}'></script>" if script else "")
        + "</body></html>"
    )


def login_page(message: str = "") -> str:
    """The sign-in form, with the reason the last attempt failed (a wrong password, too many tries)."""
    notice = f'<p class="error" role="alert" id="login-error">{escape(message)}</p>' if message else ""
    return page(
        "Sign in",
        notice + '<form method="post" action="/login" class="login">'
        '<label>Name <input name="name" autocomplete="username" autofocus required maxlength="64"></label>'
        '<label>Password <input name="password" type="password" autocomplete="current-password" required></label>'
        '<button type="submit">Sign in</button></form>',
        csrf="",
        script="",
    )


#: What a browser's reader is told for each error status (the server's own line follows).
_ERROR_TITLES = {
    400: "That request could not be used",
    403: "Not allowed",
    404: "Not found",
    413: "Too large",
    429: "Too many attempts",
}


def error_page(status: int, message: str) -> str:
    """An error as a page a labeller can read, with a way back (a browser never gets raw JSON)."""
    title = _ERROR_TITLES.get(status, "Something went wrong")
    return page(
        title,
        f'<p class="error" role="alert">{escape(message)} (HTTP {int(status)})</p>'
        '<p><a href="/">Back to my tasks</a> &middot; <a href="/login">Sign in</a></p>',
        csrf="",
        script="",
    )


def step_name(step: Any) -> str:
    """A step as a labeller reads it: its title up to the colon (``Stage 2``), never its internal id."""
    title = str(getattr(step, "title", "") or "")
    return title.split(":", 1)[0].strip() or str(step.id).replace("_", " ")


def table(head: list[str], rows: list[list[Any]], *, html_cells: bool = False, id: str | None = None) -> str:
    """A table; cells are escaped unless ``html_cells`` (then the caller escaped them)."""
    cell = (lambda v: str(v)) if html_cells else (lambda v: escape("" if v is None else str(v)))
    attr = f' id="{escape(id)}"' if id else ""
    return (
        f"<table{attr}><tr>"
        + "".join(f"<th>{escape(h)}</th>" for h in head)
        + "</tr>"
        + "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
        + "</table>"
    )


def _steps_row(counts: dict[str, dict[str, int]], steps: list[str]) -> list[str]:
    return [f"{counts.get(st, {}).get('done', 0)} done, {counts.get(st, {}).get('open', 0)} open" for st in steps]


def queue_body(user: Any, tasks: list[dict[str, Any]], mine: dict[str, dict[str, int]], steps: list[Any]) -> str:
    """A labeller's page: their numbers per step and their own tasks, newest first."""
    numbers = table(
        ["step", "done", "open (yours)", "waiting for you"],
        [[st.title, mine["done"].get(st.id, 0), mine["open"].get(st.id, 0), mine["waiting"].get(st.id, 0)]
         for st in steps],
        id="my-progress",
    )  # fmt: skip
    names = {st.id: step_name(st) for st in steps}
    rows = [
        [f'<a href="/task/{t["task"]}">task {t["task"]}</a>', escape(names.get(t["step"], t["step"])),
         escape(t["status"]), escape(t["done_at"] or "")]
        for t in reversed(tasks)
    ]  # fmt: skip
    return (
        f"<p>Signed in as {escape(user.name)} ({escape(user.role)}).</p>"
        '<p><button id="next" data-action="next">Next task (N)</button></p>'
        f"<h2>Progress</h2>{numbers}<h2>My tasks</h2>"
        + table(["task", "step", "status", "done at"], rows, html_cells=True, id="my-tasks")
    )


ADMIN_NAV = [
    ("/admin", "progress"),
    ("/report", "agreement"),
    ("/admin/segments", "segments"),
    ("/admin/audit", "audit log"),
]


def admin_body(
    prog: dict[str, Any], users: list[dict[str, Any]], open_tasks: list[dict[str, Any]], steps: list[str]
) -> str:
    """Progress per step and per labeller, the accounts, and the open tasks with a form to move each."""
    per_step = table(
        ["", *steps],
        [["all", *_steps_row(prog["steps"], steps)]]
        + [[name, *_steps_row(counts, steps)] for name, counts in sorted(prog["labellers"].items())],
        id="progress",
    )
    accounts = table(
        ["user", "role", "active", "done", "open"],
        [[u["name"], u["role"], "yes" if u["active"] else "no", u["done"], u["open"]] for u in users],
        id="users",
    )
    move = [
        [t["task"], escape(t["step"]), escape(t["assignee"] or "(pool)"),
         f'<form class="api" data-url="/api/admin/tasks/{t["task"]}/assign">'
         '<input name="to" placeholder="user name, empty: pool" size="14"><button>move</button></form>']
        for t in open_tasks
    ]  # fmt: skip
    segments = ", ".join(f"{k} {v}" for k, v in sorted(prog["segments"].items())) or "none yet"
    return (
        f"<h2>Tasks per step</h2>{per_step}<h2>Segments</h2><p id='segment-counts'>{escape(segments)}</p>"
        f"<h2>Accounts</h2>{accounts}<h2>Open tasks</h2>"
        + table(["task", "step", "held by", "move to"], move, html_cells=True, id="open-tasks")
    )


def _num(x: Any, digits: int = 3) -> str:
    return "n/a" if x is None or x != x else f"{x:.{digits}f}"


def _figure(figures: dict[str, bytes], name: str) -> str:
    import base64

    if name not in figures:
        return ""
    data = base64.b64encode(figures[name]).decode("ascii")
    return f'<p><img alt="{escape(name)}" id="fig-{escape(name)}" src="data:image/png;base64,{data}"></p>'


def report_body(report: dict[str, Any], figures: dict[str, bytes] | None = None) -> str:
    """The agreement report (see :mod:`mextk.annotate.agreement_report`) with its figures."""
    figures = figures or {}
    parts = []
    classes = report["classes"]
    if report["steps"]:
        first, second = report["steps"]
        parts.append(
            f"<p id='kappa'>Cohen's kappa, {escape(first)} vs {escape(second)}: <b>{escape(_num(report['kappa']))}</b> "
            f"over {report['n']} segments (Krippendorff's alpha {escape(_num(report['alpha']))}).</p>"
        )
    for step, m in report["multi"].items():
        rows = [[r, v["n"], _num(v["agreement"])] for r, v in m["per_rater"].items()]
        parts.append(
            f"<h2>{escape(step)}: {m['raters']} raters</h2><p class='multi'>Fleiss' kappa "
            f"<b>{escape(_num(m['fleiss_kappa']))}</b> over {m['n_complete']} segments with every rater; "
            f"Krippendorff's alpha <b>{escape(_num(m['krippendorff_alpha']))}</b> over {m['n_items']}.</p>"
            + table(["rater", "segments with a final label", "agreement with it"], rows, id=f"raters-{step}")
            + _figure(figures, f"raters_{step}")
        )
    for step, a in report["au_reliability"].items():
        rows = [[au, _num(v)] for au, v in a["per_au"].items()]
        parts.append(
            f"<h2>{escape(step)}: action units</h2><p class='aus'>Reliability (DFME) <b>{escape(_num(a['overall']))}"
            f"</b> over {a['n']} segments; mean per segment {escape(_num(a['mean_item']))}.</p>"
            + table(["AU", "reliability"], rows, id=f"aus-{step}") + _figure(figures, f"aus_{step}")
        )  # fmt: skip
    for step, k in report["keyframes"].items():
        rows = [
            [name, _num(k[name]["mad_frames"], 2), _num(k[name]["mad_ms"], 2), _num(k[name]["pairwise_ms"], 2),
             _num(k[name]["within_tolerance"])]
            for name in ("onset", "apex", "offset")
        ]  # fmt: skip
        parts.append(
            f"<h2>{escape(step)}: key frames</h2><p>{k['n_items']} segments.</p>"
            + table(["key frame", "from combined (frames)", "from combined (ms)", "between raters (ms)",
                     f"within {report['tolerance_ms']:g} ms"], rows, id=f"keyframes-{step}")
            + _figure(figures, f"keyframes_{step}")
        )  # fmt: skip
    accepted = [[step, report["routed"].get(step, 0), n] for step, n in report["accepted"].items()]
    parts.append(
        "<h2>Acceptance per step</h2>"
        + table(["step", "segments sent to it", "accepted there"], accepted, id="acceptance")
        + f"<p>Corrected {report['corrected']}; rejected {report['rejected']}; flagged for discussion "
        f"{report['flagged']}; still open {report['open']}"
        + (
            "; " + escape(", ".join(f"{k} {v}" for k, v in report["expression"].items()))
            if report["expression"]
            else ""
        )
        + ".</p>"
    )
    if report["steps"]:
        first, second = report["steps"]
        matrix = table(
            [f"{first} \\ {second}", *classes],
            [[c, *row] for c, row in zip(classes, report["confusion"], strict=True)],
            id="confusion",
        )
        parts.append(f"<h2>Confusion matrix</h2><p>Rows: {escape(first)}; columns: {escape(second)}.</p>{matrix}"
                     + _figure(figures, "confusion"))  # fmt: skip
    return "".join(parts)


def _answer_text(value: Any) -> str:
    """One answer as text: a class, ``onset/apex/offset``, or action units joined by ``+``."""
    if isinstance(value, dict):
        return f"{value.get('onset')}/{value.get('apex')}/{value.get('offset')}"
    if isinstance(value, list):
        return "+".join(value) or "no AU"
    return str(value)


def segments_body(segments: list[dict[str, Any]], classes: list[str]) -> str:
    """Every segment with each step's answer and its outcome, and a form to correct a decided one."""
    options = "".join(f'<option value="{escape(c)}">{escape(c)}</option>' for c in classes)
    rows = []
    for seg in segments:
        answers = "; ".join(f"{k}: {', '.join(_answer_text(v) for v in given)}" for k, given in seg["answers"].items())
        form = (
            f'<form class="api" data-url="/api/admin/segments/{seg["segment"]}/correct">'
            '<select name="status"><option>accepted</option><option>rejected</option></select>'
            f'<select name="label">{options}</select><input name="reason" placeholder="reason" required size="16">'
            "<button>correct</button></form>"
            if seg["status"] != "open"
            else ""
        )
        rows.append(
            [seg["segment"], escape(seg["clip"]), f"{seg['onset']}-{seg['offset']}",
             "" if seg["apex"] is None else int(seg["apex"]), escape(answers), escape(seg["status"]),
             escape(seg["label"] or ""), escape(seg["decided_at"] or ""), form]
        )  # fmt: skip
    return (
        "<p>A correction changes the outcome only; the answers stay, and the audit log keeps the old value, "
        "who changed it and why.</p>"
        + table(
            ["segment", "clip", "frames", "apex", "answers", "status", "class", "decided at", "correct"],
            rows,
            html_cells=True,
            id="segments",
        )
    )


def audit_body(records: list[dict[str, Any]]) -> str:
    """The audit log, newest first."""
    rows = [
        [r["at"][:19], r["user"] or "(system)", r["action"], f"{r['entity']} {r['entity_id'] or ''}",
         "" if r["old"] is None else r["old"], "" if r["new"] is None else r["new"]]
        for r in reversed(records)
    ]  # fmt: skip
    return table(["when (UTC)", "who", "action", "what", "old", "new"], rows, id="audit")
