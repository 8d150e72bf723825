"""delivery beyond the log: the channels that took each notification; ETA pings

notifications.delivered_via lists the channels (log, webhook, sms) that already
delivered a message, so a retry after one channel failed repeats only the
others. location_pings.eta_min is set on the pings of a nurse on her way that
moved her ETA by a minute or more: the family's event stream shows those.

Existing rows need no backfill: a message sent before has its sent_at; an
unsent one is sent by every channel; older pings carry no ETA.

Revision ID: 0012_delivery_webhooks
Revises: 0011_live_day_repair
"""
from alembic import op
import sqlalchemy as sa


revision = '0012_delivery_webhooks'
down_revision = '0011_live_day_repair'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivered_via', sa.String(length=100), server_default='', nullable=False))

    with op.batch_alter_table('location_pings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('eta_min', sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('location_pings', schema=None) as batch_op:
        batch_op.drop_column('eta_min')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('delivered_via')
