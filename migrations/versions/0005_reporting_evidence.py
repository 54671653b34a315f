"""reporting periods (quarter, year), the biomass supplier-declaration register, verifier sign-offs, evidence files

Revision ID: 0005_reporting_evidence
Revises: 0001
Create Date: 2026-12-01 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0005_reporting_evidence'
down_revision = "0006_fleet_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('period', sa.String(length=8), server_default='month', nullable=False))
        batch_op.drop_constraint('uq_report_kind_scope_month_version', type_='unique')
        batch_op.create_unique_constraint('uq_report_kind_scope_period_month_version',
                                          ['kind', 'scope_key', 'period', 'month', 'version'])
    op.create_table('supplier_declaration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('factory_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('supplier', sa.String(length=120), nullable=False),
    sa.Column('scheme', sa.String(length=120), nullable=False),
    sa.Column('reference', sa.String(length=120), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=False),
    sa.Column('recorded_by', sa.String(length=80), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['factory_id'], ['factory.id'], name=op.f('fk_supplier_declaration_factory_id_factory')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier_declaration'))
    )
    with op.batch_alter_table('supplier_declaration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supplier_declaration_factory_id'), ['factory_id'], unique=False)


    op.create_table('report_verification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('report_sha256', sa.String(length=64), nullable=False),
    sa.Column('verifier_id', sa.Integer(), nullable=True),
    sa.Column('verifier_username', sa.String(length=80), nullable=False),
    sa.Column('opinion', sa.String(length=40), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('verified_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['report.id'], name=op.f('fk_report_verification_report_id_report')),
    sa.ForeignKeyConstraint(['verifier_id'], ['app_user.id'], name=op.f('fk_report_verification_verifier_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_verification'))
    )
    with op.batch_alter_table('report_verification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_verification_report_id'), ['report_id'], unique=False)


    op.create_table('evidence_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('factory_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=True),
    sa.Column('declaration_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('stored_path', sa.String(length=400), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=True),
    sa.Column('uploaded_by', sa.String(length=80), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['declaration_id'], ['supplier_declaration.id'],
                            name=op.f('fk_evidence_file_declaration_id_supplier_declaration')),
    sa.ForeignKeyConstraint(['factory_id'], ['factory.id'], name=op.f('fk_evidence_file_factory_id_factory')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_file'))
    )
    with op.batch_alter_table('evidence_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_file_declaration_id'), ['declaration_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_file_factory_id'), ['factory_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('evidence_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_file_factory_id'))
        batch_op.drop_index(batch_op.f('ix_evidence_file_declaration_id'))
    op.drop_table('evidence_file')
    with op.batch_alter_table('report_verification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_verification_report_id'))
    op.drop_table('report_verification')
    with op.batch_alter_table('supplier_declaration', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supplier_declaration_factory_id'))
    op.drop_table('supplier_declaration')
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_constraint('uq_report_kind_scope_period_month_version', type_='unique')
        batch_op.create_unique_constraint('uq_report_kind_scope_month_version', ['kind', 'scope_key', 'month', 'version'])
        batch_op.drop_column('period')
