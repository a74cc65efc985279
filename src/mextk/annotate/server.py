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
* Admins have read-only pages (``/admin`` progress, accounts and open tasks;
  ``/report`` agreement; ``/admin/segments``; ``/admin/audit``) and two
  changes, both audited: correct a decided segment's outcome (with a reason)
  and move an open task to another labeller or back to the pool.
* Responses carry ``Cache-Control: no-store`` (API), ``X-Content-Type-Options``,
  a same-origin ``Content-Security-Policy`` and ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

STATIC_FILES = {"player.js": "text/javascript", "admin.js": "text/javascript", "style.css": "text/css"}


def create_app(project_folder: str | Path, *, db: str | None = None, limiter: Any = None) -> Any:
    """The FastAPI application of a project."""
    from mextk.annotate import pages, security
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

    def admin_changing(user: Any = Depends(changing)) -> Any:  # noqa: B008
        if user.role != "admin":
            raise HTTPException(404, "not found")
        return user

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Any:
        if exc.status_code == 401 and not request.url.path.startswith("/api/"):
            return RedirectResponse("/login", status_code=303)
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    # ------------------------------------------------------------------ sign in and out

    @app.get("/login", response_class=HTMLResponse)
    def login_page() -> str:
        return pages.page(
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
        try:
            return project.task_view(_number(task_id), user.id)
        except NotFound:
            raise HTTPException(404, "not found") from None

    @app.get("/api/tasks/{task_id}")
    def task(task_id: str, who: tuple[Any, str] = Depends(current)) -> dict[str, Any]:  # noqa: B008
        return view_of(task_id, who[0])

    @app.get("/api/tasks/{task_id}/frame/{k}")
    def frame(task_id: str, k: str, who: tuple[Any, str] = Depends(current)) -> Any:  # noqa: B008
        view = view_of(task_id, who[0])
        if not view["first"] <= _number(k) <= view["last"]:
            raise HTTPException(404, "not found")
        with project.Session() as s:
            clip = s.get(Clip, view["clip"])
        data = frame_png(project.folder, clip.id, clip.path, clip.n_frames, int(k))
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/tasks/{task_id}/quality")
    def quality(task_id: str, who: tuple[Any, str] = Depends(current)) -> list[dict[str, Any]]:  # noqa: B008
        view_of(task_id, who[0])
        return project.quality(_number(task_id), who[0].id)

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
            return {"segments": project.submit_segments(_number(task_id), user.id, items)}
        except (KeyError, TypeError, ValueError) as exc:
            raise HTTPException(400, str(exc) if isinstance(exc, Refused) else "malformed segments") from None

    @app.post("/api/tasks/{task_id}/label")
    async def label(task_id: str, request: Request, user: Any = Depends(changing)) -> dict[str, Any]:  # noqa: B008
        view_of(task_id, user)
        body = await _json(request)
        try:
            return {"status": project.submit_label(_number(task_id), user.id, str(body.get("label", "")))}
        except Refused as exc:
            raise HTTPException(400, str(exc)) from None

    @app.post("/api/tasks/{task_id}/keyframes")
    async def keyframes(task_id: str, request: Request, user: Any = Depends(changing)) -> dict[str, Any]:  # noqa: B008
        view_of(task_id, user)
        body = await _json(request)
        try:
            marks = [int(body[k]) for k in ("onset", "apex", "offset")]
        except (KeyError, TypeError, ValueError):
            raise HTTPException(400, "key frames need integer onset, apex and offset") from None
        try:
            return {"status": project.submit_keyframes(_number(task_id), user.id, *marks)}
        except Refused as exc:
            raise HTTPException(400, str(exc)) from None

    @app.post("/api/tasks/{task_id}/aus")
    async def aus(task_id: str, request: Request, user: Any = Depends(changing)) -> dict[str, Any]:  # noqa: B008
        view_of(task_id, user)
        body = await _json(request)
        codes = body.get("aus", "")
        if not isinstance(codes, (str, list)) or (
            isinstance(codes, list) and not all(isinstance(c, str) for c in codes)
        ):
            raise HTTPException(400, "aus must be a text such as 4+7 or a list of codes")
        try:
            return {"status": project.submit_aus(_number(task_id), user.id, codes)}
        except Refused as exc:
            raise HTTPException(400, str(exc)) from None

    @app.get("/api/admin/progress")
    def progress(user: Any = Depends(admin)) -> dict[str, Any]:  # noqa: B008
        return project.progress()

    @app.get("/api/admin/agreement")
    def agreement(user: Any = Depends(admin)) -> dict[str, Any]:  # noqa: B008
        from mextk.annotate.report import jsonable, project_agreement

        return jsonable(project_agreement(project))

    # ------------------------------------------------------------------ admin API

    @app.get("/api/admin/segments")
    def admin_segments(user: Any = Depends(admin)) -> list[dict[str, Any]]:  # noqa: B008
        return project.segments()

    @app.get("/api/admin/audit")
    def admin_audit(user: Any = Depends(admin)) -> list[dict[str, Any]]:  # noqa: B008
        return project.audit_log()

    @app.post("/api/admin/segments/{segment_id}/correct")
    async def correct(segment_id: str, request: Request, user: Any = Depends(admin_changing)) -> dict[str, Any]:  # noqa: B008
        body = await _json(request)
        try:
            return project.correct_segment(
                _number(segment_id), user.id, status=str(body.get("status", "")),
                label=body.get("label"), reason=str(body.get("reason", "")),
            )  # fmt: skip
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except Refused as exc:
            raise HTTPException(400, str(exc)) from None

    @app.post("/api/admin/tasks/{task_id}/assign")
    async def assign(task_id: str, request: Request, user: Any = Depends(admin_changing)) -> dict[str, Any]:  # noqa: B008
        body = await _json(request)
        to = str(body.get("to") or "").strip() or None
        try:
            return {"assignee": project.reassign_task(_number(task_id), user.id, to)}
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except Refused as exc:
            raise HTTPException(400, str(exc)) from None

    # ------------------------------------------------------------------ pages

    @app.get("/", response_class=HTMLResponse)
    def queue_page(who: tuple[Any, str] = Depends(current)) -> str:  # noqa: B008
        user, csrf = who
        body = pages.queue_body(
            user, project.queue(user.id), project.labeller_progress(user.id), project.protocol.steps
        )
        return pages.page("My tasks", body, csrf=csrf, nav=pages.ADMIN_NAV if user.role == "admin" else None)

    @app.get("/task/{task_id}", response_class=HTMLResponse)
    def task_page(task_id: str, who: tuple[Any, str] = Depends(current)) -> str:  # noqa: B008
        view = view_of(task_id, who[0])
        body = f'<div id="player" data-task="{view["task"]}"></div>'
        return pages.page(view["title"], body, csrf=who[1], nav=[("/", "my tasks")])

    @app.get("/admin", response_class=HTMLResponse)
    def admin_page(user: Any = Depends(admin), who: tuple[Any, str] = Depends(current)) -> str:  # noqa: B008
        steps = [st.id for st in project.protocol.steps]
        body = pages.admin_body(project.progress(), project.users(), project.open_tasks(), steps)
        return pages.page("Progress", body, csrf=who[1], nav=pages.ADMIN_NAV, script="admin.js")

    @app.get("/report", response_class=HTMLResponse)
    def report_page(user: Any = Depends(admin), who: tuple[Any, str] = Depends(current)) -> str:  # noqa: B008
        from mextk.annotate.figures import report_figures
        from mextk.annotate.report import project_agreement

        report = project_agreement(project)
        body = pages.report_body(report, report_figures(report))
        return pages.page("Agreement", body, csrf=who[1], nav=pages.ADMIN_NAV, script="admin.js")

    @app.get("/admin/segments", response_class=HTMLResponse)
    def segments_page(user: Any = Depends(admin), who: tuple[Any, str] = Depends(current)) -> str:  # noqa: B008
        body = pages.segments_body(project.segments(), list(project.protocol.classes))
        return pages.page("Segments", body, csrf=who[1], nav=pages.ADMIN_NAV, script="admin.js")

    @app.get("/admin/audit", response_class=HTMLResponse)
    def audit_page(user: Any = Depends(admin), who: tuple[Any, str] = Depends(current)) -> str:  # noqa: B008
        return pages.page("Audit log", pages.audit_body(project.audit_log()), csrf=who[1], nav=pages.ADMIN_NAV,
                          script="admin.js")  # fmt: skip

    @app.get("/static/{name}")
    def static(name: str) -> Any:
        if name not in STATIC_FILES:
            raise HTTPException(404, "not found")
        data = resources.files("mextk.annotate").joinpath("static").joinpath(name).read_bytes()
        return Response(data, media_type=STATIC_FILES[name])

    app.state.project = project
    return app


def _number(text: str) -> int:
    """A plain decimal id from the path, or 404 (no signs, spaces or other digits)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise HTTPException(404, "not found")
    return int(text)


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(400, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return body
