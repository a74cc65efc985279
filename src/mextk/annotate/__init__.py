"""``mextk annotate``: the labelling stage, with CMED's three-stage blind protocol and DFME's multi-rater protocol.

A project (:mod:`~mextk.annotate.engine`) runs a protocol (:mod:`~mextk.annotate.protocol`) over prepared clips
in a database (:mod:`~mextk.annotate.store`); the web app (:mod:`~mextk.annotate.server`) serves it to labellers.
Its dependencies (SQLAlchemy, Alembic, FastAPI, argon2) install with mextk.
"""
