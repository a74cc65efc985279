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
* Responses carry ``Cache-Control: no-store`` (frames: ``private``, so the player's loop reuses them),
  ``X-Content-Type-Options``, a same-origin ``Content-Security-Policy`` and ``Referrer-Policy: same-origin``.
* Request bodies over 64 KB get 413; answers are strict JSON (frame numbers are JSON integers, no
  ``NaN``/``Infinity``, no unknown fields), and every refusal is a 4xx with one line, capped at 300
  characters.  A browser gets errors as pages, scripts as ``{"error": ...}``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

STATIC_FILES = {"player.js": "text/javascript", "admin.js": "text/javascript", "style.css": "text/css"}
#: The largest request body accepted (bytes): an answer is a few hundred bytes.
MAX_BODY = 64 * 1024
#: The longest error message sent back (characters).
MAX_MESSAGE = 300
#: The most segments one stage-1 answer may hold.
MAX_SEGMENTS = 200
#: Frame numbers outside this range are refused before they reach the engine or the database.
MAX_FRAME = 2**31 - 1
_MISSING = object()


def create_app(
    project_folder: str | Path,
    *,
    db: str | None = None,
    limiter: Any = None,
    secure_cookies: bool | None = None,
    behind_proxy: bool = False,
    max_body: int = MAX_BODY,
    static_dir: str | Path | None = None,
) -> Any:
    """The FastAPI application of a project.

    Parameters
    ----------
    project_folder : path-like
        The project (``mextk annotate init``).
    db : str, optional
        A database URL instead of the project's SQLite file.
    limiter : LoginLimiter, optional
        The sign-in limiter (tests pass a small one).
    secure_cookies : bool, optional
        Mark the session cookie ``Secure``.  ``None`` decides from the request's scheme, which is
        right when the server terminates TLS itself; behind a TLS-terminating proxy the request
        arrives as plain HTTP, so pass ``True`` (``serve --proxy`` does).
    behind_proxy : bool
        A reverse proxy forwards the requests (``serve --proxy``): its ``X-Forwarded-Host`` counts as this
        site's host in the cross-site check.  Which client address is believed is the server's setting
        (uvicorn's ``forwarded_allow_ips``; ``serve`` trusts only the named proxy).
    max_body : int
        The largest request body accepted, in bytes; a larger one gets 413 before it is parsed.
    static_dir : path-like, optional
        Where the scripts and style sheet are read from (default: the package's ``static`` folder).
    """
    from mextk.annotate import pages, security
    from mextk.annotate.engine import AnnotationProject
    from mextk.annotate.media import frame_png
    from mextk.annotate.rules import NotFound, Refused
    from mextk.annotate.store import Clip

    project = AnnotationProject(project_folder, db=db)
    limiter = limiter or security.LoginLimiter()
    app = FastAPI(title="mextk annotate", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, limit=max_body)

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Any:
        if request.method not in ("GET", "HEAD") and not security.same_origin(
            request.headers, forwarded_host=behind_proxy
        ):
            # a form on another site cannot sign a browser in (login CSRF) nor post with its cookie
            response: Any = _error(request, 403, "cross-site request refused")
        else:
            response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        # same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on the app's own form posts,
        # which the cross-site check must refuse; other sites still get no referrer
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
        )
        if "cache-control" not in response.headers:  # frames say how they may be cached (privately)
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
        return _error(request, exc.status_code, str(exc.detail))

    # ------------------------------------------------------------------ sign in and out

    @app.get("/login", response_class=HTMLResponse)
    def login_page() -> str:
        return pages.login_page()

    def login_refused(request: Request, status: int, message: str) -> Any:
        """A failed sign-in: the form again with the message for a browser, JSON for a script."""
        if _wants_html(request):
            return HTMLResponse(pages.login_page(message), status_code=status)
        return JSONResponse({"error": message}, status_code=status)

    @app.post("/login")
    def login(request: Request, name: str = Form(""), password: str = Form("")) -> Any:  # noqa: B008
        keys = (f"user:{name.strip().lower()[:64]}", f"addr:{request.client.host if request.client else '-'}")
        if limiter.blocked(*keys):
            return login_refused(request, 429, "too many failed sign-ins; wait a few minutes")
        user = project.authenticate(name, password) if name and password else None
        if user is None:
            limiter.fail(*keys)
            return login_refused(request, 401, "wrong name or password")
        limiter.clear(*keys)
        token, _ = security.open_session(project, user)
        response = RedirectResponse("/admin" if user.role == "admin" else "/", status_code=303)
        response.set_cookie(
            security.COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=(request.url.scheme == "https") if secure_cookies is None else secure_cookies,
            max_age=security.SESSION_HOURS * 3600,
            path="/",
        )
        return response

    @app.post("/logout")
    async def logout(request: Request, who: tuple[Any, str] = Depends(current)) -> Any:  # noqa: B008
        # the token comes in the header (scripts) or the sign-out form's field (every page's button)
        given = request.headers.get("X-CSRF-Token")
        if given is None and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            given = (await request.form()).get("csrf")
        if not security.csrf_ok(who[1], None if given is None else str(given)):
            raise HTTPException(403, "missing or wrong CSRF token")
        security.close_session(project, request.cookies.get(security.COOKIE, ""))
        response: Any = (
            RedirectResponse("/login", status_code=303) if _wants_html(request) else JSONResponse({"signed_out": True})
        )
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
        body = await _json(request, {"segments"})
        items = [_segment(x, k) for k, x in enumerate(_field(body, "segments", list, "a list of segments"))]
        if len(items) > MAX_SEGMENTS:
            raise HTTPException(400, f"at most {MAX_SEGMENTS} segments in one clip")
        try:
            return {"segments": project.submit_segments(_number(task_id), user.id, items)}
        except Refused as exc:
            raise HTTPException(400, str(exc)) from None

    @app.post("/api/tasks/{task_id}/label")
    async def label(task_id: str, request: Request, user: Any = Depends(changing)) -> dict[str, Any]:  # noqa: B008
        view_of(task_id, user)
        body = await _json(request, {"label"})
        label = _field(body, "label", str, "a class name")
        try:
            return {"status": project.submit_label(_number(task_id), user.id, label)}
        except Refused as exc:
            raise HTTPException(400, str(exc)) from None

    @app.post("/api/tasks/{task_id}/keyframes")
    async def keyframes(task_id: str, request: Request, user: Any = Depends(changing)) -> dict[str, Any]:  # noqa: B008
        view_of(task_id, user)
        body = await _json(request, {"onset", "apex", "offset"})
        marks = [_frame(body, k, "key frames") for k in ("onset", "apex", "offset")]
        try:
            return {"status": project.submit_keyframes(_number(task_id), user.id, *marks)}
        except Refused as exc:
            raise HTTPException(400, str(exc)) from None

    @app.post("/api/tasks/{task_id}/aus")
    async def aus(task_id: str, request: Request, user: Any = Depends(changing)) -> dict[str, Any]:  # noqa: B008
        view_of(task_id, user)
        body = await _json(request, {"aus"})
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
        from mextk.annotate.agreement_report import jsonable, project_agreement

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
        body = await _json(request, {"status", "label", "reason"})
        label = body.get("label")
        if label is not None and not isinstance(label, str):
            raise HTTPException(400, "label must be a class name or null")
        try:
            return project.correct_segment(
                _number(segment_id), user.id, status=_field(body, "status", str, "accepted, rejected or flagged"),
                label=label, reason=_field(body, "reason", str, "a text", default=""),
            )  # fmt: skip
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except Refused as exc:
            raise HTTPException(400, str(exc)) from None

    @app.post("/api/admin/tasks/{task_id}/assign")
    async def assign(task_id: str, request: Request, user: Any = Depends(admin_changing)) -> dict[str, Any]:  # noqa: B008
        body = await _json(request, {"to"})
        to = body.get("to")
        if to is not None and not isinstance(to, str):
            raise HTTPException(400, "to must be a labeller's name or null")
        to = (to or "").strip() or None
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
        from mextk.annotate.agreement_report import project_agreement
        from mextk.annotate.figures import report_figures

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

    static_folder = (
        Path(static_dir) if static_dir is not None else Path(str(resources.files("mextk.annotate"))) / "static"
    )

    @app.get("/static/{name}")
    def static(name: str) -> Any:
        # only the listed names, and only as regular files: a symlink (even one with a listed name) is not followed
        path = static_folder / name
        if name not in STATIC_FILES or path.is_symlink() or not path.is_file():
            raise HTTPException(404, "not found")
        return Response(path.read_bytes(), media_type=STATIC_FILES[name])

    app.state.project = project
    return app


