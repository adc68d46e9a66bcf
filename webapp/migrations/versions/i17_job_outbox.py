"""job outbox: a job row is the pending job itself (what to run, when), sent by a dispatcher

Revision ID: i17a
Revises: i16a
Create Date: 2026-12-02 14:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'i17a'
down_revision = 'i16a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('func', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('args', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('queue', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('run_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('sent_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(), nullable=True))
    # Rows from before the outbox were pushed to Redis when they were written.
    op.execute("UPDATE job_runs SET sent_at = created_at")
    op.create_index('ix_job_runs_unsent', 'job_runs', ['sent_at', 'status'])


def downgrade():
    op.drop_index('ix_job_runs_unsent', table_name='job_runs')
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('sent_at')
        batch_op.drop_column('run_at')
        batch_op.drop_column('queue')
        batch_op.drop_column('args')
        batch_op.drop_column('func')
