"""family beds complete: responsible nurse, plan versions, episode events, alerts on
an episode

Plan lines and visit slot keys gain ``plan_version`` (existing rows are version 1),
so a changed plan keeps the old lines as history; visits gain ``withdrawn`` (the
episode itself cancelled them). ``family_bed_events`` keeps every change of an
episode; alerts may name the episode they are about.

Revision ID: 0008_family_beds_complete
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa
import homecare.extensions


revision = '0008_family_beds_complete'
down_revision = '0007_account_security'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('family_bed_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('family_bed_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_family_bed_events_actor_id_users')),
    sa.ForeignKeyConstraint(['family_bed_id'], ['family_beds.id'], name=op.f('fk_family_bed_events_family_bed_id_family_beds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_family_bed_events'))
    )
    with op.batch_alter_table('family_bed_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_family_bed_events_family_bed_id'), ['family_bed_id'], unique=False)

    if op.get_bind().dialect.name == 'sqlite':
        # Batch mode would copy family_beds, and dropping the old copy fails while
        # orders, plan lines and visits reference it (foreign keys are enforced). SQLite
        # adds a nullable column with its REFERENCES clause in place.
        op.execute('ALTER TABLE family_beds ADD COLUMN responsible_nurse_id INTEGER '
                   'CONSTRAINT fk_family_beds_responsible_nurse_id_nurses REFERENCES nurses (id)')
        op.execute("ALTER TABLE family_beds ADD COLUMN plan_version INTEGER DEFAULT '1' NOT NULL")
    else:
        op.add_column('family_beds', sa.Column('responsible_nurse_id', sa.Integer(), nullable=True))
        op.add_column('family_beds', sa.Column('plan_version', sa.Integer(), server_default='1', nullable=False))
        op.create_foreign_key(op.f('fk_family_beds_responsible_nurse_id_nurses'), 'family_beds', 'nurses', ['responsible_nurse_id'], ['id'])

    with op.batch_alter_table('family_bed_plan_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan_version', sa.Integer(), server_default='1', nullable=False))
        batch_op.drop_constraint('uq_family_bed_plan_lines_line', type_='unique')
        batch_op.create_unique_constraint('uq_family_bed_plan_lines_line', ['family_bed_id', 'plan_version', 'line_no'])

    with op.batch_alter_table('family_bed_visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan_version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('withdrawn', sa.String(length=20), nullable=True))
        batch_op.drop_constraint('uq_family_bed_visits_slot', type_='unique')
        batch_op.create_unique_constraint('uq_family_bed_visits_slot', ['family_bed_id', 'plan_version', 'line_no', 'service_date'])

    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('family_bed_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_alerts_family_bed_id'), ['family_bed_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_alerts_family_bed_id_family_beds'), 'family_beds', ['family_bed_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_alerts_family_bed_id_family_beds'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_alerts_family_bed_id'))
        batch_op.drop_column('family_bed_id')

    with op.batch_alter_table('family_bed_visits', schema=None) as batch_op:
        batch_op.drop_constraint('uq_family_bed_visits_slot', type_='unique')
        batch_op.create_unique_constraint('uq_family_bed_visits_slot', ['family_bed_id', 'line_no', 'service_date'])
        batch_op.drop_column('withdrawn')
        batch_op.drop_column('plan_version')

    with op.batch_alter_table('family_bed_plan_lines', schema=None) as batch_op:
        batch_op.drop_constraint('uq_family_bed_plan_lines_line', type_='unique')
        batch_op.create_unique_constraint('uq_family_bed_plan_lines_line', ['family_bed_id', 'line_no'])
        batch_op.drop_column('plan_version')

    if op.get_bind().dialect.name == 'sqlite':
        # In place, as the upgrade (SQLite 3.35+ drops a column no index or key names).
        op.execute('ALTER TABLE family_beds DROP COLUMN plan_version')
        op.execute('ALTER TABLE family_beds DROP COLUMN responsible_nurse_id')
    else:
        op.drop_constraint(op.f('fk_family_beds_responsible_nurse_id_nurses'), 'family_beds', type_='foreignkey')
        op.drop_column('family_beds', 'plan_version')
        op.drop_column('family_beds', 'responsible_nurse_id')

    with op.batch_alter_table('family_bed_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_family_bed_events_family_bed_id'))

    op.drop_table('family_bed_events')
