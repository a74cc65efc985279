"""Alembic environment of the annotation database: runs on the connection that :func:`upgrade` passes."""

from __future__ import annotations

from alembic import context

from mextk.annotate.store import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
