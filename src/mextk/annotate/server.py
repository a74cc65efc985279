"""The annotation web server (FastAPI): pages, a JSON API and frames, every rule enforced on the server.

* Everything but the sign-in page needs a session (:mod:`mextk.annotate.security`);
  the API answers 401 without one, pages redirect to ``/login``.
* Every request that changes state (``POST``) must carry the session's CSRF
  token in ``X-CSRF-Token``; a missing or wrong one gets 403.
* A labeller reaches only their own tasks: another's task id answers 404, the
  same as an id that does not exist.  Admin pages and API need the admin role.
* Frames are asked for by task and number (``/api/tasks/7/frame/123``); the
  number must be a plain integer inside the frames the task may show (a stage-2
  task: its segment only), anything else is 404.  Static files come from a
  fixed list.  No request names a path on disk, so ``..``, absolute paths,
  encoded slashes and symlinks have nothing to reach.
* Responses carry ``Cache-Control: no-store`` (API), ``X-Content-Type-Options``,
  a same-origin ``Content-Security-Policy`` and ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

STATIC_FILES = {"player.js": "text/javascript", "style.css": "text/css"}


def create_app(project_folder: str | Path, *, db: str | None = None, limiter: Any = None) -> Any:
    """The FastAPI application of a project."""
    from mextk.annotate import security
    from mextk.annotate.engine import AnnotationProject, NotFound, Refused, SegmentInput
    from mextk.annotate.media import frame_png
    from mextk.annotate.store import Clip

    project = AnnotationProject(project_folder, db=db)
    limiter = limiter or security.LoginLimiter()
    app = FastAPI(title="mextk annotate", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
        )
        if request.url.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    def current(request: Request) -> tuple[Any, str]:
        found = security.session_user(project, request.cookies.get(security.COOKIE))
        if found is None:
            raise HTTPException(401, "sign in first")
        return found

    def changing(request: Request, who: tuple[Any, str] = Depends(current)) -> Any:  # noqa: B008
        user, csrf = who
        if not security.csrf_ok(csrf, request.headers.get("X-CSRF-Token")):
            raise HTTPException(403, "missing or wrong CSRF token")
        return user

    def admin(who: tuple[Any, str] = Depends(current)) -> Any:  # noqa: B008
        if who[0].role != "admin":
            raise HTTPException(404, "not found")
        return who[0]

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Any:
        if exc.status_code == 401 and not request.url.path.startswith("/api/"):
            return RedirectResponse("/login", status_code=303)
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    # ------------------------------------------------------------------ sign in and out

    @app.get("/login", response_class=HTMLResponse)
    def login_page() -> str:
        return _page(
            "Sign in",
            '<form method="post" action="/login" class="login">'
            '<label>Name <input name="name" autocomplete="username" autofocus required></label>'
            '<label>Password <input name="password" type="password" autocomplete="current-password" required></label>'
            '<button type="submit">Sign in</button></form>',
            csrf="",
        )

    @app.post("/login")
    def login(request: Request, name: str = Form(""), password: str = Form("")) -> Any:  # noqa: B008
        keys = (f"user:{name.strip().lower()}", f"addr:{request.client.host if request.client else '-'}")
        if limiter.blocked(*keys):
            return JSONResponse({"error": "too many failed sign-ins; wait a few minutes"}, status_code=429)
        user = project.authenticate(name, password) if name and password else None
        if user is None:
            limiter.fail(*keys)
            return JSONResponse({"error": "wrong name or password"}, status_code=401)
        limiter.clear(*keys)
        token, _ = security.open_session(project, user)
        response = RedirectResponse("/admin" if user.role == "admin" else "/", status_code=303)
        response.set_cookie(
            security.COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            max_age=security.SESSION_HOURS * 3600,
            path="/",
        )
        return response

    @app.post("/logout")
    def logout(request: Request, user: Any = Depends(changing)) -> Any:  # noqa: B008
        security.close_session(project, request.cookies.get(security.COOKIE, ""))
        response = JSONResponse({"signed_out": True})
        response.delete_cookie(security.COOKIE, path="/")
        return response

    # ------------------------------------------------------------------ API

    @app.get("/api/me")
    def me(who: tuple[Any, str] = Depends(current)) -> dict[str, Any]:  # noqa: B008
        user, csrf = who
        return {"name": user.name, "role": user.role, "csrf": csrf}

    @app.post("/api/next")
    def next_task(user: Any = Depends(changing)) -> dict[str, Any]:  # noqa: B008
        return {"task": project.next_task(user.id)}

    @app.get("/api/tasks")
    def tasks(who: tuple[Any, str] = Depends(current)) -> list[dict[str, Any]]:  # noqa: B008
        return project.queue(who[0].id)

    def view_of(task_id: str, user: Any) -> dict[str, Any]:
        if not task_id.isdigit():
            raise HTTPException(404, "not found")
        try:
            return project.task_view(int(task_id), user.id)
        except NotFound:
            raise HTTPException(404, "not found") from None

    @app.get("/api/tasks/{task_id}")
    def task(task_id: str, who: tuple[Any, str] = Depends(current)) -> dict[str, Any]:  # noqa: B008
        return view_of(task_id, who[0])

    @app.get("/api/tasks/{task_id}/frame/{k}")
    def frame(task_id: str, k: str, who: tuple[Any, str] = Depends(current)) -> Any:  # noqa: B008
        view = view_of(task_id, who[0])
        if not k.isdigit() or not view["first"] <= int(k) <= view["last"]:
            raise HTTPException(404, "not found")
        with project.Session() as s:
            clip = s.get(Clip, view["clip"])
        data = frame_png(project.folder, clip.id, clip.path, clip.n_frames, int(k))
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/tasks/{task_id}/quality")
    def quality(task_id: str, who: tuple[Any, str] = Depends(current)) -> list[dict[str, Any]]:  # noqa: B008
        view_of(task_id, who[0])
        return project.quality(int(task_id), who[0].id)

    @app.post("/api/tasks/{task_id}/segments")
    async def segments(task_id: str, request: Request, user: Any = Depends(changing)) -> dict[str, Any]:  # noqa: B008
        view_of(task_id, user)
        body = await _json(request)
        try:
            items = [
                SegmentInput(
                    onset=int(x["onset"]),
                    offset=int(x["offset"]),
                    label=str(x["label"]),
                    apex=None if x.get("apex") in (None, "") else int(x["apex"]),
                )
                for x in body.get("segments", [])
            ]
            return {"segments": project.submit_segments(int(task_id), user.id, items)}
        except (KeyError, TypeError, ValueError) as exc:
            raise HTTPException(400, str(exc) if isinstance(exc, Refused) else "malformed segments") from None

    @app.post("/api/tasks/{task_id}/label")
    async def label(task_id: str, request: Request, user: Any = Depends(changing)) -> dict[str, Any]:  # noqa: B008
        view_of(task_id, user)
        body = await _json(request)
        try:
            return {"status": project.submit_label(int(task_id), user.id, str(body.get("label", "")))}
        except Refused as exc:
            raise HTTPException(400, str(exc)) from None

    @app.get("/api/admin/progress")
    def progress(user: Any = Depends(admin)) -> dict[str, Any]:  # noqa: B008
        return project.progress()

    @app.get("/api/admin/agreement")
    def agreement(user: Any = Depends(admin)) -> dict[str, Any]:  # noqa: B008
        from mextk.annotate.agreement import project_agreement

        report = project_agreement(project)
        return json.loads(json.dumps(report, default=float).replace("NaN", "null"))

    # ------------------------------------------------------------------ pages

    @app.get("/", response_class=HTMLResponse)
    def queue_page(who: tuple[Any, str] = Depends(current)) -> str:  # noqa: B008
        user, csrf = who
        rows = "".join(
            f'<tr><td><a href="/task/{t["task"]}">task {t["task"]}</a></td><td>{html.escape(t["step"])}</td>'
            f"<td>{html.escape(t['status'])}</td></tr>"
            for t in project.queue(user.id)
        )
        body = (
            f"<p>Signed in as {html.escape(user.name)} ({user.role}).</p>"
            '<p><button id="next" data-action="next">Next task (N)</button></p>'
            f"<table><tr><th>task</th><th>step</th><th>status</th></tr>{rows}</table>"
        )
        return _page("My tasks", body, csrf=csrf)

    @app.get("/task/{task_id}", response_class=HTMLResponse)
    def task_page(task_id: str, who: tuple[Any, str] = Depends(current)) -> str:  # noqa: B008
        view = view_of(task_id, who[0])
        body = f'<div id="player" data-task="{view["task"]}"></div>'
        return _page(view["title"], body, csrf=who[1])

    @app.get("/admin", response_class=HTMLResponse)
    def admin_page(user: Any = Depends(admin), who: tuple[Any, str] = Depends(current)) -> str:  # noqa: B008
        from mextk.annotate.agreement import project_agreement

        prog = project.progress()
        steps = [st.id for st in project.protocol.steps]
        head = "".join(f"<th>{html.escape(st)}</th>" for st in steps)

        def cells(counts: dict[str, Any]) -> str:
            return "".join(
                f"<td>{counts.get(st, {}).get('done', 0)} done, {counts.get(st, {}).get('open', 0)} open</td>"
                for st in steps
            )

        per_user = "".join(
            f"<tr><td>{html.escape(name)}</td>{cells(counts)}</tr>"
            for name, counts in sorted(prog["labellers"].items())
        )
        report = project_agreement(project)
        kappa = "n/a" if report["kappa"] != report["kappa"] else f"{report['kappa']:.3f}"
        classes = report["classes"]
        matrix = "".join(
            f"<tr><th>{html.escape(c)}</th>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>"
            for c, row in zip(classes, report["confusion"], strict=True)
        )
        body = (
            f"<h2>Tasks per step</h2><table><tr><th></th>{head}</tr><tr><td>all</td>{cells(prog['steps'])}</tr>"
            f"{per_user}</table>"
            f"<h2>Segments</h2><p>{html.escape(', '.join(f'{k} {v}' for k, v in prog['segments'].items()))}</p>"
            f"<h2>Agreement</h2><p>Cohen's kappa, {html.escape(report['steps'][0])} vs "
            f"{html.escape(report['steps'][1])}: {kappa} over {report['n']} segments; accepted "
            + html.escape(", ".join(f"{k} {v}" for k, v in report["accepted"].items()))
            + f"; rejected {report['rejected']}</p>"
            "<table><tr><th></th>" + "".join(f"<th>{html.escape(c)}</th>" for c in classes) + f"</tr>{matrix}</table>"
        )
        return _page("Progress and agreement", body, csrf=who[1])

    @app.get("/static/{name}")
    def static(name: str) -> Any:
        if name not in STATIC_FILES:
            raise HTTPException(404, "not found")
        data = resources.files("mextk.annotate").joinpath("static").joinpath(name).read_bytes()
        return Response(data, media_type=STATIC_FILES[name])

    app.state.project = project
    return app


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(400, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return body


def _page(title: str, body: str, *, csrf: str) -> str:
    """A page of the app: the CSRF token in a meta tag for the scripts, and the player script."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='csrf-token' content='{html.escape(csrf)}'>"
        f"<title>{html.escape(title)} - mextk annotate</title>"
        "<link rel='stylesheet' href='/static/style.css'></head>"
        f"<body><header><h1>{html.escape(title)}</h1></header><main>{body}</main>"
        "<script src='/static/player.js'></script></body></html>"
    )
