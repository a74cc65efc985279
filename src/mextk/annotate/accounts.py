"""Accounts: password hashing, and the project's user commands (add, sign in, change password, enable)."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import func, select, update

from mextk.annotate.rules import ROLES, NotFound, Refused
from mextk.annotate.store import Audit, LoginSession, Task, User


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(password)


def check_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored hash (constant-time)."""
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return PasswordHasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _decoy_hash() -> str:
    """An argon2 hash of a random password, checked against when a sign-in names no account."""
    import secrets

    return hash_password(secrets.token_urlsafe(16))


class AccountCommands:
    """The account commands of :class:`mextk.annotate.engine.AnnotationProject` (its ``Session`` factory)."""

    Session: Any

    def add_user(self, name: str, role: str, password: str) -> int:
        """Add a user; returns the id."""
        name = name.strip()
        if role not in ROLES:
            raise Refused(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if not name or len(name) > 64:
            raise Refused("a user name must have 1 to 64 characters")
        if len(password) < 8:
            raise Refused("a password needs at least 8 characters")
        with self.Session() as s, s.begin():
            if s.scalar(select(User).where(User.name == name)) is not None:
                raise Refused(f"user {name!r} exists")
            user = User(name=name, role=role, password_hash=hash_password(password))
            s.add(user)
            s.flush()
            s.add(Audit(action="add", entity="user", entity_id=user.id, new={"name": name, "role": role}))
            return user.id

    def authenticate(self, name: str, password: str) -> User | None:
        """The active user with this name and password, or ``None``.

        The password is hashed whether or not the name exists (against a fixed decoy hash when it
        does not), so the time a refusal takes does not tell which names are accounts.
        """
        with self.Session() as s:
            user = s.scalar(select(User).where(User.name == name.strip()[:64], User.active.is_(True)))
            ok = check_password(user.password_hash if user is not None else _decoy_hash(), password)
            return user if user is not None and password and ok else None

    def user(self, user_id: int) -> User:
        """A user by id."""
        with self.Session() as s:
            user = s.get(User, user_id)
            if user is None:
                raise NotFound(f"user {user_id} not found")
            return user

    def user_id(self, name: str) -> int:
        """A user's id by name."""
        with self.Session() as s:
            found = s.scalar(select(User.id).where(User.name == name.strip()))
        if found is None:
            raise NotFound(f"no user {name!r}")
        return found

    def set_password(self, name: str, password: str) -> None:
        """Give an account a new password (its open sessions end)."""
        if len(password) < 8:
            raise Refused("a password needs at least 8 characters")
        with self.Session() as s, s.begin():
            user = s.scalar(select(User).where(User.name == name.strip()))
            if user is None:
                raise NotFound(f"no user {name!r}")
            user.password_hash = hash_password(password)
            s.execute(update(LoginSession).where(LoginSession.user_id == user.id).values(revoked=True))
            s.add(Audit(action="password", entity="user", entity_id=user.id))

    def set_active(self, name: str, active: bool) -> None:
        """Enable or disable an account; a disabled user cannot sign in and their sessions stop working."""
        with self.Session() as s, s.begin():
            user = s.scalar(select(User).where(User.name == name.strip()))
            if user is None:
                raise NotFound(f"no user {name!r}")
            old, user.active = user.active, active
            s.add(Audit(action="enable" if active else "disable", entity="user", entity_id=user.id,
                        old={"active": old}, new={"active": active}))  # fmt: skip

    def users(self) -> list[dict[str, Any]]:
        """The accounts: name, role, active, and their done and open tasks."""
        with self.Session() as s:
            counts = dict(
                ((uid, st), n)
                for uid, st, n in s.execute(
                    select(Task.assignee_id, Task.status, func.count()).group_by(Task.assignee_id, Task.status)
                )
            )
            return [
                {"id": u.id, "name": u.name, "role": u.role, "active": u.active,
                 "done": counts.get((u.id, "done"), 0), "open": counts.get((u.id, "open"), 0)}
                for u in s.scalars(select(User).order_by(User.id))
            ]  # fmt: skip
