"""job_runs: each scheduled job's last run, success and duration, for /metrics

Revision ID: 0010_production
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa
import homecare.extensions


revision = '0010_production'
down_revision = '0009_trust_and_money'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_runs',
    sa.Column('job_id', sa.String(length=60), nullable=False),
    sa.Column('last_started_at', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_duration_s', sa.Double(), nullable=False),
    sa.Column('last_success_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_failure_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('job_id', name=op.f('pk_job_runs'))
    )


def downgrade() -> None:
    op.drop_table('job_runs')
