"""first-visit assessments per organization; patients.assessed_at goes

Each institution assesses a person before its own nurses go (首诊评估), so the
assessment is now a row per (recipient, organization) in patient_assessments,
instead of one time on the recipient that let an assessment by one hospital
approve orders at another.

The data: a recipient with assessed_at was assessed by an organization whose
order of hers was approved, or whose family bed for her was opened, at or before
that time (approving a first order and opening a bed are what set it). Each such
organization gets an assessment at that time. A recipient with no such order or
bed (data loaded directly, like the demo's) is taken as assessed by the
organizations serving her addresses. Nothing else reads assessed_at, so the
column is dropped.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa
import homecare.extensions


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('patient_assessments',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('assessed_at', homecare.extensions.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_patient_assessments_organization_id_organizations')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_patient_assessments_patient_id_patients')),
    sa.PrimaryKeyConstraint('patient_id', 'organization_id', name=op.f('pk_patient_assessments'))
    )
    # Times compare correctly on both backends: timestamptz on PostgreSQL, and on
    # SQLite the fixed-width UTC text UTCDateTime always writes.
    op.execute("""
        INSERT INTO patient_assessments (patient_id, organization_id, assessed_at)
        SELECT DISTINCT p.id, src.organization_id, p.assessed_at
        FROM patients p
        JOIN (
            SELECT o.patient_id, o.organization_id, o.created_at AS at
            FROM orders o
            WHERE EXISTS (SELECT 1 FROM order_events e
                          WHERE e.order_id = o.id AND e.to_status = 'approved')
            UNION
            SELECT b.patient_id, b.organization_id, b.opened_at AS at
            FROM family_beds b
        ) src ON src.patient_id = p.id AND src.at <= p.assessed_at
        WHERE p.assessed_at IS NOT NULL
    """)
    op.execute("""
        INSERT INTO patient_assessments (patient_id, organization_id, assessed_at)
        SELECT DISTINCT p.id, a.organization_id, p.assessed_at
        FROM patients p
        JOIN addresses a ON a.patient_id = p.id AND a.organization_id IS NOT NULL
        WHERE p.assessed_at IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM patient_assessments pa WHERE pa.patient_id = p.id)
    """)
    # A plain column: SQLite (3.35+) drops it in place, without the table copy that
    # batch mode would make of a table so many others reference.
    op.drop_column('patients', 'assessed_at')


def downgrade() -> None:
    op.add_column('patients', sa.Column('assessed_at', homecare.extensions.UTCDateTime(timezone=True), nullable=True))
    # One time per recipient again: her first assessment by anyone.
    op.execute("""
        UPDATE patients SET assessed_at = (
            SELECT MIN(pa.assessed_at) FROM patient_assessments pa
            WHERE pa.patient_id = patients.id)
    """)
    op.drop_table('patient_assessments')
