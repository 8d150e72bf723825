"""trust and money at the door: fee tables, price breakdowns and cancellation fees on
orders, nurse credentials and photo, door checks, visit time corrections

Nurses already on record get no credential dates: dispatch does not send them
(rule ``credentials``) until a supervisor records their licence's and insurance's
valid-until dates (PATCH /nurses/{id}). Orders already placed keep a null
``price_breakdown``: their ``price_fen`` is what they were booked at.

Revision ID: 0009_trust_and_money
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa
import homecare.extensions


revision = '0009_trust_and_money'
down_revision = '0008_family_beds_complete'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fee_tables',
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('included_km', sa.Double(), nullable=False),
    sa.Column('base_fee_fen', sa.Integer(), nullable=False),
    sa.Column('per_km_fen', sa.Integer(), nullable=False),
    sa.Column('cap_fen', sa.Integer(), nullable=True),
    sa.Column('night_surcharge_fen', sa.Integer(), nullable=False),
    sa.Column('night_start', sa.String(length=5), nullable=True),
    sa.Column('night_end', sa.String(length=5), nullable=True),
    sa.Column('holiday_surcharge_fen', sa.Integer(), nullable=False),
    sa.Column('holidays', sa.JSON(), nullable=False),
    sa.Column('free_cancel_minutes', sa.Integer(), nullable=False),
    sa.Column('late_cancel_fee_fen', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_fee_tables_organization_id_organizations')),
    sa.ForeignKeyConstraint(['updated_by'], ['users.id'], name=op.f('fk_fee_tables_updated_by_users')),
    sa.PrimaryKeyConstraint('organization_id', name=op.f('pk_fee_tables'))
    )
    op.create_table('door_checks',
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=6), nullable=False),
    sa.Column('issued_at', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('last_failed_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('confirmed_by', sa.String(length=10), nullable=True),
    sa.Column('confirmed_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('unverified_check_in', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_door_checks_order_id_orders')),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_door_checks'))
    )
    op.create_table('time_corrections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('nurse_id', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=False),
    sa.Column('checked_in_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('checked_out_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('original_checked_in_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('original_checked_out_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.String(length=500), nullable=True),
    sa.Column('created_at', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_time_corrections_decided_by_users')),
    sa.ForeignKeyConstraint(['nurse_id'], ['nurses.id'], name=op.f('fk_time_corrections_nurse_id_nurses')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_time_corrections_order_id_orders')),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_time_corrections_requested_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_time_corrections'))
    )
    with op.batch_alter_table('time_corrections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_time_corrections_order_id'), ['order_id'], unique=False)

    with op.batch_alter_table('nurses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('license_valid_until', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('insurance_no', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('insurer', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('insurance_valid_until', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('photo_url', sa.String(length=500), nullable=True))

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('price_breakdown', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('cancellation_fee_fen', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cancellation_rule', sa.String(length=20), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('cancellation_rule')
        batch_op.drop_column('cancellation_fee_fen')
        batch_op.drop_column('price_breakdown')

    with op.batch_alter_table('nurses', schema=None) as batch_op:
        batch_op.drop_column('photo_url')
        batch_op.drop_column('insurance_valid_until')
        batch_op.drop_column('insurer')
        batch_op.drop_column('insurance_no')
        batch_op.drop_column('license_valid_until')

    with op.batch_alter_table('time_corrections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_time_corrections_order_id'))

    op.drop_table('time_corrections')
    op.drop_table('door_checks')
    op.drop_table('fee_tables')
