"""security: a per-user session counter, so sign-out and password changes end sessions

Revision ID: i12a
Revises: c1a0d4e5f6a7
Create Date: 2026-12-02 15:00:00

"""

from alembic import op
import sqlalchemy as sa


revision = "i12a"
down_revision = "c1a0d4e5f6a7"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_version")
