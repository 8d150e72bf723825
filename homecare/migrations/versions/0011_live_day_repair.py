"""the live day's repair queue: day_repairs (one pending row per organization and
day, debounced), repair_overruns (a visit running over is noted once)

Revision ID: 0011_live_day_repair
Revises: 0010_production
Create Date: 2026-12-05 21:58:19.611933
"""
from alembic import op
import sqlalchemy as sa
import homecare.extensions


revision = '0011_live_day_repair'
down_revision = '0010_production'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('day_repairs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('first_change_at', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_change_at', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('started_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('day_plan_id', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint("state IN ('pending', 'running', 'done', 'failed')", name=op.f('ck_day_repairs_state')),
    sa.ForeignKeyConstraint(['day_plan_id'], ['day_plans.id'], name=op.f('fk_day_repairs_day_plan_id_day_plans')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_day_repairs_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_day_repairs'))
    )
    with op.batch_alter_table('day_repairs', schema=None) as batch_op:
        batch_op.create_index('ix_day_repairs_org_day', ['organization_id', 'day'], unique=False)
        batch_op.create_index('ix_day_repairs_state_due', ['state', 'due_at'], unique=False)
        batch_op.create_index('uq_day_repairs_pending', ['organization_id', 'day'], unique=True, sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))

    op.create_table('repair_overruns',
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('noted_at', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_repair_overruns_order_id_orders')),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_repair_overruns'))
    )


def downgrade() -> None:
    op.drop_table('repair_overruns')
    with op.batch_alter_table('day_repairs', schema=None) as batch_op:
        batch_op.drop_index('uq_day_repairs_pending', sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))
        batch_op.drop_index('ix_day_repairs_state_due')
        batch_op.drop_index('ix_day_repairs_org_day')

    op.drop_table('day_repairs')
