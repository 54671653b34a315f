"""effective-dated factors and stack/site parameters, lab NCV per fuel lot, report basis

Revision ID: 0012_effective_dated
Revises: 0008_quality_substitution

Existing firewood factor rows keep the moisture correction they were computed with (dry NCV
derived from the retailer figure 13.8 MJ/kg at 25 % moisture), so reports of past months stay
reproducible; a new firewood version with the IPCC 2006 default (Vol 2 Ch 1 Table 1.2, 15.6 TJ/Gg,
no moisture correction) takes effect from the first day of the month of the upgrade.
Every stack and factory gets a baseline parameter version (valid since always).
"""

from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

revision = "0012_effective_dated"
down_revision = "0008_quality_substitution"
branch_labels = None
depends_on = None

# (13.8 + 2.443 × 0.25) / 0.75: the dry NCV the pre-upgrade code used (core.emissions, legacy).
LEGACY_WOOD_DRY_NCV_MJ_PER_KG = (13.8 + 2.443 * 0.25) / 0.75
IPCC_WOOD_CITATION = (
    "IPCC 2006 Guidelines for National Greenhouse Gas Inventories, Vol. 2 Energy, Ch. 1 Table 1.2: "
    "Wood/Wood Waste NCV 15.6 TJ/Gg (lower 7.9, upper 31.0); CO2 Table 1.4; CH4/N2O Ch. 2 Table 2.3."
)


def _dt():
    return sa.DateTime()


