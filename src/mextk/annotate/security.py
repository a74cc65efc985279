"""Sign-in, sessions, CSRF and login rate limiting for the annotation server.

* A session is a random 256-bit token in an ``HttpOnly``, ``SameSite=Strict``
  cookie; the database keeps only its SHA-256, with an expiry, so a stolen
  database does not sign anyone in, and signing out revokes it on the server
  (the cookie is useless afterwards).
* Every state-changing request carries the session's CSRF token in the
  ``X-CSRF-Token`` header (pages read it from a ``<meta>`` tag); it is compared
  in constant time.
* Every request that is not a GET must come from the app's own pages: a browser's ``Origin``
  (or, without one, ``Sec-Fetch-Site``) naming another site gets 403 (:func:`same_origin`), so
  a form elsewhere can neither post with the labeller's cookie nor sign the browser into an
  attacker's account (login CSRF, where no session token exists yet).
* Failed sign-ins are counted per user name and per client address; after
  ``max_failures`` within ``window_s`` seconds the next attempts get 429 until
  the window has passed.  The counter lives in the server process.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from mextk.annotate.store import Audit, LoginSession, User

COOKIE = "mextk_session"
SESSION_HOURS = 12


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(project: Any, user: User) -> tuple[str, str]:
    """Start a session for ``user``; returns ``(cookie token, csrf token)``."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with project.Session() as s, s.begin():
        s.add(
            LoginSession(
                token_hash=_digest(token),
                user_id=user.id,
                csrf=csrf,
                expires_at=datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=SESSION_HOURS),
            )
        )
        s.add(Audit(user_id=user.id, action="sign_in", entity="user", entity_id=user.id))
    return token, csrf


def session_user(project: Any, token: str | None) -> tuple[User, str] | None:
    """``(user, csrf token)`` of a live session, or ``None`` (no, unknown, expired or revoked token)."""
    if not token:
        return None
    with project.Session() as s:
        row = s.scalar(select(LoginSession).where(LoginSession.token_hash == _digest(token)))
        if row is None or row.revoked or row.expires_at < datetime.now(UTC).replace(tzinfo=None):
            return None
        user = s.get(User, row.user_id)
        if user is None or not user.active:
            return None
        return user, row.csrf


def close_session(project: Any, token: str) -> None:
    """Revoke a session on the server."""
    with project.Session() as s, s.begin():
        s.execute(update(LoginSession).where(LoginSession.token_hash == _digest(token)).values(revoked=True))


def csrf_ok(expected: str, given: str | None) -> bool:
    """Constant-time comparison of the session's CSRF token with the request's."""
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


def same_origin(headers: Any, *, forwarded_host: bool = False) -> bool:
    """Whether a request comes from the app's own pages, by the headers browsers set on every POST.

    ``Origin`` must name this host (``Host``; with ``forwarded_host``, which ``serve --proxy``
    sets, a proxy's ``X-Forwarded-Host`` too).  Without ``Origin``, ``Sec-Fetch-Site`` must be
    ``same-origin`` or ``none``.  A request with neither header is not a browser's cross-site
    request (browsers send ``Origin`` on every cross-site POST) and passes: scripts and the
    command line still work.
    """
    from urllib.parse import urlsplit

    origin = headers.get("origin")
    if origin is None:
        return headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")
    hosts = {headers.get("host", "")}
    if forwarded_host and headers.get("x-forwarded-host"):
        hosts.add(headers["x-forwarded-host"].split(",")[0].strip())
    return origin != "null" and urlsplit(origin).netloc.lower() in {h.lower() for h in hosts if h}


class LoginLimiter:
    """Failed sign-ins per key (user name, client address) in a sliding window."""

    def __init__(self, max_failures: int = 5, window_s: float = 300.0) -> None:
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> bool:
        """Whether any key has reached the limit."""
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(k, now)) >= self.max_failures for k in keys)

    def fail(self, *keys: str) -> None:
        """Count a failed attempt for every key."""
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def clear(self, *keys: str) -> None:
        """Forget the failures of these keys (after a successful sign-in)."""
        with self._lock:
            for k in keys:
                self._failures.pop(k, None)
