"""``mextk annotate``: the labelling stage (CMED's three-stage blind protocol, DFME's multi-rater protocol).

Its dependencies (SQLAlchemy, Alembic, FastAPI, argon2) install with mextk.
"""
