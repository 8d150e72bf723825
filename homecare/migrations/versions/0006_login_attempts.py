"""login throttling by a sliding window: login_attempts replaces rate_limit_windows

A limit now counts the attempts of the last window, so each attempt is kept with
its time instead of a counter per clock-aligned window. The old counters are not
carried over: they are at most one window (5 minutes by default) of throttling
state, and an upgrade that forgets them only forgives those few minutes.

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa
import homecare.extensions


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('at', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempts'))
    )
    op.create_index('ix_login_attempts_key_at', 'login_attempts', ['key', 'at'], unique=False)
    op.drop_table('rate_limit_windows')


def downgrade() -> None:
    op.create_table('rate_limit_windows',
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('window_start', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'window_start', name=op.f('pk_rate_limit_windows'))
    )
    op.drop_index('ix_login_attempts_key_at', table_name='login_attempts')
    op.drop_table('login_attempts')
