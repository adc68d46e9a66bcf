"""job run data: what a job found, as data the pages read (not text to parse)

Revision ID: c1a0d4e5f6a7
Revises: b64ed4baf859
Create Date: 2026-12-02 14:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c1a0d4e5f6a7'
down_revision = 'b64ed4baf859'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_column('data')
