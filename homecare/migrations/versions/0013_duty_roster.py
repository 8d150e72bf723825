"""the supervisors' duty roster; which notifications also go by SMS

duty_spans: a supervisor on duty for her organization over [start, end), in UTC.
notifications.sms: an urgent page that also goes to the addressee's phone, decided
when it is written (the supervisors on duty, or all when nobody is).

Backfill: an urgent message to a supervisor that is still unsent was written when
every such message was texted, so it keeps being texted: an SOS in the outbox
during the upgrade still reaches a phone.

Revision ID: 0013_duty_roster
Revises: 0012_delivery_webhooks
"""
from alembic import op
import sqlalchemy as sa
import homecare.extensions


revision = '0013_duty_roster'
down_revision = '0012_delivery_webhooks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('duty_spans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('start', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('end', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('"end" > start', name=op.f('ck_duty_spans_ordered')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_duty_spans_created_by_users')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_duty_spans_organization_id_organizations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_duty_spans_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_spans'))
    )
    with op.batch_alter_table('duty_spans', schema=None) as batch_op:
        batch_op.create_index('ix_duty_spans_org_start', ['organization_id', 'start'], unique=False)
        batch_op.create_index(batch_op.f('ix_duty_spans_user_id'), ['user_id'], unique=False)

    # Server default true: during a rolling deploy the old API pods keep writing
    # pages after this runs, without the column; a default of false would have the
    # relay text nobody about their SOS. The new code always sets it, and the SMS
    # channel still texts only urgent pages to supervisors.
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms', sa.Boolean(), server_default=sa.true(), nullable=False))

    notifications = sa.table('notifications', sa.column('sms', sa.Boolean()),
                             sa.column('urgent', sa.Boolean()), sa.column('user_id', sa.Integer()),
                             sa.column('sent_at'), sa.column('failed_at'))
    users = sa.table('users', sa.column('id', sa.Integer()), sa.column('role', sa.String()))
    still_texted = sa.and_(
        notifications.c.urgent.is_(True), notifications.c.sent_at.is_(None),
        notifications.c.failed_at.is_(None),
        notifications.c.user_id.in_(sa.select(users.c.id).where(users.c.role == 'supervisor')))
    op.execute(notifications.update().where(sa.not_(still_texted)).values(sms=False))


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('sms')

    with op.batch_alter_table('duty_spans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duty_spans_user_id'))
        batch_op.drop_index('ix_duty_spans_org_start')

    op.drop_table('duty_spans')
