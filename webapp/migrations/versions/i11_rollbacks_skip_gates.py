"""workflow option: rollbacks skip approval and tests (off by default)

Revision ID: i11a
Revises: i15a
Create Date: 2026-12-02 15:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'i11a'
down_revision = 'i15a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'rollbacks_skip_gates', sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade():
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.drop_column('rollbacks_skip_gates')
