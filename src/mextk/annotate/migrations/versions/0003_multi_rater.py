"""multi-rater steps: task seats, one answer per rater, answer values, segment type, AUs and step results

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("seat", sa.Integer(), nullable=False, server_default="0"))
        batch.drop_constraint("one_task_per_step", type_="unique")
        batch.create_unique_constraint("one_task_per_seat", ["step", "clip_id", "segment_id", "seat"])
    with op.batch_alter_table("answers") as batch:
        batch.add_column(sa.Column("value", sa.JSON(), nullable=True))
        batch.drop_constraint("one_answer_per_step", type_="unique")
        batch.create_unique_constraint("one_answer_per_rater", ["step", "segment_id", "user_id"])
    with op.batch_alter_table("segments") as batch:
        batch.add_column(sa.Column("expression", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("aus", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("results", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("segments") as batch:
        batch.drop_column("results")
        batch.drop_column("aus")
        batch.drop_column("expression")
    with op.batch_alter_table("answers") as batch:
        batch.drop_constraint("one_answer_per_rater", type_="unique")
        batch.create_unique_constraint("one_answer_per_step", ["step", "segment_id"])
        batch.drop_column("value")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_constraint("one_task_per_seat", type_="unique")
        batch.create_unique_constraint("one_task_per_step", ["step", "clip_id", "segment_id"])
        batch.drop_column("seat")