def upgrade() -> None:
    with op.batch_alter_table("emission_factor") as b:
        b.add_column(sa.Column("valid_from", sa.Date(), nullable=True))
        b.add_column(sa.Column("valid_to", sa.Date(), nullable=True))
        b.add_column(sa.Column("dry_ncv_mj_per_kg", sa.Float(), nullable=True))
        b.add_column(sa.Column("change_reason", sa.Text(), nullable=True))

    op.create_table(
        "stack_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stack_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("diameter_m", sa.Float(), nullable=False),
        sa.Column("moisture_fraction", sa.Float(), nullable=False),
        sa.Column("dry_basis", sa.Boolean(), nullable=False),
        sa.Column("velocity_profile_factor", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(80), nullable=True),
        sa.Column("created_at", _dt(), nullable=False),
        sa.ForeignKeyConstraint(["stack_id"], ["stack.id"], name="fk_stack_version_stack_id_stack"),
        sa.PrimaryKeyConstraint("id", name="pk_stack_version"),
        sa.UniqueConstraint("stack_id", "version", name="uq_stack_version_stack_version"),
    )
    op.create_index("ix_stack_version_stack_id", "stack_version", ["stack_id"])
    op.create_table(
        "factory_site_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("factory_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("altitude_m", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(80), nullable=True),
        sa.Column("created_at", _dt(), nullable=False),
        sa.ForeignKeyConstraint(["factory_id"], ["factory.id"], name="fk_factory_site_version_factory_id_factory"),
        sa.PrimaryKeyConstraint("id", name="pk_factory_site_version"),
        sa.UniqueConstraint("factory_id", "version", name="uq_factory_site_version_factory_version"),
    )
    op.create_index("ix_factory_site_version_factory_id", "factory_site_version", ["factory_id"])
    op.create_table(
        "lab_ncv",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("declaration_id", sa.Integer(), nullable=False),
        sa.Column("factory_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("ncv_mj_per_kg", sa.Float(), nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("moisture_fraction", sa.Float(), nullable=True),
        sa.Column("lab", sa.String(120), nullable=False),
        sa.Column("certificate_ref", sa.String(120), nullable=False),
        sa.Column("evidence_file_id", sa.Integer(), nullable=True),
        sa.Column("sampled_on", sa.Date(), nullable=True),
        sa.Column("recorded_by", sa.String(80), nullable=True),
        sa.Column("created_at", _dt(), nullable=False),
        sa.Column("withdrawn_at", _dt(), nullable=True),
        sa.ForeignKeyConstraint(["declaration_id"], ["supplier_declaration.id"],
                                name="fk_lab_ncv_declaration_id_supplier_declaration"),
        sa.ForeignKeyConstraint(["factory_id"], ["factory.id"], name="fk_lab_ncv_factory_id_factory"),
        sa.ForeignKeyConstraint(["evidence_file_id"], ["evidence_file.id"], name="fk_lab_ncv_evidence_file_id_evidence_file"),
        sa.PrimaryKeyConstraint("id", name="pk_lab_ncv"),
    )
    op.create_index("ix_lab_ncv_declaration_id", "lab_ncv", ["declaration_id"])
    op.create_index("ix_lab_ncv_factory_id", "lab_ncv", ["factory_id"])
    op.create_table(
        "report_basis",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("factor_versions", sa.Text(), nullable=False),
        sa.Column("stack_versions", sa.Text(), nullable=False),
        sa.Column("site_versions", sa.Text(), nullable=False),
        sa.Column("lab_ncv_ids", sa.Text(), nullable=False),
        sa.Column("restated", sa.Boolean(), nullable=False),
        sa.Column("previous_report_id", sa.Integer(), nullable=True),
        sa.Column("restatement_reason", sa.Text(), nullable=True),
        sa.Column("restated_by", sa.String(80), nullable=True),
        sa.Column("changes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["report.id"], name="fk_report_basis_report_id_report"),
        sa.ForeignKeyConstraint(["previous_report_id"], ["report.id"], name="fk_report_basis_previous_report_id_report"),
        sa.PrimaryKeyConstraint("report_id", name="pk_report_basis"),
    )

    # Data: baselines and the firewood change (tables inline, never core.models).
    conn = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)
    meta = sa.MetaData()
    stack = sa.Table("stack", meta, sa.Column("id", sa.Integer), sa.Column("diameter_m", sa.Float),
                     sa.Column("moisture_fraction", sa.Float), sa.Column("dry_basis", sa.Boolean),
                     sa.Column("velocity_profile_factor", sa.Float))
    factory = sa.Table("factory", meta, sa.Column("id", sa.Integer), sa.Column("altitude_m", sa.Float))
    sv = sa.Table("stack_version", meta, sa.Column("stack_id", sa.Integer), sa.Column("version", sa.Integer),
                  sa.Column("valid_from", sa.Date), sa.Column("diameter_m", sa.Float),
                  sa.Column("moisture_fraction", sa.Float), sa.Column("dry_basis", sa.Boolean),
                  sa.Column("velocity_profile_factor", sa.Float), sa.Column("reason", sa.Text),
                  sa.Column("created_by", sa.String), sa.Column("created_at", sa.DateTime))
    fv = sa.Table("factory_site_version", meta, sa.Column("factory_id", sa.Integer), sa.Column("version", sa.Integer),
                  sa.Column("valid_from", sa.Date), sa.Column("altitude_m", sa.Float), sa.Column("reason", sa.Text),
                  sa.Column("created_by", sa.String), sa.Column("created_at", sa.DateTime))
    baseline = "baseline at upgrade 0012"
    stacks = [dict(stack_id=r.id, version=1, valid_from=None, diameter_m=r.diameter_m,
                   moisture_fraction=r.moisture_fraction or 0.0, dry_basis=bool(r.dry_basis),
                   velocity_profile_factor=r.velocity_profile_factor or 1.0, reason=baseline,
                   created_by="migration", created_at=now) for r in conn.execute(sa.select(stack))]
    if stacks:
        conn.execute(sv.insert(), stacks)
    sites = [dict(factory_id=r.id, version=1, valid_from=None, altitude_m=r.altitude_m, reason=baseline,
                  created_by="migration", created_at=now) for r in conn.execute(sa.select(factory))]
    if sites:
        conn.execute(fv.insert(), sites)

    ef = sa.table("emission_factor", *(sa.column(c) for c in (
        "id", "code", "version", "kind", "label", "ncv_mj_per_kg", "co2_kg_per_tj", "ch4_kg_per_tj", "n2o_kg_per_tj",
        "biomass_fraction", "density_kg_per_l", "kg_co2_per_kwh", "source", "table_ref", "year", "citation",
        "is_default", "created_at", "created_by", "valid_from", "valid_to", "dry_ncv_mj_per_kg", "change_reason")))
    wood = list(conn.execute(sa.select(ef).where(ef.c.code == "firewood").order_by(ef.c.version)))
    if wood:
        conn.execute(ef.update().where(ef.c.code == "firewood")
                     .values(dry_ncv_mj_per_kg=LEGACY_WOOD_DRY_NCV_MJ_PER_KG))
        last = wood[-1]._asdict()
        last.pop("id")
        today = date.today()
        last.update(version=last["version"] + 1, ncv_mj_per_kg=15.6, dry_ncv_mj_per_kg=None,
                    valid_from=today.replace(day=1), valid_to=None, created_at=now, created_by="migration",
                    source="IPCC 2006 Guidelines for National GHG Inventories, Vol. 2 Energy",
                    table_ref="Ch. 1 Table 1.2 (Wood/Wood Waste), Table 1.4; Ch. 2 Table 2.3", year=2006,
                    citation=IPCC_WOOD_CITATION,
                    change_reason="Issue 14: IPCC default NCV replaces the moisture correction derived from a "
                                  "retailer page; a lab NCV per fuel lot overrides it.")
        conn.execute(ef.insert(), [last])


def downgrade() -> None:
    conn = op.get_bind()
    ef = sa.table("emission_factor", sa.column("created_by"), sa.column("code"), sa.column("valid_from"))
    conn.execute(ef.delete().where(ef.c.code == "firewood", ef.c.created_by == "migration"))
    op.drop_table("report_basis")
    op.drop_index("ix_lab_ncv_factory_id", table_name="lab_ncv")
    op.drop_index("ix_lab_ncv_declaration_id", table_name="lab_ncv")
    op.drop_table("lab_ncv")
    op.drop_index("ix_factory_site_version_factory_id", table_name="factory_site_version")
    op.drop_table("factory_site_version")
    op.drop_index("ix_stack_version_stack_id", table_name="stack_version")
    op.drop_table("stack_version")
    with op.batch_alter_table("emission_factor") as b:
        b.drop_column("change_reason")
        b.drop_column("dry_ncv_mj_per_kg")
        b.drop_column("valid_to")
        b.drop_column("valid_from")
