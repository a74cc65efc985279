"""``mextk annotate``: the labelling stage (CMED's three-stage blind protocol; multi-rater protocols to come).

Optional: needs ``pip install "mextk[annotate]"`` (SQLAlchemy, Alembic, FastAPI, argon2).
"""
