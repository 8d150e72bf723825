"""account security: token generations, rotating refresh tokens, SMS codes

users.token_generation moves on with each password change, so every earlier
token stops working; refresh_tokens records each issued refresh token (used
once, its family revoked on reuse); sms_codes holds verification codes as keyed
digests with their attempts.

Revision ID: 0007_account_security
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa
import homecare.extensions


revision = '0007_account_security'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('token_generation', sa.Integer(), server_default='0',
                                   nullable=False))
    op.create_table('refresh_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('family', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('issued_at', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_refresh_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refresh_tokens')),
    sa.UniqueConstraint('jti', name=op.f('uq_refresh_tokens_jti'))
    )
    op.create_index(op.f('ix_refresh_tokens_family'), 'refresh_tokens', ['family'], unique=False)
    op.create_index(op.f('ix_refresh_tokens_user_id'), 'refresh_tokens', ['user_id'], unique=False)
    op.create_table('sms_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone_key', sa.String(length=64), nullable=False),
    sa.Column('ip_key', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('used_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_codes'))
    )
    op.create_index('ix_sms_codes_phone_key_created_at', 'sms_codes', ['phone_key', 'created_at'], unique=False)
    op.create_index('ix_sms_codes_ip_key_created_at', 'sms_codes', ['ip_key', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sms_codes_ip_key_created_at', table_name='sms_codes')
    op.drop_index('ix_sms_codes_phone_key_created_at', table_name='sms_codes')
    op.drop_table('sms_codes')
    op.drop_index(op.f('ix_refresh_tokens_user_id'), table_name='refresh_tokens')
    op.drop_index(op.f('ix_refresh_tokens_family'), table_name='refresh_tokens')
    op.drop_table('refresh_tokens')
    # A plain DROP COLUMN (SQLite 3.35+ has it): batch mode would copy and drop the
    # users table, which every other table references, and fail with data in them.
    op.drop_column('users', 'token_generation')