def server_config(app: Any, *, host: str = "127.0.0.1", port: int = 8000, proxy: str | None = None) -> Any:
    """The uvicorn configuration ``mextk annotate serve`` runs ``app`` with.

    Proxy headers (``X-Forwarded-For``, ``-Proto``) are believed only from ``proxy``, the address of a
    reverse proxy the operator named.  uvicorn's own default believes them from 127.0.0.1, so a
    client on the same machine could pick any address and slip past the per-address sign-in limit.
    """
    import uvicorn

    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", proxy_headers=proxy is not None,
        forwarded_allow_ips=proxy or "",
    )  # fmt: skip


def _number(text: str) -> int:
    """A plain decimal id from the path, or 404 (no signs, spaces or other digits)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise HTTPException(404, "not found")
    return int(text)


def _capped(message: str, limit: int = MAX_MESSAGE) -> str:
    """An error message cut to ``limit`` characters: a request's own text is never echoed back whole."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _error(request: Request, status: int, message: str) -> Any:
    """An error answer: one capped line as JSON for the API and scripts, a readable page for a browser."""
    from mextk.annotate.pages import error_page

    message = _capped(message)
    if request.url.path.startswith("/api/") or not _wants_html(request):
        return JSONResponse({"error": message}, status_code=status)
    return HTMLResponse(error_page(status, message), status_code=status)


