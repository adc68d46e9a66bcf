"""notifications, drift, service selection, version records: webhook targets and their delivery log, drift per deployed service, the services a release deploys, a version's global block and diffs

Revision ID: i16a
Revises: i11a
Create Date: 2026-12-02 14:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'i16a'
down_revision = 'i11a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('globals_yaml', sa.Text(), nullable=True))
    with op.batch_alter_table('version_services', schema=None) as batch_op:
        batch_op.add_column(sa.Column('environment_diff', sa.Text(), nullable=True))
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('selected_services', sa.JSON(), nullable=True))
    with op.batch_alter_table('environment_services', schema=None) as batch_op:
        batch_op.add_column(sa.Column('drift', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('drift_checked_at', sa.DateTime(), nullable=True))
    op.create_table(
        'notification_targets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.Enum('GENERIC', 'SLACK', 'EMAIL', name='targetkind', native_enum=False, length=16), nullable=False),
        sa.Column('url', sa.String(length=1024), nullable=False),
        sa.Column('secret', sa.Text(), nullable=True),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('project_id', 'name'),
    )
    with op.batch_alter_table('notification_targets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_targets_project_id'), ['project_id'], unique=False)
    op.create_table(
        'notification_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('target_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=48), nullable=False),
        sa.Column('subject_type', sa.String(length=32), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('status', sa.Enum('PENDING', 'DELIVERED', 'FAILED', name='deliverystatus', native_enum=False, length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_attempt_at', sa.DateTime(), nullable=True),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
        sa.Column('delivered_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['target_id'], ['notification_targets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_notification_deliveries_target_id_id', ['target_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_deliveries_target_id_id')
    op.drop_table('notification_deliveries')
    with op.batch_alter_table('notification_targets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_targets_project_id'))
    op.drop_table('notification_targets')
    with op.batch_alter_table('environment_services', schema=None) as batch_op:
        batch_op.drop_column('drift_checked_at')
        batch_op.drop_column('drift')
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.drop_column('selected_services')
    with op.batch_alter_table('version_services', schema=None) as batch_op:
        batch_op.drop_column('environment_diff')
    with op.batch_alter_table('versions', schema=None) as batch_op:
        batch_op.drop_column('globals_yaml')
