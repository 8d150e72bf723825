"""outbox retry with backoff and dead letters; the nurse on each order event

notifications.next_attempt_at is when the relay may try a message next (NULL:
at once), and the lease of a relay that claimed it; failed_at marks a
non-urgent message the relay gave up on (kept, so it stays visible), with its
last_error. order_events.nurse_id is the nurse holding the order after the
event, so who held an order stays on record after it was taken from her.

Rows written before this revision need no backfill: NULL next_attempt_at is
due at once, and their events simply name no nurse.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
import homecare.extensions


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('failed_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_error', sa.String(length=200), nullable=True))

    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nurse_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_order_events_nurse_id_nurses'), 'nurses', ['nurse_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_order_events_nurse_id_nurses'), type_='foreignkey')
        batch_op.drop_column('nurse_id')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('last_error')
        batch_op.drop_column('failed_at')
        batch_op.drop_column('next_attempt_at')