def _wants_html(request: Request) -> bool:
    """Whether the client is a browser navigating (it asked for HTML), not a script."""
    return "text/html" in request.headers.get("accept", "")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


async def _json(request: Request, allowed: set[str]) -> dict[str, Any]:
    """The body as a JSON object with only the ``allowed`` keys; anything else is a 400 with one line.

    Strict where Python's parser is lenient: ``NaN`` and ``Infinity`` are refused, and nesting too deep
    for the parser is a 400, not a crash.  The body's size was capped before (:class:`BodyLimit`).
    """
    raw = await request.body()
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else _capped(str(exc), 80)
        raise HTTPException(400, f"the body must be JSON ({why})") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")
    unknown = sorted(k for k in body if k not in allowed)
    if unknown:
        raise HTTPException(
            400, f"unknown field {_capped(repr(unknown[0]), 40)}; allowed: {', '.join(sorted(allowed))}"
        )
    return body


def _field(body: dict[str, Any], key: str, kind: type, what: str, *, default: Any = _MISSING) -> Any:
    """``body[key]``, which must be of type ``kind`` (a bool is never an int), else a 400 naming it."""
    if key not in body:
        if default is not _MISSING:
            return default
        raise HTTPException(400, f"{key} is missing ({what})")
    value = body[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise HTTPException(400, f"{key} must be {what}, got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    """How a JSON value is named in an error (never the value itself: it may be large)."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction"
    return {str: "text", list: "a list", dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def _frame(body: dict[str, Any], key: str, where: str) -> int:
    """A frame number: a JSON integer (not ``1.9``, ``"5"`` or ``true``) small enough to store."""
    value = _field(body, key, int, "a JSON integer (a frame number)")
    if not -MAX_FRAME <= value <= MAX_FRAME:
        raise HTTPException(400, f"{where}: {key} is not a frame of this clip")
    return value


def _segment(item: Any, k: int) -> Any:
    """One segment of a ``segments`` answer, its types checked; the engine checks it against the clip."""
    from mextk.annotate.rules import SegmentInput

    where = f"segment {k + 1}"
    if not isinstance(item, dict):
        raise HTTPException(400, f"{where} must be an object with onset, offset, label and apex")
    unknown = sorted(key for key in item if key not in ("onset", "apex", "offset", "label"))
    if unknown:
        raise HTTPException(400, f"{where}: unknown field {_capped(repr(unknown[0]), 40)}")
    try:
        onset, offset = _frame(item, "onset", where), _frame(item, "offset", where)
        apex = None if item.get("apex") is None else _frame(item, "apex", where)
        label = _field(item, "label", str, "a class name")
    except HTTPException as exc:
        raise HTTPException(
            400, exc.detail if str(exc.detail).startswith(where) else f"{where}: {exc.detail}"
        ) from None
    return SegmentInput(onset=onset, offset=offset, label=label, apex=apex)


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413 before any handler reads it.

    The body is read here (at most ``limit + 1`` bytes are kept) and handed on whole, so a handler
    never sees a partial body.  A ``Content-Length`` over the limit is refused without reading.
    """

    def __init__(self, app: Any, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._too_large(send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, sent = b"".join(chunks), False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Any) -> None:
        payload = json.dumps({"error": f"request body over {self.limit // 1024} KB"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
